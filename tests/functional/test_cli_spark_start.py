"""`hoc run --engine spark` on a Spark that cannot start: a clear error, the stores unchanged.

The command starts Spark before it opens any store, so a wrong master URL or an unreachable
cluster ends with `error: <what to change>` on stderr and status 2, and the analytic store
(made here by `hoc synth` and `hoc ingest`, as a user would) keeps every byte.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

HOC = [sys.executable, "-m", "houseofcare.cli"]
AS_OF = "2026-03-31"


def hoc(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "COLUMNS": "200", "HOC_THREADS": "1", **(env or {})}
    return subprocess.run(
        [*HOC, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project folder holding an analytic store of 200 synthetic people."""
    root = tmp_path_factory.mktemp("spark-start")
    export = root / "export"
    made = hoc(
        "synth",
        "--patients",
        "200",
        "--seed",
        "7",
        "--as-of",
        AS_OF,
        "--format",
        "ndjson",
        "--out",
        str(export),
        cwd=root,
    )
    assert made.returncode == 0, made.stderr
    loaded = hoc("ingest", str(export), "--data-dir", str(root / "data"), cwd=root)
    assert loaded.returncode == 0, loaded.stderr
    return root / "data"


def files_and_digests(folder: Path) -> dict[str, str]:
    """Every file in the project folder, by path, with a digest of its bytes."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def row_counts(store: Path) -> dict[str, int]:
    """Rows per table of the analytic store, read without taking its write lock."""
    con = duckdb.connect(str(store), read_only=True)
    try:
        tables = [name for (name,) in con.execute("SHOW TABLES").fetchall()]
        return {
            table: int(con.sql(f'SELECT count(*) FROM "{table}"').fetchall()[0][0])
            for table in tables
        }
    finally:
        con.close()


@pytest.mark.parametrize(
    ("master", "said"),
    [
        ("nonsense", "not a Spark master URL"),
        ("spark://127.0.0.1:1", "does not answer"),
    ],
)
def test_a_spark_that_cannot_start_names_the_setting_and_changes_no_store(
    data_dir: Path, tmp_path: Path, master: str, said: str
) -> None:
    before = files_and_digests(data_dir)
    counts = row_counts(data_dir / "analytic.duckdb")
    assert counts["patient"] == 200

    result = hoc(
        "run",
        "--engine",
        "spark",
        "--as-of",
        AS_OF,
        "--data-dir",
        str(data_dir),
        cwd=tmp_path,
        env={"HOC_SPARK_MASTER": master},
    )

    assert result.returncode == 2, result.stdout + result.stderr
    stderr = " ".join(result.stderr.split())  # however the terminal wrapped it
    assert "error:" in stderr
    assert "HOC_SPARK_MASTER" in stderr and master in stderr
    assert said in stderr
    assert "Traceback" not in stderr
    assert files_and_digests(data_dir) == before
    assert row_counts(data_dir / "analytic.duckdb") == counts
