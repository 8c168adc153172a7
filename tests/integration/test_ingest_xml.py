"""FHIR XML files load into the same rows as the same resources in JSON, through the real loader
and a real DuckDB file; XML that cannot be read is quarantined with its file, line and why,
and the other files (and the other entries of a Bundle) still load."""

from __future__ import annotations

import datetime as dt
import gzip
import shutil
from pathlib import Path

from test_ingest_support import FIXTURES, rows, settings_in, snapshot

from houseofcare.ingest import ingest_paths
from houseofcare.ingest.sources import NOT_FHIR_NAME, discover

XML = FIXTURES / "ukcore-xml"
SCT = "http://snomed.info/sct"
NS = 'xmlns="http://hl7.org/fhir"'


def _patient(pid: str, nhs: str = "9434765919") -> str:
    return (
        f'<Patient {NS}><id value="{pid}"/><identifier>'
        f'<system value="https://fhir.nhs.uk/Id/nhs-number"/><value value="{nhs}"/></identifier>'
        '<gender value="female"/></Patient>'
    )


def test_xml_fixtures_load_the_same_rows_as_the_same_resources_in_json(tmp_path: Path) -> None:
    from_xml, from_json = settings_in(tmp_path / "xml"), settings_in(tmp_path / "json")
    xml_report = ingest_paths(paths=[XML], settings=from_xml)
    json_report = ingest_paths(paths=[XML / "json"], settings=from_json)
    assert xml_report.files == json_report.files == 6
    assert xml_report.quarantined == 0 and xml_report.skipped_files == []
    assert xml_report.by_type == json_report.by_type
    assert {t: c.loaded for t, c in xml_report.by_type.items()} == {
        "Condition": 2, "Encounter": 1, "MedicationRequest": 2, "Observation": 4,
        "Organization": 1, "Patient": 2, "Practitioner": 1, "Procedure": 1,
    }  # fmt: skip
    assert snapshot(from_xml) == snapshot(from_json)
    # And the rows are the ones a clinician reads in the XML.
    assert rows(from_xml, "SELECT * EXCLUDE (last_updated) FROM patient ORDER BY 1") == [
        # the official name when there is one, else the first (Dennis Hughes has only "usual")
        ("ukx-pat-1", "9434765919", "Margaret", "Okafor", "female", dt.date(1956, 3, 12), None,
         "N", "E01011229", "ods-B86010"),
        ("ukx-pat-2", "9730100128", "Dennis", "Hughes", "male", dt.date(1939, 1, 1),
         dt.date(2024, 12, 30), "A", None, "ods-B86010"),
    ]  # fmt: skip
    assert rows(
        from_xml,
        "SELECT condition_id, patient_id, code_system, code, clinical_status, onset_date, "
        "abatement_date FROM condition ORDER BY 1",
    ) == [
        ("ukx-cond-htn", "6f1e38a4-2c9f-4f0e-9d4b-3b2c1a0f9e71", SCT, "38341003", "resolved",
         dt.date(2009, 7, 1), dt.date(2024, 12, 30)),
        ("ukx-cond-t2dm", "ukx-pat-1", SCT, "44054006", "active", dt.date(2016, 4, 1), None),
    ]  # fmt: skip
    assert rows(
        from_xml,
        "SELECT observation_id, code, value_number, value_unit, value_code, effective_date "
        "FROM observation ORDER BY 1, 2",
    ) == [
        ("ukx-obs-bmi", "60621009", 27.4, "kg/m2", None, dt.date(2024, 6, 11)),
        ("ukx-obs-bp", "1091811000000102", 91.0, "mmHg", None, dt.date(2024, 12, 2)),
        ("ukx-obs-bp", "72313002", 148.0, "mmHg", None, dt.date(2024, 12, 2)),
        ("ukx-obs-hba1c", "999791000000106", 58.5, "mmol/mol", None, dt.date(2024, 11, 3)),
        ("ukx-obs-smoking", "229819007", None, None, "8517006", dt.date(2024, 6, 11)),
    ]
    assert rows(
        from_xml,
        "SELECT medication_request_id, patient_id, status, code_system, code, authored_on "
        "FROM medication ORDER BY 1",
    ) == [
        ("ukx-medreq-metformin", "ukx-pat-1", "active", SCT, "39109611000001105",
         dt.date(2024, 11, 5)),
        # medicationReference to a contained Medication: the view reads a CodeableConcept only
        ("ukx-medreq-ramipril", "ukx-pat-2", "stopped", None, None, dt.date(2019, 2, 14)),
    ]  # fmt: skip


def test_reingesting_the_xml_changes_nothing(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    ingest_paths(paths=[XML], settings=settings)
    before = snapshot(settings)
    again = ingest_paths(paths=[XML], settings=settings)
    assert {c.loaded + c.updated for c in again.by_type.values()} == {0}
    assert snapshot(settings) == before


def test_gzipped_xml_and_xml_by_its_first_byte_load(tmp_path: Path) -> None:
    gz = tmp_path / "Patient-Okafor.xml.gz"
    gz.write_bytes(gzip.compress((XML / "Patient-Okafor.xml").read_bytes()))
    unnamed = tmp_path / "hba1c.txt"  # named on the command line: read, found to be XML
    shutil.copy(XML / "Observation-HbA1c.xml", unnamed)
    settings = settings_in(tmp_path / "store")
    report = ingest_paths(paths=[gz, unnamed], settings=settings)
    assert report.quarantined == 0
    assert {t: c.loaded for t, c in report.by_type.items()} == {"Observation": 1, "Patient": 1}
    assert rows(settings, "SELECT value_number, value_unit FROM observation") == [
        (58.5, "mmol/mol")
    ]


def test_a_folder_reads_its_xml_files(tmp_path: Path) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    shutil.copy(XML / "Patient-Okafor.xml", folder)
    (folder / "Patient-2.XML.gz").write_bytes(gzip.compress(_patient("p2").encode()))
    (folder / "notes.txt").write_text("<not read>")
    found = discover([folder])
    assert [p.name for p in found.files] == ["Patient-2.XML.gz", "Patient-Okafor.xml"]
    assert found.skipped == [(folder / "notes.txt", NOT_FHIR_NAME)]
    assert "*.xml" in NOT_FHIR_NAME


def test_unreadable_xml_is_quarantined_with_file_line_and_why_and_the_rest_loads(
    tmp_path: Path,
) -> None:
    broken = tmp_path / "broken.xml"
    broken.write_text(f'<Patient {NS}>\n  <id value="b1"/>\n  <gender value="male">\n</Patient>\n')
    other_ns = tmp_path / "r5.xml"
    other_ns.write_text('<?xml version="1.0"?>\n<Patient xmlns="http://hl7.org/fhir/R5"/>\n')
    unknown_root = tmp_path / "feed.xml"
    unknown_root.write_text(f"<feed {NS}><entry/></feed>\n")
    doctype = tmp_path / "xxe.xml"
    doctype.write_text(
        '<!DOCTYPE Patient [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
        f'<Patient {NS}><id value="&x;"/></Patient>\n'
    )
    good = tmp_path / "good.xml"
    good.write_text(_patient("g1") + "\n")
    settings = settings_in(tmp_path / "store")
    report = ingest_paths(paths=[broken, other_ns, unknown_root, doctype, good], settings=settings)
    assert report.by_type["Patient"].loaded == 1
    assert rows(settings, "SELECT patient_id FROM patient") == [("g1",)]
    quarantined = rows(
        settings,
        "SELECT regexp_extract(source_file, '[^/]+$'), line_number, resource_type, reason "
        "FROM quarantine ORDER BY 1",
    )
    assert [(f, n, t) for f, n, t, _ in quarantined] == [
        ("broken.xml", 4, None), ("feed.xml", 1, None), ("r5.xml", 2, None),
        ("xxe.xml", 1, None),
    ]  # fmt: skip
    reasons = {f: r for f, _, _, r in quarantined}
    assert reasons["broken.xml"].startswith("cannot read as FHIR XML: not well-formed XML")
    assert "Opening and ending tag mismatch: gender" in reasons["broken.xml"]
    assert (
        "has namespace 'http://hl7.org/fhir/R5', expected 'http://hl7.org/fhir'"
        in (reasons["r5.xml"])
    )
    assert "<feed> is not a FHIR R4 resource type" in reasons["feed.xml"]
    assert "DOCTYPE" in reasons["xxe.xml"] and "root:" not in reasons["xxe.xml"]
    assert all(r.endswith("nothing from this file was loaded") for r in reasons.values())
    assert report.quarantined == 4
    assert [n for _, n, _ in report.quarantine_examples] == [4, 2, 1, 1]


def test_a_bad_bundle_entry_quarantines_that_entry_only(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.xml"
    bundle.write_text(
        f"""<Bundle {NS}>
  <type value="transaction"/>
  <entry><resource>{_patient("ok-1")}</resource></entry>
  <entry>
    <resource>
      <Patient>
        <id value="twice"/>
        <birthDate value="1950-01-01"/>
        <birthDate value="1951-01-01"/>
      </Patient>
    </resource>
  </entry>
  <entry><resource>{_patient("bad-nhs", nhs="9434765918")}</resource></entry>
  <entry><request><method value="DELETE"/><url value="Patient/gone"/></request></entry>
  <entry><resource>{_patient("ok-2", nhs="9730100128")}</resource></entry>
</Bundle>
"""
    )
    settings = settings_in(tmp_path / "store")
    report = ingest_paths(paths=[bundle], settings=settings)
    assert rows(settings, "SELECT patient_id FROM patient ORDER BY 1") == [("ok-1",), ("ok-2",)]
    assert report.by_type["Patient"].loaded == 2
    quarantined = rows(
        settings,
        "SELECT line_number, resource_type, resource_id, reason FROM quarantine ORDER BY 1",
    )
    assert [(n, t, i) for n, t, i, _ in quarantined] == [
        (6, "Patient", "twice"), (13, "Patient", "bad-nhs"), (14, None, None),
    ]  # fmt: skip
    assert quarantined[0][3] == (
        "XML: Patient.birthDate appears 2 times (lines 8, 9), but FHIR R4 allows it once"
    )
    assert "fails the modulus 11 check" in quarantined[1][3]  # the view's own checks, as JSON
    assert quarantined[2][3] == "resourceType is missing"  # an entry without a resource, as JSON
