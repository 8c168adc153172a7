"""The `hoc` command as a user runs it: a real subprocess, real files, real DuckDB."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

HOC = [sys.executable, "-m", "houseofcare.cli"]


def hoc(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [*HOC, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic export written by `hoc synth`."""
    out = tmp_path_factory.mktemp("synth") / "export"
    result = hoc(
        "synth",
        "--patients",
        "300",
        "--seed",
        "7",
        "--as-of",
        "2026-03-31",
        "--out",
        str(out),
        cwd=out.parent,
    )
    assert result.returncode == 0, result.stderr
    return out


def test_every_command_has_help(tmp_path: Path) -> None:
    for command in ("synth", "ingest", "status", "quickstart"):
        result = hoc(command, "--help", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "Usage" in result.stdout


def test_synth_writes_a_bulk_export_with_manifest(export: Path) -> None:
    manifest = json.loads((export / "manifest.json").read_text())
    types = {entry["type"] for entry in manifest["output"]}
    assert {"Patient", "Condition", "Observation", "Encounter", "MedicationRequest"} <= types
    patients = (export / "Patient.ndjson").read_text().splitlines()
    assert len(patients) == 300
    assert json.loads(patients[0])["resourceType"] == "Patient"


def test_synth_rejects_a_bad_date(tmp_path: Path) -> None:
    result = hoc("synth", "--patients", "10", "--as-of", "2026-02-30", "--out", "x", cwd=tmp_path)
    assert result.returncode == 2
    assert "2026-02-30" in result.stderr
    assert not (tmp_path / "x").exists()


def test_ingest_then_status_reports_the_rows(export: Path, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    result = hoc("ingest", str(export), "--data-dir", str(data_dir), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Patient" in result.stdout and "300" in result.stdout
    # A clean synthetic export is read whole by DuckDB's reader (ingest's fast path), file by file.
    files = len(list(export.glob("*.ndjson")))
    assert f"{files} file(s), {files} read whole by DuckDB" in result.stdout
    status = hoc("status", "--data-dir", str(data_dir), cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    con = duckdb.connect(str(data_dir / "analytic.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM patient").fetchone() == (300,)
    assert f"{300:,}" in status.stdout


def test_ingest_uses_hoc_data_dir_from_the_environment(export: Path, tmp_path: Path) -> None:
    data_dir = tmp_path / "from-env"
    result = hoc(
        "ingest", str(export / "Patient.ndjson"), cwd=tmp_path, env={"HOC_DATA_DIR": str(data_dir)}
    )
    assert result.returncode == 0, result.stderr
    assert (data_dir / "analytic.duckdb").exists()


def test_ingest_reads_hoc_toml(export: Path, tmp_path: Path) -> None:
    (tmp_path / "hoc.toml").write_text('data_dir = "toml-data"\n')
    result = hoc("ingest", str(export / "Patient.ndjson"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "toml-data" / "analytic.duckdb").exists()


def test_strict_fails_when_anything_is_quarantined_and_keeps_the_rest(
    export: Path, tmp_path: Path
) -> None:
    good = (export / "Patient.ndjson").read_text().splitlines()[:5]
    bad_file = tmp_path / "mixed.ndjson.gz"
    with gzip.open(bad_file, "wt") as fh:
        fh.write("\n".join([good[0], "{not json", *good[1:]]) + "\n")
    data_dir = tmp_path / "data"
    lenient = hoc("ingest", str(bad_file), "--data-dir", str(data_dir), cwd=tmp_path)
    assert lenient.returncode == 0, lenient.stderr
    assert "mixed.ndjson.gz:2" in lenient.stdout
    strict = hoc("ingest", "--strict", str(bad_file), "--data-dir", str(data_dir), cwd=tmp_path)
    assert strict.returncode == 1
    con = duckdb.connect(str(data_dir / "analytic.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM patient").fetchone() == (5,)


def test_ingest_reports_non_fhir_files_as_skipped_and_strict_passes(
    export: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "Patient.ndjson").write_text((export / "Patient.ndjson").read_text())
    (folder / "log.ndjson").write_text('{"eventId": "kickoff", "timestamp": 1}\n')
    (folder / "README.txt").write_text("about this export\n")
    data_dir = tmp_path / "data"
    result = hoc("ingest", "--strict", str(folder), "--data-dir", str(data_dir), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    skipped = result.stdout.split("skipped file(s)")[1]
    assert "log.ndjson" in skipped and "README.txt" in skipped


UKCORE_XML = Path(__file__).resolve().parents[1] / "fixtures" / "fhir" / "ukcore-xml"


def test_ingest_of_uk_core_xml_gives_the_rows_of_the_same_resources_in_json(
    tmp_path: Path,
) -> None:
    tables = {}
    for form, folder in (("xml", UKCORE_XML), ("json", UKCORE_XML / "json")):
        data_dir = tmp_path / form
        result = hoc("ingest", "--strict", str(folder), "--data-dir", str(data_dir), cwd=tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
        con = duckdb.connect(str(data_dir / "analytic.duckdb"), read_only=True)
        tables[form] = {
            t: sorted(con.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr)
            for t in ("patient", "condition", "observation", "medication", "encounter",
                      "procedure", "organization", "practitioner")
        }  # fmt: skip
        con.close()
    assert tables["xml"] == tables["json"]
    assert len(tables["xml"]["observation"]) == 5
    hba1c = [r for r in tables["xml"]["observation"] if r[0] == "ukx-obs-hba1c"]
    assert [(r[8], r[9]) for r in hba1c] == [(58.5, "mmol/mol")]


def test_strict_ingest_of_broken_xml_names_the_file_and_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.xml"
    broken.write_text('<Patient xmlns="http://hl7.org/fhir">\n<id value="x">\n</Patient>\n')
    data_dir = tmp_path / "data"
    result = hoc("ingest", "--strict", str(broken), str(UKCORE_XML / "Patient-Okafor.xml"),
                 "--data-dir", str(data_dir), cwd=tmp_path)  # fmt: skip
    assert result.returncode == 1
    assert "broken.xml:3" in result.stdout
    con = duckdb.connect(str(data_dir / "analytic.duckdb"), read_only=True)
    assert con.execute("SELECT patient_id FROM patient").fetchall() == [("ukx-pat-1",)]


def test_ingest_of_a_missing_path_is_a_clear_error_that_writes_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    result = hoc("ingest", str(tmp_path / "nope.ndjson"), "--data-dir", str(data_dir), cwd=tmp_path)
    assert result.returncode == 2
    assert "nope.ndjson" in result.stderr


def test_status_without_a_store_says_what_to_do(tmp_path: Path) -> None:
    result = hoc("status", "--data-dir", str(tmp_path / "empty"), cwd=tmp_path)
    assert result.returncode == 2
    assert "hoc ingest" in result.stderr


def test_quickstart_synthesises_and_ingests(tmp_path: Path) -> None:
    data_dir = tmp_path / "qs"
    result = hoc(
        "quickstart", "--patients", "200", "--data-dir", str(data_dir), "--no-serve", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    con = duckdb.connect(str(data_dir / "analytic.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM patient").fetchone() == (200,)
    assert con.execute("SELECT count(*) FROM encounter").fetchone()[0] > 0
    # two runs, a quarter apart: the caseload compares the latest with the earlier one
    runs = con.execute("SELECT as_of FROM run ORDER BY finished_at").fetchall()
    assert [r[0].isoformat() for r in runs] == ["2025-12-30", "2026-03-31"]
    assert "earlier pipeline run" in result.stdout


def test_inequalities_names_the_measures_when_one_is_unknown(tmp_path: Path) -> None:
    result = hoc("inequalities", "--measure", "nope", cwd=tmp_path)
    assert result.returncode == 2
    assert "no measure nope; choose from ltc, multimorbidity, level3" in result.stderr
