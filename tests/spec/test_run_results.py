"""The result writers, fed by every engine: what a run stores, and that a failed run stores nothing.

A run's rows reach a writer as a table on the engine (``run_<table>``). Into the analytic
store they go in one transaction (from Spark, handed over as Parquet); into the Parquet lake
they go by table and run, moved into place only on commit, with the ``run`` row last.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from houseofcare.engine import DuckDBEngine, Engine
from houseofcare.run_results import (
    AnalyticStoreWriter,
    ParquetLakeWriter,
    ResultWriter,
    lake_runs,
    read_lake_table,
)

REGISTER = pa.table(
    {
        "patient_id": ["p1", "p2"],
        "register": ["DM", "HYP"],
        "first_recorded": pa.array([dt.date(2015, 1, 1), dt.date(2016, 2, 2)], pa.date32()),
        "latest_recorded": pa.array([dt.date(2025, 1, 1), dt.date(2025, 2, 2)], pa.date32()),
    }
)
RUN = pa.table(
    {
        "run_id": ["r1"],
        "as_of": pa.array([dt.date(2026, 3, 31)], pa.date32()),
        "people": pa.array([2], pa.int64()),
    }
)


def _writer(kind: str, tmp_path: Path) -> tuple[ResultWriter, duckdb.DuckDBPyConnection]:
    store = duckdb.connect(str(tmp_path / "analytic.duckdb"))
    if kind == "store":
        return AnalyticStoreWriter(store, tmp_path / "handover"), store
    return ParquetLakeWriter(tmp_path / "lake"), store


def _stored(kind: str, tmp_path: Path, store: duckdb.DuckDBPyConnection, table: str) -> list:
    if kind == "store":
        return sorted(store.execute(f"SELECT * FROM {table}").fetchall())
    reader = DuckDBEngine(duckdb.connect())
    if not (tmp_path / "lake" / table).exists():
        return []
    read_lake_table(reader, tmp_path / "lake", table)
    columns = reader.columns(f"SELECT * FROM {table}")
    ordered = ["run_id", *[c for c in columns if c != "run_id"]]
    return sorted(reader.rows(f"SELECT {', '.join(ordered)} FROM {table}"))


@pytest.mark.parametrize("kind", ["store", "lake"])
def test_a_committed_run_is_stored_with_its_run_id(
    engine: Engine, tmp_path: Path, kind: str
) -> None:
    engine.register("run_register", REGISTER)
    writer, store = _writer(kind, tmp_path)
    writer.begin("r1")
    writer.write("register", engine, "run_register", order_by="patient_id")
    writer.write_rows("run", RUN)
    writer.commit()
    rows = _stored(kind, tmp_path, store, "register")
    assert rows == [
        ("r1", "p1", "DM", dt.date(2015, 1, 1), dt.date(2025, 1, 1)),
        ("r1", "p2", "HYP", dt.date(2016, 2, 2), dt.date(2025, 2, 2)),
    ]
    if kind == "lake":
        assert lake_runs(tmp_path / "lake") == ["r1"]
        assert not (tmp_path / "lake" / "_staging" / "r1").exists()
    else:
        assert not (tmp_path / "handover" / "r1").exists()


@pytest.mark.parametrize("kind", ["store", "lake"])
def test_an_aborted_run_stores_nothing(engine: Engine, tmp_path: Path, kind: str) -> None:
    engine.register("run_register", REGISTER)
    writer, store = _writer(kind, tmp_path)
    writer.begin("r1")
    writer.write("register", engine, "run_register")
    writer.abort()
    assert _stored(kind, tmp_path, store, "register") == []
    if kind == "lake":
        assert lake_runs(tmp_path / "lake") == []
        assert not (tmp_path / "lake" / "_staging" / "r1").exists()


def test_a_lake_reader_sees_only_runs_whose_run_row_was_written(
    engine: Engine, tmp_path: Path
) -> None:
    engine.register("run_register", REGISTER)
    lake = tmp_path / "lake"
    done = ParquetLakeWriter(lake)
    done.begin("r1")
    done.write("register", engine, "run_register")
    done.write_rows("run", RUN)
    done.commit()
    # a run whose tables were moved into place but whose `run` row never came (a crash
    # between the two): its rows lie in the lake, and no reader may count them
    half = ParquetLakeWriter(lake)
    half.begin("r2")
    half.write("register", engine, "run_register")
    half.commit()
    assert (lake / "register" / "run_id=r2").is_dir()
    assert lake_runs(lake) == ["r1"]
    read_lake_table(engine, lake, "register", name="stored_register")
    assert engine.rows("SELECT DISTINCT run_id FROM stored_register") == [("r1",)]
