"""Each person's readings of the measures the pages show, as a run result.

A page about one person charts their blood pressure, HbA1c, eGFR and BMI over the years
before the run, in canonical units, with the readings no rule could use listed as left out.
Worked out for one person at a time from the clinical tables, that is the whole unit-aware
event layer planned again on every page view (DuckDB spends longer planning its literal
relations than reading the person's rows). Worked out once per run for everyone, it is one
set-based step like the registers, on any engine, and a page reads one person's rows by key
(`results.AnalyticResults.person_readings`).

The measures are `careplan/measures.toml`'s (each with its codelists); the look-back is
`READINGS_YEARS` before the run's date, inclusive of both ends.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Final

import pyarrow as pa

from houseofcare.engine import Engine, Query
from houseofcare.population.events import READING_SQL

#: How many years of readings before the run a page shows (and the run keeps).
READINGS_YEARS: Final = 5

#: (patient_id, measure_id, event_date, value_number, value_problem): every reading of a
#: measure's codes from :since to :as_of, converted by the event layer (a reading with a
#: problem has no value and says why, H-043); readings of no quantity carry neither.
PERSON_READING_SQL: Final = f"""
SELECT o.patient_id, m.measure_id, o.event_date, o.value_number, o.value_problem
FROM ({READING_SQL}) o
JOIN person_reading_codes m ON m.code = o.code
WHERE (o.value_number IS NOT NULL OR o.value_problem IS NOT NULL)
  AND o.event_date >= DATE :since AND o.event_date <= DATE :as_of
"""


def years_before(day: dt.date, years: int) -> dt.date:
    """The same day `years` earlier (28 February for a 29 February)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def compute_person_readings(
    engine: Engine, measures: Mapping[str, frozenset[str]], as_of: dt.date
) -> Query:
    """Everyone's readings of `measures` (measure id → its SNOMED CT codes) in the
    `READINGS_YEARS` up to `as_of`."""
    pairs = sorted((m, code) for m, codes in measures.items() for code in codes)
    engine.register(
        "person_reading_codes",
        pa.table(
            {"measure_id": [m for m, _ in pairs], "code": [c for _, c in pairs]},
            schema=pa.schema([("measure_id", pa.string()), ("code", pa.string())]),
        ),
    )
    since = years_before(as_of, READINGS_YEARS)
    return Query(
        engine,
        PERSON_READING_SQL.replace(":since", f"'{since.isoformat()}'").replace(
            ":as_of", f"'{as_of.isoformat()}'"
        ),
    )
