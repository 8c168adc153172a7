"""The inequality report on a hand-made network with known answers, on every engine: counts
by IMD quintile controlled once, rates from the controlled counts, the SII across deciles as
`commissioning.inequalities.sii` gives it from the deciles' own figures."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest

from houseofcare.commissioning.disclosure import controlled_count
from houseofcare.commissioning.inequalities import Quantile, ValueType, sii, wilson
from houseofcare.commissioning.inequality import packaged_measures, report
from houseofcare.commissioning.population import LSOA_FILE, Practice
from houseofcare.engine import Engine
from tests.spec.conftest import Record, store_run

AS_OF = dt.date(2026, 3, 31)
DIABETES = "44054006"
PEOPLE_PER_DECILE = 30


def diabetic(decile: int) -> int:
    """Fewer people with diabetes the less deprived the decile: 24, 22, … 6."""
    return 26 - 2 * decile


def leeds_lsoas() -> dict[int, str]:
    found: dict[int, str] = {}
    with Path(str(LSOA_FILE)).open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["LAD_NAME"] == "Leeds":
                found.setdefault(int(row["IMD_OVERALL"]), row["LSOA_CODE"])
    return found


def network(engine: Engine, record: Record) -> str:
    lsoa = leeds_lsoas()
    for decile in range(1, 11):
        for n in range(PEOPLE_PER_DECILE):
            patient = f"d{decile}-{n}"
            record.patient(
                patient,
                lsoa_code=lsoa[decile],
                ethnic_category="A" if n % 2 else "H",
                gender="female" if n % 3 else "male",
            )
            if n < diabetic(decile):
                record.condition(patient, DIABETES, "2015-01-01")
    run_id = store_run(engine, AS_OF)
    engine.register(
        "tier",
        pa.table(
            {
                "run_id": pa.array([], pa.string()),
                "patient_id": pa.array([], pa.string()),
                "level": pa.array([], pa.int64()),
            }
        ),
    )
    return run_id


def test_the_long_term_condition_gradient_as_published(engine: Engine, record: Record) -> None:
    run_id = network(engine, record)
    ltc = next(m for m in packaged_measures() if m.id == "ltc")
    (found,) = report(engine, run_id, [Practice("P1", "Practice one", "Leeds")], [ltc])

    total = sum(diabetic(d) for d in range(1, 11))
    assert (found.overall.numerator, found.overall.denominator) == (
        controlled_count(total),
        controlled_count(10 * PEOPLE_PER_DECILE),
    )
    quintiles = {g.label: g for g in found.splits["imd_quintile"]}
    first = quintiles["1 (most deprived)"]
    assert (first.numerator, first.denominator) == (45, 60)  # 24 + 22 = 46 -> 45
    assert first.estimate.value == pytest.approx(75.0)  # from the controlled counts
    last = quintiles["5 (least deprived)"]
    assert (last.numerator, last.denominator) == (15, 60)  # 8 + 6 = 14 -> 15
    assert {g.label for g in found.splits["ethnic_group"]} == {"White", "Asian or Asian British"}

    expected = []
    for decile in range(1, 11):
        low, high = wilson(diabetic(decile), PEOPLE_PER_DECILE)
        expected.append(
            Quantile(PEOPLE_PER_DECILE, diabetic(decile) / PEOPLE_PER_DECILE, low, high)
        )
    slope = sii(expected, value_type=ValueType.proportion, transform=True, confidence=None)
    assert found.slope is not None
    assert found.slope.sii == pytest.approx(100 * slope.sii)
    assert found.slope.rii == pytest.approx(slope.rii)
    assert found.slope.sii < 0  # less common at the least deprived end
    assert found.slope.sii_lower < found.slope.sii < found.slope.sii_upper


def test_a_measure_with_nobody_in_a_decile_says_why_there_is_no_slope(
    engine: Engine, record: Record
) -> None:
    run_id = network(engine, record)
    level3 = next(m for m in packaged_measures() if m.id == "level3")
    (found,) = report(engine, run_id, [Practice("P1", "Practice one", "Leeds")], [level3])
    assert found.slope is None
    assert found.no_slope == "IMD decile 1 has nobody in it"  # no one is placed on the triangle


def test_an_unknown_run_is_a_clear_error(engine: Engine, record: Record) -> None:
    network(engine, record)
    with pytest.raises(LookupError, match="no pipeline run 'nope'"):
        report(engine, "nope", [])
