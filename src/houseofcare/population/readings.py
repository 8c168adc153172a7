"""Readings no rule may use, counted per quantity and reason.

A reading in a unit we cannot convert, with no unit where its code implies none, or with a
value no real test gives, is left out of every register, care gap, feature and summary (the
event layer, `houseofcare.population.events`, gives it no value). Left out silently, it would
look as if the person was never measured; so every run counts them, per measured quantity and
reason, and `hoc run` and `hoc status` show the counts (hazard H-043).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb

from houseofcare.engine import Engine
from houseofcare.population.events import READING_SQL

#: Why a reading cannot be used, as `value_problem` in the event layer names it.
PROBLEMS = ("unknown unit", "no unit", "implausible")

UNUSABLE_READING_COLUMNS = "quantity, problem, readings, people"

UNUSABLE_READING_SQL = f"""
SELECT quantity, value_problem AS problem, count(*) AS readings,
       count(DISTINCT patient_id) AS people
FROM ({READING_SQL}) r
WHERE value_problem IS NOT NULL AND event_date <= CAST(:as_of AS DATE)
GROUP BY quantity, value_problem
"""


@dataclass(frozen=True)
class UnusableReadings:
    """How many readings of one quantity were left out for one reason, and of how many people."""

    quantity: str
    problem: str
    readings: int
    people: int


def unusable_reading_sql(as_of: dt.date) -> str:
    """The counts at `as_of`, as SQL for any engine."""
    return UNUSABLE_READING_SQL.replace(":as_of", f"'{as_of.isoformat()}'")


def unusable_readings(engine: Engine, as_of: dt.date) -> list[UnusableReadings]:
    """The counts at `as_of`, most readings first."""
    rows = engine.rows(unusable_reading_sql(as_of))
    found = [UnusableReadings(str(q), str(p), int(r), int(n)) for q, p, r, n in rows]
    return sorted(found, key=lambda u: (-u.readings, u.quantity, u.problem))


def latest_unusable_readings(
    con: duckdb.DuckDBPyConnection,
) -> tuple[str | None, list[UnusableReadings]]:
    """The latest run's id and its counts (none for a store with no run yet)."""
    tables = {
        row[0]
        for row in con.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_name IN ('run', 'unusable_reading')"
        ).fetchall()
    }
    if "run" not in tables:
        return None, []
    latest = con.execute("SELECT run_id FROM run ORDER BY finished_at DESC LIMIT 1").fetchall()
    if not latest:
        return None, []
    run_id = str(latest[0][0])
    if "unusable_reading" not in tables:  # a run made before readings were counted
        return run_id, []
    rows = con.execute(
        f"SELECT {UNUSABLE_READING_COLUMNS} FROM unusable_reading WHERE run_id = ?", [run_id]
    ).fetchall()
    found = [UnusableReadings(str(q), str(p), int(r), int(n)) for q, p, r, n in rows]
    return run_id, sorted(found, key=lambda u: (-u.readings, u.quantity, u.problem))
