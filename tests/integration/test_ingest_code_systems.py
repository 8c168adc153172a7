"""The ingest report counts coded rows in systems no rule reads and no map translates (H-042)."""

from __future__ import annotations

import json
from pathlib import Path

from test_ingest_support import settings_in

from houseofcare.ingest import ingest_paths


def _condition(number: int, system: str, code: str) -> dict[str, object]:
    return {
        "resourceType": "Condition",
        "id": f"c{number}",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": system, "code": code}]},
        "onsetDateTime": "2020-01-01",
    }


def test_unknown_code_systems_are_counted_per_canonical_system(tmp_path: Path) -> None:
    docs = [
        {"resourceType": "Patient", "id": "p1", "birthDate": "1950-01-01", "gender": "female"},
        _condition(1, "https://snomed.info/sct", "38341003"),
        _condition(2, "http://hl7.org/fhir/sid/icd-10", "I10"),
        _condition(3, "http://hl7.org/fhir/sid/icd-10|2019", "E11"),
        _condition(4, "http://read.info/ctv3", "G20.."),
    ]
    path = tmp_path / "export.ndjson"
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))
    report = ingest_paths(paths=[path], settings=settings_in(tmp_path / "store"))
    assert report.by_type["Condition"].loaded == 4
    assert report.unknown_code_systems == {
        "http://hl7.org/fhir/sid/icd-10": 2,
        "http://read.info/ctv3": 1,
    }
