"""Admission-risk features at an index date, on hand-written records, on every engine.

The central case: nothing recorded on or after the index date D changes any feature (only the
label may change). The others pin the windows, the latest-reading rule, the label's bounds and
who is in the cohort.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from houseofcare.engine import Engine
from houseofcare.population.multimorbidity import (
    compute_multimorbidity,
    packaged_multimorbidity_rules,
)
from houseofcare.population.registers import compute_registers
from houseofcare.population.rules import packaged_register_rules
from houseofcare.risk.features import compute_features, model_features, packaged_feature_spec
from houseofcare.terminology.codelist import packaged_codelists
from tests.spec.conftest import Record

D = dt.date(2025, 3, 31)
KINDS = {
    "emergency": ("IMP", "EM", "183452005"),
    "elective": ("IMP", "EL", "8715000"),
    "ae": ("EMER", "EM", "4525004"),
    "outpatient": ("AMB", "R", "281036007"),
    "gp": ("AMB", "R", "11429006"),
}


def code(codelist: str) -> str:
    return sorted(packaged_codelists()[codelist].codes)[0]


def encounter(
    record: Record, patient_id: str, kind: str, start: str, end: str | None = None
) -> None:
    class_code, priority, type_code = KINDS[kind]
    record._insert(
        "encounter",
        encounter_id=f"e-{patient_id}-{kind}-{start}",
        patient_id=patient_id,
        status="finished",
        class_code=class_code,
        type_code=type_code,
        priority_code=priority,
        period_start=start,
        period_end=end or start,
    )


def features(engine: Engine, with_label: bool = True) -> dict[str, dict[str, Any]]:
    rows = compute_features(engine, D, with_label=with_label).arrow().to_pylist()
    return {row["patient_id"]: row for row in rows}


def model_columns(row: dict[str, Any]) -> dict[str, Any]:
    names = model_features(packaged_feature_spec(), [r.id for r in packaged_register_rules()])
    return {name: row[name] for name in names}


def history(record: Record, pid: str) -> None:
    """A person with a bit of everything before D."""
    record.patient(pid, birth_date="1940-05-01", gender="female", lsoa_code="E01005075")
    record.condition(pid, code("hf_cod"), "2020-01-01")
    record.condition(pid, code("dm_cod"), "2019-06-01")
    record.medication(pid, code("statin_med"), "2025-01-10")
    record.observation(pid, code("ifcchbam_cod"), "2024-11-01", 61.0)
    record.observation(pid, code("sysbp_cod"), "2025-03-30", 150.0)
    encounter(record, pid, "emergency", "2025-02-01 10:00:00", "2025-02-05 10:00:00")
    encounter(record, pid, "emergency", "2024-06-01 10:00:00", "2024-06-03 10:00:00")
    encounter(record, pid, "ae", "2025-03-30 23:00:00", "2025-03-30 23:59:00")
    encounter(record, pid, "gp", "2025-01-15 09:00:00")
    encounter(record, pid, "outpatient", "2024-01-15 09:00:00")
    encounter(record, pid, "gp", "2022-09-15 09:00:00")  # in the 36-month window only
    record.condition(pid, code("efi_falls_cod"), "2023-05-01")  # a coded frailty finding


def test_nothing_on_or_after_the_index_date_changes_a_feature(
    engine: Engine, record: Record
) -> None:
    history(record, "p")
    before = features(engine)["p"]
    assert before["label"] == 0
    # everything below happens on D or later: it may change the label, never a feature
    record.condition("p", code("copd_cod"), "2025-03-31")
    record.condition("p", code("dem_cod"), "2025-06-01")
    record.medication("p", code("anticoag_med"), "2025-03-31")
    record.observation("p", code("ifcchbam_cod"), "2025-03-31", 90.0)
    record.observation("p", code("sysbp_cod"), "2025-04-02", 190.0)
    record.observation("p", code("egfr_values"), "2025-03-31", 25.0)
    record.condition("p", code("efi_dizziness_cod"), "2025-03-31")
    record.condition("p", code("efi_housebound_cod"), "2025-05-01")
    encounter(record, "p", "emergency", "2025-03-31 00:00:00", "2025-04-09 00:00:00")
    encounter(record, "p", "ae", "2025-03-31 00:00:01")
    encounter(record, "p", "gp", "2025-04-01 09:00:00")
    encounter(record, "p", "elective", "2025-09-01 09:00:00")
    after = features(engine)["p"]
    assert model_columns(after) == model_columns(before)
    assert after["label"] == 1
    # the history was seen: a longest-window count and the finding before D
    assert (before["gp_contact_24m"], before["gp_contact_36m"]) == (1, 2)
    assert before["frailty_findings"] == 1


def test_windows_bed_days_and_latest_readings(engine: Engine, record: Record) -> None:
    # one record with several people: each engine's start-up is paid once per case
    record.patient("stay", birth_date="1950-01-01")
    encounter(record, "stay", "emergency", "2025-03-21 00:00:00", "2025-04-30 00:00:00")
    record.patient("use", birth_date="1950-01-01")
    for start in (
        "2025-02-01",
        "2024-11-01",
        "2024-05-01",
        "2023-06-01",
        "2022-06-01",
        "2022-03-30",
    ):
        encounter(record, "use", "emergency", f"{start} 12:00:00")
        encounter(record, "use", "gp", f"{start} 09:00:00")
    record.patient("lab", birth_date="1950-01-01")
    record.observation("lab", code("ifcchbam_cod"), "2024-01-01", 80.0)
    record.observation("lab", code("ifcchbam_cod"), "2025-01-01", 50.0, observation_id="a")
    record.observation("lab", code("ifcchbam_cod"), "2025-01-01", 55.0, observation_id="b")
    record.observation("lab", code("ifcchbam_cod"), "2022-01-01", 99.0, observation_id="old")
    record.patient("old_lab", birth_date="1950-01-01")
    record.observation("old_lab", code("ifcchbam_cod"), "2022-01-01", 99.0)
    # coded frailty findings: distinct eFI deficits, at any age (the eFI itself starts at 65),
    # recorded at any time before D; two codes of one deficit count once
    record.patient("findings", birth_date="1980-01-01")
    falls = sorted(packaged_codelists()["efi_falls_cod"].codes)
    record.condition("findings", falls[0], "2010-01-01")
    record.condition("findings", falls[-1], "2024-01-01")
    record.condition("findings", code("efi_hearing_impairment_cod"), "2025-03-30")
    rows = features(engine)
    # an admission running over D counts its bed days only up to D
    assert rows["stay"]["emergency_bed_days_12m"] == pytest.approx(10.0)
    assert rows["stay"]["days_since_emergency_admission"] == 10
    # 3, 6, 12, 24 and 36-month windows; 2022-03-30 is before the 36-month look-back
    use = rows["use"]
    windows = (3, 6, 12, 24, 36)
    assert [use[f"emergency_admission_{m}m"] for m in windows] == [1, 2, 3, 4, 5]
    assert [use[f"gp_contact_{m}m"] for m in windows] == [1, 2, 3, 4, 5]
    assert use["elective_admission_36m"] == 0
    assert use["days_since_emergency_admission"] == 57
    # the latest reading wins; the highest of the day breaks a tie; readings look back 24 months
    assert rows["lab"]["latest_hba1c"] == 55.0
    assert rows["old_lab"]["latest_hba1c"] is None
    found = rows["findings"]
    assert (found["frailty_findings"], found["efi_deficits"]) == (2, None)
    assert rows["use"]["frailty_findings"] == 0


def test_label_window_cohort_and_day_before_registers(engine: Engine, record: Record) -> None:
    for pid, start in (
        ("just_before", "2025-03-30 23:59:59"),
        ("at_start", "2025-03-31 00:00:00"),
        ("last_day", "2026-03-30 23:00:00"),
        ("a_year_on", "2026-03-31 00:00:00"),
    ):
        record.patient(pid, birth_date="1960-01-01")
        encounter(record, pid, "emergency", start)
    record.patient("died_before", birth_date="1950-01-01", death_date="2025-03-30")
    record.patient("dies_on_the_day", birth_date="1950-01-01", death_date="2025-03-31")
    record.patient("born_on_the_day", birth_date="2025-03-31")
    record.patient("hf", birth_date="1940-01-01")
    record.condition("hf", code("hf_cod"), "2020-01-01")
    record.condition("hf", code("copd_cod"), "2025-03-31")  # on D: not yet known
    rows = features(engine)
    # the label: an emergency admission in [D, D + 12 months)
    assert {
        pid: rows[pid]["label"] for pid in ("just_before", "at_start", "last_day", "a_year_on")
    } == {
        "just_before": 0,
        "at_start": 1,
        "last_day": 1,
        "a_year_on": 0,
    }
    assert rows["just_before"]["emergency_admission_3m"] == 1
    assert rows["at_start"]["emergency_admission_3m"] == 0
    # the cohort: alive at the start of D and born before it
    assert "died_before" not in rows and "born_on_the_day" not in rows
    assert "dies_on_the_day" in rows
    # registers and scores are those of the day before D
    hf = rows["hf"]
    assert (hf["register_hf"], hf["register_copd"], hf["ltc_count"]) == (1, 0, 1)
    assert hf["cms_score"] == pytest.approx(1.18)
    assert hf["age"] == 85.0
    assert hf["frailty_level"] == 0


def test_stays_are_measured_to_the_microsecond_alike(engine: Engine, record: Record) -> None:
    """Bed days and days since an admission from time spans in microseconds: DuckDB's epoch()
    kept fractions of a second and Spark's whole seconds (engine_dialect.toml, `epoch`)."""
    record.patient("short", birth_date="1950-01-01")
    encounter(record, "short", "emergency", "2025-03-01 00:00:00.500000", "2025-03-02 00:00:00")
    encounter(record, "short", "emergency", "2025-03-10 06:00:00.250000", "2025-03-10 18:00:00")
    record.patient("late", birth_date="1950-01-01")
    encounter(record, "late", "emergency", "2025-03-30 18:00:00.000001", "2025-03-30 20:00:00")
    rows = features(engine)
    stays = (86_400_000_000 - 500_000) + (12 * 3_600_000_000 - 250_000)
    assert rows["short"]["emergency_bed_days_12m"] == stays / 86_400_000_000
    assert rows["short"]["days_since_emergency_admission"] == 20.0
    # six hours before D is not a whole day
    assert rows["late"]["days_since_emergency_admission"] == 0.0
    assert isinstance(rows["late"]["days_since_emergency_admission"], float)


def test_a_runs_own_registers_give_the_same_features(engine: Engine, record: Record) -> None:
    """`hoc run` scores the day after its as-of date with its own registers and scores at the
    as-of date (`day_before`), not computed a second time: same features to the last column."""
    history(record, "full")
    record.patient("hf", birth_date="1940-01-01")
    record.condition("hf", code("hf_cod"), "2020-01-01")
    record.condition("hf", code("copd_cod"), "2025-03-30")  # on the day before D
    record.patient("died_the_day_before", birth_date="1950-01-01", death_date="2025-03-30")
    as_of = D - dt.timedelta(days=1)
    registers = compute_registers(engine, packaged_register_rules(), packaged_codelists(), as_of)
    engine.materialise("run_register", registers.sql)
    scores = compute_multimorbidity(engine, packaged_multimorbidity_rules(), as_of, "run_register")
    engine.materialise("run_multimorbidity", scores.sql)
    given = compute_features(engine, D, day_before=("run_register", "run_multimorbidity"))
    own = features(engine, with_label=False)
    assert {row["patient_id"]: row for row in given.arrow().to_pylist()} == own
    assert own["hf"]["register_copd"] == 1 and own["full"]["register_hf"] == 1
    assert "died_the_day_before" not in own
