"""eFI deficits and Cambridge score conditions shown by codes and by prescribing, not registers."""

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


def codes(codelist: str, how_many: int = 1) -> list[str]:
    return sorted(packaged_codelists()[codelist].codes)[:how_many]


def scores(engine: Engine) -> dict[str, tuple[object, ...]]:
    registers = compute_registers(engine, packaged_register_rules(), packaged_codelists(), AS_OF)
    engine.materialise("spec_register", registers.sql)
    query = compute_multimorbidity(engine, packaged_multimorbidity_rules(), AS_OF, "spec_register")
    return {row[0]: row[1:] for row in query.rows()}


def test_every_deficit_from_a_codelist_counts_once_and_only_if_recorded_by_the_as_of_date(
    engine: Engine, record: Record
) -> None:
    deficits = packaged_multimorbidity_rules().efi.deficits_from_codelists
    record.patient("all", birth_date="1940-01-01")
    record.patient("future", birth_date="1940-01-01")
    for deficit, names in deficits.items():
        for code in codes(names[0], 2):  # two codes of one deficit still count once
            record.condition("all", code, "2020-05-01", condition_id=f"{deficit}-{code}")
            record.condition("future", code, "2026-04-01", condition_id=f"{deficit}-{code}")
    result = scores(engine)
    _, _, count, efi, category = result["all"]
    assert count == len(deficits) == 24
    assert efi == pytest.approx(round(24 / 36, 4))
    assert category == "severe"
    assert result["future"][2:] == (0, 0, "fit")  # recorded the day after the as-of date


def test_a_deficit_shown_by_register_and_by_code_counts_once(
    engine: Engine, record: Record
) -> None:
    record.patient("p", birth_date="1940-01-01")
    record.condition("p", codes("dem_cod")[0], "2019-01-01")  # dementia register
    record.condition("p", codes("efi_cognitive_problems_cod")[0], "2018-01-01")  # same deficit
    record.observation("p", codes("efi_falls_cod")[0], "2025-01-01")  # coded as an observation
    _, _, count, _, _ = scores(engine)["p"]
    assert count == 2  # memory & cognitive problems, falls


@pytest.mark.parametrize(
    ("issue_dates", "treated"),
    [
        (["2025-05-01", "2025-08-01", "2025-11-01", "2026-02-01"], True),
        (["2025-08-01", "2025-11-01", "2026-02-01"], False),  # only three
        (["2025-03-31", "2025-08-01", "2025-11-01", "2026-02-01"], False),  # first one 12m+ ago
        (["2025-04-01", "2025-08-01", "2025-11-01", "2026-03-31"], True),  # both edges inside
    ],
)
def test_treated_constipation_needs_four_laxative_issues_in_twelve_months(
    engine: Engine, record: Record, issue_dates: list[str], treated: bool
) -> None:
    record.patient("p", birth_date="1980-01-01")
    laxative = codes("laxative_med")[0]
    for number, date in enumerate(issue_dates):
        record.medication("p", laxative, date, medication_request_id=f"m{number}")
    assert scores(engine)["p"][1] == pytest.approx(1.12 if treated else 0)


def test_irritable_bowel_by_code_or_treatment_counts_once(engine: Engine, record: Record) -> None:
    record.patient("both", birth_date="1980-01-01")
    record.condition("both", codes("cms_ibs_cod")[0], "2010-01-01")
    for month in (5, 8, 11):
        record.medication(
            "both",
            codes("antispasmodic_med")[0],
            f"2025-{month:02d}-01",
            medication_request_id=f"m{month}",
        )
    record.medication(
        "both", codes("antispasmodic_med")[0], "2026-02-01", medication_request_id="m"
    )
    record.patient("alcohol", birth_date="1980-01-01")
    record.condition("alcohol", codes("cms_alcohol_problems_cod")[0], "2001-01-01")
    record.patient("hearing", birth_date="1980-01-01")
    record.observation("hearing", codes("cms_hearing_loss_cod")[0], "2024-01-01")
    result = scores(engine)
    assert result["both"][1] == pytest.approx(0.21)
    assert result["alcohol"][1] == pytest.approx(0.65)
    assert result["hearing"][1] == pytest.approx(0.09)
    assert result["hearing"][0] == 0  # a Cambridge condition is not a register LTC
