"""One ingest, one transaction: stage every file, quarantine what is bad, merge, commit.

Nothing is visible in the store until the final COMMIT, so an ingest that is interrupted
(Ctrl-C, `kill -9`, power loss) leaves the store exactly as it was. Staging tables are ordinary
tables created inside the transaction, so DuckDB writes big inputs to disk instead of holding
them in memory, and they vanish with a rollback.

Versions: a resource is keyed by (resource type, id). The newest `meta.lastUpdated` wins, both
within one ingest and against the store; a resource without `meta.lastUpdated` counts as older
than any dated version. Equal timestamps keep the stored version (`unchanged`); when neither
has a timestamp, a different content replaces the stored one (the later ingest wins).
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Final

import duckdb
import pyarrow as pa

from houseofcare.analytic_tables import CLINICAL_TABLES, KEY_COLUMN, create_table_sql
from houseofcare.ingest import quarantine
from houseofcare.ingest.fhirtypes import text_sql, value_sql
from houseofcare.ingest.sources import SourceError, bundle_entries, discover, read_blocks
from houseofcare.ingest.viewdef import CompiledView, load_views
from houseofcare.progress import NullProgress, Progress
from houseofcare.settings import Settings
from houseofcare.store.analytic import connect

#: DuckDB memory for an ingest when the settings give none: staged data beyond it spills to
#: disk, so peak memory does not grow with the input.
DEFAULT_MEMORY_LIMIT: Final[str] = "2GB"
#: Which version of each resource the store holds: the basis of idempotent re-ingest.
INGESTED_TABLE: Final[str] = "ingested_resource"
_INGESTED_COLUMNS: Final[list[tuple[str, str]]] = [
    ("resource_type", "VARCHAR"),
    ("resource_id", "VARCHAR"),
    ("last_updated", "TIMESTAMP"),
    ("content_hash", "VARCHAR"),
    ("source_file", "VARCHAR"),
    ("ingested_at", "TIMESTAMP"),
]
_KEYS: Final[str] = "_hoc_stage_keys"
_STAGE_PREFIX: Final[str] = "_hoc_stage_"


@dataclass
class ResourceCounts:
    """What happened to the resources of one type in one ingest."""

    loaded: int = 0  # new resources
    updated: int = 0  # replaced an older version
    unchanged: int = 0  # same or older version than stored: kept the stored one
    quarantined: int = 0


@dataclass
class IngestReport:
    """The summary `hoc ingest` prints, and what `--strict` checks."""

    files: int
    bytes: int
    seconds: float
    by_type: dict[str, ResourceCounts]  # FHIR resource type -> counts
    skipped_unknown: dict[str, int]  # resource types with no view -> count
    quarantined: int  # total rows quarantined this ingest
    quarantine_examples: list[tuple[str, int, str]] = field(default_factory=list)


def ingest_paths(
    *, paths: Sequence[Path], settings: Settings, progress: Progress | None = None
) -> IngestReport:
    """Load FHIR NDJSON / Bundle files into the analytic store in one transaction.

    Raises `FileNotFoundError` before touching the store when a path is missing or a folder
    holds no FHIR files. On any exception, KeyboardInterrupt included, the transaction is
    rolled back and the exception propagates.
    """
    views = load_views()
    files = discover([Path(p) for p in paths])
    con = connect(settings)
    try:
        con.execute("SET TimeZone = 'UTC'")
        if not settings.memory_limit:
            con.execute(f"SET memory_limit = '{DEFAULT_MEMORY_LIMIT}'")
        con.execute("BEGIN TRANSACTION")
        try:
            report = _Ingest(con, views, progress or NullProgress()).run(files)
            con.execute("COMMIT")
        except BaseException:
            _rollback(con)
            raise
    finally:
        con.close()
    return report


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    # If the transaction is already gone, closing the connection discards it anyway.
    with contextlib.suppress(duckdb.Error):
        con.execute("ROLLBACK")


class _Ingest:
    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        views: dict[str, CompiledView],
        progress: Progress,
    ) -> None:
        self.con = con
        self.views_by_type = {v.resource: v for v in views.values()}
        self.progress = progress
        self.ingested_at = datetime.now()
        self.seq = 0
        self.unknown: Counter[str] = Counter()
        known = ", ".join(f"'{t}'" for t in sorted(self.views_by_type))
        self.known_sql = f"[{known}]"
        lu_text = text_sql("k[3]")
        self.classify_sql = (
            "SELECT line_number, seq, line, k[1] ->> '$' AS rt, k[2] ->> '$' AS rid, "
            f"{value_sql('instant', 'k[3]', lu_text)} AS lu, "
            f"{quarantine.classify_reason_sql(self.known_sql)} AS reason "
            "FROM (SELECT line_number, line, ? + row_number() OVER () AS seq, "
            "try(json_extract(line, ['$.resourceType', '$.id', '$.meta.lastUpdated'])) AS k "
            "FROM blk WHERE strlen(line) > 64 OR trim(line, ' \t\r\n') <> '')"
        )

    # -- staging ---------------------------------------------------------------------------
    def run(self, files: list[Path]) -> IngestReport:
        started = time.perf_counter()
        self._create_tables()
        total = sum(p.stat().st_size for p in files if p.is_file())
        task = self.progress.task("Ingesting FHIR", total=total)
        for file_id, path in enumerate(files):
            self._stage_file(file_id, path, task)
        by_type = self._merge()
        for rt, n in quarantine.counts_by_type(self.con, ingested_at=self.ingested_at).items():
            by_type.setdefault(rt, ResourceCounts()).quarantined += n
        self._drop_stage()
        return IngestReport(
            files=len(files),
            bytes=total,
            seconds=time.perf_counter() - started,
            by_type=dict(sorted(by_type.items())),
            skipped_unknown=dict(sorted(self.unknown.items())),
            quarantined=sum(c.quarantined for c in by_type.values()),
            quarantine_examples=quarantine.examples(self.con, ingested_at=self.ingested_at),
        )

    def _create_tables(self) -> None:
        con = self.con
        con.execute(create_table_sql(INGESTED_TABLE, _INGESTED_COLUMNS))
        con.execute(
            f"CREATE TABLE {_KEYS} (seq BIGINT, file_id INTEGER, line_number BIGINT, "
            "resource_type VARCHAR, resource_id VARCHAR, last_updated TIMESTAMP, "
            "content_hash VARCHAR)"
        )
        con.execute(f"CREATE TABLE {_STAGE_PREFIX}files (file_id INTEGER, source_file VARCHAR)")
        for view in self.views_by_type.values():
            cols = ", ".join(f'"{n}" {t}' for n, t in view.columns)
            con.execute(
                f"CREATE TABLE {_STAGE_PREFIX}{view.table} (seq BIGINT, {cols}, __error VARCHAR)"
            )

    def _drop_stage(self) -> None:
        for view in self.views_by_type.values():
            self.con.execute(f"DROP TABLE {_STAGE_PREFIX}{view.table}")
        self.con.execute(f"DROP TABLE {_KEYS}")
        self.con.execute(f"DROP TABLE {_STAGE_PREFIX}files")

    def _stage_file(self, file_id: int, path: Path, task: int) -> None:
        name = str(path)
        self.con.execute(f"INSERT INTO {_STAGE_PREFIX}files VALUES (?, ?)", [file_id, name])
        first_seq = self.seq
        unknown: Counter[str] = Counter()
        try:
            for block in read_blocks(path):
                self._stage_block(file_id, name, block.lines, unknown)
                self.progress.advance(task, block.bytes_read)
        except SourceError as err:
            self._unstage(first_seq, name)
            quarantine.add_unreadable_file(
                self.con,
                source_file=name,
                reason=f"{err}; nothing from this file was loaded",
                ingested_at=self.ingested_at,
            )
            return
        self.unknown.update(unknown)

    def _unstage(self, first_seq: int, name: str) -> None:
        """Remove what a file staged before it proved unreadable: a file loads whole or not."""
        for view in self.views_by_type.values():
            self.con.execute(f"DELETE FROM {_STAGE_PREFIX}{view.table} WHERE seq > ?", [first_seq])
        self.con.execute(f"DELETE FROM {_KEYS} WHERE seq > ?", [first_seq])
        quarantine.forget_file(self.con, source_file=name, ingested_at=self.ingested_at)

    def _stage_block(self, file_id: int, name: str, lines: pa.Table, unknown: Counter[str]) -> None:
        # The Arrow tables are found by DuckDB's replacement scan (the local variables `blk`
        # and `classified`), not registered: a registered view inside the open transaction
        # would keep every block alive until COMMIT, and memory would grow with the input.
        con = self.con
        blk = lines  # read by name from SQL
        classified = con.sql(self.classify_sql, params=[self.seq]).to_arrow_table()
        del blk
        self.seq += lines.num_rows
        con.execute(
            "INSERT INTO quarantine SELECT ?, line_number, rt, rid, reason, ? "
            "FROM classified WHERE reason IS NOT NULL",
            [name, self.ingested_at],
        )
        present = con.execute(
            "SELECT rt, count(*) FROM classified WHERE reason IS NULL GROUP BY rt"
        ).fetchall()
        for rt, count in present:
            if rt == "Bundle":
                self._stage_bundle_lines(file_id, name, classified, unknown)
            elif rt not in self.views_by_type:
                unknown[str(rt)] += int(count)
            else:
                self._stage_type(file_id, self.views_by_type[rt], classified)

    def _stage_bundle_lines(
        self, file_id: int, name: str, classified: pa.Table, unknown: Counter[str]
    ) -> None:
        """Bundles written one per NDJSON line: unpack their entries and stage those."""
        rows = self.con.execute(
            "SELECT line_number, line FROM classified WHERE rt = 'Bundle' AND reason IS NULL"
        ).fetchall()
        for number, line in rows:
            self._stage_block(file_id, name, bundle_entries(line, number), unknown)

    def _stage_type(self, file_id: int, view: CompiledView, classified: pa.Table) -> None:
        con = self.con
        con.execute(
            f"INSERT INTO {_KEYS} SELECT seq, ?, line_number, rt, rid, lu, "
            "CASE WHEN lu IS NULL THEN md5(line) END FROM classified "
            "WHERE rt = ? AND reason IS NULL",
            [file_id, view.resource],
        )
        structure = view.structure.replace("'", "''")
        con.execute(
            f"INSERT INTO {_STAGE_PREFIX}{view.table} "
            f"WITH parsed AS MATERIALIZED (SELECT seq, from_json(line, '{structure}') AS r "
            f"FROM classified WHERE rt = '{view.resource}' AND reason IS NULL) {view.rows_sql}"
        )

    # -- merging ---------------------------------------------------------------------------
    def _merge(self) -> dict[str, ResourceCounts]:
        con = self.con
        errors = " UNION ALL ".join(
            f"SELECT seq, __error FROM {_STAGE_PREFIX}{v.table} WHERE __error IS NOT NULL"
            for v in self.views_by_type.values()
        )
        con.execute(
            "CREATE TEMP TABLE _hoc_bad AS SELECT seq, string_agg(DISTINCT __error, '; ') "
            f"AS reason FROM ({errors}) GROUP BY seq"
        )
        con.execute(
            "INSERT INTO quarantine SELECT f.source_file, k.line_number, k.resource_type, "
            f"k.resource_id, b.reason, ? FROM _hoc_bad b JOIN {_KEYS} k USING (seq) "
            f"JOIN {_STAGE_PREFIX}files f USING (file_id) ORDER BY k.seq",
            [self.ingested_at],
        )
        counts: dict[str, ResourceCounts] = {}
        for view in self.views_by_type.values():
            counts[view.resource] = self._merge_type(view)
        con.execute("DROP TABLE _hoc_bad")
        return {t: c for t, c in counts.items() if c != ResourceCounts()}

    def _merge_type(self, view: CompiledView) -> ResourceCounts:
        con = self.con
        table, key = view.table, KEY_COLUMN[view.table]
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _hoc_decision AS "
            "WITH winners AS (SELECT k.* FROM "
            f"(SELECT * FROM {_KEYS} WHERE resource_type = ?) k ANTI JOIN _hoc_bad USING (seq) "
            "QUALIFY row_number() OVER (PARTITION BY resource_id "
            "ORDER BY last_updated DESC NULLS LAST, seq DESC) = 1) "
            "SELECT w.seq, w.file_id, w.resource_id, w.last_updated, w.content_hash, "
            "CASE WHEN s.resource_id IS NULL THEN 'loaded' "
            "WHEN w.last_updated > s.last_updated THEN 'updated' "
            "WHEN w.last_updated IS NOT NULL AND s.last_updated IS NULL THEN 'updated' "
            "WHEN w.last_updated IS NULL AND s.last_updated IS NULL "
            "AND w.content_hash IS DISTINCT FROM s.content_hash THEN 'updated' "
            "ELSE 'unchanged' END AS action "
            f"FROM winners w LEFT JOIN (SELECT * FROM {INGESTED_TABLE} WHERE resource_type = ?) s "
            "USING (resource_id)",
            [view.resource, view.resource],
        )
        actions = dict(
            con.execute("SELECT action, count(*) FROM _hoc_decision GROUP BY action").fetchall()
        )
        if actions.get("updated"):
            con.execute(
                f'DELETE FROM "{table}" WHERE "{key}" IN '
                "(SELECT resource_id FROM _hoc_decision WHERE action = 'updated')"
            )
            con.execute(
                f"DELETE FROM {INGESTED_TABLE} WHERE resource_type = ? AND resource_id IN "
                "(SELECT resource_id FROM _hoc_decision WHERE action = 'updated')",
                [view.resource],
            )
        if actions.get("loaded") or actions.get("updated"):
            columns = ", ".join(f'"{c}"' for c, _ in CLINICAL_TABLES[table])
            con.execute(
                f'INSERT INTO "{table}" ({columns}) SELECT {columns} '
                f"FROM {_STAGE_PREFIX}{table} SEMI JOIN "
                "(SELECT seq FROM _hoc_decision WHERE action <> 'unchanged') d USING (seq) "
                "ORDER BY seq"
            )
            con.execute(
                f"INSERT INTO {INGESTED_TABLE} SELECT ?, d.resource_id, d.last_updated, "
                f"d.content_hash, f.source_file, ? FROM _hoc_decision d "
                f"JOIN {_STAGE_PREFIX}files f USING (file_id) WHERE d.action <> 'unchanged'",
                [view.resource, self.ingested_at],
            )
        con.execute("DROP TABLE _hoc_decision")
        return ResourceCounts(
            loaded=int(actions.get("loaded", 0)),
            updated=int(actions.get("updated", 0)),
            unchanged=int(actions.get("unchanged", 0)),
        )
