"""Each person's readings as a run keeps them (`population/person_readings.py`), on every
engine: the measures' codes only, in canonical units through the event layer (LOINC too), the
unusable ones with their problem and no value, and only the years before the run."""

from __future__ import annotations

import datetime as dt

from houseofcare.careplan.measures import measure_codes
from houseofcare.engine import Engine
from houseofcare.population.person_readings import (
    READINGS_YEARS,
    compute_person_readings,
    years_before,
)
from tests.spec.conftest import Record
from tests.spec.test_indicators import HBA1C, SYSTOLIC

AS_OF = dt.date(2026, 3, 31)
WEIGHT = "27113001"  # body weight: a reading of no packaged measure


def test_a_run_keeps_each_person_s_readings_of_the_measures_in_canonical_units(
    engine: Engine, record: Record
) -> None:
    record.patient("p1", birth_date="1950-01-01")
    record.observation("p1", HBA1C, "2025-10-01", 7.0, value_ucum="%", value_unit="%")
    record.observation(
        "p1", HBA1C, "2025-11-01", 53.0, value_ucum="mg", value_unit="mg"
    )  # unknown unit: kept, without a value
    record.observation("p1", SYSTOLIC, "2025-12-01", 17.3, value_ucum="kPa", value_unit="kPa")
    record.observation("p1", HBA1C, "2020-01-01", 48.0, value_ucum="mmol/mol")  # too early
    record.observation("p1", HBA1C, "2026-04-01", 48.0, value_ucum="mmol/mol")  # after the run
    record.observation("p1", WEIGHT, "2025-10-01", 80.0, value_ucum="kg")  # no measure
    record.patient("p2", birth_date="1960-01-01")
    record.observation(
        "p2", "4548-4", "2025-10-01", 53.0, code_system="http://loinc.org", value_unit="mmol/mol"
    )

    rows = compute_person_readings(engine, measure_codes(), AS_OF).rows()
    got = sorted((r[0], r[1], r[2], None if r[3] is None else round(r[3], 1), r[4]) for r in rows)
    assert got == [
        ("p1", "hba1c", dt.date(2025, 10, 1), 53.0, None),  # 7.0 % is 53.0 mmol/mol
        ("p1", "hba1c", dt.date(2025, 11, 1), None, "unknown unit"),
        ("p1", "systolic_bp", dt.date(2025, 12, 1), 129.8, None),  # 17.3 kPa in mmHg
        ("p2", "hba1c", dt.date(2025, 10, 1), 53.0, None),  # LOINC, mapped to SNOMED CT
    ]


def test_the_look_back_is_the_years_before_the_run_inclusive(
    engine: Engine, record: Record
) -> None:
    first = years_before(AS_OF, READINGS_YEARS)
    record.patient("p1", birth_date="1950-01-01")
    for day in (first - dt.timedelta(days=1), first, AS_OF):
        record.observation(
            "p1", HBA1C, day.isoformat(), 48.0, value_ucum="mmol/mol", observation_id=str(day)
        )
    rows = compute_person_readings(engine, measure_codes(), AS_OF).rows()
    assert sorted(r[2] for r in rows) == [first, AS_OF]
    assert years_before(dt.date(2028, 2, 29), 5) == dt.date(2023, 2, 28)
