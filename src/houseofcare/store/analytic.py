"""Opening the analytic store (a DuckDB file) the same way everywhere."""

from __future__ import annotations

import os
import time
from collections.abc import Collection
from pathlib import Path
from typing import Final

import duckdb
import pyarrow as pa

from houseofcare.analytic_tables import (
    CLINICAL_TABLES,
    QUARANTINE_TABLE,
    create_table_sql,
)
from houseofcare.settings import Settings
from houseofcare.store import analytic_hold

#: How long a writer waits for the store's readers and any other writer to let go.
WRITE_WAIT_SECONDS: Final = 60.0

#: The Arrow type of each DuckDB type the table contract uses.
ARROW_TYPES: dict[str, pa.DataType] = {
    "VARCHAR": pa.string(),
    "DATE": pa.date32(),
    "DOUBLE": pa.float64(),
    "BIGINT": pa.int64(),
    "TIMESTAMP": pa.timestamp("us"),
}


def connect(
    settings: Settings, *, read_only: bool = False, memory_limit: str | None = None
) -> duckdb.DuckDBPyConnection:
    """Open the analytic store, creating its folder and clinical tables on first use.

    `memory_limit` is the job's own default DuckDB memory limit (ingest and `hoc run` keep
    memory near a known figure); the settings' `memory_limit`, when set, wins over it.

    A reader in a process that holds the store (the web app: `store/analytic_hold.py`) is
    handed the database already open, or refused (`WriterWaiting`) while a writer waits. A
    writer announces itself and waits up to `WRITE_WAIT_SECONDS` for the store's readers and
    any other writer to let go; after that DuckDB's own error (naming the process that holds
    the file) is raised.
    """
    path: Path = settings.analytic_db_path
    path.parent.mkdir(parents=True, exist_ok=True)
    config = _config(settings, memory_limit)
    if read_only:
        hold = analytic_hold.held(path)
        if hold is not None:
            hold.before_read()
        return duckdb.connect(str(path), read_only=True, config=config)
    with analytic_hold.wait_to_write(path):
        deadline = time.monotonic() + WRITE_WAIT_SECONDS
        while True:
            try:
                con = duckdb.connect(str(path), config=config)
                break
            except (duckdb.IOException, duckdb.ConnectionException) as exc:
                if not _held_elsewhere(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
    ensure_schema(con)
    return con


def store_stamp(path: Path) -> tuple[int, ...]:
    """What changes when the store is written: its file's and its WAL's inode, size and
    mtime. An answer read from the store can be kept while its stamp is unchanged."""
    stamp: list[int] = []
    for file in (path, path.with_name(path.name + ".wal")):
        try:
            found = os.stat(file)
        except FileNotFoundError:
            stamp += [-1, -1, -1]
        else:
            stamp += [found.st_ino, found.st_size, found.st_mtime_ns]
    return tuple(stamp)


def hold_open(settings: Settings) -> None:
    """Keep the store open in this process between reads (the web app): see
    `store/analytic_hold.py`."""
    config = _config(settings)
    path = settings.analytic_db_path
    analytic_hold.hold(path, lambda: duckdb.connect(str(path), read_only=True, config=config))


def _config(settings: Settings, memory_limit: str | None = None) -> dict[str, str | int]:
    """DuckDB's configuration for the store (a reader's must equal the holding anchor's)."""
    config: dict[str, str | int] = {}
    if settings.threads:
        config["threads"] = settings.threads
    if settings.memory_limit or memory_limit:
        config["memory_limit"] = settings.memory_limit or memory_limit
    return config


def _held_elsewhere(exc: duckdb.Error) -> bool:
    """Whether opening failed only because another connection has the file (a reader or a
    writer in another process, or a read-only one in this process)."""
    text = str(exc)
    return "lock" in text or "different configuration" in text


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the clinical tables and the quarantine table if they are missing, and add a
    column the contract has gained since a store was made (e.g. `observation.value_ucum`):
    its old rows hold NULL there, which every reader already allows."""
    for name, columns in CLINICAL_TABLES.items():
        con.execute(create_table_sql(name, columns))
        present = {
            row[0]
            for row in con.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_name = ? AND table_schema = 'main'",
                [name],
            ).fetchall()
        }
        missing = [(column, kind) for column, kind in columns if column not in present]
        if missing:
            # DuckDB alters no table an index depends on: `index_by_person` makes it again
            con.execute(f'DROP INDEX IF EXISTS "{person_index(name)}"')
        for column, kind in missing:
            con.execute(f'ALTER TABLE "{name}" ADD COLUMN "{column}" {kind}')
    con.execute(create_table_sql("quarantine", QUARANTINE_TABLE))
    index_by_person(con)


def index_by_person(con: duckdb.DuckDBPyConnection, tables: Collection[str] | None = None) -> None:
    """Give every table of the store (of `tables`, when given) that has a `patient_id`
    column an index on it.

    The store is laid out for whole-population work, but the pages read one person at a
    time: without an index DuckDB scans every row group of a table for one person's rows
    (about 10 ms for one person's observations at 100,000 people, and ten times that at a
    million). With it, a look-up reads one person's rows. DuckDB keeps the index up to date
    on every insert and delete (ingest's merge and each run's rows cost a few percent more:
    docs/performance.md), so it is made once, when a writer first opens the store.
    """
    found = con.execute(
        "SELECT t.table_name FROM duckdb_tables() t "
        "JOIN duckdb_columns() c USING (database_name, schema_name, table_name) "
        "WHERE c.column_name = 'patient_id' AND t.schema_name = 'main' "
        "AND t.database_name = current_database() AND NOT t.temporary ORDER BY 1"
    ).fetchall()
    for (table,) in found:
        if tables is not None and table not in tables:
            continue
        con.execute(f'CREATE INDEX IF NOT EXISTS "{person_index(table)}" ON "{table}" (patient_id)')


def person_index(table: str) -> str:
    """The name of `table`'s index on `patient_id`."""
    return f"ix_{table}_patient"


def arrow_schema(table: str) -> pa.Schema:
    """A clinical table's columns as an Arrow schema, to hand rows to any engine (Spark too)."""
    return pa.schema([(name, ARROW_TYPES[kind]) for name, kind in CLINICAL_TABLES[table]])
