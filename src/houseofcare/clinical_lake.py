"""The clinical tables as Parquet: what Spark (or a DuckDB run from files) reads a population from.

Spark cannot open the DuckDB analytic store, so a Spark run reads the clinical tables
(`analytic_tables.CLINICAL_TABLES`) from a folder of Parquet: one folder or file per table,
``<folder>/<table>/`` or ``<folder>/<table>.parquet``. Three things write such a folder:

- `hoc ingest --engine spark`, into ``<lake>/clinical/``;
- `hoc synth --format parquet`, the synthetic population's tables directly;
- `export_clinical` here, from the analytic store (what `hoc run --engine spark` does when the
  lake has no clinical tables yet), so a store made by the embedded `hoc ingest` can be run on
  Spark too.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from houseofcare.analytic_tables import CLINICAL_TABLES
from houseofcare.engine import Engine, sql_literal
from houseofcare.settings import Settings
from houseofcare.store.analytic import arrow_schema, connect


def clinical_folder(settings: Settings) -> Path:
    """The lake's clinical tables: ``<lake>/clinical``."""
    return settings.lake_path / "clinical"


def table_path(folder: Path, table: str) -> Path | None:
    """Where `table` lies in `folder` (a folder of parts, or one file), or None."""
    for candidate in (folder / table, folder / f"{table}.parquet"):
        if candidate.exists():
            return candidate
    return None


def has_clinical_tables(folder: Path) -> bool:
    """Whether `folder` holds a population: at least its patients."""
    return table_path(folder, "patient") is not None


def stale(folder: Path, store: Path) -> bool:
    """Whether the lake's clinical tables must be (re)made from the analytic store: the store
    exists and the lake has none, or older ones. A run on Spark must never read a population
    older than the one the embedded run and the pages see (hazard H-094): whichever of the
    two was written last is the population."""
    if not store.exists():
        return False
    if not has_clinical_tables(folder):
        return True
    return store.stat().st_mtime > written_at(folder)


def written_at(folder: Path) -> float:
    """When the clinical tables in `folder` were last written (their newest file)."""
    return max(p.stat().st_mtime for p in folder.rglob("*") if p.is_file())


def read_clinical(engine: Engine, folder: Path) -> list[str]:
    """Name every clinical table on `engine` from `folder`; the tables it lacks are named
    empty (a population without, say, procedures) and returned, so the caller can say so."""
    if not has_clinical_tables(folder):
        raise FileNotFoundError(
            f"no clinical tables in {folder}: expected {folder / 'patient'} or "
            f"{folder / 'patient.parquet'} (from `hoc ingest --engine spark`, "
            "`hoc synth --format parquet`, or the analytic store)"
        )
    missing = []
    for table in CLINICAL_TABLES:
        path = table_path(folder, table)
        if path is None:
            engine.register(table, arrow_schema(table).empty_table())
            missing.append(table)
        else:
            engine.read_parquet(table, path)
    return missing


def export_clinical(settings: Settings, folder: Path | None = None) -> dict[str, int]:
    """Copy the analytic store's clinical tables to `folder` as Parquet; rows per table.

    Written beside the folder and swapped in at the end, so an interrupted export leaves the
    previous tables as they were.
    """
    folder = folder or clinical_folder(settings)
    staging = folder.with_name(folder.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    rows: dict[str, int] = {}
    con = connect(settings, read_only=True)
    try:
        for table in CLINICAL_TABLES:
            part = staging / table / "part-0.parquet"
            part.parent.mkdir()
            con.execute(
                f'COPY (SELECT * FROM "{table}") TO {sql_literal(str(part))} (FORMAT parquet)'
            )
            ((rows[table],),) = con.execute(f'SELECT count(*) FROM "{table}"').fetchall()
    finally:
        con.close()
    old = folder.with_name(folder.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    staging.rename(folder)
    shutil.rmtree(old, ignore_errors=True)
    return rows
