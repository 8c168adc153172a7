"""Readings no rule may use, counted per quantity and reason.

A reading in a unit we cannot convert, with no unit where its code implies none, or with a
value no real test gives, is left out of every register, care gap, feature and summary (the
event layer, `houseofcare.population.events`, gives it no value). Left out silently, it would
look as if the person was never measured; so every run counts them, per measured quantity and
reason, and `hoc run` and `hoc status` show the counts (hazard H-043); a run's counts are
read back with `houseofcare.results.AnalyticResults.unusable_readings`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from houseofcare.engine import Engine
from houseofcare.population.events import READING_SQL

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
    return most_first(engine.rows(unusable_reading_sql(as_of)))


def most_first(rows: Iterable[Sequence[Any]]) -> list[UnusableReadings]:
    """(quantity, problem, readings, people) rows, computed or stored, most readings first."""
    found = [UnusableReadings(str(q), str(p), int(r), int(n)) for q, p, r, n in rows]
    return sorted(found, key=lambda u: (-u.readings, u.quantity, u.problem))
