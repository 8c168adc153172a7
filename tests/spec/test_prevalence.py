"""Register prevalence on hand-written records: the QOF denominator and disclosure control."""

from __future__ import annotations

import datetime as dt

import pytest

from houseofcare.engine import Engine
from houseofcare.population.prevalence import prevalence
from houseofcare.population.rules import packaged_register_rules
from tests.spec.conftest import Record, store_run

AS_OF = dt.date(2026, 3, 31)
DIABETES = "44054006"  # Diabetes mellitus type 2


def practice(record: Record, practice_id: str, diabetic: int, other_adults: int) -> None:
    for number in range(diabetic):
        patient = f"{practice_id}-dm-{number}"
        record.patient(patient, practice_id=practice_id, birth_date="1950-01-01")
        record.condition(patient, DIABETES, "2015-01-01")
    for number in range(other_adults):
        record.patient(f"{practice_id}-adult-{number}", practice_id=practice_id)


def test_prevalence_counts_the_living_list_from_the_registers_minimum_age(
    engine: Engine, record: Record
) -> None:
    practice(record, "P1", diabetic=10, other_adults=10)
    for number in range(5):  # under 17: outside the diabetes denominator, inside hypertension's
        record.patient(f"child-{number}", birth_date="2015-01-01")
    record.patient("dead", death_date="2025-01-01")
    record.condition("dead", DIABETES, "2015-01-01")
    run_id = store_run(engine, AS_OF)

    rows = prevalence(engine, run_id, packaged_register_rules()).where("register IN ('DM', 'HYP')")
    by_register = {row[0]: row[2:] for row in rows.rows()}
    # register_count, list_size, prevalence_pct, qof_pct, relative_difference_pct
    assert by_register["DM"] == (10, 20, 50.0, 7.5, pytest.approx(566.7))
    assert by_register["HYP"] == (0, 25, 0.0, 14.4, -100.0)


def test_practice_counts_of_one_to_seven_are_suppressed_and_others_rounded_to_five(
    engine: Engine, record: Record
) -> None:
    practice(record, "P1", diabetic=10, other_adults=10)
    practice(record, "P2", diabetic=3, other_adults=0)
    run_id = store_run(engine, AS_OF)
    rules = packaged_register_rules()

    overall = prevalence(engine, run_id, rules).where("register = 'DM'").rows()
    # 13 on the register -> 15, 23 on the list -> 25: the rate uses the controlled counts
    assert [row[2:5] for row in overall] == [(15, 25, 60.0)]
    per_practice = prevalence(engine, run_id, rules, by_practice=True).where("register = 'DM'")
    assert sorted(row[2:6] for row in per_practice.rows()) == [
        ("P1", 10, 20, 50.0),
        ("P2", None, None, None),
    ]


def test_an_unknown_run_is_a_clear_error(engine: Engine, record: Record) -> None:
    record.patient("p")
    store_run(engine, AS_OF, run_id="known")
    with pytest.raises(LookupError, match="no pipeline run 'unknown'"):
        prevalence(engine, "unknown", packaged_register_rules())
