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

import json
import shutil
from pathlib import Path
from typing import Any

import duckdb

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


#: Written beside the clinical tables: what the analytic store held when the lake was made.
MARKER = "_made.json"


def store_fingerprint(settings: Settings) -> dict[str, list[Any]] | None:
    """What the analytic store's clinical tables hold, cheaply: rows and the latest
    `last_updated` per table (a run's results do not change it; an ingest that changes
    anything does). None when there is no store or it holds nobody."""
    if not settings.analytic_db_path.exists():
        return None
    con = connect(settings, read_only=True)
    try:
        found = {
            table: [
                str(v)
                for v in con.execute(
                    f'SELECT count(*), max(last_updated) FROM "{table}"'
                ).fetchall()[0]
            ]
            for table in CLINICAL_TABLES
        }
    except duckdb.CatalogException:
        return None
    finally:
        con.close()
    return found if found["patient"][0] != "0" else None


def mark(folder: Path, settings: Settings, made_by: str) -> None:
    """Record, in the lake's clinical folder, what the store held when the folder was made."""
    marker = {"made_by": made_by, "store": store_fingerprint(settings)}
    (folder / MARKER).write_text(json.dumps(marker, indent=1))


def stale(folder: Path, settings: Settings) -> bool:
    """Whether the lake's clinical tables must be made again from the analytic store.

    A run on Spark must never read an older population than the one the embedded run and
    the pages see (hazard H-094). The lake is made again when the store holds people and
    the lake has no clinical tables, or the store's clinical tables have changed since the
    lake was made (by this export or by `hoc ingest --engine spark`, which both record the
    store's fingerprint). A lake whose store has not changed, including one ingested on Spark
    with no store at all, is kept: results written to the store do not count as a change.
    """
    now = store_fingerprint(settings)
    if now is None:
        return False
    if not has_clinical_tables(folder):
        return True
    marker = folder / MARKER
    if not marker.is_file():
        return False  # made by hand or by an older version: an explicit choice, kept
    return json.loads(marker.read_text()).get("store") != now


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
    mark(staging, settings, "export from the analytic store")
    old = folder.with_name(folder.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    staging.rename(folder)
    shutil.rmtree(old, ignore_errors=True)
    return rows
