"""Register prevalence per practice and overall, beside the national QOF figure.

The denominator is the list of living registered people at the run's as-of date aged at least
the register's `prevalence_min_age`, as QOF publishes it. Prevalence tables leave the
identifiable zone, so every count is made by `commissioning.measures` (disclosure-controlled).
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from houseofcare.commissioning.measures import measure_sql
from houseofcare.engine import Engine, Query, sql_literal
from houseofcare.population.registers import AGE_SQL
from houseofcare.population.rules import RegisterRule


def prevalence(
    engine: Engine,
    run_id: str,
    rules: Sequence[RegisterRule],
    *,
    by_practice: bool = False,
    people: str = "patient",
    by: str | None = None,
) -> Query:
    """register, [practice_id], register_count, list_size, prevalence_pct, qof_pct.

    Reads the run's stored `register` rows and the `run` table (for its as-of date).
    `people` is the patient rows counted (default: the `patient` table; the population page
    passes one practice's or locality's rows as a parenthesised subquery with the same
    columns); `by` groups by another of its columns instead of the practice (the page: the
    IMD quintile). With neither, the figures are exactly `hoc prevalence`'s.
    """
    engine.register(
        "prevalence_rule",
        pa.table(
            {
                "register": [r.id for r in rules],
                "name": [r.name for r in rules],
                "prevalence_min_age": [r.prevalence_min_age for r in rules],
                "qof_pct": [r.qof_prevalence_pct for r in rules],
            }
        ),
    )
    as_of_rows = engine.rows(f"SELECT as_of FROM run WHERE run_id = {sql_literal(run_id)}")
    if not as_of_rows:
        raise LookupError(f"no pipeline run {run_id!r}; see `hoc run`")
    as_of = as_of_rows[0][0].isoformat()
    column = by or ("practice_id" if by_practice else None)
    dims = [column] if column else []
    group = f"{column}, " if column else ""
    age = AGE_SQL.format(b="p.birth_date").replace(":as_of", f"'{as_of}'")
    units = f"""(
    WITH listed AS (
        SELECT p.patient_id, {f"p.{column}, " if column else ""}{age} AS age
        FROM {people} p
        WHERE p.birth_date <= DATE '{as_of}'
          AND (p.death_date IS NULL OR p.death_date > DATE '{as_of}')
    ),
    registered AS (
        SELECT DISTINCT register, patient_id FROM register WHERE run_id = {sql_literal(run_id)}
    )
    SELECT {f"l.{column}, " if column else ""}r.register, r.name, r.qof_pct,
           CASE WHEN g.patient_id IS NULL THEN 0 ELSE 1 END AS on_register
    FROM prevalence_rule r
    JOIN listed l ON l.age >= r.prevalence_min_age
    LEFT JOIN registered g ON g.register = r.register AND g.patient_id = l.patient_id
)"""
    counts = measure_sql(
        units,
        by=dims,
        keys=["register", "name", "qof_pct"],
        counts={"register_count": "on_register", "list_size": "1"},
    )
    # `100 * count / n`, not `100.0 * ...`: `/` is float division on both engines, while a
    # 100.0 literal would make the percentages DECIMAL on Spark
    return Query(
        engine,
        f"""
SELECT register, name, {group}register_count, list_size,
       round(100 * register_count / nullif(list_size, 0), 2) AS prevalence_pct, qof_pct,
       round(100 * (100 * register_count / nullif(list_size, 0)) / qof_pct - 100, 1)
           AS relative_difference_pct
FROM {counts} counts
ORDER BY {group}register
""",
    )
