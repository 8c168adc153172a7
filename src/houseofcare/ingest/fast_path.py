"""The fast path of ingest: DuckDB's own JSON reader takes a whole NDJSON file at once.

The exact path (`loader._Ingest._stage_block`) reads a file in blocks in Python, parses each
line with `from_json` and classifies it, so that any line, however bad, is quarantined with
its line number while the rest loads. Most files of a bulk export have no bad line at all,
and for them that care costs more than the work: DuckDB's `read_json` splits and parses a
file in parallel itself, about twice as fast in all (see docs/performance.md).

So a file that looks clean (`sources.plain_ndjson_type`) is first read here, whole, with
`read_json` given the view's structure as its columns (nested STRUCTs down to the elements
the view reads, each leaf raw JSON as in the exact path, so that every value is type-checked
by the view's own SQL: a number where FHIR has a string is an error, never text). The view's
SQL then runs on what was read, exactly as on the exact path. The file is kept only when
nothing in it needed the exact path's care:

- `read_json` raised nothing: every line is JSON, valid UTF-8, within the size limit, and
  every element the view reads has the shape FHIR gives it (`read_json` is strict where
  `from_json` would turn a wrong shape into NULL);
- every line is a resource of the guessed type with a string id and a valid
  `meta.lastUpdated` (the exact path hashes the whole line of an undated resource);
- no id repeats within the file (so that line order, which this path does not keep, cannot
  decide between two versions).

Otherwise everything read is dropped and the file goes through the exact path, which finds
and reports what is wrong with each line: such input costs the file it is in, not the export.
A bad *value* (a wrong type, a date that is not one, a required element missing) does not
send the file there: the view's SQL gives the resource's quarantine reason as on the exact
path, and only the line numbers of those few resources are missing. `FastFile.bad` counts
them; the loader finds their lines by id in one light pass over the file
(`loader._Ingest._number_bad_lines`).

Why a separate in-memory database: a DuckDB error inside a transaction aborts it, and ingest
is one transaction. The reading happens on a second connection to the same DuckDB instance
(`con.cursor()`), outside the ingest's transaction, into tables of an attached in-memory
database that vanishes with the connection. All files are read before the ingest's
transaction first looks at that database: its view of an attached database is fixed at that
first look. Nothing here touches the store.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import duckdb

from houseofcare.ingest import checks
from houseofcare.ingest.fhirtypes import text_sql, value_sql
from houseofcare.ingest.viewdef import CompiledView
from houseofcare.interrupts import is_interrupt

#: The attached in-memory database the fast path reads into.
SCRATCH: Final[str] = "hoc_fast"
#: The largest line `read_json` takes (a longer one sends the file to the exact path, which
#: reads lines of any length).
MAX_LINE_BYTES: Final[int] = 64 << 20
#: The share of a file's progress given to DuckDB's read of it (about its share of the time).
_READ_SHARE: Final[float] = 0.5
#: Seconds between looks at how far DuckDB's read has come.
_POLL_SECONDS: Final[float] = 0.2


@dataclass(frozen=True)
class FastFile:
    """A file the fast path read: its view rows and version keys, numbered from 1 in `seq`."""

    file_id: int
    resource_type: str
    resources: int
    rows_table: str  # seq, the view's columns, __error (the rows the exact path would stage)
    keys_table: str  # seq, resource_id, last_updated
    #: Resources with a bad value (rows with an `__error`): quarantined, lines still to find.
    bad: int = 0


def read_json_columns(structure: Any) -> str:
    """The `columns=` argument of `read_json` for a view's `from_json` structure."""

    def duckdb_type(node: Any) -> str:
        if isinstance(node, list):
            return f"{duckdb_type(node[0])}[]"
        if isinstance(node, dict):
            fields = ", ".join(f"{_ident(name)} {duckdb_type(c)}" for name, c in node.items())
            return f"STRUCT({fields})"
        return "JSON"

    pairs = ", ".join(
        f"{_literal(name)}: {_literal(duckdb_type(child))}" for name, child in structure.items()
    )
    return "{" + pairs + "}"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class FastReader:
    """Reads clean files whole into the scratch database, outside the ingest's transaction."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.cursor = con.cursor()
        self.cursor.execute("SET TimeZone = 'UTC'")
        # DuckDB tracks how far a query has come only with its progress bar on (not printed).
        self.cursor.execute("SET enable_progress_bar = true")
        self.cursor.execute("SET enable_progress_bar_print = false")
        self.cursor.execute(f"ATTACH IF NOT EXISTS ':memory:' AS {SCRATCH}")

    def close(self) -> None:
        with contextlib.suppress(duckdb.Error):
            self.cursor.execute(f"DETACH DATABASE IF EXISTS {SCRATCH}")
        self.cursor.close()

    def read(
        self, file_id: int, path: Path, view: CompiledView, advance: Callable[[int], None]
    ) -> FastFile | None:
        """The file's rows and keys, or None (nothing kept) when it needs the exact path.

        `advance(bytes)` reports progress through the file as it goes: all of its size when
        the file is read, none when it needs the exact path (which reports its own).
        """
        size = path.stat().st_size
        reported = 0

        def report(done: int) -> None:
            nonlocal reported
            if done > reported:
                advance(done - reported)
                reported = done

        got = self._read(file_id, path, view, lambda share: report(int(size * share)))
        if got is not None:
            report(size)
        elif reported:
            advance(-reported)
        return got

    def _read(
        self, file_id: int, path: Path, view: CompiledView, report: Callable[[float], None]
    ) -> FastFile | None:
        cur = self.cursor
        raw = f"{SCRATCH}.raw_{file_id}"
        rows, keys = f"{SCRATCH}.rows_{file_id}", f"{SCRATCH}.keys_{file_id}"
        structure = json.loads(view.structure)
        try:
            with self._watched(report):
                cur.execute(
                    f"CREATE TABLE {raw} AS SELECT * FROM read_json(?, "
                    f"format = 'newline_delimited', records = true, "
                    f"columns = {read_json_columns(structure)}, "
                    f"maximum_object_size = {MAX_LINE_BYTES})",
                    [str(path)],
                )
            report(_READ_SHARE)
            # A table's rowid numbers its rows densely from 0, in whatever order the parallel
            # reader appended them: a number per resource, not the line order.
            rid = text_sql('"id"')
            lu = value_sql("instant", '"meta"."lastUpdated"', text_sql('"meta"."lastUpdated"'))
            fits = checks.fits_view_sql('"resourceType"', '"id"', view.resource)
            cur.execute(
                f"CREATE TABLE {keys} AS SELECT rowid + 1 AS seq, {rid} AS resource_id, "
                f"{lu} AS last_updated, {fits} AS fits FROM {raw}"
            )
            [(count, fit, ids, last)] = cur.execute(
                "SELECT count(*), count(*) FILTER (fits AND last_updated IS NOT NULL), "
                f"count(DISTINCT resource_id), max(seq) FROM {keys}"
            ).fetchall()
            # Every line fits, no id repeats, and the numbers are dense (1..count), so the
            # file's resources take exactly `count` numbers of the ingest's sequence.
            if not count or not fit == ids == last == count:
                return self._decline(file_id)
            resource = ", ".join(f"{_literal(name)}: {_ident(name)}" for name in structure)
            cur.execute(
                f"CREATE TABLE {rows} AS WITH parsed AS "
                f"(SELECT rowid + 1 AS seq, {{{resource}}} AS r FROM {raw}) {view.rows_sql}"
            )
            [(bad,)] = cur.execute(
                f"SELECT count(DISTINCT seq) FROM {rows} WHERE __error IS NOT NULL"
            ).fetchall()
        except duckdb.Error as err:
            if is_interrupt(err):
                raise
            return self._decline(file_id)
        finally:
            cur.execute(f"DROP TABLE IF EXISTS {raw}")
        return FastFile(file_id, view.resource, int(count), rows, keys, int(bad))

    @contextlib.contextmanager
    def _watched(self, report: Callable[[float], None]) -> Iterator[None]:
        """Report how far the cursor's statement has come while it runs (DuckDB releases
        the GIL while it works, so a thread can look)."""
        done = threading.Event()

        def watch() -> None:
            while not done.wait(_POLL_SECONDS):
                percent = self.cursor.query_progress()
                if percent > 0:
                    report(_READ_SHARE * min(percent, 100.0) / 100.0)

        watcher = threading.Thread(target=watch, name="hoc-fast-progress", daemon=True)
        watcher.start()
        try:
            yield
        finally:
            done.set()
            watcher.join()

    def _decline(self, file_id: int) -> None:
        for table in ("raw", "rows", "keys"):
            self.cursor.execute(f"DROP TABLE IF EXISTS {SCRATCH}.{table}_{file_id}")
        return None
