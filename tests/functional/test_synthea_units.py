"""A US-coded (Synthea-style) export gives the same registers and care gaps as the same people
coded the UK way: LOINC readings in %, mg/dL and mg/g, RxNorm medicines and BP panels against
SNOMED CT readings in mmol/mol and mmol/L and dm+d medicines.

The test writes both exports itself from one list of people, loads each with `hoc ingest` into
its own store, runs `hoc run` on each and compares the results row for row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.functional.test_cli_model import hoc

AS_OF = "2026-03-31"
SNOMED = "http://snomed.info/sct"
DMD = "https://dmd.nhs.uk"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"

CONDITIONS = {
    "diabetes": "44054006",
    "hypertension": "38341003",
    "chd": "53741008",
    "af": "49436004",
    "asthma": "195967001",
    "epilepsy": "84757009",
}

#: medicine -> (dm+d code, RxNorm code as Synthea-style exports carry it)
MEDICINES = {
    "atorvastatin": ("320000009", "83367"),
    "warfarin": ("319733000", "11289"),
    "fluticasone inhaler": ("320618008", "41126"),
    "lamotrigine": ("42130911000001102", "28439"),
}

#: reading -> (UK: SNOMED code, UCUM unit), (US: LOINC code, UCUM unit)
READINGS = {
    "hba1c": (("999791000000106", "mmol/mol"), ("4548-4", "%")),
    "cholesterol": (("1005671000000105", "mmol/L"), ("2093-3", "mg/dL")),
    "egfr": (("1011481000000105", "mL/min/{1.73_m2}"), ("33914-3", "mL/min/{1.73_m2}")),
    "acr": (("1023491000000104", "mg/mmol"), ("9318-7", "mg/g")),
}
BP_PANEL = {
    "uk": ("75367002", "72313002", "1091811000000102"),
    "us": ("85354-9", "8480-6", "8462-4"),
}


@dataclass
class Person:
    """One person: conditions, medicines, and readings as (UK value, US value, US has a unit)."""

    id: str
    conditions: list[str]
    medicines: list[str] = field(default_factory=list)
    readings: dict[str, tuple[float, float, bool]] = field(default_factory=dict)
    bp: tuple[float, float] | None = None


PEOPLE = [
    # HbA1c 53 mmol/mol = 7.0 %: met; cholesterol 4.65 mmol/L = 180 mg/dL: met (< 5)
    Person("d-controlled", ["diabetes", "hypertension"], ["atorvastatin"],
           {"hba1c": (53.0, 7.0, True), "cholesterol": (4.65, 180.0, True),
            "egfr": (75.0, 75.0, True)}, bp=(132.0, 84.0)),
    # HbA1c 80 mmol/mol = 9.5 % (read as 9.5 mmol/mol it would "meet" 58); cholesterol
    # 6.0 mmol/L = 232 mg/dL; BP 152/96: nothing met
    Person("d-uncontrolled", ["diabetes", "hypertension"], [],
           {"hba1c": (80.0, 9.5, True), "cholesterol": (6.0, 232.0, True)}, bp=(152.0, 96.0)),
    # a US reading with no unit: LOINC 4548-4 means %, so 9.5 is 80 mmol/mol, not met
    Person("d-no-unit", ["diabetes"], [], {"hba1c": (80.0, 9.5, False)}),
    Person("d-unmeasured", ["diabetes"]),
    Person("chd-statin", ["chd"], ["atorvastatin"], bp=(128.0, 78.0)),
    Person("chd-no-statin", ["chd"], [], bp=(145.0, 85.0)),
    Person("af-warfarin", ["af"], ["warfarin"]),
    Person("af-none", ["af"]),
    # the asthma register needs an asthma treatment in the last 12 months
    Person("asthma-treated", ["asthma"], ["fluticasone inhaler"]),
    Person("asthma-untreated", ["asthma"]),
    # the epilepsy register needs an anti-epileptic in the last 6 months
    Person("epilepsy-treated", ["epilepsy"], ["lamotrigine"]),
    # CKD's ACR: 3.39 mg/mmol = 30 mg/g
    Person("ckd-acr", ["diabetes"], [], {"acr": (3.39, 30.0, True)}),
]  # fmt: skip


def _coding(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def _quantity(value: float, unit: str | None) -> dict[str, Any]:
    if unit is None:
        return {"value": value}
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def _resources(person: Person, flavour: str) -> list[dict[str, Any]]:
    """The person's resources, UK-coded (`uk`) or US-coded the way Synthea codes them (`us`)."""
    us = flavour == "us"
    subject = {"reference": f"Patient/{person.id}"}
    out: list[dict[str, Any]] = [
        {"resourceType": "Patient", "id": person.id, "gender": "female", "birthDate": "1955-05-05"}
    ]
    for name in person.conditions:
        out.append({
            "resourceType": "Condition", "id": f"{person.id}-{name}", "subject": subject,
            "code": _coding(SNOMED, CONDITIONS[name]), "onsetDateTime": "2015-01-01",
            "verificationStatus": _coding(
                "http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed"),
        })  # fmt: skip
    for name in person.medicines:
        dmd, rxnorm = MEDICINES[name]
        out.append({
            "resourceType": "MedicationRequest", "id": f"{person.id}-{name}".replace(" ", "-"),
            "status": "active", "intent": "order", "subject": subject,
            "medicationCodeableConcept": _coding(RXNORM, rxnorm) if us else _coding(DMD, dmd),
            "authoredOn": "2026-01-15",
        })  # fmt: skip
    for name, (uk_value, us_value, us_has_unit) in person.readings.items():
        (uk_code, uk_unit), (us_code, us_unit) = READINGS[name]
        code, value = (us_code, us_value) if us else (uk_code, uk_value)
        unit = (us_unit if us_has_unit else None) if us else uk_unit
        out.append({
            "resourceType": "Observation", "id": f"{person.id}-{name}", "status": "final",
            "subject": subject, "effectiveDateTime": "2025-12-01",
            "code": _coding(LOINC if us else SNOMED, code),
            "valueQuantity": _quantity(value, unit),
        })  # fmt: skip
    if person.bp is not None:
        panel, systolic, diastolic = BP_PANEL[flavour]
        system = LOINC if us else SNOMED
        out.append({
            "resourceType": "Observation", "id": f"{person.id}-bp", "status": "final",
            "subject": subject, "effectiveDateTime": "2026-01-10",
            "code": _coding(system, panel),
            "component": [
                {"code": _coding(system, code), "valueQuantity": _quantity(value, "mm[Hg]")}
                for code, value in ((systolic, person.bp[0]), (diastolic, person.bp[1]))
            ],
        })  # fmt: skip
    return out


def _load_and_run(root: Path, flavour: str) -> Path:
    export, data = root / f"{flavour}-export", root / f"{flavour}-data"
    export.mkdir()
    lines = [json.dumps(r) for person in PEOPLE for r in _resources(person, flavour)]
    (export / "export.ndjson").write_text("\n".join(lines) + "\n", encoding="utf-8")
    ingest = hoc("ingest", str(export), "--data-dir", str(data), "--strict", cwd=root)
    assert ingest.returncode == 0, ingest.stdout + ingest.stderr
    run = hoc("run", "--as-of", AS_OF, "--data-dir", str(data), cwd=root)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "every reading a rule reads had a unit it could use" in run.stdout
    return data / "analytic.duckdb"


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("synthea-units")
    return {flavour: _load_and_run(root, flavour) for flavour in ("uk", "us")}


def _results(store: Path) -> tuple[set[tuple[str, str]], dict[tuple[str, str], tuple]]:
    con = duckdb.connect(str(store), read_only=True)
    try:
        registers = set(con.execute("SELECT patient_id, register FROM register").fetchall())
        gaps = {
            (patient, indicator): (outcome, overdue)
            for patient, indicator, outcome, overdue in con.execute(
                "SELECT patient_id, indicator, outcome, overdue_since FROM care_gap"
            ).fetchall()
        }
    finally:
        con.close()
    return registers, gaps


def test_us_coded_records_give_the_uk_coded_registers_and_care_gaps(
    stores: dict[str, Path],
) -> None:
    uk_registers, uk_gaps = _results(stores["uk"])
    us_registers, us_gaps = _results(stores["us"])
    assert us_registers == uk_registers
    assert us_gaps == uk_gaps
    # and the outcomes are the clinically right ones, not merely equal
    assert {("asthma-treated", "AST"), ("epilepsy-treated", "EP"), ("af-none", "AF")} <= (
        us_registers
    )
    assert ("asthma-untreated", "AST") not in us_registers
    outcome = {key: value[0] for key, value in us_gaps.items()}
    assert outcome[("d-controlled", "DM_HBA1C_58")] == "met"
    assert outcome[("d-uncontrolled", "DM_HBA1C_58")] == "not met"
    assert outcome[("d-no-unit", "DM_HBA1C_58")] == "not met"
    assert outcome[("d-controlled", "DM_CHOL_5")] == "met"
    assert outcome[("d-uncontrolled", "DM_CHOL_5")] == "not met"
    assert outcome[("d-controlled", "HYP_BP_U80")] == "met"
    assert outcome[("d-uncontrolled", "HYP_BP_U80")] == "not met"
    assert outcome[("d-controlled", "DM_EGFR")] == "met"
    assert outcome[("ckd-acr", "DM_EGFR")] == "not met"
    assert outcome[("chd-statin", "CHD_STATIN")] == "met"
    assert outcome[("chd-no-statin", "CHD_STATIN")] == "not met"
    assert outcome[("af-warfarin", "AF_ANTICOAG")] == "met"
    assert outcome[("af-none", "AF_ANTICOAG")] == "not met"


def test_the_us_evidence_values_are_in_uk_units(stores: dict[str, Path]) -> None:
    con = duckdb.connect(str(stores["us"]), read_only=True)
    try:
        evidence = dict(
            con.execute(
                "SELECT patient_id || ' ' || indicator, evidence_value FROM care_gap "
                "WHERE evidence_value IS NOT NULL"
            ).fetchall()
        )
    finally:
        con.close()
    assert evidence["d-controlled DM_HBA1C_58"] == "53.01"  # 7.0 % in mmol/mol
    assert evidence["d-uncontrolled DM_HBA1C_58"] == "80.33"  # 9.5 %
    assert evidence["d-controlled DM_CHOL_5"] == "4.65"  # 180 mg/dL in mmol/L
