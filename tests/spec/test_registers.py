"""Register rules on hand-written records: the edge cases QOF rules turn on."""

from __future__ import annotations

import datetime as dt

import pytest

from houseofcare.engine import Engine
from houseofcare.population.registers import _months_before, compute_registers
from houseofcare.population.rules import Evidence, RegisterRule, packaged_register_rules
from houseofcare.terminology.codelist import packaged_codelists
from tests.spec.conftest import Record

AS_OF = dt.date(2026, 3, 31)
HYPERTENSION = "38341003"
HYPERTENSION_RESOLVED = "162659009"
CKD_3A = "700378005"  # Chronic kidney disease stage 3A
CKD_2 = "431856006"  # Chronic kidney disease stage 2


def on_register(
    engine: Engine, register: str, rules: tuple[RegisterRule, ...] | None = None
) -> dict[str, dt.date]:
    rows = (
        compute_registers(engine, rules or packaged_register_rules(), packaged_codelists(), AS_OF)
        .where(f"register = '{register}'")
        .rows()
    )
    return {patient_id: first for patient_id, _, first, _ in rows}


def test_codes_used_here_are_in_the_shipped_codelists() -> None:
    lists = packaged_codelists()
    assert HYPERTENSION in lists["hyp_cod"]
    assert HYPERTENSION_RESOLVED in lists["hypres_cod"]
    assert CKD_3A in lists["ckd_cod"]
    assert CKD_2 in lists["ckd1and2_cod"]


def test_diagnosis_puts_on_and_date_first_recorded_is_the_earliest(
    engine: Engine, record: Record
) -> None:
    record.patient("p1")
    record.condition("p1", HYPERTENSION, "2015-04-01")
    record.condition("p1", HYPERTENSION, "2020-01-01", condition_id="again")
    assert on_register(engine, "HYP") == {"p1": dt.date(2015, 4, 1)}


def test_resolved_after_diagnosis_takes_off_and_later_diagnosis_restores(
    engine: Engine, record: Record
) -> None:
    record.patient("resolved")
    record.condition("resolved", HYPERTENSION, "2015-01-01")
    record.condition("resolved", HYPERTENSION_RESOLVED, "2019-01-01")
    record.patient("rediagnosed")
    record.condition("rediagnosed", HYPERTENSION, "2015-01-01")
    record.condition("rediagnosed", HYPERTENSION_RESOLVED, "2019-01-01")
    record.condition("rediagnosed", HYPERTENSION, "2024-06-01")
    record.patient("same-day")
    record.condition("same-day", HYPERTENSION, "2019-01-01")
    record.condition("same-day", HYPERTENSION_RESOLVED, "2019-01-01")
    assert set(on_register(engine, "HYP")) == {"rediagnosed", "same-day"}


def test_codes_after_the_as_of_date_are_not_seen(engine: Engine, record: Record) -> None:
    record.patient("future")
    record.condition("future", HYPERTENSION, "2026-04-01")
    record.patient("resolved-later")
    record.condition("resolved-later", HYPERTENSION, "2020-01-01")
    record.condition("resolved-later", HYPERTENSION_RESOLVED, "2026-04-01")
    assert set(on_register(engine, "HYP")) == {"resolved-later"}


@pytest.mark.parametrize(
    ("birth_date", "expected"),
    [
        ("2008-03-31", True),  # 18th birthday on the as-of date counts
        ("2008-04-01", False),  # 18 tomorrow
        ("2008-03-30", True),
    ],
)
def test_minimum_age_with_birthday_on_the_as_of_date(
    engine: Engine, record: Record, birth_date: str, expected: bool
) -> None:
    record.patient("p", birth_date=birth_date)
    record.condition("p", CKD_3A, "2025-01-01")
    assert ("p" in on_register(engine, "CKD")) is expected


def test_ckd_stage_1_2_recorded_later_takes_off(engine: Engine, record: Record) -> None:
    record.patient("improved")
    record.condition("improved", CKD_3A, "2020-01-01")
    record.condition("improved", CKD_2, "2023-01-01")
    record.patient("worse")
    record.condition("worse", CKD_2, "2020-01-01")
    record.condition("worse", CKD_3A, "2023-01-01")
    assert set(on_register(engine, "CKD")) == {"worse"}


def test_depression_before_april_2006_does_not_count(engine: Engine, record: Record) -> None:
    depression = next(iter(sorted(packaged_codelists()["depr_cod"].codes)))
    record.patient("old")
    record.condition("old", depression, "2006-03-31")
    record.patient("new")
    record.condition("new", depression, "2006-04-01")
    assert set(on_register(engine, "DEP")) == {"new"}


def test_dead_before_the_as_of_date_is_not_on_any_register(engine: Engine, record: Record) -> None:
    record.patient("died", death_date="2026-01-01")
    record.condition("died", HYPERTENSION, "2015-01-01")
    record.patient("dies-later", death_date="2026-05-01")
    record.condition("dies-later", HYPERTENSION, "2015-01-01")
    assert set(on_register(engine, "HYP")) == {"dies-later"}


def test_refuted_and_entered_in_error_diagnoses_do_not_count(
    engine: Engine, record: Record
) -> None:
    record.patient("refuted")
    record.condition("refuted", HYPERTENSION, "2015-01-01", verification_status="refuted")
    record.patient("error")
    record.condition("error", HYPERTENSION, "2015-01-01", verification_status="entered-in-error")
    assert on_register(engine, "HYP") == {}


def test_evidence_window_excludes_a_prescription_exactly_twelve_months_old(
    engine: Engine, record: Record
) -> None:
    rule = RegisterRule(
        id="ASTX",
        name="Asthma with treatment",
        qof_register="AST_REG",
        diagnosis=("ast_cod",),
        min_age=6,
        requires=(Evidence(codelists=("hyp_cod",), source="medication", within_months=12),),
        qof_prevalence_pct=6.5,
        qof_source="test",
    )
    asthma = next(iter(sorted(packaged_codelists()["ast_cod"].codes)))
    for patient, prescribed in [("exactly-12m", "2025-03-31"), ("inside", "2025-04-01")]:
        record.patient(patient)
        record.condition(patient, asthma, "2010-01-01")
        record.medication(patient, HYPERTENSION, prescribed)
    record.patient("untreated")
    record.condition("untreated", asthma, "2010-01-01")
    assert set(on_register(engine, "ASTX", (rule,))) == {"inside"}


def test_months_before_clamps_to_the_end_of_the_month() -> None:
    assert _months_before(dt.date(2026, 5, 31), 3) == dt.date(2026, 2, 28)
    assert _months_before(dt.date(2024, 3, 31), 1) == dt.date(2024, 2, 29)
    assert _months_before(dt.date(2026, 3, 31), 12) == dt.date(2025, 3, 31)


SALBUTAMOL = "39113611000001102"  # Salbutamol 100micrograms/dose inhaler CFC free (astdrug_med)
LAMOTRIGINE = "42130611000001108"  # Lamotrigine 100mg tablets (aed_med)
ASTHMA = "195967001"  # Asthma (ast_cod)
EPILEPSY = "84757009"  # Epilepsy (epil_cod)


def test_register_treatment_codes_used_here_are_in_the_shipped_codelists() -> None:
    lists = packaged_codelists()
    assert SALBUTAMOL in lists["astdrug_med"]
    assert LAMOTRIGINE in lists["aed_med"]
    assert ASTHMA in lists["ast_cod"]
    assert EPILEPSY in lists["epil_cod"]


@pytest.mark.parametrize(
    ("register", "diagnosis", "drug", "birth_date", "window_start"),
    [
        ("AST", ASTHMA, SALBUTAMOL, "2000-01-01", "2025-03-31"),  # 12 months (QOF AST_REG)
        ("EP", EPILEPSY, LAMOTRIGINE, "1980-01-01", "2025-09-30"),  # 6 months (QOF EPIL_REG)
    ],
)
def test_asthma_and_epilepsy_registers_need_recent_treatment(
    engine: Engine,
    record: Record,
    register: str,
    diagnosis: str,
    drug: str,
    birth_date: str,
    window_start: str,
) -> None:
    """QOF AST (12 months) and EP (6 months): diagnosed *and* treated up to the as-of date.

    The window is (window start, as-of]: a prescription on the window's first day (exactly 12
    or 6 months before 31 March 2026) is outside it, one the day after is inside.
    """
    day_after = (dt.date.fromisoformat(window_start) + dt.timedelta(days=1)).isoformat()
    for patient, prescribed in [
        ("treated", "2026-01-15"),
        ("treated-on-as-of", "2026-03-31"),
        ("untreated-13-months", "2025-02-28"),
        ("exactly-on-window-start", window_start),
        ("window-start-plus-a-day", day_after),
        ("treated-after-as-of", "2026-04-01"),
    ]:
        record.patient(patient, birth_date=birth_date)
        record.condition(patient, diagnosis, "2015-06-01")
        record.medication(patient, drug, prescribed)
    record.patient("never-treated", birth_date=birth_date)
    record.condition("never-treated", diagnosis, "2015-06-01")
    record.patient("treated-not-diagnosed", birth_date=birth_date)
    record.medication("treated-not-diagnosed", drug, "2026-01-15")
    assert set(on_register(engine, register)) == {
        "treated",
        "treated-on-as-of",
        "window-start-plus-a-day",
    }
