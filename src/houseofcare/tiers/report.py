"""What a run's triangle looks like: people per level (per practice and overall), and who moved.

The counts leave the identifiable zone (commissioning, PCN boards), so every one of them is
disclosure-controlled. The movers list names people: it is for the practice and the case
managers, and puts those new to case management (level 3 now, not before) first.
"""

from __future__ import annotations

import duckdb

from houseofcare.commissioning.measures import measure_sql
from houseofcare.people_scope import PeopleScope

LEVEL_NAMES = {
    3: "3 case management",
    2: "2 disease-specific care management",
    1: "1 supported self care",
    0: "0 prevention",
}


def level_counts(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    *,
    by_practice: bool,
    people: str = "patient",
    by: str | None = None,
) -> duckdb.DuckDBPyRelation:
    """level, [practice_id], people (controlled), share_pct of the practice or population.

    `people` is the patient rows counted (default: the `patient` table; the population page
    passes one practice's or locality's rows as a parenthesised subquery with the same
    columns); `by` groups by another of its columns instead of the practice (the page: the
    IMD quintile). With neither, the figures are exactly `hoc tiers`'s.
    """
    column = by or ("practice_id" if by_practice else None)
    dims = [column] if column else []
    names = " ".join(f"WHEN {k} THEN '{v}'" for k, v in LEVEL_NAMES.items())
    units = f"""(
    SELECT {"".join(f"p.{c}, " for c in dims)}t.level
    FROM tier t JOIN {people} p ON p.patient_id = t.patient_id
    WHERE t.run_id = '{run_id.replace("'", "''")}'
)"""
    counted = measure_sql(
        units,
        by=dims,
        keys=["level"],
        counts={"people": "1"},
        shares={"share_pct": ("people", "group")},
    )
    return con.sql(
        f"""
SELECT {f"{column}, " if column else ""}CASE level {names} END AS level, people, share_pct
FROM {counted} counted
ORDER BY {f"{column} NULLS LAST, " if column else ""}counted.level DESC
"""
    )


def movers(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    previous: str,
    practice_id: str | None = None,
    *,
    scope: PeopleScope | None = None,
) -> duckdb.DuckDBPyRelation:
    """People whose level changed between `previous` and `run_id`; new to level 3 first.

    Someone who is new to the list (not in the previous run) counts as moving from level 0.
    `practice_id` narrows the list to one practice's people; `scope` is whom the reader may
    see (`careplan.access`).
    """
    within = "" if scope is None else "AND " + scope.condition("p.practice_id", "n.patient_id")
    return con.sql(
        f"""
SELECT n.patient_id, p.practice_id, coalesce(o.level, 0) AS from_level, n.level AS to_level,
       n.reason
FROM tier n
JOIN patient p ON p.patient_id = n.patient_id
LEFT JOIN tier o ON o.run_id = $previous AND o.patient_id = n.patient_id
WHERE n.run_id = $run AND n.level <> coalesce(o.level, 0)
  AND ($practice IS NULL OR p.practice_id = $practice) {within}
ORDER BY (n.level = 3) DESC, n.level DESC, coalesce(o.level, 0), p.practice_id, n.patient_id
""",
        params={"run": run_id, "previous": previous, "practice": practice_id},
    )
