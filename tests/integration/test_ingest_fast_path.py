"""Ingest's fast path (DuckDB's reader takes a clean file whole) loads exactly what the exact
path (block by block, line by line where needed) loads, and a file it declines loses only
its bad lines. Real DuckDB stores, ingested twice: `fast=True` and `fast=False`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
from test_ingest_support import FIXTURES, settings_in, snapshot

from houseofcare.ingest import ingest_paths, sources
from houseofcare.ingest.loader import IngestReport
from houseofcare.settings import Settings

SCT = "http://snomed.info/sct"


def _observation(i: int, **changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "resourceType": "Observation",
        "id": f"obs-{i}",
        "meta": {"lastUpdated": "2026-01-01T00:00:00Z"},
        "status": "final",
        "code": {"coding": [{"system": SCT, "code": "75367002", "display": "BP"}]},
        "subject": {"reference": f"Patient/p{i % 50}"},
        "effectiveDateTime": "2025-01-01",
        "component": [
            {
                "code": {"coding": [{"system": SCT, "code": "72313002"}]},
                "valueQuantity": {"value": 120 + i % 40, "unit": "mm[Hg]"},
            }
        ],
    }
    doc.update(changes)
    return doc


def _write(path: Path, docs: list[dict[str, Any] | str]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as out:
        for doc in docs:
            out.write((doc if isinstance(doc, str) else json.dumps(doc)) + "\n")
    return path


def _versions(settings: Settings) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(settings.analytic_db_path), read_only=True)
    try:
        return sorted(
            con.execute(
                "SELECT resource_type, resource_id, last_updated, content_hash, source_file "
                "FROM ingested_resource"
            ).fetchall(),
            key=repr,
        )
    finally:
        con.close()


def _both(tmp_path: Path, paths: list[Path]) -> tuple[IngestReport, IngestReport, Settings]:
    """Ingest `paths` on each path into its own store; assert the stores are identical."""
    fast, exact = settings_in(tmp_path / "fast"), settings_in(tmp_path / "exact")
    fast_report = ingest_paths(paths=paths, settings=fast, fast=True)
    exact_report = ingest_paths(paths=paths, settings=exact, fast=False)
    fast_store, exact_store = snapshot(fast), snapshot(exact)
    for table in exact_store:
        # The quarantine's ingested_at differs between the two ingests; nothing else may.
        strip = (lambda r: r[:-1]) if table == "quarantine" else (lambda r: r)
        assert [strip(r) for r in fast_store[table]] == [strip(r) for r in exact_store[table]], (
            table
        )
    assert _versions(fast) == _versions(exact)
    assert fast_report.by_type == exact_report.by_type
    assert fast_report.quarantine_examples == exact_report.quarantine_examples
    assert fast_report.skipped_unknown == exact_report.skipped_unknown
    assert exact_report.fast_files == 0
    return fast_report, exact_report, fast


def test_both_paths_load_identical_tables_from_every_fixture(tmp_path: Path) -> None:
    folders = sorted(p for p in FIXTURES.rglob("*") if p.is_file() and p.name != "manifest.json")
    fhir = [p for p in folders if "truth" not in p.parts]
    fast_report, _, _ = _both(tmp_path, fhir)
    # The clean NDJSON files of the synthetic export went the fast way; the rest did not.
    assert fast_report.fast_files >= 5
    assert fast_report.fast_files < len(fhir)


def test_a_synthetic_export_goes_the_fast_way_whole(tmp_path: Path) -> None:
    folder = FIXTURES / "synthetic"
    fast_report, _, _ = _both(tmp_path, [folder])
    plain = [p for p in folder.glob("*.ndjson")]
    assert fast_report.fast_files == len(plain)  # the .gz file is read block by block
    assert fast_report.quarantined == 0


def test_one_bad_value_in_each_block_loses_only_those_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small read blocks, so that a few thousand lines make many blocks.
    monkeypatch.setattr(sources, "BLOCK_BYTES", 64 << 10)
    docs: list[dict[str, Any] | str] = [_observation(i) for i in range(3000)]
    bad_lines = list(range(100, 3000, 150))  # 0-based; more than one per 64 KB block
    for n in bad_lines:
        docs[n] = _observation(n, status=5)  # a number where FHIR has a code
    dirty = _write(tmp_path / "dirty.ndjson", docs)
    clean = _write(tmp_path / "clean.ndjson", [_observation(i) for i in range(3000, 3500)])
    assert dirty.stat().st_size > 10 * sources.BLOCK_BYTES
    fast_report, _, store = _both(tmp_path, [dirty, clean])
    # Both went the fast way: a bad value needs only its line number found, not the exact path.
    assert fast_report.fast_files == 2
    assert fast_report.by_type["Observation"].loaded == 3500 - len(bad_lines)
    assert fast_report.quarantined == len(bad_lines)
    quarantined = snapshot(store)["quarantine"]
    assert sorted(int(r[1]) for r in quarantined) == [n + 1 for n in bad_lines]  # type: ignore[call-overload]
    assert all("status" in str(r[4]) and "expected a code" in str(r[4]) for r in quarantined)


_DECLINED: dict[str, list[dict[str, Any] | str]] = {
    "a wrong shape": [_observation(1), _observation(2, code={"coding": {"code": "1"}})],
    "a string for an object": [_observation(1), _observation(2, code="75367002")],
    "a number for a string": [_observation(1), _observation(2, id=2)],
    "not JSON": [_observation(1), "{not json", _observation(2)],
    "another resource type": [_observation(1), {"resourceType": "Patient", "id": "p1"}],
    "no id": [_observation(1), _observation(2, id="")],
    "an id twice": [
        _observation(1),
        _observation(1, status="amended", meta={"lastUpdated": "2026-01-01T00:00:00Z"}),
    ],
    "an undated resource": [_observation(1), _observation(2, meta={})],
    "a bad lastUpdated": [_observation(1), _observation(2, meta={"lastUpdated": "yesterday"})],
    "a control character": [_observation(1), _observation(2, status="fi\u0000nal")],
    "a bundle line": [_observation(1), {"resourceType": "Bundle", "type": "collection"}],
    "an array line": [_observation(1), json.dumps([_observation(2), _observation(3)])],
    "a null line": [_observation(1), "null"],
    "two resources on one line": [
        _observation(1),
        json.dumps(_observation(2)) + " " + json.dumps(_observation(3)),
    ],
}


@pytest.mark.parametrize("case", sorted(_DECLINED))
def test_a_file_the_fast_path_declines_loads_as_the_exact_path_loads_it(
    tmp_path: Path, case: str
) -> None:
    path = _write(tmp_path / "input.ndjson", _DECLINED[case])
    fast_report, _, _ = _both(tmp_path, [path])
    assert fast_report.fast_files == 0, case


_BAD_VALUES: dict[str, list[dict[str, Any] | str]] = {
    "a number for a code": [_observation(1), _observation(2, status=5)],
    "a month that is not one": [_observation(1), _observation(2, effectiveDateTime="2020-13")],
    "a required reference missing": [_observation(1), _observation(2, subject=None)],
    "an object for a string": [_observation(1), _observation(2, status={"a": 1})],
    "bad values in several resources": [
        _observation(i, status=i) if i % 7 == 0 else _observation(i) for i in range(60)
    ],
}


@pytest.mark.parametrize("case", sorted(_BAD_VALUES))
def test_a_file_with_bad_values_goes_the_fast_way_and_quarantines_them_with_line_numbers(
    tmp_path: Path, case: str
) -> None:
    docs = _BAD_VALUES[case]
    path = _write(tmp_path / "input.ndjson", ["", *docs])  # a blank first line shifts numbers
    fast_report, _, store = _both(tmp_path, [path])
    assert fast_report.fast_files == 1, case
    assert fast_report.quarantined >= 1
    lines = sorted(int(r[1]) for r in snapshot(store)["quarantine"])  # type: ignore[call-overload]
    assert all(line >= 2 for line in lines)


def test_invalid_utf8_and_a_byte_order_mark_take_the_exact_path(tmp_path: Path) -> None:
    good = json.dumps(_observation(1)).encode()
    bad = json.dumps(_observation(2)).encode().replace(b"final", b"fin\xffal")
    utf8 = tmp_path / "utf8.ndjson"
    utf8.write_bytes(good + b"\n" + bad + b"\n")
    bom = tmp_path / "bom.ndjson"
    bom.write_bytes(b"\xef\xbb\xbf" + json.dumps(_observation(3)).encode() + b"\n")
    fast_report, _, _ = _both(tmp_path, [utf8, bom])
    assert fast_report.fast_files == 0
    assert fast_report.quarantined == 1
    assert fast_report.by_type["Observation"].loaded == 2


def test_blank_lines_and_crlf_are_read_the_fast_way(tmp_path: Path) -> None:
    lines = [json.dumps(_observation(i)) for i in range(20)]
    path = tmp_path / "windows.ndjson"
    path.write_bytes(("\r\n".join(lines[:10]) + "\r\n\r\n  \n" + "\n".join(lines[10:])).encode())
    fast_report, _, _ = _both(tmp_path, [path])
    assert fast_report.fast_files == 1
    assert fast_report.by_type["Observation"].loaded == 20


def test_reingest_on_the_other_path_changes_nothing(tmp_path: Path) -> None:
    settings = settings_in(tmp_path / "store")
    folder = FIXTURES / "synthetic"
    first = ingest_paths(paths=[folder], settings=settings, fast=False)
    before = snapshot(settings)
    again = ingest_paths(paths=[folder], settings=settings, fast=True)
    assert again.fast_files > 0
    assert sum(c.loaded + c.updated for c in again.by_type.values()) == 0
    assert {t: c.unchanged for t, c in again.by_type.items()} == {
        t: c.loaded for t, c in first.by_type.items()
    }
    assert snapshot(settings) == before


class _Recorded:
    """A progress bar that keeps every step, to check what ingest reports."""

    def __init__(self) -> None:
        self.totals: dict[int, float | None] = {}
        self.steps: dict[int, list[float]] = {}

    def task(self, description: str, total: float | None = None) -> int:
        task = len(self.totals)
        self.totals[task], self.steps[task] = total, []
        return task

    def advance(self, task_id: int, amount: float = 1) -> None:
        self.steps[task_id].append(amount)


@pytest.mark.parametrize("fast", [True, False])
def test_progress_reaches_the_export_size_and_never_passes_it(tmp_path: Path, fast: bool) -> None:
    # One clean file, one with a bad value (its lines found later), one the fast path declines.
    clean = _write(tmp_path / "clean.ndjson", [_observation(i) for i in range(400)])
    bad = [_observation(i) for i in range(400, 800)]
    bad[7] = _observation(407, status=5)
    dirty = _write(tmp_path / "dirty.ndjson", bad)
    declined = _write(tmp_path / "declined.ndjson", [_observation(i) for i in range(800, 900)])
    with declined.open("a") as out:
        out.write("not json\n")
    progress = _Recorded()
    report = ingest_paths(
        paths=[clean, dirty, declined], settings=settings_in(tmp_path), progress=progress, fast=fast
    )
    assert report.fast_files == (2 if fast else 0)
    assert report.quarantined == 2  # the bad value and the line that is not JSON
    [(task, total)] = [(t, n) for t, n in progress.totals.items() if n]
    running, highest = 0.0, 0.0
    for step in progress.steps[task]:
        running += step
        highest = max(highest, running)
    assert running == total == sum(p.stat().st_size for p in (clean, dirty, declined))
    assert highest == total


def test_an_id_in_two_files_read_the_fast_way_keeps_the_newer_version(tmp_path: Path) -> None:
    # Each file's ids are unique, so both go the fast way; across them the id repeats.
    older = _write(tmp_path / "a.ndjson", [_observation(i) for i in range(10)])
    newer = _observation(3, status="amended", meta={"lastUpdated": "2026-02-01T00:00:00Z"})
    later = _write(tmp_path / "b.ndjson", [newer, _observation(10)])
    fast_report, _, store = _both(tmp_path, [older, later])
    assert fast_report.fast_files == 2
    counts = fast_report.by_type["Observation"]
    assert counts.loaded == 11  # obs-0 … obs-10, one of each
    con = duckdb.connect(str(store.analytic_db_path), read_only=True)
    try:
        [(updated,)] = con.execute(
            "SELECT last_updated FROM ingested_resource WHERE resource_id = 'obs-3'"
        ).fetchall()
    finally:
        con.close()
    assert str(updated).startswith("2026-02-01")
