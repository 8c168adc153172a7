"""Helpers shared by the ingest integration tests (no tests here): fixture paths, snapshots."""

from __future__ import annotations

from pathlib import Path

import duckdb

from houseofcare.analytic_tables import CLINICAL_TABLES
from houseofcare.settings import Settings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "fhir"


def settings_in(folder: Path) -> Settings:
    return Settings(data_dir=folder)


def rows(settings: Settings, sql: str) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(settings.analytic_db_path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def snapshot(settings: Settings) -> dict[str, list[tuple[object, ...]]]:
    """Every clinical table and the quarantine, sorted: equal snapshots mean an unchanged store."""
    con = duckdb.connect(str(settings.analytic_db_path), read_only=True)
    try:
        tables = [*CLINICAL_TABLES, "quarantine"]
        return {t: sorted(con.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables}
    finally:
        con.close()
