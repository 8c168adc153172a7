"""Every fixture (our synthetic export, Synthea bundles and bulk NDJSON, UK Core) loads with the
values a clinician would expect: codings keep system/code/display, references resolve to ids,
blood pressure components become rows, partial dates become the first day of the period."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from test_ingest_support import FIXTURES, rows, settings_in

from houseofcare.ingest import ingest_paths

SCT = "http://snomed.info/sct"
LOINC = "http://loinc.org"
ORG = "hoc-org-B86001"


def test_synthetic_export_with_manifest_gz_and_ignored_truth_folder(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    report = ingest_paths(paths=[FIXTURES / "synthetic"], settings=settings)
    assert report.files == 7  # the manifest's files; truth/ is never read
    assert report.quarantined == 0
    assert {t: c.loaded for t, c in report.by_type.items()} == {
        "Condition": 1, "Encounter": 1, "MedicationRequest": 1, "Observation": 2,
        "Organization": 1, "Patient": 2, "Procedure": 1,
    }  # fmt: skip
    assert rows(settings, "SELECT * EXCLUDE (last_updated) FROM patient ORDER BY 1") == [
        # the official name, not the usual one listed first; its first given name
        ("hoc-p1", "9434765919", "Robert", "Smith", "male", dt.date(1948, 5, 2), None, "A",
         "E01011229", ORG),
        # a name without `use`: the first name
        ("hoc-p2", "9434765870", "Abena", "Mensah", "female", dt.date(1972, 11, 30),
         dt.date(2025, 8, 1), "N", "E01011229", ORG),
    ]  # fmt: skip
    # The gzipped BP panel: one row per component, with the parent's id, patient and date.
    assert rows(
        settings,
        "SELECT observation_id, patient_id, encounter_id, code, value_number, value_unit, "
        "effective_date FROM observation WHERE observation_id = 'hoc-o1' ORDER BY code",
    ) == [
        ("hoc-o1", "hoc-p1", "hoc-e1", "1091811000000102", 97.0, "mm[Hg]", dt.date(2025, 2, 1)),
        ("hoc-o1", "hoc-p1", "hoc-e1", "72313002", 162.0, "mm[Hg]", dt.date(2025, 2, 1)),
    ]
    assert rows(
        settings,
        "SELECT value_code_system, value_code, value_display, value_number FROM observation "
        "WHERE observation_id = 'hoc-o2'",
    ) == [(SCT, "8517006", "Ex-smoker", None)]
    assert rows(settings, "SELECT * EXCLUDE (last_updated) FROM encounter") == [
        ("hoc-e1", "hoc-p1", "finished", "EMER", SCT, "4525004",
         "Emergency department patient visit", "EM", dt.datetime(2025, 2, 1, 18),
         dt.datetime(2025, 2, 1, 22, 30), "hoc-org-RR8"),
    ]  # fmt: skip
    assert rows(settings, "SELECT performed_date FROM procedure") == [(dt.date(2024, 9, 9),)]
    assert rows(settings, "SELECT last_updated FROM condition") == [(dt.datetime(2026, 3, 31),)]


def test_folder_without_manifest_reads_top_level_ndjson_and_gz(tmp_path: Path) -> None:
    export = tmp_path / "export"
    shutil.copytree(FIXTURES / "synthetic", export)
    (export / "manifest.json").unlink()
    report = ingest_paths(paths=[export], settings=settings_in(tmp_path / "store"))
    assert report.files == 7
    assert report.by_type["Observation"].loaded == 2


@pytest.mark.parametrize("form", ["fhir", "bulk"])
def test_synthea_bundles_and_bulk_ndjson_load_alike(tmp_path: Path, form: str) -> None:
    settings = settings_in(tmp_path)
    report = ingest_paths(paths=[FIXTURES / "synthea" / form], settings=settings)
    assert report.skipped_unknown == {"Claim": 2, "ExplanationOfBenefit": 1, "Immunization": 1}
    # SNOMED CT, LOINC and RxNorm: every coded row is in a system the rules read or a map covers
    assert report.unknown_code_systems == {}
    assert report.quarantined == 0
    assert {t: c.loaded for t, c in report.by_type.items()} == {
        "Condition": 3, "Encounter": 3, "MedicationRequest": 2, "Observation": 5,
        "Organization": 1, "Patient": 2, "Practitioner": 1, "Procedure": 1,
    }  # fmt: skip
    p1 = "8f2d4c1e-1a2b-4c3d-9e8f-000000000001"
    # urn:uuid references resolve; US Core has no NHS number or UK ethnic category.
    sql = (
        "SELECT given_name, family_name, gender, birth_date, nhs_number, ethnic_category "
        "FROM patient WHERE patient_id = "
    )
    assert rows(settings, f"{sql}'{p1}'") == [
        ("John", "Smith", "male", dt.date(1958, 7, 14), None, None)
    ]  # fmt: skip
    assert rows(settings, "SELECT death_date FROM patient WHERE death_date IS NOT NULL") == [
        (dt.date(2021, 11, 5),)
    ]
    # LOINC BP panel 85354-9: two rows with the component codes.
    assert rows(
        settings,
        "SELECT patient_id, code_system, code, display, value_number FROM observation "
        "WHERE observation_id = 'o0000000-0000-0000-0000-000000000001' ORDER BY code",
    ) == [
        (p1, LOINC, "8462-4", "Diastolic Blood Pressure", 91.0),
        (p1, LOINC, "8480-6", "Systolic Blood Pressure", 142.0),
    ]
    # Conditional references (Organization?identifier=system|value) resolve to the value.
    assert rows(settings, "SELECT DISTINCT service_provider_id FROM encounter") == [
        ("ef58ea08-d883-3957-8300-150554edc8fb",)
    ]
    assert rows(
        settings,
        "SELECT code_system, code, display, authored_on, encounter_id FROM medication "
        "WHERE patient_id = '" + p1 + "'",
    ) == [
        ("http://www.nlm.nih.gov/research/umls/rxnorm", "314076", "lisinopril 10 MG Oral Tablet",
         dt.date(2019, 1, 1), "e0000000-0000-0000-0000-000000000001"),
    ]  # fmt: skip
    assert rows(
        settings,
        "SELECT clinical_status, onset_date, abatement_date FROM condition "
        "WHERE code = '444814009'",
    ) == [("resolved", dt.date(2020, 6, 2), dt.date(2020, 6, 20))]
    # Date-times with an offset are stored in UTC.
    assert rows(
        settings,
        "SELECT period_start FROM encounter "
        "WHERE encounter_id = 'e0000000-0000-0000-0000-000000000002'",
    ) == [(dt.datetime(2020, 6, 3, 3, 10),)]
    sql = "SELECT practitioner_id, identifier, family_name, given_name FROM practitioner"
    assert rows(settings, sql) == [
        ("0000016f-57cb-cdd0-0000-000000001234", "9999991234", "Doe", "Jane")
    ]  # fmt: skip


def test_uk_core_extract(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    report = ingest_paths(
        paths=[FIXTURES / "ukcore" / "leeds-extract-2025-01.ndjson"], settings=settings
    )
    assert report.skipped_unknown == {"AllergyIntolerance": 1}
    assert report.by_type["Procedure"].loaded == 1  # from a searchset Bundle on one line
    # Partial birthDate → first day; absolute URL reference → id; NHS number and ethnicity.
    assert rows(settings, "SELECT * EXCLUDE (last_updated) FROM patient") == [
        ("uk-pat-1", "9449306613", "Simran", "Kaur", "female", dt.date(1950, 6, 1), None, "H",
         "E01010648", "ods-B86001")
    ]  # fmt: skip
    # SNOMED CT preferred over an ICD-10 coding listed first; versioned reference resolved.
    assert rows(
        settings, "SELECT patient_id, code_system, code, display, onset_date FROM condition"
    ) == [("uk-pat-1", SCT, "44054006", "Diabetes mellitus type 2", dt.date(2015, 1, 1))]
    assert rows(settings, "SELECT code_system, code FROM medication") == [
        (SCT, "39109611000001105")
    ]
    sql = "SELECT effective_date, value_number, value_unit FROM observation WHERE observation_id"
    assert rows(settings, f"{sql} = 'uk-obs-hba1c'") == [
        (dt.date(2024, 11, 3), 58.5, "mmol/mol")
    ]  # fmt: skip
    assert rows(settings, "SELECT period_start, service_provider_id FROM encounter") == [
        (dt.datetime(2024, 12, 1, 22, 15), "RR8")
    ]
    sql = "SELECT organization_id, ods_code, name, type_code, type_display FROM organization"
    assert rows(settings, sql) == [
        ("ods-B86001", "B86001", "Leeds Road Surgery", "prov", "GP practice")
    ]  # fmt: skip
    assert rows(settings, "SELECT family_name, given_name FROM practitioner") == [
        ("Patel", "Anita")
    ]


def test_missing_path_and_empty_folder_raise_before_writing(tmp_path: Path) -> None:
    settings = settings_in(tmp_path / "store")
    with pytest.raises(FileNotFoundError, match="no such file"):
        ingest_paths(paths=[tmp_path / "nope.ndjson"], settings=settings)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "README.txt").write_text("not FHIR")
    with pytest.raises(FileNotFoundError, match="holds no FHIR files"):
        ingest_paths(paths=[empty], settings=settings)
    assert not settings.analytic_db_path.exists()
