"""Which population a Spark run reads: the newer of the analytic store and the lake (H-094)."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

from houseofcare.clinical_lake import export_clinical, read_clinical, stale
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
    assert not stale(tmp_path / "lake" / "clinical", tmp_path / "analytic.duckdb")


def test_a_store_and_no_lake_means_export(tmp_path: Path) -> None:
    settings = _store(tmp_path)
    assert stale(tmp_path / "lake" / "clinical", settings.analytic_db_path)


def test_a_lake_older_than_the_store_is_made_again_and_a_newer_one_is_kept(
    tmp_path: Path,
) -> None:
    settings = _store(tmp_path)
    folder = tmp_path / "lake" / "clinical"
    rows = export_clinical(settings, folder)
    assert rows["patient"] == 1
    assert not stale(folder, settings.analytic_db_path)
    later = folder.stat().st_mtime + 60
    os.utime(settings.analytic_db_path, (later, later))
    assert stale(folder, settings.analytic_db_path)


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
