"""An interrupted ingest (kill -9 or Ctrl-C) leaves the store exactly as it was: the whole
ingest is one DuckDB transaction. Real subprocesses, killed mid-way (after a progress line)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from test_ingest_support import FIXTURES, rows, settings_in, snapshot

from houseofcare.ingest import ingest_paths

SCT = "http://snomed.info/sct"


def _big_export(folder: Path, resources: int = 200_000) -> Path:
    """About 80 MB of Observations in two files, so there is a 'mid-way'."""
    template = json.dumps({
        "resourceType": "Observation", "id": "ID", "meta": {"lastUpdated": "2026-01-01T00:00:00Z"},
        "status": "final", "code": {"coding": [{"system": SCT, "code": "75367002"}]},
        "subject": {"reference": "Patient/PID"}, "effectiveDateTime": "2025-01-01",
        "component": [
            {"code": {"coding": [{"system": SCT, "code": "72313002", "display": "Systolic"}]},
             "valueQuantity": {"value": 140, "unit": "mm[Hg]"}},
            {"code": {"coding": [{"system": SCT, "code": "1091811000000102"}]},
             "valueQuantity": {"value": 85, "unit": "mm[Hg]"}}],
        "note": [{"text": "x" * 100}],
    })  # fmt: skip
    head, rest = template.split('"ID"', 1)
    mid, tail = rest.split("PID", 1)
    # Two files: a file read whole (ingest's fast path) reports its progress at once, and the
    # second file is still to come, so a progress line means mid-way on either path.
    export = folder / "export"
    export.mkdir()
    half = resources // 2
    for part, ids in enumerate((range(half), range(half, resources)), start=1):
        with (export / f"Observation-{part}.ndjson").open("w") as out:
            for i in ids:
                out.write(f'{head}"big-{i}"{mid}p{i % 5000}{tail}\n')
    return export


def _size(export: Path) -> int:
    return sum(p.stat().st_size for p in export.iterdir())


def _start(data_dir: Path, source: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "houseofcare.ingest", str(data_dir), str(source)],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def _wait_for_progress(proc: subprocess.Popen[str]) -> str:
    """Block until the ingest reports a block staged (it is demonstrably mid-way)."""
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith("progress "):
            return line
    raise AssertionError(f"ingest ended before any progress (rc={proc.wait()})")


def _prepared_store(tmp_path: Path) -> tuple[Path, dict[str, list[tuple[object, ...]]]]:
    data_dir = tmp_path / "store"
    settings = settings_in(data_dir)
    ingest_paths(paths=[FIXTURES / "synthetic"], settings=settings)
    return data_dir, snapshot(settings)


def test_kill_9_mid_ingest_leaves_the_store_unchanged(tmp_path: Path) -> None:
    data_dir, before = _prepared_store(tmp_path)
    source = _big_export(tmp_path)
    proc = _start(data_dir, source)
    progressed = _wait_for_progress(proc)
    assert int(progressed.split()[1]) < _size(source)  # really mid-way
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    settings = settings_in(data_dir)
    assert snapshot(settings) == before
    assert rows(settings, "SELECT count(*) FROM observation WHERE observation_id LIKE 'big-%'") == [
        (0,)
    ]
    # The store still works: the same ingest now completes.
    report = ingest_paths(paths=[source], settings=settings)
    assert report.by_type["Observation"].loaded == 200_000


def test_ctrl_c_mid_ingest_rolls_back_with_a_clean_message(tmp_path: Path) -> None:
    data_dir, before = _prepared_store(tmp_path)
    source = _big_export(tmp_path, resources=150_000)
    proc = _start(data_dir, source)
    _wait_for_progress(proc)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted: nothing was changed" in stderr
    assert "Traceback" not in stderr
    assert snapshot(settings_in(data_dir)) == before
