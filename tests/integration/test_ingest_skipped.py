"""Files in an export folder that hold no FHIR resources (the exporter's log, its
OperationOutcome messages, a README) are reported as skipped, with why; nothing from them
is quarantined, so `--strict` passes on a clean export that carries them."""

from __future__ import annotations

import json
from pathlib import Path

from test_ingest_support import rows, settings_in

from houseofcare.ingest import ingest_paths

PATIENTS = [
    {"resourceType": "Patient", "id": f"p{i}", "gender": "male", "birthDate": "1960-01-01"}
    for i in range(3)
]
LOG = [
    {"exportId": "e1", "timestamp": 1767225600000, "eventId": "kickoff", "eventDetail": {}},
    {"exportId": "e1", "timestamp": 1767225601000, "eventId": "export_complete"},
]
OUTCOME = {
    "resourceType": "OperationOutcome",
    "issue": [{"severity": "error", "code": "processing", "diagnostics": "Claim not exported"}],
}


def _ndjson(path: Path, docs: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))
    return path


def _export(folder: Path) -> Path:
    folder.mkdir()
    _ndjson(folder / "Patient.ndjson", PATIENTS)
    _ndjson(folder / "log.ndjson", LOG)
    _ndjson(folder / "errors.ndjson", [OUTCOME, OUTCOME])
    (folder / "README").write_text("Export of 2026-01-01.\n")
    (folder / "notes.txt").write_text("ask the practice about p2\n")
    (folder / ".complete").write_text("ok")
    return folder


def test_non_fhir_files_in_a_folder_are_reported_as_skipped_not_quarantined(
    tmp_path: Path,
) -> None:
    folder = _export(tmp_path / "export")
    settings = settings_in(tmp_path / "store")
    report = ingest_paths(paths=[folder], settings=settings)

    assert report.by_type["Patient"].loaded == 3
    assert report.quarantined == 0
    assert rows(settings, "SELECT count(*) FROM quarantine") == [(0,)]
    skipped = dict(report.skipped_files)
    assert sorted(skipped) == sorted(
        str(folder / name) for name in ("README", "errors.ndjson", "log.ndjson", "notes.txt")
    )
    assert "no FHIR resources" in skipped[str(folder / "log.ndjson")]
    assert "OperationOutcome" in skipped[str(folder / "errors.ndjson")]
    assert "not a FHIR file name" in skipped[str(folder / "README")]
    assert report.skipped_unknown == {}  # the OperationOutcomes are the skipped file's
    assert report.files == 1


def test_files_a_manifest_does_not_list_are_reported_as_skipped(tmp_path: Path) -> None:
    folder = _export(tmp_path / "export")
    manifest = {
        "transactionTime": "2026-01-01T00:00:00Z",
        "output": [{"type": "Patient", "url": "https://x/export/Patient.ndjson"}],
        "error": [{"type": "OperationOutcome", "url": "https://x/export/errors.ndjson"}],
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    report = ingest_paths(paths=[folder], settings=settings_in(tmp_path / "store"))
    assert report.by_type["Patient"].loaded == 3
    assert report.quarantined == 0
    skipped = dict(report.skipped_files)
    assert "error" in skipped[str(folder / "errors.ndjson")]
    assert "not listed" in skipped[str(folder / "log.ndjson")]
    assert str(folder / "manifest.json") not in skipped


def test_an_exporter_log_named_on_the_command_line_is_skipped_too(tmp_path: Path) -> None:
    log = _ndjson(tmp_path / "log.ndjson", LOG)
    patients = _ndjson(tmp_path / "Patient.ndjson", PATIENTS)
    report = ingest_paths(paths=[log, patients], settings=settings_in(tmp_path / "store"))
    assert [file for file, _ in report.skipped_files] == [str(log)]
    assert report.quarantined == 0


def test_a_fhir_file_with_bad_lines_is_still_quarantined_not_skipped(tmp_path: Path) -> None:
    """Only a file with no FHIR resource at all is skipped: one with some bad lines among
    resources keeps its quarantine, and a file of nothing but broken lines is quarantined."""
    mixed = tmp_path / "Patient.ndjson"
    mixed.write_text(json.dumps(PATIENTS[0]) + "\n" + json.dumps({"id": "no-type"}) + "\n")
    broken = tmp_path / "Condition.ndjson"
    broken.write_text('{"resourceType": "Condition", "id": "c1"\n{"resourceType": "Cond\n')
    settings = settings_in(tmp_path / "store")
    report = ingest_paths(paths=[mixed, broken], settings=settings)
    assert report.skipped_files == []
    assert rows(settings, "SELECT source_file, line_number FROM quarantine ORDER BY 1, 2") == [
        (str(broken), 1),
        (str(broken), 2),
        (str(mixed), 2),
    ]
