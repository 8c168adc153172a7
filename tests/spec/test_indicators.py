"""Care-gap indicators on hand-written records: the edge cases QOF-style indicators turn on.

As-of date 2026-03-31, so the 12-month window is (2025-03-31, 2026-03-31] and a person
diagnosed after 2025-06-30 is inside the 9-month newly-diagnosed grace period.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest

from houseofcare.engine import Engine
from houseofcare.population.indicators import (
    achievement,
    compute_indicators,
    export_recall_csv,
    packaged_indicator_rules,
    recall_list,
)
from houseofcare.population.registers import compute_registers
from houseofcare.population.rules import packaged_register_rules
from houseofcare.terminology.codelist import packaged_codelists
from houseofcare.tiers.proportionate import packaged_proportionate_policy
from tests.spec.conftest import Record, store_run

AS_OF = dt.date(2026, 3, 31)
DIABETES = "44054006"  # Diabetes mellitus type 2
DIABETES_RESOLVED = "315051004"  # Diabetes resolved
HBA1C = "999791000000106"
HYPERTENSION = "38341003"
SYSTOLIC = "72313002"
DIASTOLIC = "1091811000000102"
AF = "49436004"  # Atrial fibrillation
CHD = "53741008"  # Coronary arteriosclerosis
PAD = "399957001"  # Peripheral arterial occlusive disease
HEART_FAILURE = "84114007"
HFREF = "703272007"
RAMIPRIL = "318902004"  # Ramipril 5mg capsules
APIXABAN = "42206511000001102"
DECLINED = "183944003"  # Procedure refused
MODERATE_FRAILTY = "925831000000107"


def test_codes_used_here_are_in_the_shipped_codelists() -> None:
    lists = packaged_codelists()
    assert DIABETES in lists["dmtype2_cod"] or DIABETES in lists["dm_cod"]
    assert DIABETES_RESOLVED in lists["dmres_cod"]
    assert HBA1C in lists["ifcchbam_cod"]
    assert SYSTOLIC in lists["sysbp_cod"]
    assert DIASTOLIC in lists["dbp_cod"]
    assert AF in lists["afib_cod"]
    assert CHD in lists["chd_cod"]
    assert PAD in lists["pad_cod"]
    assert HEART_FAILURE in lists["hf_cod"]
    assert HFREF in lists["hflvsd_cod"]
    assert RAMIPRIL in lists["acei_arb_med"]
    assert APIXABAN in lists["anticoag_med"]
    assert DECLINED in lists["pcadec_cod"]
    assert MODERATE_FRAILTY in lists["modfrail_cod"]


def gaps_by_indicator(engine: Engine, *indicators: str) -> dict[str, dict[str, tuple]]:
    """indicator -> patient_id -> (outcome, evidence_code, evidence_date, evidence_value,
    overdue_since), computed once for all the `indicators` (one query per case on Spark)."""
    registers = compute_registers(engine, packaged_register_rules(), packaged_codelists(), AS_OF)
    engine.materialise("spec_register", registers.sql)
    wanted = ", ".join(f"'{indicator}'" for indicator in indicators)
    rows = (
        compute_indicators(
            engine, packaged_indicator_rules(), packaged_codelists(), AS_OF, "spec_register"
        )
        .where(f"indicator IN ({wanted})")
        .rows()
    )
    result: dict[str, dict[str, tuple]] = {indicator: {} for indicator in indicators}
    for patient, indicator, *rest in rows:
        result[indicator][patient] = tuple(rest)
    return result


def gaps(engine: Engine, indicator: str) -> dict[str, tuple]:
    """patient_id -> (outcome, evidence_code, evidence_date, evidence_value, overdue_since)."""
    return gaps_by_indicator(engine, indicator)[indicator]


def outcomes_by_indicator(engine: Engine, *indicators: str) -> dict[str, dict[str, str]]:
    return {
        indicator: {patient: row[0] for patient, row in by_patient.items()}
        for indicator, by_patient in gaps_by_indicator(engine, *indicators).items()
    }


def outcomes(engine: Engine, indicator: str) -> dict[str, str]:
    return outcomes_by_indicator(engine, indicator)[indicator]


def diabetic(record: Record, patient: str, diagnosed: str = "2015-01-01", **values: str) -> None:
    record.patient(patient, **values)
    record.condition(patient, DIABETES, diagnosed)


def bp(record: Record, patient: str, date: str, systolic: float, diastolic: float) -> None:
    record.observation(patient, SYSTOLIC, date, systolic, observation_id=f"s-{patient}-{systolic}")
    record.observation(
        patient, DIASTOLIC, date, diastolic, observation_id=f"d-{patient}-{diastolic}"
    )


def test_hba1c_exactly_on_the_threshold_meets_and_one_above_does_not(
    engine: Engine, record: Record
) -> None:
    diabetic(record, "58")
    record.observation("58", HBA1C, "2025-10-01", 58)
    diabetic(record, "59")
    record.observation("59", HBA1C, "2025-10-01", 59)
    result = gaps(engine, "DM_HBA1C_58")
    assert result["58"] == ("met", HBA1C, dt.date(2025, 10, 1), "58.0", None)
    # a failing reading opens the gap on the day it was taken
    assert result["59"] == ("not met", HBA1C, dt.date(2025, 10, 1), "59.0", dt.date(2025, 10, 1))


def test_reading_exactly_twelve_months_old_is_out_of_the_window(
    engine: Engine, record: Record
) -> None:
    diabetic(record, "exactly-12m")
    record.observation("exactly-12m", HBA1C, "2025-03-31", 48)
    diabetic(record, "a-day-inside")
    record.observation("a-day-inside", HBA1C, "2025-04-01", 48)
    result = gaps(engine, "DM_HBA1C_58")
    assert result["a-day-inside"][0] == "met"
    # overdue from the day it left the window: last reading + 12 months
    assert result["exactly-12m"] == (
        "not met",
        HBA1C,
        dt.date(2025, 3, 31),
        "48.0",
        dt.date(2026, 3, 31),
    )


def test_never_measured_is_overdue_from_the_first_eligible_date(
    engine: Engine, record: Record
) -> None:
    diabetic(record, "never", diagnosed="2020-01-15")
    expected = ("not met", None, None, None, dt.date(2020, 10, 15))
    assert gaps(engine, "DM_HBA1C_58")["never"] == expected


def test_latest_reading_wins_over_an_earlier_good_one(engine: Engine, record: Record) -> None:
    diabetic(record, "worse")
    record.observation("worse", HBA1C, "2025-06-01", 50)
    record.observation("worse", HBA1C, "2026-01-10", 70)
    diabetic(record, "better")
    record.observation("better", HBA1C, "2025-06-01", 70)
    record.observation("better", HBA1C, "2026-01-10", 50)
    result = gaps(engine, "DM_HBA1C_58")
    assert result["worse"][:4] == ("not met", HBA1C, dt.date(2026, 1, 10), "70.0")
    assert result["better"][0] == "met"


def test_two_values_on_the_latest_date_count_against_the_person(
    engine: Engine, record: Record
) -> None:
    diabetic(record, "same-day")
    record.observation("same-day", HBA1C, "2026-01-10", 55, observation_id="a")
    record.observation("same-day", HBA1C, "2026-01-10", 60, observation_id="b")
    assert outcomes(engine, "DM_HBA1C_58") == {"same-day": "not met"}


def test_future_readings_are_not_seen(engine: Engine, record: Record) -> None:
    diabetic(record, "future")
    record.observation("future", HBA1C, "2026-04-01", 40)
    assert outcomes(engine, "DM_HBA1C_58") == {"future": "not met"}


def test_exclusion_after_a_qualifying_reading_does_not_remove_a_met_person(
    engine: Engine, record: Record
) -> None:
    diabetic(record, "met-then-declined")
    record.observation("met-then-declined", HBA1C, "2025-06-01", 50)
    record.procedure("met-then-declined", DECLINED, "2025-09-01")
    diabetic(record, "declined-only")
    record.procedure("declined-only", DECLINED, "2025-09-01")
    diabetic(record, "failed-and-declined")
    record.observation("failed-and-declined", HBA1C, "2025-06-01", 80)
    record.procedure("failed-and-declined", DECLINED, "2025-09-01")
    diabetic(record, "declined-long-ago")
    record.procedure("declined-long-ago", DECLINED, "2025-03-31")
    result = gaps(engine, "DM_HBA1C_58")
    assert result["met-then-declined"][:4] == ("met", HBA1C, dt.date(2025, 6, 1), "50.0")
    assert result["declined-only"] == ("excluded", DECLINED, dt.date(2025, 9, 1), None, None)
    assert result["failed-and-declined"][0] == "excluded"
    # an exclusion only counts inside the window
    assert result["declined-long-ago"][0] == "not met"


def test_resolved_then_rediagnosed_is_counted_and_resolved_is_not(
    engine: Engine, record: Record
) -> None:
    diabetic(record, "rediagnosed", diagnosed="2012-01-01")
    record.condition("rediagnosed", DIABETES_RESOLVED, "2018-01-01")
    record.condition("rediagnosed", DIABETES, "2024-01-01", condition_id="again")
    record.observation("rediagnosed", HBA1C, "2026-02-01", 52)
    diabetic(record, "resolved", diagnosed="2012-01-01")
    record.condition("resolved", DIABETES_RESOLVED, "2018-01-01")
    assert outcomes(engine, "DM_HBA1C_58") == {"rediagnosed": "met"}


def test_newly_diagnosed_within_nine_months_is_not_in_the_denominator(
    engine: Engine, record: Record
) -> None:
    diabetic(record, "nine-months", diagnosed="2025-06-30")
    diabetic(record, "under-nine-months", diagnosed="2025-07-01")
    result = outcomes_by_indicator(engine, "DM_HBA1C_58", "DM_EGFR")
    assert set(result["DM_HBA1C_58"]) == {"nine-months"}
    # indicators without a grace period take everyone on the register
    assert set(result["DM_EGFR"]) == {"nine-months", "under-nine-months"}


def test_moderate_frailty_moves_a_person_to_the_frail_hba1c_target(
    engine: Engine, record: Record
) -> None:
    diabetic(record, "frail")
    record.observation("frail", MODERATE_FRAILTY, "2025-12-01")
    record.observation("frail", HBA1C, "2026-01-10", 70)
    result = outcomes_by_indicator(engine, "DM_HBA1C_58", "DM_HBA1C_75_FRAIL")
    assert result == {"DM_HBA1C_58": {}, "DM_HBA1C_75_FRAIL": {"frail": "met"}}


@pytest.mark.parametrize(
    ("birth_date", "indicator"),
    [
        ("1946-03-31", "HYP_BP_80"),  # 80th birthday on the as-of date counts
        ("1946-04-01", "HYP_BP_U80"),  # 80 tomorrow
    ],
)
def test_birthday_on_the_as_of_date_moves_between_the_bp_indicators(
    engine: Engine, record: Record, birth_date: str, indicator: str
) -> None:
    record.patient("p", birth_date=birth_date)
    record.condition("p", HYPERTENSION, "2015-01-01")
    bp(record, "p", "2026-01-10", 145, 85)
    result = outcomes_by_indicator(engine, "HYP_BP_80", "HYP_BP_U80")
    assert result["HYP_BP_80"] == ({"p": "met"} if indicator == "HYP_BP_80" else {})
    assert result["HYP_BP_U80"] == ({"p": "not met"} if indicator == "HYP_BP_U80" else {})


def test_bp_pairs_systolic_and_diastolic_of_the_same_date(engine: Engine, record: Record) -> None:
    for patient in ("paired", "unpaired", "lowest-of-the-day", "on-the-limit"):
        record.patient(patient, birth_date="1960-01-01")
        record.condition(patient, HYPERTENSION, "2015-01-01")
    bp(record, "paired", "2026-01-10", 138, 88)
    record.observation("unpaired", SYSTOLIC, "2026-01-10", 120)
    record.observation("unpaired", DIASTOLIC, "2026-01-11", 70)
    # QOF: the lowest systolic and the lowest diastolic of the latest date
    bp(record, "lowest-of-the-day", "2026-01-10", 150, 80)
    bp(record, "lowest-of-the-day", "2026-01-10", 130, 95)
    bp(record, "on-the-limit", "2026-01-10", 140, 90)
    result = gaps(engine, "HYP_BP_U80")
    assert result["paired"][:4] == ("met", SYSTOLIC, dt.date(2026, 1, 10), "138.0/88.0")
    assert result["unpaired"][0] == "not met"
    assert result["lowest-of-the-day"][:4] == ("met", SYSTOLIC, dt.date(2026, 1, 10), "130.0/80.0")
    assert result["on-the-limit"][0] == "met"


def test_cha2ds2_vasc_of_two_is_in_the_anticoagulation_denominator_and_one_is_not(
    engine: Engine, record: Record
) -> None:
    cases = {
        # (gender, birth date, extra diagnoses)
        "female-60-hyp": ("female", "1966-01-01", [HYPERTENSION]),  # 1 + 1 = 2
        "male-60-hyp": ("male", "1966-01-01", [HYPERTENSION]),  # 1
        "male-60-chd-pad": ("male", "1966-01-01", [CHD, PAD]),  # vascular counts once: 1
        "male-65": ("male", "1961-03-31", []),  # age 65 today: 1
        "male-75": ("male", "1951-03-31", []),  # age 75 today: 2
    }
    for patient, (gender, born, diagnoses) in cases.items():
        record.patient(patient, gender=gender, birth_date=born)
        record.condition(patient, AF, "2015-01-01")
        for code in diagnoses:
            record.condition(patient, code, "2015-01-01")
    record.medication("male-75", APIXABAN, "2026-02-01")
    assert outcomes(engine, "AF_ANTICOAG") == {"female-60-hyp": "not met", "male-75": "met"}


def test_acei_in_heart_failure_needs_a_reduced_ejection_fraction_code(
    engine: Engine, record: Record
) -> None:
    for patient in ("hfref-treated", "hfref-untreated", "hf-only"):
        record.patient(patient)
        record.condition(patient, HEART_FAILURE, "2018-01-01")
    for patient in ("hfref-treated", "hfref-untreated"):
        record.condition(patient, HFREF, "2019-01-01")
    record.medication("hfref-treated", RAMIPRIL, "2026-01-05")
    record.medication("hfref-untreated", RAMIPRIL, "2025-06-01")  # over 6 months ago
    result = gaps(engine, "HF_ACEI_ARB")
    assert set(result) == {"hfref-treated", "hfref-untreated"}
    assert result["hfref-treated"][:3] == ("met", RAMIPRIL, dt.date(2026, 1, 5))
    assert result["hfref-untreated"] == (
        "not met",
        RAMIPRIL,
        dt.date(2025, 6, 1),
        None,
        dt.date(2025, 12, 1),
    )


def test_recall_list_puts_the_most_overdue_first_and_exports_to_csv(
    engine: Engine, record: Record, tmp_path: Path
) -> None:
    diabetic(record, "lapsed-2024", nhs_number="9990000018")
    record.observation("lapsed-2024", HBA1C, "2024-05-01", 50)
    diabetic(record, "failed-recently", nhs_number="9990000026")
    record.observation("failed-recently", HBA1C, "2026-02-01", 80)
    diabetic(record, "never", diagnosed="2020-01-15", nhs_number="9990000034")
    diabetic(record, "other-practice", practice_id="P2")
    record.observation("other-practice", HBA1C, "2026-02-01", 80)
    diabetic(record, "well")
    record.observation("well", HBA1C, "2026-02-01", 50)
    run_id = store_run(engine, AS_OF)

    listed = recall_list(engine, run_id, practice_id="P1", indicator="DM_HBA1C_58")
    assert [(row[1], row[4]) for row in listed.rows()] == [
        ("never", dt.date(2020, 10, 15)),
        ("lapsed-2024", dt.date(2025, 5, 1)),
        ("failed-recently", dt.date(2026, 2, 1)),
    ]

    path = tmp_path / "recall.csv"
    written = export_recall_csv(engine, run_id, path, practice_id="P1")
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert written == len(rows)
    assert rows[0]["practice_id"] == "P1"
    assert {row["patient_id"] for row in rows} >= {"never", "lapsed-2024", "failed-recently"}
    assert "other-practice" not in {row["patient_id"] for row in rows}
    dates = [row["overdue_since"] for row in rows]
    assert dates == sorted(dates)


def test_the_core20plus5_order_moves_favoured_people_up_and_removes_nobody(
    engine: Engine, record: Record
) -> None:
    """tiers/proportionate.toml: a Core20 person (LSOA in IMD decile 1-2) overdue since
    2025-07-01 comes before someone overdue since 2025-05-01 (a 90-day head start); someone
    overdue longer than that head start still comes first."""
    deprived, affluent = "E01015736", "E01005185"  # IMD 2019 deciles 1 and 10 (the lookup)
    diabetic(record, "long-overdue", lsoa_code=affluent)
    record.observation("long-overdue", HBA1C, "2024-01-01", 50)
    diabetic(record, "affluent", lsoa_code=affluent)
    record.observation("affluent", HBA1C, "2024-05-01", 50)
    diabetic(record, "deprived", lsoa_code=deprived)
    record.observation("deprived", HBA1C, "2024-07-01", 50)
    run_id = store_run(engine, AS_OF)
    plain = recall_list(engine, run_id, indicator="DM_HBA1C_58")
    assert [row[1] for row in plain.rows()] == ["long-overdue", "affluent", "deprived"]
    policy = packaged_proportionate_policy()
    favoured = recall_list(engine, run_id, indicator="DM_HBA1C_58", favour=policy)
    assert [row[1] for row in favoured.rows()] == ["long-overdue", "deprived", "affluent"]
    # the dates shown are the real ones: the head start only orders
    assert {row[1]: row[4] for row in favoured.rows()}["deprived"] == dt.date(2025, 7, 1)


def test_practice_achievement_is_met_over_met_plus_not_met_and_disclosure_controlled(
    engine: Engine, record: Record, tmp_path: Path
) -> None:
    for number in range(10):
        diabetic(record, f"met-{number}")
        record.observation(f"met-{number}", HBA1C, "2026-02-01", 50)
    for number in range(10):
        diabetic(record, f"gap-{number}")
    diabetic(record, "declined")
    record.procedure("declined", DECLINED, "2025-09-01")
    run_id = store_run(engine, AS_OF)

    raw = achievement(engine, run_id, disclosure_controlled=False).where(
        "indicator = 'DM_HBA1C_58'"
    )
    assert raw.rows() == [("P1", "DM_HBA1C_58", 10, 10, 1, 50.0)]
    controlled = achievement(engine, run_id).where("indicator = 'DM_HBA1C_58'")
    assert controlled.rows() == [("P1", "DM_HBA1C_58", 10, 10, None, 50.0)]
