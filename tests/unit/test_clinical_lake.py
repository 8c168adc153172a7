"""Which population a Spark run reads: the lake's, unless the analytic store's clinical tables
changed since the lake was made (H-094)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from houseofcare.clinical_lake import export_clinical, mark, read_clinical, stale
from houseofcare.engine import DuckDBEngine
from houseofcare.settings import Settings
from houseofcare.store.analytic import connect


def _store(tmp_path: Path) -> Settings:
    settings = Settings(data_dir=tmp_path)
    con = connect(settings)
    con.execute("INSERT INTO patient (patient_id, gender) VALUES ('p1', 'female')")
    con.close()
    return settings


def test_without_a_store_the_lake_is_read_as_it_is(tmp_path: Path) -> None:
    assert not stale(tmp_path / "lake" / "clinical", Settings(data_dir=tmp_path))


def test_a_store_and_no_lake_means_export(tmp_path: Path) -> None:
    settings = _store(tmp_path)
    assert stale(tmp_path / "lake" / "clinical", settings)


def test_the_lake_is_made_again_only_when_the_stores_clinical_tables_change(
    tmp_path: Path,
) -> None:
    settings = _store(tmp_path)
    folder = tmp_path / "lake" / "clinical"
    rows = export_clinical(settings, folder)
    assert rows["patient"] == 1
    assert not stale(folder, settings)
    # a run's results written to the store are not a new population
    con = connect(settings)
    con.execute("CREATE TABLE IF NOT EXISTS tier (run_id VARCHAR, patient_id VARCHAR)")
    con.execute("INSERT INTO tier VALUES ('r1', 'p1')")
    con.close()
    assert not stale(folder, settings)
    # an ingest that adds or updates anyone is
    con = connect(settings)
    con.execute("INSERT INTO patient (patient_id, gender) VALUES ('p2', 'male')")
    con.close()
    assert stale(folder, settings)


def test_a_lake_ingested_on_spark_with_no_store_is_kept(tmp_path: Path) -> None:
    lake_only = Settings(data_dir=tmp_path / "elsewhere")
    folder = tmp_path / "lake" / "clinical"
    export_clinical(_store(tmp_path), folder)
    mark(folder, lake_only, "hoc ingest --engine spark")
    assert not stale(folder, lake_only)


def test_the_export_is_read_back_with_every_clinical_table(tmp_path: Path) -> None:
    settings = _store(tmp_path)
    folder = tmp_path / "lake" / "clinical"
    export_clinical(settings, folder)
    engine = DuckDBEngine(duckdb.connect())
    assert read_clinical(engine, folder) == []
    assert engine.rows("SELECT patient_id FROM patient") == [("p1",)]


def test_a_folder_without_patients_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no clinical tables"):
        read_clinical(DuckDBEngine(duckdb.connect()), tmp_path)
