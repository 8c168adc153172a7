"""Run the official SQL-on-FHIR v2 test suite through our view compiler.

Usage: ``python benchmarks/sof_conformance.py PATH`` where PATH is the suite's folder of
``*.json`` test files (e.g. ``/work/shared/reference/sql-on-fhir-v2-tests``).

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

Prints a table per file and the totals for the tests tagged ``shareable``.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from houseofcare.ingest import checks
from houseofcare.ingest.viewdef import ViewDefinitionError, compile_view

OUTCOMES = ("pass", "refused", "WRONG", "crash")


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


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _key(row: dict[str, Any]) -> str:
    return json.dumps(row, sort_keys=True, default=str)


def run_test(file: str, resources: list[dict[str, Any]], test: dict[str, Any]) -> Result:
    shareable = "shareable" in test.get("tags", [])
    title = test.get("title", "?")

    def result(outcome: str, detail: str = "") -> Result:
        return Result(file, title, shareable, outcome, detail)

    try:
        names, rows, errors = run_view_with_errors(test["view"], resources)
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


def run_suite(folder: Path) -> list[Result]:
    """Every test of every ``*.json`` file in `folder`."""
    results = []
    for path in sorted(folder.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        for test in doc["tests"]:
            results.append(run_test(path.name, doc.get("resources", []), test))
    return results


def table(results: list[Result]) -> str:
    """A Markdown table: outcomes per file, then the shareable totals."""
    lines = ["| file | " + " | ".join(OUTCOMES) + " |", "|---" * (len(OUTCOMES) + 1) + "|"]
    files = sorted({r.file for r in results})
    for file in files:
        counts = Counter(r.outcome for r in results if r.file == file)
        lines.append(f"| {file} | " + " | ".join(str(counts[o]) for o in OUTCOMES) + " |")
    shared = Counter(r.outcome for r in results if r.shareable)
    lines.append("| **shareable** | " + " | ".join(str(shared[o]) for o in OUTCOMES) + " |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    results = run_suite(Path(argv[1]))
    print(table(results))
    for r in results:
        if r.outcome in ("WRONG", "crash"):
            print(f"{r.outcome}: {r.file}: {r.title}: {r.detail[:300]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
