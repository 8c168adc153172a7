"""Disease registers: the rules in `rules/registers.toml`, compiled to one set-based query.

The rules become small parameter tables (which codes play which role in which register, each
register's age limits and evidence windows); one query then joins every coded event against
them and keeps the people each rule admits. Nothing loops over people, and the query uses only
portable SQL (joins, filtered aggregates, date comparisons), so it runs on DuckDB and on Spark
(`houseofcare.engine`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import pyarrow as pa

from houseofcare.engine import Engine, Query
from houseofcare.population.events import CODED_EVENT_SQL
from houseofcare.population.rules import RegisterRule
from houseofcare.terminology.codelist import Codelist


def _months_before(day: dt.date, months: int) -> dt.date:
    """The same day `months` earlier, clamped to the month's end (31 May - 3 months = 28 Feb)."""
    month_index = day.year * 12 + day.month - 1 - months
    year, month = divmod(month_index, 12)
    month += 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return dt.date(year, month, min(day.day, candidate))
        except ValueError:
            continue
    raise AssertionError("unreachable")


def rule_tables(
    rules: Sequence[RegisterRule], codelists: Mapping[str, Codelist], as_of: dt.date
) -> dict[str, pa.Table]:
    """The rules as parameter tables for one run date."""
    code_rows: dict[str, list[object]] = {
        "register": [],
        "role": [],
        "requirement": [],
        "source": [],
        "code": [],
    }

    def add(register: str, role: str, requirement: int, source: str, names: Sequence[str]) -> None:
        for name in names:
            for code in codelists[name].codes:
                code_rows["register"].append(register)
                code_rows["role"].append(role)
                code_rows["requirement"].append(requirement)
                code_rows["source"].append(source)
                code_rows["code"].append(code)

    requirement_rows: dict[str, list[object]] = {
        "register": [],
        "requirement": [],
        "window_start": [],
    }
    for rule in rules:
        add(rule.id, "diagnosis", 0, "condition", rule.diagnosis)
        add(rule.id, "resolved", 0, "condition", rule.resolved)
        for number, evidence in enumerate(rule.requires, start=1):
            add(rule.id, "requires", number, evidence.source, evidence.codelists)
            requirement_rows["register"].append(rule.id)
            requirement_rows["requirement"].append(number)
            requirement_rows["window_start"].append(
                _months_before(as_of, evidence.within_months) if evidence.within_months else None
            )
    register_rows = {
        "register": [r.id for r in rules],
        "min_age": [r.min_age for r in rules],
        "max_age": [r.max_age for r in rules],
        "diagnosed_on_or_after": [r.diagnosed_on_or_after for r in rules],
        "requirements": [len(r.requires) for r in rules],
    }
    codes = (
        pa.table(code_rows)
        .group_by(["register", "role", "requirement", "source", "code"])
        .aggregate([])
    )
    return {
        "rule_code": codes,
        "rule_requirement": pa.table(
            requirement_rows,
            schema=pa.schema(
                [
                    ("register", pa.string()),
                    ("requirement", pa.int64()),
                    ("window_start", pa.date32()),
                ]
            ),
        ),
        "register_rule": pa.table(
            register_rows,
            schema=pa.schema(
                [
                    ("register", pa.string()),
                    ("min_age", pa.int64()),
                    ("max_age", pa.int64()),
                    ("diagnosed_on_or_after", pa.date32()),
                    ("requirements", pa.int64()),
                ]
            ),
        ),
    }


#: Age in whole years at :as_of; a birthday on the as-of date counts as reached.
AGE_SQL = """(year(CAST(:as_of AS DATE)) - year({b})
    - CASE WHEN month(CAST(:as_of AS DATE)) < month({b})
             OR (month(CAST(:as_of AS DATE)) = month({b}) AND day(CAST(:as_of AS DATE)) < day({b}))
           THEN 1 ELSE 0 END)"""

REGISTER_SQL = f"""
WITH coded_event AS ({CODED_EVENT_SQL}),
matched AS (
    SELECT e.patient_id, rc.register, rc.role, rc.requirement, e.event_date
    FROM coded_event e
    JOIN rule_code rc ON rc.code = e.code AND rc.source = e.source
    WHERE e.event_date <= CAST(:as_of AS DATE)
),
diagnosis AS (
    SELECT patient_id, register,
           min(event_date) FILTER (WHERE role = 'diagnosis') AS first_diagnosis,
           max(event_date) FILTER (WHERE role = 'diagnosis') AS latest_diagnosis,
           max(event_date) FILTER (WHERE role = 'resolved') AS latest_resolved
    FROM matched
    WHERE role IN ('diagnosis', 'resolved')
    GROUP BY patient_id, register
),
evidence AS (
    SELECT m.patient_id, m.register, count(DISTINCT m.requirement) AS requirements_met
    FROM matched m
    JOIN rule_requirement rr ON rr.register = m.register AND rr.requirement = m.requirement
    WHERE m.role = 'requires' AND (rr.window_start IS NULL OR m.event_date > rr.window_start)
    GROUP BY m.patient_id, m.register
)
SELECT d.patient_id, d.register, d.first_diagnosis AS first_recorded,
       d.latest_diagnosis AS latest_recorded
FROM diagnosis d
JOIN register_rule r ON r.register = d.register
JOIN patient p ON p.patient_id = d.patient_id
LEFT JOIN evidence ev ON ev.patient_id = d.patient_id AND ev.register = d.register
WHERE d.latest_diagnosis IS NOT NULL
  -- a resolved code recorded after the latest diagnosis takes the person off (QOF)
  AND (d.latest_resolved IS NULL OR d.latest_resolved <= d.latest_diagnosis)
  AND (r.diagnosed_on_or_after IS NULL OR d.latest_diagnosis >= r.diagnosed_on_or_after)
  AND coalesce(ev.requirements_met, 0) = r.requirements
  AND (p.death_date IS NULL OR p.death_date > CAST(:as_of AS DATE))
  AND p.birth_date <= CAST(:as_of AS DATE)
  AND {AGE_SQL.format(b="p.birth_date")} >= r.min_age
  AND (r.max_age IS NULL OR {AGE_SQL.format(b="p.birth_date")} <= r.max_age)
"""


def compute_registers(
    engine: Engine,
    rules: Sequence[RegisterRule],
    codelists: Mapping[str, Codelist],
    as_of: dt.date,
) -> Query:
    """People on each register at `as_of`: patient_id, register, first and latest recorded."""
    for name, table in rule_tables(rules, codelists, as_of).items():
        engine.register(name, table)
    return Query(engine, REGISTER_SQL.replace(":as_of", f"'{as_of.isoformat()}'"))
