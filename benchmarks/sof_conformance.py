"""Run the official SQL-on-FHIR v2 test suite through our view compiler.

Usage: ``python benchmarks/sof_conformance.py PATH [--engine duckdb|spark|both]`` where PATH
is the suite's folder of ``*.json`` test files (e.g.
``/work/shared/reference/sql-on-fhir-v2-tests``) and the engine is DuckDB unless said.

Each test's view is compiled as ingest compiles it (`compile_view`), its resources are parsed
as ingest parses them (``from_json`` into the view's structure) on a fresh in-memory DuckDB, and
the rows are compared with the test's expectation. A resource with an ``__error`` row is left
out, as ingest quarantines it. Each test is one of:

- ``pass``: the right rows (or columns), or the view refused where the spec says it must be,
  or, for a path that gives several values in a column without ``collection: true`` (an error
  the spec leaves to run time), the resources quarantined with that reason;
- ``refused``: our compiler raised `ViewDefinitionError` for a view the spec accepts (allowed:
  the construct is not supported, and the message says so);
- ``WRONG``: rows differ, or we accepted a view the spec says is an error;
- ``crash``: any other exception (a compiler bug).

On Spark (``--engine spark``), the compiled view is carried as ``hoc ingest --engine spark``
carries it (`spark_views.compile_for_spark`), the resources are parsed with Spark's
``from_json`` into the view's schema as that ingest parses them (a line that does not fit, or
may hold an escaped control character, is judged by `checks.problem` and left out when unfit),
and the rows are compared in the same way. One more outcome there:

- ``refused (Spark)``: the view compiles but the carrier refused it (a construct Spark cannot
  run, e.g. a DuckDB-only function), naming the view; it never runs.

Prints a table per file and engine, and the totals for the tests tagged ``shareable``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from houseofcare.ingest import checks
from houseofcare.ingest.viewdef import ViewDefinitionError, compile_view

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

OUTCOMES = ("pass", "refused", "WRONG", "crash")
#: On Spark, a view the carrier refuses is counted apart from one our compiler refuses.
SPARK_OUTCOMES = ("pass", "refused", "refused (Spark)", "WRONG", "crash")

#: A runner of one view over some resources: (column names, rows, quarantine reasons).
ViewRunner = Callable[[dict[str, Any], list[dict[str, Any]]], tuple[list[str], list, list[str]]]


class SparkRefusal(ViewDefinitionError):
    """The carrier to Spark (`spark_views`) refused a view our compiler accepts."""


@dataclass(frozen=True)
class Result:
    file: str
    title: str
    shareable: bool
    outcome: str
    detail: str = ""


def run_view(view: dict[str, Any], resources: list[dict[str, Any]]) -> tuple[list[str], list]:
    """Compile `view` and run it over `resources`: (column names, rows as dicts)."""
    names, rows, _ = run_view_with_errors(view, resources)
    return names, rows


def run_view_with_errors(
    view: dict[str, Any], resources: list[dict[str, Any]]
) -> tuple[list[str], list, list[str]]:
    """As `run_view`, with the quarantine reasons of the rows left out, too."""
    compiled = compile_view(view, "<test view>")
    con = duckdb.connect()
    con.execute("CREATE TABLE blk (seq BIGINT, line VARCHAR)")
    con.executemany(
        "INSERT INTO blk VALUES (?, ?)", [(i, json.dumps(r)) for i, r in enumerate(resources)]
    )
    structure = compiled.structure.replace("'", "''")
    names = [name for name, _ in compiled.columns]
    # As ingest does: a line with a wrong-shaped element (as the view's structure sees it) is
    # quarantined, so it gives no rows.
    parsed = (
        f"SELECT seq, line, try(from_json(line, '{structure}')) AS r FROM blk "
        f"WHERE json_extract_string(line, '$.resourceType') = '{compiled.resource}'"
    )
    suspects = con.execute(
        f"SELECT seq, line FROM ({parsed}) WHERE {compiled.suspect_sql}"
    ).fetchall()
    shape = json.loads(compiled.structure)
    unfit = {seq for seq, line in suspects if checks.problem(line, shape) is not None}
    cursor = con.execute(
        f"WITH parsed AS (SELECT seq, r FROM ({parsed})) SELECT * FROM ({compiled.rows_sql}) AS v"
    )
    got = [
        dict(zip([d[0] for d in cursor.description], row, strict=True)) for row in cursor.fetchall()
    ]
    bad = unfit | {row["seq"] for row in got if row["__error"] is not None}
    rows = [{n: _plain(row[n]) for n in names} for row in got if row["seq"] not in bad]
    errors = [row["__error"] for row in got if row["__error"] is not None]
    return names, rows, errors


def run_view_on_spark(
    view: dict[str, Any], resources: list[dict[str, Any]], spark: SparkSession
) -> tuple[list[str], list, list[str]]:
    """As `run_view_with_errors`, on Spark, as ``hoc ingest --engine spark`` reads the lines.

    Raises `SparkRefusal` when the carrier refuses the compiled view (before Spark runs it).
    """
    from pyspark.sql import functions as F

    from houseofcare.ingest.spark import _CORRUPT_OPTIONS, _java_regex
    from houseofcare.ingest.spark_views import CORRUPT, compile_for_spark

    compiled = compile_view(view, "<test view>")
    try:
        carried = compile_for_spark(compiled)
    except ViewDefinitionError as err:
        raise SparkRefusal(str(err)) from err
    lines = [
        (i, json.dumps(r))
        for i, r in enumerate(resources)
        if r.get("resourceType") == compiled.resource
    ]
    names = [name for name, _ in compiled.columns]
    frame = spark.createDataFrame(lines, "seq BIGINT, line STRING").select(
        "seq", "line", F.from_json("line", carried.schema, _CORRUPT_OPTIONS).alias("r")
    )
    # As the Spark ingest does: a line that does not fit the schema, or may hold an escaped
    # control character, is judged by `checks.problem`; an unfit one gives no rows.
    flagged = (
        f"r.{CORRUPT} IS NOT NULL OR (line RLIKE '{_java_regex(checks._CONTROL_ESCAPE_LOOSE)}' "
        f"AND line RLIKE '{_java_regex(checks._CONTROL_ESCAPE)}')"
    )
    suspects = frame.where(flagged).select("seq", "line").collect()
    unfit = [
        int(seq) for seq, line in suspects if checks.problem(line, carried.structure) is not None
    ]
    frame.where(~F.col("seq").isin(unfit)).select("seq", "r").createOrReplaceTempView("parsed")
    try:
        got = [row.asDict(recursive=True) for row in spark.sql(carried.rows_sql).collect()]
    finally:
        spark.catalog.dropTempView("parsed")
    bad = {row["seq"] for row in got if row["__error"] is not None}
    rows = [{n: _plain(row[n]) for n in names} for row in got if row["seq"] not in bad]
    errors = [row["__error"] for row in got if row["__error"] is not None]
    return names, rows, errors


def start_test_spark() -> SparkSession:
    """The run's one Spark session: local, tuned for resources of a few lines."""
    from houseofcare.spark_session import SMALL_DATA_CONFIG, spark_session

    return spark_session(**SMALL_DATA_CONFIG)


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _key(row: dict[str, Any]) -> str:
    return json.dumps(row, sort_keys=True, default=str)


def run_test(
    file: str,
    resources: list[dict[str, Any]],
    test: dict[str, Any],
    run: ViewRunner = run_view_with_errors,
) -> Result:
    """One test's outcome, its view run by `run` (DuckDB unless said)."""
    shareable = "shareable" in test.get("tags", [])
    title = test.get("title", "?")

    def result(outcome: str, detail: str = "") -> Result:
        return Result(file, title, shareable, outcome, detail)

    try:
        names, rows, errors = run(test["view"], resources)
    except SparkRefusal as err:
        return result("pass" if test.get("expectError") else "refused (Spark)", str(err))
    except ViewDefinitionError as err:
        return result("pass" if test.get("expectError") else "refused", str(err))
    except Exception as err:  # any other failure is a crash to report
        return result("crash", f"{type(err).__name__}: {err}")
    if test.get("expectError"):
        several = [e for e in errors if "gives several values" in e]
        if several:
            return result("pass", f"quarantined at run time: {several[0]}")
        return result("WRONG", "accepted a view the spec says is an error")
    if "expectColumns" in test:
        ok = names == test["expectColumns"]
        return result("pass" if ok else "WRONG", f"columns {names}")
    expected = [{k: _plain(v) for k, v in row.items()} for row in test.get("expect", [])]
    if Counter(map(_key, rows)) == Counter(map(_key, expected)):
        return result("pass")
    return result("WRONG", f"got {rows[:4]} expected {expected[:4]}")


def run_suite(folder: Path, spark: SparkSession | None = None) -> list[Result]:
    """Every test of every ``*.json`` file in `folder`: on DuckDB, or on `spark` if given."""
    run: ViewRunner = run_view_with_errors
    if spark is not None:

        def run(view: dict[str, Any], resources: list[dict[str, Any]]) -> Any:
            return run_view_on_spark(view, resources, spark)

    results = []
    for path in sorted(folder.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        for test in doc["tests"]:
            results.append(run_test(path.name, doc.get("resources", []), test, run))
    return results


def table(results: list[Result], outcomes: tuple[str, ...] = OUTCOMES) -> str:
    """A Markdown table: outcomes per file, then the shareable totals."""
    lines = ["| file | " + " | ".join(outcomes) + " |", "|---" * (len(outcomes) + 1) + "|"]
    files = sorted({r.file for r in results})
    for file in files:
        counts = Counter(r.outcome for r in results if r.file == file)
        lines.append(f"| {file} | " + " | ".join(str(counts[o]) for o in outcomes) + " |")
    shared = Counter(r.outcome for r in results if r.shareable)
    lines.append("| **shareable** | " + " | ".join(str(shared[o]) for o in outcomes) + " |")
    return "\n".join(lines)


def _report(results: list[Result], outcomes: tuple[str, ...]) -> None:
    print(table(results, outcomes))
    for r in results:
        if r.outcome in ("WRONG", "crash"):
            print(f"{r.outcome}: {r.file}: {r.title}: {r.detail[:300]}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite", type=Path, help="the suite's folder of *.json test files")
    parser.add_argument("--engine", choices=("duckdb", "spark", "both"), default="duckdb")
    args = parser.parse_args(argv[1:])
    if args.engine in ("duckdb", "both"):
        if args.engine == "both":
            print("DuckDB:\n")
        _report(run_suite(args.suite), OUTCOMES)
    if args.engine in ("spark", "both"):
        if args.engine == "both":
            print("\nSpark:\n")
        spark = start_test_spark()
        try:
            _report(run_suite(args.suite, spark), SPARK_OUTCOMES)
        finally:
            spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
