"""Opening the analytic store (a DuckDB file) the same way everywhere."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from houseofcare.analytic_tables import (
    CLINICAL_TABLES,
    QUARANTINE_TABLE,
    create_table_sql,
)
from houseofcare.settings import Settings

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
    """
    path: Path = settings.analytic_db_path
    path.parent.mkdir(parents=True, exist_ok=True)
    config: dict[str, str | int] = {}
    if settings.threads:
        config["threads"] = settings.threads
    if settings.memory_limit or memory_limit:
        config["memory_limit"] = settings.memory_limit or memory_limit
    con = duckdb.connect(str(path), read_only=read_only, config=config)
    if not read_only:
        ensure_schema(con)
    return con


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
        for column, kind in columns:
            if column not in present:
                con.execute(f'ALTER TABLE "{name}" ADD COLUMN "{column}" {kind}')
    con.execute(create_table_sql("quarantine", QUARANTINE_TABLE))


def arrow_schema(table: str) -> pa.Schema:
    """A clinical table's columns as an Arrow schema, to hand rows to any engine (Spark too)."""
    return pa.schema([(name, ARROW_TYPES[kind]) for name, kind in CLINICAL_TABLES[table]])
