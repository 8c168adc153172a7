"""Re-ingest is idempotent: (type, id) is the key, the newer meta.lastUpdated wins, all rows of a
resource (a BP gives several) are replaced together, duplicates in one ingest keep the newest."""

from __future__ import annotations

import json
from pathlib import Path

from test_ingest_support import FIXTURES, rows, settings_in, snapshot

from houseofcare.ingest import ingest_paths

SCT = "http://snomed.info/sct"


def _bp(updated: str | None, systolic: float, *, components: int = 2) -> str:
    comps = [
        {"code": {"coding": [{"system": SCT, "code": "72313002"}]},
         "valueQuantity": {"value": systolic, "unit": "mm[Hg]"}},
        {"code": {"coding": [{"system": SCT, "code": "1091811000000102"}]},
         "valueQuantity": {"value": 80, "unit": "mm[Hg]"}},
    ][:components]  # fmt: skip
    doc: dict[str, object] = {
        "resourceType": "Observation", "id": "bp-1", "status": "final",
        "code": {"coding": [{"system": SCT, "code": "75367002"}]},
        "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2025-01-01",
        "component": comps,
    }  # fmt: skip
    if updated:
        doc["meta"] = {"lastUpdated": updated}
    return json.dumps(doc) + "\n"


def _ingest(tmp_path: Path, name: str, text: str) -> tuple[int, int, int]:
    source = tmp_path / name
    source.write_text(text)
    report = ingest_paths(paths=[source], settings=settings_in(tmp_path / "store"))
    c = report.by_type["Observation"]
    return c.loaded, c.updated, c.unchanged


def _systolic(tmp_path: Path) -> list[tuple[object, ...]]:
    return rows(
        settings_in(tmp_path / "store"),
        "SELECT code, value_number FROM observation ORDER BY code",
    )


def test_ingesting_the_same_export_twice_changes_nothing(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    first = ingest_paths(paths=[FIXTURES / "synthea" / "fhir"], settings=settings)
    before = snapshot(settings)
    second = ingest_paths(paths=[FIXTURES / "synthea" / "fhir"], settings=settings)
    assert snapshot(settings) == before
    assert first.by_type["Observation"].loaded == 5
    assert second.by_type["Observation"].loaded == 0
    assert second.by_type["Observation"].unchanged == 5
    assert sum(c.updated for c in second.by_type.values()) == 0


def test_newer_replaces_all_rows_and_older_is_ignored(tmp_path: Path) -> None:
    assert _ingest(tmp_path, "a.ndjson", _bp("2025-01-01T00:00:00Z", 150)) == (1, 0, 0)
    # Newer version with one component: both old rows go, one new row comes.
    assert _ingest(tmp_path, "b.ndjson", _bp("2025-02-01T00:00:00Z", 130, components=1)) == (
        0,
        1,
        0,
    )
    assert _systolic(tmp_path) == [("72313002", 130.0)]
    # Older version: ignored.
    assert _ingest(tmp_path, "c.ndjson", _bp("2024-12-01T00:00:00Z", 999)) == (0, 0, 1)
    assert _systolic(tmp_path) == [("72313002", 130.0)]
    # Same timestamp: unchanged, the stored one is kept.
    assert _ingest(tmp_path, "d.ndjson", _bp("2025-02-01T00:00:00Z", 111)) == (0, 0, 1)
    assert _systolic(tmp_path) == [("72313002", 130.0)]


def test_without_last_updated_a_different_content_replaces(tmp_path: Path) -> None:
    assert _ingest(tmp_path, "a.ndjson", _bp(None, 150)) == (1, 0, 0)
    assert _ingest(tmp_path, "b.ndjson", _bp(None, 150)) == (0, 0, 1)
    assert _ingest(tmp_path, "c.ndjson", _bp(None, 140)) == (0, 1, 0)
    assert _systolic(tmp_path)[1] == ("72313002", 140.0)
    # A dated version beats an undated one; an undated one never beats a dated one.
    assert _ingest(tmp_path, "d.ndjson", _bp("2020-01-01T00:00:00Z", 120)) == (0, 1, 0)
    assert _ingest(tmp_path, "e.ndjson", _bp(None, 110)) == (0, 0, 1)
    assert _systolic(tmp_path)[1] == ("72313002", 120.0)


def test_duplicates_within_one_ingest_keep_the_newest(tmp_path: Path) -> None:
    text = (
        _bp("2025-03-01T00:00:00Z", 135)
        + _bp("2025-05-01T00:00:00Z", 125)
        + _bp("2025-04-01T00:00:00Z", 145)
    )
    assert _ingest(tmp_path, "dups.ndjson", text) == (1, 0, 0)
    assert _systolic(tmp_path) == [("1091811000000102", 80.0), ("72313002", 125.0)]
    assert rows(settings_in(tmp_path / "store"), "SELECT count(*) FROM observation") == [(2,)]
