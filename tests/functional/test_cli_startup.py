"""`hoc` starts without the heavy libraries (issue 16), and every command still has its help.

Start-up time is proved by what a fresh process has imported, not by a clock: a timing test
fails on a busy machine and passes on a slow change. `benchmarks/bench_startup.py` measures
the seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
import typer.main

from houseofcare.cli import app

HOC = [sys.executable, "-m", "houseofcare.cli"]

#: Libraries a command imports when it runs, never at start-up: the analytic store (DuckDB,
#: Arrow, NumPy), the operational store (SQLAlchemy), the settings (pydantic-settings), the
#: risk model, Spark, the plan's spreadsheet and the web stack.
HEAVY_MODULES = (
    "duckdb",
    "pyarrow",
    "numpy",
    "sqlalchemy",
    "alembic",
    "pydantic",
    "pydantic_settings",
    "lightgbm",
    "sklearn",
    "pyspark",
    "openpyxl",
    "fastapi",
    "starlette",
    "uvicorn",
    "jinja2",
    "lxml",
)

#: `hoc ingest` (into DuckDB) loads NDJSON: it needs neither the operational store, the risk
#: model, Spark, the plan's spreadsheet nor the web stack.
NOT_FOR_INGEST = (
    "sqlalchemy",
    "alembic",
    "lightgbm",
    "sklearn",
    "pyspark",
    "openpyxl",
    "fastapi",
    "uvicorn",
    "jinja2",
)

#: The commands `hoc` had when start-up was made lazy; none may go missing from `hoc --help`.
KNOWN_COMMANDS = {
    "synth",
    "ingest",
    "run",
    "prevalence",
    "inequalities",
    "achievement",
    "recall",
    "status",
    "quickstart",
    "serve",
    "tiers",
    "risk-assessments",
    "commission",
    "db",
    "token",
    "audit",
    "model",
    "services",
}

#: Runs `hoc` with the given arguments in this process, then writes the names of the modules
#: it imported to standard error as JSON (after the command's own output).
_RUN_AND_LIST_MODULES = """
import json, runpy, sys
sys.argv = ["hoc", *sys.argv[1:]]
try:
    runpy.run_module("houseofcare.cli", run_name="__main__")
except SystemExit as exit_:
    code = exit_.code
else:
    code = 0
sys.stderr.write("\\nMODULES " + json.dumps(sorted(sys.modules)) + "\\n")
sys.exit(code)
"""


def _env() -> dict[str, str]:
    return {**os.environ, "COLUMNS": "200"}


def hoc(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*HOC, *args], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=120
    )


def modules_imported_by(*args: str, cwd: Path) -> tuple[int, set[str]]:
    """The exit status of `hoc ARGS` in a fresh process, and the top-level packages it imported."""
    result = subprocess.run(
        [sys.executable, "-c", _RUN_AND_LIST_MODULES, *args],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    listing = result.stderr.rsplit("MODULES ", 1)
    assert len(listing) == 2, result.stderr
    return result.returncode, {name.split(".")[0] for name in json.loads(listing[1])}


def _command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and sub-command of the `hoc` tree, as the words a user types."""
    paths: list[tuple[str, ...]] = []
    for name, command in sorted(group.commands.items()):
        paths.append((*prefix, name))
        if isinstance(command, click.Group):
            paths.extend(_command_paths(command, (*prefix, name)))
    return paths


HOC_GROUP = typer.main.get_command(app)
assert isinstance(HOC_GROUP, click.Group)
COMMAND_PATHS = _command_paths(HOC_GROUP)


def test_importing_the_cli_loads_no_heavy_library(tmp_path: Path) -> None:
    code = "import sys, houseofcare.cli; print(' '.join(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    imported = {name.split(".")[0] for name in result.stdout.split()}
    assert "houseofcare" in imported
    assert sorted(imported & set(HEAVY_MODULES)) == []


def test_hoc_help_loads_no_heavy_library_and_lists_every_command(tmp_path: Path) -> None:
    status, imported = modules_imported_by("--help", cwd=tmp_path)
    assert status == 0
    assert sorted(imported & set(HEAVY_MODULES)) == []
    listed = hoc("--help", cwd=tmp_path).stdout
    assert set(HOC_GROUP.commands) >= KNOWN_COMMANDS
    for name in HOC_GROUP.commands:
        assert f" {name} " in listed, f"`hoc --help` does not list {name}"


@pytest.mark.parametrize("words", COMMAND_PATHS, ids=" ".join)
def test_every_command_has_its_help_without_heavy_libraries(
    words: tuple[str, ...], tmp_path: Path
) -> None:
    status, imported = modules_imported_by(*words, "--help", cwd=tmp_path)
    assert status == 0
    assert sorted(imported & set(HEAVY_MODULES)) == []
    result = hoc(*words, "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"Usage: python -m houseofcare.cli {' '.join(words)}" in result.stdout


def test_ingest_imports_only_what_loading_needs(tmp_path: Path) -> None:
    patient = {"resourceType": "Patient", "id": "p1", "gender": "female"}
    export = tmp_path / "Patient.ndjson"
    export.write_text(json.dumps(patient) + "\n")
    data_dir = tmp_path / "hoc-data"
    status, imported = modules_imported_by(
        "ingest", str(export), "--data-dir", str(data_dir), cwd=tmp_path
    )
    assert status == 0
    assert {"duckdb", "houseofcare"} <= imported  # it did load, into DuckDB
    assert (data_dir / "analytic.duckdb").exists()
    assert sorted(imported & set(NOT_FOR_INGEST)) == []
