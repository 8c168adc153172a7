"""`hoc run --from` and `--results lake`: a run from Parquet files, and results as a Parquet lake.

DuckDB only here (a real subprocess each); the same options on Spark are covered by the
parity spec (tests/spec/test_pipeline_parity.py) and the start-up errors by
test_cli_spark_start.py.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tests.functional.test_cli import hoc


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic population as Parquet clinical tables (`hoc synth --format parquet`)."""
    out = tmp_path_factory.mktemp("parquet") / "population"
    result = hoc(
        "synth", "--patients", "300", "--seed", "7", "--as-of", "2026-03-31",
        "--format", "parquet", "--out", str(out), cwd=out.parent,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return out


def test_a_run_from_parquet_into_the_lake_needs_no_analytic_store(
    population: Path, tmp_path: Path
) -> None:
    result = hoc(
        "run", "--from", str(population), "--results", "lake", "--data-dir", str(tmp_path),
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lake = tmp_path / "lake" / "results"
    (run_folder,) = (lake / "run").iterdir()
    assert (run_folder / "part-0.parquet").is_file()
    registers = duckdb.sql(
        f"SELECT register, count(*) FROM read_parquet('{lake}/register/*/*.parquet', "
        "hive_partitioning = true) GROUP BY register"
    ).fetchall()
    assert dict(registers)["HYP"] > 0
    assert not (tmp_path / "analytic.duckdb").exists()
    assert not (lake / "_staging").exists() or not any((lake / "_staging").iterdir())


def test_a_run_from_parquet_into_the_store_is_read_like_any_run(
    population: Path, tmp_path: Path
) -> None:
    result = hoc("run", "--from", str(population), "--data-dir", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    con = duckdb.connect(str(tmp_path / "analytic.duckdb"), read_only=True)
    ((runs,),) = con.execute("SELECT count(*) FROM run").fetchall()
    ((people,),) = con.execute("SELECT count(*) FROM tier").fetchall()
    con.close()
    assert runs == 1
    assert 250 < people <= 300


def test_a_folder_without_clinical_tables_is_a_clear_error_that_writes_nothing(
    tmp_path: Path,
) -> None:
    empty = tmp_path / "nothing"
    empty.mkdir()
    result = hoc(
        "run", "--from", str(empty), "--results", "lake", "--data-dir", str(tmp_path),
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2
    assert "no clinical tables" in result.stderr
    assert not (tmp_path / "lake" / "results" / "run").exists()
