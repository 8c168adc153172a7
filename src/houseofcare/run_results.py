"""Where a pipeline run's results go: one writer for every engine, two places to write to.

A run computes each result table on its engine under the name ``run_<table>`` (this run's rows,
without a run id). A `ResultWriter` then stores it, tagged with the run id:

- `AnalyticStoreWriter`: the DuckDB analytic store that the pages and reports read, all in one
  transaction, so a failed or interrupted run leaves no partial results. From DuckDB the rows
  go straight in; from Spark they are handed over as Parquet written by the executors, so a
  region's rows never pass through the driver.
- `ParquetLakeWriter`: a Parquet lake laid out by table and run,
  ``<lake>/results/<table>/run_id=<id>/``, that DuckDB (`read_parquet(..., hive_partitioning)`)
  and Spark read alike. Tables are written to a staging folder and moved into place only when
  the whole run is written, and the ``run`` table's row goes last: a run exists once its row
  does, so a reader that joins on ``run`` never sees half a run.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path
from typing import Final, Protocol

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from houseofcare.engine import DuckDBEngine, Engine, sql_literal
from houseofcare.store.analytic import ARROW_TYPES

#: Every result table a run writes, with its columns (DuckDB types); the run id comes first.
RESULT_COLUMNS: Final[dict[str, str]] = {
    "run": """run_id VARCHAR PRIMARY KEY, as_of DATE, started_at TIMESTAMP,
        finished_at TIMESTAMP, code_version VARCHAR, rules_digest VARCHAR, people BIGINT""",
    "register": """run_id VARCHAR, patient_id VARCHAR, register VARCHAR,
        first_recorded DATE, latest_recorded DATE""",
    "multimorbidity": """run_id VARCHAR, patient_id VARCHAR, ltc_count BIGINT,
        cms_score DOUBLE, efi_deficits BIGINT, efi_score DOUBLE, frailty_category VARCHAR""",
    "care_gap": """run_id VARCHAR, patient_id VARCHAR, indicator VARCHAR, outcome VARCHAR,
        evidence_code VARCHAR, evidence_date DATE, evidence_value VARCHAR,
        overdue_since DATE""",
    # each person's readings of careplan/measures.toml's measures in the years before the run
    # (population/person_readings.py); the analytic store keeps the latest run's only
    "person_reading": """run_id VARCHAR, patient_id VARCHAR, measure_id VARCHAR,
        event_date DATE, value_number DOUBLE, value_problem VARCHAR""",
    # readings no rule could use at the run's date (population/readings.py)
    "unusable_reading": """run_id VARCHAR, quantity VARCHAR, problem VARCHAR,
        readings BIGINT, people BIGINT""",
    "risk_score": """run_id VARCHAR, patient_id VARCHAR, risk DOUBLE, percentile DOUBLE,
        factor_1 VARCHAR, factor_2 VARCHAR, factor_3 VARCHAR, model_version VARCHAR""",
    "tier": "run_id VARCHAR, patient_id VARCHAR, level INTEGER, reason VARCHAR",
}

#: Tables that hold only the latest run's rows in the analytic store (what the pages show).
LATEST_ONLY: Final = frozenset({"person_reading"})


def result_ddl(table: str) -> str:
    """The analytic store's DDL for a result table (made only if missing)."""
    return f'CREATE TABLE IF NOT EXISTS "{table}" ({RESULT_COLUMNS[table]})'


#: Each result table's DDL, by name.
RESULT_TABLES: Final[dict[str, str]] = {name: result_ddl(name) for name in RESULT_COLUMNS}


def run_schema(table: str) -> pa.Schema:
    """A result table's rows for one run (no run_id) as Arrow, e.g. an empty `run_<table>`."""
    columns = [column.split()[:2] for column in RESULT_COLUMNS[table].split(",")]
    types = {**ARROW_TYPES, "INTEGER": pa.int32()}
    return pa.schema([(name, types[kind]) for name, kind in columns if name != "run_id"])


def ensure_result_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Make any result table the analytic store lacks (a new store, or an older one)."""
    for ddl in RESULT_TABLES.values():
        con.execute(ddl)


class ResultWriter(Protocol):
    """Stores one run's result tables; nothing is visible to readers before `commit`."""

    def begin(self, run_id: str) -> None: ...

    def write(self, table: str, engine: Engine, source: str, *, order_by: str = "") -> None: ...

    def write_rows(self, table: str, rows: pa.Table) -> None: ...

    def commit(self) -> None: ...

    def abort(self) -> None: ...


class AnalyticStoreWriter:
    """Into the DuckDB analytic store, in one transaction on `con`."""

    def __init__(self, con: duckdb.DuckDBPyConnection, handover: Path) -> None:
        self.con = con
        self.handover = handover  # Parquet from another engine lands here, then goes in
        self.run_id = ""

    def begin(self, run_id: str) -> None:
        self.run_id = run_id
        ensure_result_tables(self.con)
        self.con.execute("BEGIN TRANSACTION")

    def write(self, table: str, engine: Engine, source: str, *, order_by: str = "") -> None:
        if table in LATEST_ONLY:
            self.con.execute(f'DELETE FROM "{table}"')
        order = f" ORDER BY {order_by}" if order_by else ""
        if isinstance(engine, DuckDBEngine) and engine.con is self.con:
            rows = f'SELECT * FROM "{source}"'
        else:
            folder = self.handover / self.run_id / table
            engine.write_parquet(f'SELECT * FROM "{source}"', folder)
            rows = f"SELECT * FROM read_parquet({sql_literal(str(folder / '*.parquet'))})"
        run = sql_literal(self.run_id)
        self.con.execute(
            f'INSERT INTO "{table}" BY NAME SELECT {run} AS run_id, * FROM ({rows}) AS r{order}'
        )
        if isinstance(engine, DuckDBEngine) and engine.con is self.con:
            # later steps read the stored rows, not a second copy held in memory: at five
            # million people the run's temporary tables left too little for the risk features
            # within the run's memory limit
            kept = self.con.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name = ?",
                [source],
            ).fetchall()
            if kept[0][0]:
                self.con.execute(f'DROP TABLE temp."{source}"')
            self.con.execute(
                f'CREATE OR REPLACE TEMP VIEW "{source}" AS '
                f'SELECT * EXCLUDE (run_id) FROM "{table}" WHERE run_id = {run}'
            )

    def write_rows(self, table: str, rows: pa.Table) -> None:
        self.con.register("run_result_rows", rows)
        try:
            self.con.execute(f'INSERT INTO "{table}" BY NAME SELECT * FROM run_result_rows')
        finally:
            self.con.unregister("run_result_rows")

    def commit(self) -> None:
        from houseofcare.pipeline import PERSON_RESULT_TABLES
        from houseofcare.store.analytic import index_by_person

        # the run's tables are read one person at a time by the pages
        index_by_person(self.con, PERSON_RESULT_TABLES)
        self.con.execute("COMMIT")
        self._clean()

    def abort(self) -> None:
        with contextlib.suppress(duckdb.Error):
            self.con.execute("ROLLBACK")
        self._clean()

    def _clean(self) -> None:
        if self.run_id:
            shutil.rmtree(self.handover / self.run_id, ignore_errors=True)


class ParquetLakeWriter:
    """Into the Parquet lake, ``<root>/<table>/run_id=<id>/``; see the module docstring."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.run_id = ""
        self.run_rows: pa.Table | None = None

    @property
    def staging(self) -> Path:
        return self.root / "_staging" / self.run_id

    def begin(self, run_id: str) -> None:
        self.run_id = run_id
        shutil.rmtree(self.staging, ignore_errors=True)
        self.staging.mkdir(parents=True)

    def write(self, table: str, engine: Engine, source: str, *, order_by: str = "") -> None:
        order = f" ORDER BY {order_by}" if order_by else ""
        engine.write_parquet(f'SELECT * FROM "{source}"{order}', self.staging / table)

    def write_rows(self, table: str, rows: pa.Table) -> None:
        rows = rows.drop_columns(["run_id"]) if "run_id" in rows.column_names else rows
        if table == "run":
            self.run_rows = rows  # written last, by commit
            return
        (self.staging / table).mkdir(parents=True, exist_ok=True)
        pq.write_table(rows, self.staging / table / "part-0.parquet")

    def commit(self) -> None:
        for folder in sorted(self.staging.iterdir()):
            target = self.root / folder.name / f"run_id={self.run_id}"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(target, ignore_errors=True)
            folder.rename(target)
        if self.run_rows is not None:
            target = self.root / "run" / f"run_id={self.run_id}"
            target.mkdir(parents=True, exist_ok=True)
            pq.write_table(self.run_rows, target / ".part-0.parquet.tmp")
            (target / ".part-0.parquet.tmp").rename(target / "part-0.parquet")
        shutil.rmtree(self.staging, ignore_errors=True)

    def abort(self) -> None:
        if self.run_id:
            shutil.rmtree(self.staging, ignore_errors=True)


def lake_runs(root: Path) -> list[str]:
    """The complete runs in a results lake (those whose ``run`` row was written), oldest first."""
    folder = root / "run"
    if not folder.is_dir():
        return []
    return sorted(
        p.name.removeprefix("run_id=")
        for p in folder.iterdir()
        if p.name.startswith("run_id=") and (p / "part-0.parquet").is_file()
    )


def read_lake_table(engine: Engine, root: Path, table: str, *, name: str | None = None) -> None:
    """Name a lake table (every complete run) on an engine, with its run_id column."""
    runs = ", ".join(sql_literal(r) for r in lake_runs(root)) or "NULL"
    path = sql_literal(str(root / table / "*" / "*.parquet"))
    if isinstance(engine, DuckDBEngine):
        engine.view(
            name or table,
            f"SELECT * FROM read_parquet({path}, hive_partitioning = true) "
            f"WHERE run_id IN ({runs})",
        )
    else:
        engine.read_parquet(f"_lake_{table}", root / table)
        engine.view(name or table, f"SELECT * FROM _lake_{table} WHERE run_id IN ({runs})")
