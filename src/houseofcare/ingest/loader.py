"""One ingest, one transaction: stage every file, quarantine what is bad, merge, commit.

Nothing is visible in the store until the final COMMIT, so an ingest that is interrupted
(Ctrl-C, `kill -9`, power loss) leaves the store exactly as it was. Staging tables are
temporary tables created inside the transaction: DuckDB keeps them in memory up to its memory
limit and spills the rest to its temporary folder, so peak memory does not grow with the
input, and they vanish with a rollback (or a killed process).

A clean NDJSON file is first offered to the fast path (`ingest/fast_path.py`: DuckDB's own
reader takes it whole, and the view's SQL runs on what it read); a file it declines, and every
other file, is read block by block here.

How a block of lines is staged (see docs/ingest.md, "How it runs"): each line is parsed once,
with `from_json`, into the structure the resource type's view reads (plus `resourceType`, `id`
and `meta.lastUpdated`). The type is guessed from the block's first line, which is right for
every block of a bulk export (one file per type). Lines the guess does not fit (another type,
not JSON, no id) are few; only they go through the slower path that classifies each line
first and gives the quarantine its reason.

Versions: a resource is keyed by (resource type, id). The newest `meta.lastUpdated` wins, both
within one ingest and against the store; a resource without `meta.lastUpdated` counts as older
than any dated version. Equal timestamps keep the stored version (`unchanged`); when neither
has a timestamp, a different content replaces the stored one (the later ingest wins).
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Final

import duckdb
import numpy as np
import orjson
import pyarrow as pa

from houseofcare.analytic_tables import CLINICAL_TABLES, KEY_COLUMN, create_table_sql
from houseofcare.ingest import checks, quarantine
from houseofcare.ingest.fast_path import FastFile, FastReader
from houseofcare.ingest.fhirtypes import text_sql, value_sql
from houseofcare.ingest.sources import (
    BadLine,
    Block,
    Discovery,
    SourceError,
    bundle_entries,
    discover,
    int64_array,
    plain_ndjson_type,
    prefetch,
    read_blocks,
)
from houseofcare.ingest.viewdef import CompiledView, load_views
from houseofcare.interrupts import interrupts_as_keyboard
from houseofcare.progress import NullProgress, Progress
from houseofcare.settings import Settings
from houseofcare.store.analytic import connect
from houseofcare.terminology.code_maps import unknown_systems

#: DuckDB memory for an ingest when the settings give none (`HOC_MEMORY_LIMIT`): staged data
#: beyond it spills to disk, so peak memory does not grow with the input.
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
#: The tables the event layer reads codes from (houseofcare.population.events).
_CODED_TABLES: Final = ("condition", "medication", "procedure", "observation")
#: Resources that parse but are unfit to load (`checks.problem`), with the reason.
_UNFIT: Final[str] = "_hoc_stage_unfit"
#: The Python function DuckDB calls for a suspect line (see `_Ingest._fit`).
_FIT_FUNCTION: Final[str] = "hoc_fit"
#: Below this share of a block fitting its guessed type, the rest of the file is classified
#: line by line first (a file mixing resource types).
_GUESS_MIN_SHARE: Final[float] = 0.5
_ACTIONS: Final[tuple[str, str, str]] = ("loaded", "updated", "unchanged")
#: What the bulk-data exporter writes about itself (`manifest.json`'s `error` files).
_OUTCOME: Final[str] = "OperationOutcome"
_ONLY_OUTCOMES: Final[str] = (
    "holds only OperationOutcome resources (the exporter's messages), no clinical data"
)
_NO_RESOURCES: Final[str] = (
    "holds no FHIR resources (no line has a resourceType): not FHIR data, such as an exporter's log"
)
_NOT_BLANK: Final[str] = "(strlen(line) > 64 OR trim(line, ' \t\r\n') <> '')"


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
    #: Files not loaded because they hold no FHIR data, with why: a folder's files that are
    #: not FHIR by name or manifest, and files without a single FHIR resource (an exporter's
    #: log, its OperationOutcomes). Nothing from them is quarantined.
    skipped_files: list[tuple[str, str]] = field(default_factory=list)
    #: Rows in the store's coded tables (all of them, not only this ingest's) whose code
    #: system no rule reads and no map translates, per canonical system URI: codes that can
    #: never reach a register or a care gap (hazard H-042).
    unknown_code_systems: dict[str, int] = field(default_factory=dict)
    #: Files read whole by DuckDB's own reader (`ingest/fast_path.py`); the rest were read
    #: block by block, line by line where needed.
    fast_files: int = 0


def ingest_paths(
    *,
    paths: Sequence[Path],
    settings: Settings,
    progress: Progress | None = None,
    fast: bool = True,
) -> IngestReport:
    """Load FHIR NDJSON / Bundle / XML files into the analytic store in one transaction.

    Raises `FileNotFoundError` before touching the store when a path is missing or a folder
    holds no FHIR files. On any exception, KeyboardInterrupt included, the transaction is
    rolled back and the exception propagates. `fast=False` reads every file block by block
    (the exact path), as the tests that hold the two paths to the same tables need.
    """
    views = load_views()
    discovery = discover([Path(p) for p in paths])
    con = connect(settings, memory_limit=DEFAULT_MEMORY_LIMIT)
    try:
        con.execute("SET TimeZone = 'UTC'")
        # Row order inside the clinical tables carries no meaning; not keeping it lets DuckDB
        # stream the inserts instead of buffering them.
        con.execute("SET preserve_insertion_order = false")
        reader = FastReader(con) if fast else None
        try:
            con.execute("BEGIN TRANSACTION")
            try:
                with interrupts_as_keyboard():
                    ingest = _Ingest(con, views, progress or NullProgress(), reader)
                    report = ingest.run(discovery)
                    con.execute("COMMIT")
            except BaseException:
                _rollback(con)
                raise
        finally:
            if reader is not None:
                reader.close()
    finally:
        con.close()
    return report


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    # If the transaction is already gone, closing the connection discards it anyway.
    with contextlib.suppress(duckdb.Error):
        con.execute("ROLLBACK")


@dataclass(frozen=True)
class _FileEvent:
    """What the reader thread hands over: a block of a file, or why the file is unreadable."""

    file_id: int
    block: Block | None = None
    error: SourceError | None = None
    #: The file was read whole by the fast path: stage what it read.
    fast: FastFile | None = None


def _file_events(files: list[Path], fast: dict[int, FastFile]) -> Iterator[_FileEvent]:
    for file_id, path in enumerate(files):
        if file_id in fast:
            yield _FileEvent(file_id, fast=fast[file_id])
            continue
        try:
            for block in read_blocks(path):
                yield _FileEvent(file_id, block=block)
        except SourceError as err:
            yield _FileEvent(file_id, error=err)


def _first_type(lines: pa.Table) -> str | None:
    """The resourceType of a block's first resource, to guess the whole block's type.

    A bad line at the start (not JSON, no resourceType, invalid UTF-8 and so NULL) is passed
    over, so that it alone does not send the block down the careful path.
    """
    column = lines.column("line")
    for index in range(min(len(column), 16)):
        text = column[index].as_py()
        if text is None or not text.strip():
            continue
        try:
            doc = orjson.loads(text)
        except orjson.JSONDecodeError:
            continue
        kind = doc.get("resourceType") if isinstance(doc, dict) else None
        if isinstance(kind, str):
            return kind
    return None


class _Ingest:
    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        views: dict[str, CompiledView],
        progress: Progress,
        reader: FastReader | None = None,
    ) -> None:
        self.con = con
        self.reader = reader
        self.views_by_type = {v.resource: v for v in views.values()}
        self.progress = progress
        self.ingested_at = datetime.now()
        self.seq = 0
        self.unknown: Counter[str] = Counter()
        self.mixed_files: set[int] = set()
        self.structures = {v.resource: orjson.loads(v.structure) for v in views.values()}
        # Reasons found by `_fit` during the statement that stages a block (DuckDB may call it
        # from several threads; each call holds the GIL while it adds its entry).
        self.unfit: dict[int, str] = {}
        con.create_function(
            _FIT_FUNCTION,
            self._fit,
            ["BIGINT", "VARCHAR", "VARCHAR"],
            "BOOLEAN",
            side_effects=True,
        )
        known = ", ".join(f"'{t}'" for t in sorted(self.views_by_type))
        self.known_sql = f"[{known}]"
        # Per file: lines that are FHIR resources (other than OperationOutcome), and lines
        # of JSON that are not (of which OperationOutcomes): a file with none of the first
        # and some of the second is not FHIR data, and is skipped whole.
        self.resources: Counter[int] = Counter()
        self.not_resources: Counter[int] = Counter()
        # Per resource type, the files that staged some; and the files the fast path read,
        # whose ids it found unique (so a type staged by one of them alone needs no check).
        self.staged_from: defaultdict[str, set[int]] = defaultdict(set)
        self.read_whole: frozenset[int] = frozenset()
        self.outcomes: Counter[int] = Counter()
        self.classify_sql = (
            "SELECT seq, line_number, line, k[1] ->> '$' AS rt, k[2] ->> '$' AS rid, "
            f"{quarantine.classify_reason_sql(self.known_sql)} AS reason, "
            "k IS NOT NULL AS is_json, "
            "coalesce(json_type(k[1]) = 'VARCHAR', false) AS has_type "
            "FROM (SELECT seq, line_number, line, "
            "try(json_extract(line, ['$.resourceType', '$.id'])) AS k "
            f"FROM blk WHERE {_NOT_BLANK})"
        )

    def _fit(self, seq: int, line: str, resource_type: str) -> bool:
        """False, noting why, for a suspect line `checks.problem` finds unfit to load."""
        try:
            reason = checks.problem(line, self.structures[resource_type])
        except Exception as err:  # raised inside DuckDB's statement, it would end the ingest
            reason = f"the resource cannot be checked: {err!r}"
        if reason is None:
            return True
        self.unfit[seq] = reason
        return False

    # -- staging ---------------------------------------------------------------------------
    def run(self, discovery: Discovery) -> IngestReport:
        started = time.perf_counter()
        files = discovery.files
        self._create_tables()
        total = sum(p.stat().st_size for p in files if p.is_file())
        task = self.progress.task("Ingesting FHIR", total=total)
        names = [str(p) for p in files]
        self.con.executemany(
            f"INSERT INTO {_STAGE_PREFIX}files VALUES (?, ?)", list(enumerate(names))
        )
        first_seq = {i: -1 for i in range(len(files))}
        counted: dict[int, Counter[str]] = {}
        unreadable: set[int] = set()
        fast = self._read_fast(files, task)
        self.read_whole = frozenset(fast)
        for event in prefetch(_file_events(files, fast)):
            fid = event.file_id
            if first_seq[fid] < 0:
                first_seq[fid] = self.seq
                counted[fid] = Counter()
            if event.fast is not None:
                self._stage_fast(event.fast, files[fid])
                continue
            if event.error is not None:
                self._unstage(first_seq[fid], names[fid])
                counted[fid].clear()
                unreadable.add(fid)
                quarantine.add_unreadable_file(
                    self.con,
                    source_file=names[fid],
                    reason=f"{event.error}; nothing from this file was loaded",
                    ingested_at=self.ingested_at,
                    line_number=event.error.line,
                )
                continue
            block = event.block
            assert block is not None
            if block.bad_lines:
                quarantine.add_bad_lines(
                    self.con,
                    source_file=names[fid],
                    lines=block.bad_lines,
                    ingested_at=self.ingested_at,
                )
            self._stage_block(fid, names[fid], block.lines, counted[fid], block.escapes)
            self.progress.advance(task, block.bytes_read)
            # DuckDB has copied what it needs from the block: its buffer can take the next.
            block.release()
        skipped = [(str(p), why) for p, why in discovery.skipped]
        for fid in range(len(files)):
            if fid in unreadable or self.resources[fid] or not self.not_resources[fid]:
                continue
            # Nothing here is FHIR data: not a file of bad records, so nothing is quarantined.
            quarantine.forget_file(self.con, source_file=names[fid], ingested_at=self.ingested_at)
            counted.pop(fid, None)
            only_outcomes = self.outcomes[fid] == self.not_resources[fid]
            skipped.append((names[fid], _ONLY_OUTCOMES if only_outcomes else _NO_RESOURCES))
        for unknown in counted.values():
            self.unknown.update(unknown)
        by_type = self._merge()
        for rt, n in quarantine.counts_by_type(self.con, ingested_at=self.ingested_at).items():
            by_type.setdefault(rt, ResourceCounts()).quarantined += n
        self._drop_stage()
        return IngestReport(
            files=len(files) - (len(skipped) - len(discovery.skipped)),
            bytes=total,
            seconds=time.perf_counter() - started,
            by_type=dict(sorted(by_type.items())),
            skipped_unknown=dict(sorted(self.unknown.items())),
            quarantined=sum(c.quarantined for c in by_type.values()),
            quarantine_examples=quarantine.examples(
                self.con, ingested_at=self.ingested_at, files=names
            ),
            skipped_files=sorted(skipped),
            unknown_code_systems=self._unknown_code_systems(),
            fast_files=len(fast),
        )

    def _read_fast(self, files: list[Path], task: int) -> dict[int, FastFile]:
        """Read every file that looks clean with DuckDB's own reader (`ingest/fast_path.py`),
        before this transaction first looks at what was read."""
        fast: dict[int, FastFile] = {}
        if self.reader is None:
            return fast
        for file_id, path in enumerate(files):
            view = self.views_by_type.get(plain_ndjson_type(path) or "")
            if view is None:
                continue
            got = self.reader.read(
                file_id, path, view, lambda done: self.progress.advance(task, done)
            )
            if got is not None:
                fast[file_id] = got
        return fast

    def _stage_fast(self, got: FastFile, path: Path) -> None:
        """Stage a file the fast path read, numbered in file order like the exact path's."""
        view = self.views_by_type[got.resource_type]
        base = self.seq - 1  # the fast path numbers a file's resources from 1
        self.seq += got.resources
        self.resources[got.file_id] += got.resources
        self.staged_from[view.resource].add(got.file_id)
        names = ", ".join(f'"{n}"' for n, _ in view.columns)
        self.con.execute(
            f"INSERT INTO {_STAGE_PREFIX}{view.table} (seq, {names}, __error) "
            f"SELECT seq + {base}, {names}, __error FROM {got.rows_table}"
        )
        self.con.execute(
            f"INSERT INTO {_KEYS} SELECT seq + {base}, ?, NULL, ?, resource_id, last_updated, "
            f"NULL FROM {got.keys_table}",
            [got.file_id, view.resource],
        )
        if got.bad:
            self._number_bad_lines(got, path, base)

    def _number_bad_lines(self, got: FastFile, path: Path, base: int) -> None:
        """Give the resources with a bad value the line numbers their quarantine entries need.

        The fast path read the file without line numbers; ids are unique in it (it checked),
        so a light pass over the file's lines, extracting each one's id, finds them. Cheaper
        than the exact path by far: no view, no checks, one `json_extract` per line.
        """
        con = self.con
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _hoc_fast_bad AS "
            f"SELECT k.resource_id, k.seq + {base} AS seq FROM {got.keys_table} k "
            f"SEMI JOIN (SELECT seq FROM {got.rows_table} WHERE __error IS NOT NULL) USING (seq)"
        )
        for block in read_blocks(path):
            blk = block.lines  # found by DuckDB's replacement scan
            con.execute(
                f"UPDATE {_KEYS} SET line_number = found.line_number FROM ("
                "SELECT b.line_number, f.seq FROM (SELECT line_number, "
                "try(json_extract_string(line, '$.id')) AS resource_id FROM blk) b "
                "JOIN _hoc_fast_bad f USING (resource_id)) AS found "
                f"WHERE {_KEYS}.seq = found.seq"
            )
            del blk
            block.release()
        con.execute("DROP TABLE _hoc_fast_bad")

    def _unknown_code_systems(self) -> dict[str, int]:
        counts: Counter[str] = Counter()
        for table in _CODED_TABLES:
            rows = self.con.execute(
                f'SELECT code_system, count(*) FROM "{table}" '
                "WHERE code_system IS NOT NULL GROUP BY code_system"
            ).fetchall()
            counts.update(dict(rows))
        return unknown_systems(counts)

    def _create_tables(self) -> None:
        con = self.con
        con.execute(create_table_sql(INGESTED_TABLE, _INGESTED_COLUMNS))
        con.execute(
            f"CREATE TEMP TABLE {_KEYS} (seq BIGINT, file_id INTEGER, line_number BIGINT, "
            "resource_type VARCHAR, resource_id VARCHAR, last_updated TIMESTAMP, "
            "content_hash VARCHAR)"
        )
        con.execute(
            f"CREATE TEMP TABLE {_STAGE_PREFIX}files (file_id INTEGER, source_file VARCHAR)"
        )
        con.execute(f"CREATE TEMP TABLE {_UNFIT} (seq BIGINT, reason VARCHAR)")
        # The view's staging tables live in the store's own catalog, not in temp: created
        # inside the transaction, they vanish with a rollback or a killed process just the
        # same, and a first load can rename one into place instead of copying it. They hold
        # the clinical table's columns in its order (the view fills them by name).
        for view in self.views_by_type.values():
            cols = ", ".join(f'"{n}" {t}' for n, t in CLINICAL_TABLES[view.table])
            con.execute(
                f"CREATE TABLE {_STAGE_PREFIX}{view.table} (seq BIGINT, {cols}, __error VARCHAR)"
            )

    def _drop_stage(self) -> None:
        for view in self.views_by_type.values():
            self.con.execute(f"DROP TABLE IF EXISTS {_STAGE_PREFIX}{view.table}")
        self.con.execute(f"DROP TABLE {_KEYS}")
        self.con.execute(f"DROP TABLE {_STAGE_PREFIX}files")
        self.con.execute(f"DROP TABLE {_UNFIT}")
        self.con.execute("DROP TABLE IF EXISTS _hoc_parsed")
        self.con.execute("DROP TABLE IF EXISTS _hoc_classified")

    def _unstage(self, first_seq: int, name: str) -> None:
        """Remove what a file staged before it proved unreadable: a file loads whole or not."""
        for view in self.views_by_type.values():
            self.con.execute(f"DELETE FROM {_STAGE_PREFIX}{view.table} WHERE seq >= ?", [first_seq])
        self.con.execute(f"DELETE FROM {_KEYS} WHERE seq >= ?", [first_seq])
        self.con.execute(f"DELETE FROM {_UNFIT} WHERE seq >= ?", [first_seq])
        quarantine.forget_file(self.con, source_file=name, ingested_at=self.ingested_at)

    def _numbered(self, lines: pa.Table) -> pa.Table:
        """The block with `seq`: a number unique in this ingest, which orders versions."""
        seq = int64_array(np.arange(self.seq, self.seq + lines.num_rows, dtype=np.int64))
        self.seq += lines.num_rows
        return lines.append_column("seq", seq)

    def _stage_block(
        self,
        file_id: int,
        name: str,
        lines: pa.Table,
        unknown: Counter[str],
        escapes: bool,
    ) -> None:
        # The Arrow table is found by DuckDB's replacement scan (the local variable `blk`), not
        # registered: a registered view inside the open transaction would keep every block
        # alive until COMMIT, and memory would grow with the input.
        blk = self._numbered(lines)
        guess = None if file_id in self.mixed_files else _first_type(blk)
        view = self.views_by_type.get(guess or "")
        if view is None:
            self._classify_and_stage(file_id, name, blk, unknown, escapes)
            return
        staged, leftover = self._stage_typed(file_id, view, blk, escapes)
        if leftover:
            if staged < _GUESS_MIN_SHARE * (staged + leftover):
                self.mixed_files.add(file_id)
            left = self.con.sql(
                "SELECT seq, line_number, line FROM blk "
                "SEMI JOIN (SELECT seq FROM _hoc_parsed WHERE NOT ok) USING (seq)"
            ).to_arrow_table()
            self._classify_and_stage(file_id, name, left, unknown, escapes)

    def _stage_typed(
        self, file_id: int, view: CompiledView, blk: pa.Table, escapes: bool
    ) -> tuple[int, int]:
        """Stage the lines of `blk` that are `view.resource` resources with an id.

        Two statements, both scanning the Arrow block, so DuckDB spreads each over its record
        batches: a light parse of the keys (type, id, lastUpdated) into `_hoc_parsed`, and
        the full parse straight into the view's staging table. Materialising the full parse
        instead would make the view step read a one-row-group table, on one thread.
        Returns how many lines were staged and how many were left (another type, not JSON,
        no id). `escapes` says whether any line may hold an escaped control character.
        """
        con = self.con
        structure = view.structure.replace("'", "''")
        fits = checks.fits_view_sql("k[1]", "k[2]", view.resource)
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _hoc_parsed AS "
            f"SELECT seq, line_number, {fits} AS ok, "
            f"k[2] AS rid, k[3] AS lu, "
            "CASE WHEN k[3] IS NULL OR k[3]::VARCHAR = 'null' THEN md5(line) END AS content_hash "
            "FROM (SELECT seq, line_number, line, "
            "try(json_extract(line, ['$.resourceType', '$.id', '$.meta.lastUpdated'])) AS k "
            f"FROM blk WHERE {_NOT_BLANK})"
        )
        [(staged, leftover)] = con.execute(
            "SELECT count(*) FILTER (ok), count(*) FILTER (NOT ok) FROM _hoc_parsed"
        ).fetchall()
        self.resources[file_id] += staged
        if staged:
            self.staged_from[view.resource].add(file_id)
            rid = text_sql("rid")
            lu = value_sql("instant", "lu", text_sql("lu"))
            con.execute(
                f"INSERT INTO {_KEYS} SELECT seq, ?, line_number, ?, {rid}, {lu}, content_hash "
                "FROM _hoc_parsed WHERE ok",
                [file_id, view.resource],
            )
            ok = checks.fits_view_sql("r.resourceType", "r.id", view.resource)
            names = ", ".join(f'"{n}"' for n, _ in view.columns)
            # A resource unfit to load (a wrong-shaped element, a control character) stages
            # no rows; `_fit` keeps the reason for the quarantine. Only the few suspect lines
            # reach Python.
            suspect = view.suspect_sql
            if escapes:
                suspect = f"({suspect} OR {checks.control_escape_sql()})"
            fit = (
                f"CASE WHEN {suspect} "
                f"THEN {_FIT_FUNCTION}(seq, line, '{view.resource}') ELSE true END"
            )
            con.execute(
                f"INSERT INTO {_STAGE_PREFIX}{view.table} (seq, {names}, __error) "
                "WITH parsed AS (SELECT seq, r FROM (SELECT seq, line, "
                f"try(from_json(line, '{structure}')) AS r FROM blk WHERE {_NOT_BLANK}) "
                f"WHERE {ok} AND {fit}) {view.rows_sql}"
            )
            if self.unfit:
                con.executemany(f"INSERT INTO {_UNFIT} VALUES (?, ?)", list(self.unfit.items()))
                self.unfit.clear()
        return int(staged), int(leftover)

    def _classify_and_stage(
        self,
        file_id: int,
        name: str,
        blk: pa.Table,
        unknown: Counter[str],
        escapes: bool,
    ) -> None:
        """The careful path: classify each line (the quarantine reason), then stage by type."""
        con = self.con
        con.execute(f"CREATE OR REPLACE TEMP TABLE _hoc_classified AS {self.classify_sql}")
        [(resources, others, outcomes)] = con.execute(
            f"SELECT count(*) FILTER (has_type AND rt <> '{_OUTCOME}'), "
            f"count(*) FILTER (is_json AND NOT (has_type AND rt <> '{_OUTCOME}')), "
            f"count(*) FILTER (has_type AND rt = '{_OUTCOME}') FROM _hoc_classified"
        ).fetchall()
        self.resources[file_id] += resources
        self.not_resources[file_id] += others
        self.outcomes[file_id] += outcomes
        con.execute(
            "INSERT INTO quarantine SELECT ?, line_number, rt, rid, reason, ? "
            "FROM _hoc_classified WHERE reason IS NOT NULL ORDER BY seq",
            [name, self.ingested_at],
        )
        present = con.execute(
            "SELECT rt, count(*) FROM _hoc_classified WHERE reason IS NULL GROUP BY rt"
        ).fetchall()
        bundles: list[tuple[int, str]] = []
        for rt, count in present:
            if rt == "Bundle":
                bundles = con.execute(
                    "SELECT line_number, line FROM _hoc_classified "
                    "WHERE rt = 'Bundle' AND reason IS NULL ORDER BY seq"
                ).fetchall()
            elif rt not in self.views_by_type:
                unknown[str(rt)] += int(count)
        for rt, _ in present:
            view = self.views_by_type.get(rt)
            if view is None:
                continue
            typed = con.sql(
                "SELECT seq, line_number, line FROM _hoc_classified "
                "WHERE rt = $rt AND reason IS NULL",
                params={"rt": rt},
            ).to_arrow_table()
            self._stage_typed(file_id, view, typed, escapes)
        # Bundles written one per NDJSON line: unpack their entries and stage those.
        for number, line in bundles:
            try:
                entries = bundle_entries(line, number)
            except SourceError as err:  # JSON to DuckDB, but more than orjson can parse
                quarantine.add_bad_lines(
                    con,
                    source_file=name,
                    lines=[BadLine(number, f"cannot unpack this Bundle: {err}", "Bundle")],
                    ingested_at=self.ingested_at,
                )
                continue
            self._stage_block(file_id, name, entries, unknown, escapes)

    # -- merging ---------------------------------------------------------------------------
    def _merge(self) -> dict[str, ResourceCounts]:
        con = self.con
        errors = " UNION ALL ".join(
            [
                f"SELECT seq, __error FROM {_STAGE_PREFIX}{v.table} WHERE __error IS NOT NULL"
                for v in self.views_by_type.values()
            ]
            + [f"SELECT seq, reason FROM {_UNFIT}"]
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
        if self._is_first_load(view):
            return self._load_all(view)
        con = self.con
        table, key = view.table, KEY_COLUMN[view.table]
        # One winner per id: the newest lastUpdated (undated counts as oldest), then the
        # later line. An aggregate, not a window: no sort of the whole type.
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _hoc_decision AS "
            "WITH winners AS (SELECT resource_id, arg_max({'seq': seq, 'file_id': file_id, "
            "'last_updated': last_updated, 'content_hash': content_hash}, "
            "(coalesce(last_updated, '-infinity'::TIMESTAMP), seq)) AS w, count(*) AS versions "
            f"FROM {_KEYS} k WHERE resource_type = ? AND seq NOT IN (SELECT seq FROM _hoc_bad) "
            "GROUP BY resource_id) "
            "SELECT w.seq AS seq, w.file_id AS file_id, resource_id, "
            "w.last_updated AS last_updated, w.content_hash AS content_hash, versions, "
            "CASE WHEN s.resource_id IS NULL THEN 'loaded' "
            "WHEN w.last_updated > s.last_updated THEN 'updated' "
            "WHEN w.last_updated IS NOT NULL AND s.last_updated IS NULL THEN 'updated' "
            "WHEN w.last_updated IS NULL AND s.last_updated IS NULL "
            "AND w.content_hash IS DISTINCT FROM s.content_hash THEN 'updated' "
            "ELSE 'unchanged' END AS action "
            f"FROM winners LEFT JOIN (SELECT resource_id, last_updated, content_hash "
            f"FROM {INGESTED_TABLE} WHERE resource_type = ?) s USING (resource_id)",
            [view.resource, view.resource],
        )
        actions = {
            str(action): (int(n), int(versions))
            for action, n, versions in con.execute(
                "SELECT action, count(*), sum(versions) FROM _hoc_decision GROUP BY action"
            ).fetchall()
        }
        loaded, updated, unchanged = (actions.get(a, (0, 0))[0] for a in _ACTIONS)
        if updated:
            con.execute(
                f'DELETE FROM "{table}" WHERE "{key}" IN '
                "(SELECT resource_id FROM _hoc_decision WHERE action = 'updated')"
            )
            con.execute(
                f"DELETE FROM {INGESTED_TABLE} WHERE resource_type = ? AND resource_id IN "
                "(SELECT resource_id FROM _hoc_decision WHERE action = 'updated')",
                [view.resource],
            )
        if loaded or updated:
            columns = ", ".join(f'"{c}"' for c, _ in CLINICAL_TABLES[table])
            [(staged,)] = con.execute(
                f"SELECT count(*) FROM {_KEYS} WHERE resource_type = ?", [view.resource]
            ).fetchall()
            versions = sum(actions.get(a, (0, 0))[1] for a in ("loaded", "updated"))
            # Every staged version wins (the usual first load): copy without a join.
            everything = versions == staged == loaded + updated
            chosen = (
                ""
                if everything
                else " SEMI JOIN (SELECT seq FROM _hoc_decision "
                "WHERE action <> 'unchanged') d USING (seq)"
            )
            con.execute(
                f'INSERT INTO "{table}" ({columns}) SELECT {columns} '
                f"FROM {_STAGE_PREFIX}{table}{chosen}"
            )
            con.execute(
                f"INSERT INTO {INGESTED_TABLE} SELECT ?, d.resource_id, d.last_updated, "
                f"d.content_hash, f.source_file, ? FROM _hoc_decision d "
                f"JOIN {_STAGE_PREFIX}files f USING (file_id) WHERE d.action <> 'unchanged'",
                [view.resource, self.ingested_at],
            )
        con.execute("DROP TABLE _hoc_decision")
        return ResourceCounts(loaded=loaded, updated=updated, unchanged=unchanged)

    def _is_first_load(self, view: CompiledView) -> bool:
        """Nothing of this type stored yet, every id once, nothing bad: no decisions to make."""
        [(stored,)] = self.con.execute(
            f"SELECT count(*) FROM {INGESTED_TABLE} WHERE resource_type = ?", [view.resource]
        ).fetchall()
        if stored:
            return False
        # All of a type from one file the fast path read: its ids are known to be unique
        # (the usual bulk export, one file per type), which spares a count of distinct ids.
        files = self.staged_from[view.resource]
        known_unique = len(files) == 1 and files <= self.read_whole
        distinct = "count(*)" if known_unique else "count(DISTINCT resource_id)"
        [(staged, ids, bad)] = self.con.execute(
            f"SELECT count(*), {distinct}, count(*) FILTER (seq IN (SELECT seq FROM _hoc_bad)) "
            f"FROM {_KEYS} WHERE resource_type = ?",
            [view.resource],
        ).fetchall()
        return bool(staged) and staged == ids and not bad

    def _load_all(self, view: CompiledView) -> ResourceCounts:
        """The usual first load of a type: the staged rows and keys go in as they are.

        When the clinical table is empty (nothing loaded by any route), the staging table
        becomes it: drop the empty table, drop the staging-only columns, rename. That is a
        catalog change, not a copy of every row, and it commits or rolls back with the rest.
        """
        con = self.con
        table, stage = view.table, f"{_STAGE_PREFIX}{view.table}"
        [(present,)] = con.execute(f'SELECT count(*) FROM "{table}"').fetchall()
        if present:
            columns = ", ".join(f'"{c}"' for c, _ in CLINICAL_TABLES[table])
            con.execute(f'INSERT INTO "{table}" ({columns}) SELECT {columns} FROM {stage}')
        else:
            con.execute(f'DROP TABLE "{table}"')
            for column in ("seq", "__error"):
                con.execute(f'ALTER TABLE {stage} DROP COLUMN "{column}"')
            con.execute(f'ALTER TABLE {stage} RENAME TO "{table}"')
        [(loaded,)] = con.execute(
            f"INSERT INTO {INGESTED_TABLE} SELECT resource_type, resource_id, last_updated, "
            f"content_hash, f.source_file, ? FROM {_KEYS} k "
            f"JOIN {_STAGE_PREFIX}files f USING (file_id) WHERE resource_type = ?",
            [self.ingested_at, view.resource],
        ).fetchall()
        return ResourceCounts(loaded=int(loaded))
