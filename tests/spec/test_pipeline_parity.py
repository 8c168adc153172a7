"""The whole pipeline, on DuckDB and on Spark, over the same synthetic population: same results.

One population (`hoc synth --format parquet`), one model trained on it, then `hoc run`'s steps
(`pipeline.run_on`) on each engine, each writing its own Parquet lake through the same result
writer. Registers, care gaps, multimorbidity, readings, levels and reasons must be identical
row for row; risk scores equal within 1e-9 (the model's arithmetic is the same, the engines
only move the rows); and the aggregates a commissioner reads (prevalence by practice and the
inequality report), each computed on its own engine from its own results, must be identical.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pytest

from houseofcare.clinical_lake import read_clinical
from houseofcare.commissioning import inequality
from houseofcare.engine import DuckDBEngine, Engine, SparkEngine
from houseofcare.pipeline import RunSummary, run_on
from houseofcare.population.prevalence import prevalence
from houseofcare.population.rules import packaged_register_rules
from houseofcare.risk.model import train_model
from houseofcare.run_results import RESULT_COLUMNS, ParquetLakeWriter, read_lake_table
from houseofcare.settings import Settings
from houseofcare.synth import generate_population
from tests.spec.conftest import _clear_spark

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

AS_OF = dt.date(2026, 3, 31)
PEOPLE = 2500  # the least the model trains on (>= 20 admissions at each training date)
#: Result tables compared row for row (risk_score is compared within a tolerance).
EXACT = ("register", "multimorbidity", "care_gap", "person_reading", "unusable_reading", "tier")


@dataclass(frozen=True)
class Runs:
    settings: Settings
    duckdb: RunSummary
    spark: RunSummary

    def lake(self, engine: str) -> Path:
        return self.settings.data_dir / f"lake-{engine}"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, spark: SparkSession) -> Iterator[Runs]:
    root = tmp_path_factory.mktemp("parity")
    generate_population(
        patients=PEOPLE, seed=7, as_of=AS_OF, out=root / "population", fmt="parquet"
    )
    settings = Settings(data_dir=root)
    con = duckdb.connect()
    duck = DuckDBEngine(con)
    read_clinical(duck, root / "population")
    train_model(duck, settings=settings, as_of=AS_OF)
    on_duckdb = run_on(
        duck, ParquetLakeWriter(root / "lake-duckdb"), settings=settings, as_of=AS_OF
    )
    _clear_spark(spark)
    sparkling = SparkEngine(spark)
    read_clinical(sparkling, root / "population")
    on_spark = run_on(
        sparkling, ParquetLakeWriter(root / "lake-spark"), settings=settings, as_of=AS_OF
    )
    yield Runs(settings, on_duckdb, on_spark)
    con.close()
    _clear_spark(spark)


def stored(runs: Runs, engine: str, table: str) -> list[tuple[Any, ...]]:
    """A lake's rows of `table` for its one run, without the run id, read by DuckDB."""
    con = duckdb.connect()
    try:
        reader = DuckDBEngine(con)
        read_lake_table(reader, runs.lake(engine), table)
        columns = [c for c in con.sql(f"SELECT * FROM {table}").columns if c != "run_id"]
        return sorted(con.sql(f"SELECT {', '.join(columns)} FROM {table}").fetchall(), key=repr)
    finally:
        con.close()


def test_both_runs_scored_the_same_people(runs: Runs) -> None:
    assert runs.duckdb.people == runs.spark.people > PEOPLE * 0.9
    assert runs.duckdb.model_version is not None
    assert runs.duckdb.model_version == runs.spark.model_version
    assert runs.duckdb.levels == runs.spark.levels
    assert set(runs.duckdb.levels) == {0, 1, 2, 3}
    assert runs.duckdb.register_entries == runs.spark.register_entries
    assert runs.duckdb.unusable_readings == runs.spark.unusable_readings


@pytest.mark.parametrize("table", EXACT)
def test_result_tables_are_identical(runs: Runs, table: str) -> None:
    on_duckdb, on_spark = stored(runs, "duckdb", table), stored(runs, "spark", table)
    if table != "unusable_reading":
        assert on_duckdb, f"{table}: the DuckDB run stored nothing"
    assert on_spark == on_duckdb


def test_risk_scores_agree_within_1e_9(runs: Runs) -> None:
    on_duckdb, on_spark = stored(runs, "duckdb", "risk_score"), stored(runs, "spark", "risk_score")
    columns = [c for c in RESULT_COLUMNS["risk_score"].replace("\n", " ").split(",")]
    assert len(on_duckdb) == len(on_spark) == runs.duckdb.people
    by_person = {row[0]: row for row in on_spark}
    explained = 0
    for row in on_duckdb:
        other = by_person[row[0]]
        assert abs(row[1] - other[1]) <= 1e-9, row[0]
        assert row[2:] == other[2:], f"{row[0]}: {columns}"
        explained += row[3] is not None
    assert explained > 0  # the top of the distribution was explained on both


def _aggregates(engine: Engine, lake: Path, run_id: str) -> dict[str, Any]:
    for table in ("run", "register", "care_gap", "multimorbidity", "tier", "risk_score"):
        read_lake_table(engine, lake, table)
    practices = sorted(
        prevalence(engine, run_id, packaged_register_rules(), by_practice=True).rows(), key=repr
    )
    report = inequality.report(engine, run_id, known=[])
    return {"prevalence": practices, "inequalities": report}


def test_commissioning_aggregates_are_identical(runs: Runs, spark: SparkSession) -> None:
    con = duckdb.connect()
    try:
        population = runs.settings.data_dir / "population"
        duck = DuckDBEngine(con)
        read_clinical(duck, population)
        on_duckdb = _aggregates(duck, runs.lake("duckdb"), runs.duckdb.run_id)
    finally:
        con.close()
    _clear_spark(spark)
    sparkling = SparkEngine(spark)
    read_clinical(sparkling, population)
    on_spark = _aggregates(sparkling, runs.lake("spark"), runs.spark.run_id)
    assert on_duckdb["prevalence"]
    assert on_spark == on_duckdb
