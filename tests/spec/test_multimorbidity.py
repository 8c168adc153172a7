"""LTC count, Cambridge Multimorbidity Score and eFI on hand-written records."""

from __future__ import annotations

import datetime as dt

import pytest

from houseofcare.engine import Engine
from houseofcare.population.multimorbidity import (
    compute_multimorbidity,
    packaged_multimorbidity_rules,
)
from houseofcare.population.registers import compute_registers
from houseofcare.population.rules import packaged_register_rules
from houseofcare.terminology.codelist import packaged_codelists
from tests.spec.conftest import Record

AS_OF = dt.date(2026, 3, 31)


def first_code(codelist: str) -> str:
    return sorted(packaged_codelists()[codelist].codes)[0]


def scores(engine: Engine) -> dict[str, tuple[object, ...]]:
    registers = compute_registers(engine, packaged_register_rules(), packaged_codelists(), AS_OF)
    engine.materialise("spec_register", registers.sql)
    query = compute_multimorbidity(engine, packaged_multimorbidity_rules(), AS_OF, "spec_register")
    return {row[0]: row[1:] for row in query.rows()}


def test_cms_sums_general_outcome_weights_once_per_condition(
    engine: Engine, record: Record
) -> None:
    record.patient("p", birth_date="1980-01-01")
    record.condition("p", first_code("dem_cod"), "2020-01-01")
    record.condition("p", first_code("hyp_cod"), "2015-01-01")
    record.condition("p", first_code("hyp_cod"), "2016-01-01", condition_id="second")
    ltc, cms, efi_deficits, efi, category = scores(engine)["p"]
    assert ltc == 2
    assert cms == pytest.approx(2.50 + 0.08)
    assert (efi_deficits, efi, category) == (None, None, None)  # under 65: no eFI


def test_cancer_counts_in_cms_only_if_diagnosed_in_the_last_five_years(
    engine: Engine, record: Record
) -> None:
    record.patient("recent")
    record.condition("recent", first_code("c19can_cod"), "2021-04-01")
    record.patient("old")
    record.condition("old", first_code("c19can_cod"), "2021-03-31")
    result = scores(engine)
    assert result["recent"][1] == pytest.approx(1.53)
    assert result["old"][1] == 0
    assert result["old"][0] == 1  # still on the cancer register


@pytest.mark.parametrize(
    ("medicines", "registers", "expected_deficits", "category"),
    [
        (0, [], 0, "fit"),
        (4, ["hyp_cod"], 1, "fit"),
        (5, ["hyp_cod", "afib_cod", "hf_cod", "chd_cod"], 5, "mild"),
        (
            5,
            [
                "hyp_cod",
                "afib_cod",
                "hf_cod",
                "chd_cod",
                "dm_cod",
                "ckd_cod",
                "pad_cod",
                "strk_cod",
            ],
            9,
            "moderate",
        ),
    ],
)
def test_efi_deficits_and_categories_at_the_published_cut_offs(
    engine: Engine,
    record: Record,
    medicines: int,
    registers: list[str],
    expected_deficits: int,
    category: str,
) -> None:
    record.patient("p", birth_date="1950-01-01")
    for codelist in registers:
        record.condition("p", first_code(codelist), "2015-01-01")
    for number in range(medicines):
        record.medication("p", f"31859{number:03d}00", "2026-01-01")
    ltc, _, deficits, efi, got = scores(engine)["p"]
    assert ltc == len(registers)
    assert deficits == expected_deficits
    assert efi == pytest.approx(round(expected_deficits / 36, 4))
    assert got == category


def test_dead_people_are_not_scored(engine: Engine, record: Record) -> None:
    record.patient("alive")
    record.patient("dead", death_date="2025-01-01")
    assert set(scores(engine)) == {"alive"}
