"""Units, on every engine: the same reading in any declared unit gives the same outcome, and a
reading whose unit is unknown (or missing where none is implied) or whose value is implausible
is no valid reading — never met or not met by comparison — and is counted."""

from __future__ import annotations

import datetime as dt

from houseofcare.engine import Engine
from houseofcare.population.events import READING_SQL, reading_sql
from houseofcare.population.readings import UnusableReadings, unusable_readings
from houseofcare.risk.features import compute_features
from houseofcare.terminology.codelist import packaged_codelists
from houseofcare.terminology.units import packaged_units
from tests.spec.conftest import Record
from tests.spec.test_indicators import (
    AS_OF,
    DIABETES,
    DIASTOLIC,
    HBA1C,
    HYPERTENSION,
    SYSTOLIC,
    gaps_by_indicator,
)

CHOLESTEROL = "1005671000000105"

#: patient -> (value, UCUM code, display text): one HbA1c reading each, 2025-10-01
HBA1C_READINGS: dict[str, tuple[float, str | None, str | None]] = {
    "mmol-53": (53.0, "mmol/mol", "mmol/mol"),
    "percent-7": (7.0, "%", "%"),  # 10.929 x (7.0 - 2.15) = 53.01 mmol/mol
    "percent-text": (7.0, None, "%"),  # only the display text says %
    "implied-53": (53.0, None, None),  # the IFCC code implies mmol/mol
    "percent-9.5": (9.5, "%", "%"),  # 80.3 mmol/mol: not met, though 9.5 < 58
    "unknown-unit": (53.0, "mg", "mg"),
    "no-unit-implausible": (7.0, None, None),  # 7 mmol/mol is no real HbA1c
    "implausible": (530.0, "mmol/mol", "mmol/mol"),
}

#: patient -> (value, UCUM code, display text): one total cholesterol each, 2025-10-01
CHOLESTEROL_READINGS: dict[str, tuple[float, str | None, str | None]] = {
    "chol-mmol": (3.9, "mmol/L", "mmol/L"),
    "chol-mgdl": (150.0, "mg/dL", "mg/dL"),  # 3.88 mmol/L
    "chol-mgdl-high": (232.0, "mg/dL", "mg/dl"),  # 6.0 mmol/L: not met, though 232 > 5
    "chol-no-unit": (3.9, None, None),  # cholesterol implies no unit: not used
}


def _diabetic(record: Record, patient: str) -> None:
    record.patient(patient, birth_date="1960-01-01")
    record.condition(patient, DIABETES, "2015-01-01")
    record.condition(patient, HYPERTENSION, "2015-01-01")


def _reading(record: Record, patient: str, code: str, reading: tuple, date: str) -> None:
    value, ucum, unit = reading
    record.observation(
        patient,
        code,
        date,
        value,
        value_ucum=ucum,
        value_unit=unit,
        observation_id=f"o-{patient}-{code}",
    )


def test_every_unit_gives_the_same_outcome_and_unusable_readings_none(
    engine: Engine, record: Record
) -> None:
    for patient, reading in HBA1C_READINGS.items():
        _diabetic(record, patient)
        _reading(record, patient, HBA1C, reading, "2025-10-01")
    for patient, reading in CHOLESTEROL_READINGS.items():
        _diabetic(record, patient)
        _reading(record, patient, CHOLESTEROL, reading, "2025-10-01")
    # blood pressure in kPa: 17.3/10.7 kPa is 129.8/80.3 mmHg
    _diabetic(record, "bp-kpa")
    _reading(record, "bp-kpa", SYSTOLIC, (17.3, "kPa", "kPa"), "2025-11-01")
    _reading(record, "bp-kpa", DIASTOLIC, (10.7, "kPa", "kPa"), "2025-11-01")

    result = gaps_by_indicator(engine, "DM_HBA1C_58", "DM_CHOL_5", "HYP_BP_U80")
    hba1c = result["DM_HBA1C_58"]
    met = {p: hba1c[p][0] for p in ("mmol-53", "percent-7", "percent-text", "implied-53")}
    assert met == dict.fromkeys(met, "met")
    assert hba1c["percent-7"][3] == "53.01"
    assert (hba1c["percent-9.5"][0], hba1c["percent-9.5"][3]) == ("not met", "80.33")
    # no valid reading: nothing compared, so no evidence; the person is simply unmeasured
    for patient in ("unknown-unit", "no-unit-implausible", "implausible"):
        assert hba1c[patient][0] == "not met"
        assert hba1c[patient][1:4] == (None, None, None), patient

    chol = result["DM_CHOL_5"]
    assert (chol["chol-mmol"][0], chol["chol-mgdl"][0]) == ("met", "met")
    assert chol["chol-mgdl"][3] == "3.88"
    assert (chol["chol-mgdl-high"][0], chol["chol-mgdl-high"][3]) == ("not met", "6.0")
    assert chol["chol-no-unit"][1:4] == (None, None, None)

    assert result["HYP_BP_U80"]["bp-kpa"][0] == "met"
    assert result["HYP_BP_U80"]["bp-kpa"][3] == "129.76/80.26"

    assert unusable_readings(engine, AS_OF) == [
        UnusableReadings("ifcchbam_cod", "implausible", 2, 2),
        UnusableReadings("cholesterol_values", "no unit", 1, 1),
        UnusableReadings("ifcchbam_cod", "unknown unit", 1, 1),
    ]


def test_risk_features_read_readings_in_their_canonical_unit(
    engine: Engine, record: Record
) -> None:
    index = dt.date(2025, 12, 1)
    for patient in ("percent-7", "mmol-53", "unknown-unit"):
        _diabetic(record, patient)
        _reading(record, patient, HBA1C, HBA1C_READINGS[patient], "2025-10-01")
    rows = compute_features(engine, index, with_label=False).arrow().to_pylist()
    latest = {row["patient_id"]: row["latest_hba1c"] for row in rows}
    assert abs(latest["percent-7"] - 53.0) < 0.01 and latest["mmol-53"] == 53.0
    assert latest["unknown-unit"] is None


def test_every_declared_unit_and_spelling_converts_as_the_units_file_says(
    engine: Engine, record: Record
) -> None:
    """Generated from `units.toml`: one reading per quantity, unit and spelling, at the middle
    of the plausible range, converts in SQL exactly as `Units.canonical_value` says."""
    units = packaged_units()
    codelists = packaged_codelists()
    expected: dict[str, float] = {}
    for name, quantity in sorted(units.quantities.items()):
        code = sorted(codelists[name].codes)[0]
        middle = sum(quantity.plausible) / 2
        for index, rule in enumerate(quantity.unit):
            value = round(middle / rule.factor - rule.offset, 3)
            for kind, ucum, text in [("ucum", rule.ucum, None)] + [
                (f"text{n}", None, spelling) for n, spelling in enumerate(rule.spellings)
            ]:
                patient = f"{name}-{index}-{kind}"
                record.patient(patient, birth_date="1960-01-01")
                _reading(record, patient, code, (value, ucum, text), "2025-10-01")
                got = units.canonical_value(name, value, ucum, text)
                assert got is not None, (patient, value)
                expected[patient] = got
    rows = engine.rows(f"SELECT patient_id, value_number, value_problem FROM ({READING_SQL}) r")
    assert {p: (round(v, 6), problem) for p, v, problem in rows} == {
        p: (round(v, 6), None) for p, v in expected.items()
    }


def test_the_layer_cut_to_some_codes_gives_exactly_their_readings(
    engine: Engine, record: Record
) -> None:
    """`reading_sql(codes)` (what a page asks for one person's few measures) gives the whole
    layer's readings of those codes, no more and no less: SNOMED CT and LOINC, every unit,
    the unusable ones with their problem (other codes' rows, without a value, are the
    caller's to leave out, as it joins its codes anyway)."""
    for patient, reading in HBA1C_READINGS.items():
        _diabetic(record, patient)
        _reading(record, patient, HBA1C, reading, "2025-10-01")
    for patient, reading in CHOLESTEROL_READINGS.items():
        _diabetic(record, patient)
        _reading(record, patient, CHOLESTEROL, reading, "2025-10-01")
    _diabetic(record, "bp-kpa")
    _reading(record, "bp-kpa", SYSTOLIC, (17.3, "kPa", "kPa"), "2025-11-01")
    _reading(record, "bp-kpa", DIASTOLIC, (10.7, "kPa", "kPa"), "2025-11-01")
    _diabetic(record, "loinc")
    record.observation(
        "loinc", "4548-4", "2025-10-01", 7.0, code_system="http://loinc.org", value_unit="%"
    )
    columns = "patient_id, code, event_date, source, value_number, value_problem, quantity"
    wanted = frozenset({HBA1C, SYSTOLIC})
    whole = engine.rows(f"SELECT {columns} FROM ({READING_SQL}) r")
    cut = engine.rows(f"SELECT {columns} FROM ({reading_sql(wanted)}) r")
    expected = sorted((r for r in whole if r[1] in wanted), key=str)
    assert sorted((r for r in cut if r[1] in wanted), key=str) == expected
    assert {r[0] for r in expected} >= {"loinc", "bp-kpa", "unknown-unit", "percent-7"}
