"""`hoc services import` and `hoc services export` as a user runs them: a real subprocess,
real files, a real SQLite store (issue 13)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from houseofcare.selfcare.demo_directory import demo_feed_text
from houseofcare.selfcare.oruk_schema import schema_problems


def hoc(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "houseofcare.cli", *args],
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_import_export_round_trip_and_the_summary(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "hoc-data")]
    feed = tmp_path / "directory.json"
    feed.write_text(demo_feed_text())
    first = hoc("services", "import", str(feed), *data, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "43 imported, 0 updated, 0 unchanged, 0 rejected" in first.stdout
    again = hoc("services", "import", str(feed), *data, cwd=tmp_path)
    assert again.returncode == 0
    assert "0 imported, 0 updated, 43 unchanged, 0 rejected" in again.stdout
    out = tmp_path / "export.json"
    exported = hoc("services", "export", "--out", str(out), *data, cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    page = json.loads(out.read_text())
    assert page["total_items"] == 43
    assert all(schema_problems(doc) == [] for doc in page["contents"])
    table = hoc("services", "export", "--format", "csv", *data, cwd=tmp_path)
    assert table.returncode == 0 and table.stdout.startswith("id,name,organisation,")
    (tmp_path / "export.csv").write_text(table.stdout)
    # into a second store: from the ORUK export, then the CSV export changes nothing
    other = ["--data-dir", str(tmp_path / "other")]
    from_oruk = hoc("services", "import", str(out), *other, cwd=tmp_path)
    assert "43 imported, 0 updated, 0 unchanged, 0 rejected" in from_oruk.stdout
    csv_in = hoc("services", "import", str(tmp_path / "export.csv"), *other, cwd=tmp_path)
    assert csv_in.returncode == 0, csv_in.stderr
    # the same services: matched by id, none new, none refused
    assert "0 imported, 0 updated, 43 unchanged, 0 rejected" in csv_in.stdout


def test_rejections_are_printed_and_only_nothing_read_fails(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "hoc-data")]
    good = json.loads(demo_feed_text())["contents"][0]
    feed = tmp_path / "feed.ndjson"
    feed.write_text(json.dumps(good) + "\n{not json\n" + json.dumps({"id": "x"}) + "\n")
    mixed = hoc("services", "import", str(feed), *data, cwd=tmp_path)
    assert mixed.returncode == 0, mixed.stderr
    assert "rejected: feed.ndjson line 2: not valid JSON" in mixed.stderr
    assert "rejected: feed.ndjson line 3: 'name' is required" in mixed.stderr
    bad = tmp_path / "bad.ndjson"
    bad.write_text("{not json\n")
    nothing = hoc("services", "import", str(bad), *data, cwd=tmp_path)
    assert nothing.returncode == 1 and "no service could be read" in nothing.stderr
    missing = hoc("services", "import", str(tmp_path / "none.json"), *data, cwd=tmp_path)
    assert missing.returncode == 2 and "no such file" in missing.stderr
    wrong = hoc("services", "import", str(feed), "--format", "xml", *data, cwd=tmp_path)
    assert wrong.returncode == 2 and "--format must be one of" in wrong.stderr


def test_export_from_an_empty_folder_says_to_import_first(tmp_path: Path) -> None:
    answer = hoc("services", "export", "--data-dir", str(tmp_path / "empty"), cwd=tmp_path)
    assert answer.returncode == 2 and "hoc services import" in answer.stderr
