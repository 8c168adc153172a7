"""Where `hoc ingest` spends its time on one NDJSON file, and what a typed read would save.

Issue 16 asks whether staging can parse each block with a *typed* structure (VARCHAR and
TIMESTAMPTZ leaves) instead of raw JSON leaves that the view's SQL checks value by value. This
script answers with numbers, on the same file, alternating variants so that a busy machine
slows them alike (read the ratios, not the MB/s):

1. The whole ingest of the file, with the seconds of each SQL statement the loader runs (and
   of the reader thread's block reading, which overlaps the statements).
2. The staging statement and its parts on the file's first blocks: the parse alone (raw and
   typed structure), the view's value SQL, the shape check (`suspect_sql`), the key pass.
3. For Encounter only, a hand-written typed read with the cheapest SQL that gives the same
   rows (references resolved, SNOMED coding chosen), with and without a guard that sends a
   line whose string element holds a non-string to the exact path. DuckDB's typed read turns
   any JSON value into VARCHAR without an error (`42`, `true`, `{...}` all load as text) and
   `json_transform_strict` also fails on a *missing* key, so a typed read alone cannot keep
   ingest's promise that every value is type-checked.

Run: `PYTHONPATH=src .venv/bin/python benchmarks/profile_ingest_stages.py FILE.ndjson TYPE`.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

import houseofcare.ingest.loader as loader
from houseofcare.ingest.sources import Block, read_blocks
from houseofcare.ingest.viewdef import CompiledView, load_views
from houseofcare.settings import Settings

#: Encounter's view read with typed leaves: what DuckDB's `columns=` read would use.
_ENCOUNTER_TYPED: str = (
    '{"resourceType":"VARCHAR","id":"VARCHAR","meta":{"lastUpdated":"TIMESTAMPTZ"},'
    '"period":{"start":"TIMESTAMPTZ","end":"TIMESTAMPTZ"},"class":{"code":"VARCHAR"},'
    '"priority":{"coding":[{"code":"VARCHAR"}]},"serviceProvider":{"reference":"VARCHAR"},'
    '"status":"VARCHAR","subject":{"reference":"VARCHAR"},'
    '"type":[{"coding":[{"code":"VARCHAR","display":"VARCHAR","system":"VARCHAR"}]}]}'
)
#: A string element followed by anything but a string or null: the line needs the exact path.
_NOT_A_STRING: str = r"\"(id|status|reference|system|display|resourceType)\":([^\"n]|n[^u])"


class _TimedConnection:
    """The loader's connection, timing each statement (grouped by its first words)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, seconds: dict[str, float]) -> None:
        self._con = con
        self._seconds = seconds

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)

    def execute(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        # DuckDB finds the Arrow block `blk` among the calling frame's locals.
        blk = sys._getframe(1).f_locals.get("blk")  # noqa: F841
        started = time.perf_counter()
        result = self._con.execute(sql, *args, **kwargs)
        key = "stage: from_json + suspect + rows_sql" if "from_json" in sql else sql
        self._seconds[re.sub(r"\s+", " ", key)[:70]] += time.perf_counter() - started
        return result

    def sql(self, *args: Any, **kwargs: Any) -> Any:
        blk = sys._getframe(1).f_locals.get("blk")  # noqa: F841
        return self._con.sql(*args, **kwargs)


def profile_ingest(path: Path) -> None:
    """Part 1: the whole ingest of `path`, statement by statement."""
    seconds: dict[str, float] = defaultdict(float)
    plain_init = loader._Ingest.__init__
    plain_read = loader.read_blocks

    def timed_init(self: Any, con: Any, views: Any, progress: Any) -> None:
        plain_init(self, _TimedConnection(con, seconds), views, progress)

    def timed_read(file: Path, block_bytes: int | None = None) -> Iterator[Block]:
        blocks = plain_read(file, block_bytes)
        while True:
            started = time.perf_counter()
            block = next(blocks, None)
            seconds["read_blocks (reader thread, overlaps)"] += time.perf_counter() - started
            if block is None:
                return
            yield block

    loader._Ingest.__init__ = timed_init  # type: ignore[method-assign]
    loader.read_blocks = timed_read  # type: ignore[assignment]
    try:
        with tempfile.TemporaryDirectory() as data_dir:
            started = time.perf_counter()
            report = loader.ingest_paths(paths=[path], settings=Settings(data_dir=Path(data_dir)))
            total = time.perf_counter() - started
    finally:
        loader._Ingest.__init__ = plain_init  # type: ignore[method-assign]
        loader.read_blocks = plain_read
    print(f"whole ingest: {total:.2f} s, {report.bytes / total / 1e6:.0f} MB/s")
    for key, value in sorted(seconds.items(), key=lambda kv: -kv[1])[:8]:
        print(f"  {value:6.2f} s  {value / total:4.0%}  {key}")


def _encounter_cheap_sql(parse: str) -> str:
    """Encounter's rows from a typed read: references resolved, the SNOMED coding chosen."""

    def reference(column: str, target: str) -> str:
        start = len(target) + 2
        return (
            f"CASE WHEN starts_with({column}, '{target}/') AND NOT contains("
            f"substr({column}, {start}), '/') AND NOT contains({column}, '?') "
            f"THEN substr({column}, {start}) END"
        )

    return (
        f"SELECT seq, r.id AS encounter_id, {reference('r.subject.reference', 'Patient')} "
        "AS patient_id, r.status, r.class.code AS class_code, e.system AS type_system, "
        "e.code AS type_code, e.display AS type_display, "
        "r.priority.coding[1].code AS priority_code, r.period.start::TIMESTAMP AS period_start, "
        'r.period."end"::TIMESTAMP AS period_end, '
        f"{reference('r.serviceProvider.reference', 'Organization')} AS service_provider_id, "
        "r.meta.lastUpdated::TIMESTAMP AS last_updated FROM (SELECT *, coalesce(list_filter("
        "flatten(list_transform(r.type, lambda c: c.coding)), "
        "lambda c: c.system = 'http://snomed.info/sct')[1], "
        f"flatten(list_transform(r.type, lambda c: c.coding))[1]) AS e FROM ({parse}))"
    )


def _variants(view: CompiledView) -> dict[str, str]:
    raw = view.structure.replace("'", "''")
    parse = f"SELECT seq, line, try(from_json(line, '{raw}')) AS r FROM lines"
    keys = "try(json_extract(line, ['$.resourceType', '$.id', '$.meta.lastUpdated']))"
    exact = (
        f"WITH parsed AS (SELECT seq, r FROM ({parse}) "
        f"WHERE CASE WHEN {view.suspect_sql} THEN false ELSE true END) {view.rows_sql}"
    )
    variants = {
        "key pass (json_extract type, id, lastUpdated)": f"SELECT seq, {keys} AS k FROM lines",
        "parse only, raw JSON leaves": parse,
        "exact staging (parse + suspect + rows_sql)": exact,
        "exact staging without the shape check": f"WITH parsed AS ({parse}) {view.rows_sql}",
    }
    if view.resource == "Encounter":
        typed = f"SELECT seq, from_json(line, '{_ENCOUNTER_TYPED}') AS r FROM lines"
        variants["parse only, typed leaves"] = typed
        variants["typed read + cheap SQL (no type check)"] = _encounter_cheap_sql(typed)
        guarded = f"{typed} WHERE NOT regexp_matches(line, '{_NOT_A_STRING}')"
        variants["typed read + cheap SQL + string guard"] = _encounter_cheap_sql(guarded)
    return variants


def profile_staging(path: Path, view: CompiledView, blocks: int, rounds: int) -> None:
    """Parts 2 and 3: the staging statement's parts on the first `blocks` blocks."""
    tables = [block.lines for block, _ in zip(read_blocks(path), range(blocks), strict=False)]
    lines = pa.concat_tables(tables)
    lines = lines.append_column("seq", pa.array(range(lines.num_rows), pa.int64()))
    size = pc.sum(pc.binary_length(lines.column("line"))).as_py()
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE TABLE lines AS SELECT * FROM lines")
    variants = _variants(view)
    best: dict[str, float] = {}
    for _ in range(rounds):  # alternate, so a busy spell slows every variant alike
        for label, sql in variants.items():
            statement = f"CREATE OR REPLACE TEMP TABLE out AS {sql}"
            started = time.perf_counter()
            con.execute(statement)
            seconds = time.perf_counter() - started
            best[label] = min(best.get(label, seconds), seconds)
    print(f"staging parts, {size / 1e6:.0f} MB, best of {rounds} (into a temp table):")
    exact = best["exact staging (parse + suspect + rows_sql)"]
    for label, seconds in best.items():
        rate = size / seconds / 1e6
        print(f"  {seconds:6.2f} s  {rate:5.0f} MB/s  x{exact / seconds:4.2f}  {label}")
    if view.resource == "Encounter":
        exact_sql = variants["exact staging (parse + suspect + rows_sql)"]
        typed_sql = variants["typed read + cheap SQL + string guard"]
        con.execute(f"CREATE TEMP TABLE a AS SELECT * EXCLUDE (__error) FROM ({exact_sql})")
        con.execute(f"CREATE TEMP TABLE b AS {typed_sql}")
        [(differ,)] = con.execute(
            "SELECT count(*) FROM ((FROM a EXCEPT ALL FROM b) UNION ALL (FROM b EXCEPT ALL FROM a))"
        ).fetchall()
        print(f"  rows differing between exact and guarded typed staging: {differ}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("resource_type")
    parser.add_argument("--blocks", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    view = {v.resource: v for v in load_views().values()}[args.resource_type]
    profile_ingest(args.file)
    profile_staging(args.file, view, args.blocks, args.rounds)


if __name__ == "__main__":
    main()
