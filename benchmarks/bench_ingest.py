"""Benchmark `hoc ingest`: throughput and peak memory at several export sizes (memory should
stay flat as the input grows), beside DuckDB's bare `read_json` of the same files into tables
and fhiry on a small sample.

Three bare DuckDB reads, each file into a table, for comparison: with the schema inferred over
the whole file (the comparison kept from before issue 16); with the columns the views read
(`read_json(columns=...)`, nested STRUCTs with raw JSON leaves: exactly the read ingest's fast
path makes, so the rest of our time is the view's SQL, its checks and the store); and ingest
on its exact path alone (`fast=False`, every file block by block, as before issue 16).

Run: `.venv/bin/python benchmarks/bench_ingest.py [--sizes 10000,100000,250000]`.
Exports come from `hoc synth` and are cached under benchmarks/.cache/. Each measurement runs in
its own subprocess, so peak RSS and CPU time (user + system, all threads: less sensitive to
other jobs than seconds) belong to that measurement alone; the 1-minute load average
is taken just before each run, because other jobs share the machine (it still carries the
tail of the previous run, which by itself adds up to about 2).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import BUSY_LOAD, CACHE, load_average, markdown_table, synthetic_export

_INGEST = """
import json, resource, sys
from pathlib import Path
from houseofcare.ingest import ingest_paths
from houseofcare.settings import Settings
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
start = cpu()
report = ingest_paths(paths=[Path(sys.argv[1])], settings=Settings(data_dir=Path(sys.argv[2])),
                      fast=sys.argv[3] == "fast")
print(json.dumps({"bytes": report.bytes, "seconds": report.seconds, "cpu": cpu() - start,
                  "quarantined": report.quarantined, "fast_files": report.fast_files,
                  "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""

_READ_JSON = """
import json, resource, sys, time
from pathlib import Path
import duckdb
from houseofcare.ingest.fast_path import read_json_columns
from houseofcare.ingest.viewdef import load_views
folder, db, schema = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
views = {v.resource: v for v in load_views().values()}
files = sorted(p for p in folder.glob("*.ndjson"))
con = duckdb.connect(db)
def options(f):
    # "views": the columns the views read (the fast path's read); else a whole-file inference
    if schema == "views":
        return f"columns={read_json_columns(json.loads(views[f.stem].structure))}"
    return "sample_size=-1"
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
start, start_cpu = time.perf_counter(), cpu()
for i, f in enumerate(files):
    con.execute(f"CREATE TABLE t{i} AS SELECT * FROM read_json('{f}', "
                f"format='newline_delimited', {options(f)}, maximum_object_size=67108864)")
seconds = time.perf_counter() - start
print(json.dumps({"bytes": sum(f.stat().st_size for f in files), "seconds": seconds,
                  "cpu": cpu() - start_cpu,
                  "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""

_FHIRY = """
import json, resource, sys, time
from fhiry.fhirndjson import Fhirndjson
from pathlib import Path
f = Fhirndjson()
f.folder = sys.argv[1]
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
start, start_cpu = time.perf_counter(), cpu()
f.process_source()
seconds = time.perf_counter() - start
size = sum(p.stat().st_size for p in Path(sys.argv[1]).glob("*.ndjson"))
print(json.dumps({"bytes": size, "seconds": seconds, "rows": len(f.df), "cpu": cpu() - start_cpu,
                  "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


def _run(script: str, *args: str, python: str = sys.executable) -> dict[str, float]:
    load = load_average()
    done = subprocess.run(
        [python, "-c", script, *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"benchmark step failed:\n{done.stderr}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["load"] = load  # before the run: a run raises the load average by itself
    print(f"{args[0]}: {result}", file=sys.stderr, flush=True)
    return result


def _sample(source: Path, target: Path, megabytes: float) -> Path:
    """The first lines of every file, `megabytes` in all, for the slow fhiry run."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    files = sorted(source.glob("*.ndjson"))
    total = sum(f.stat().st_size for f in files)
    for f in files:
        budget = f.stat().st_size / total * megabytes * 1e6
        taken = 0
        with f.open("rb") as src, (target / f.name).open("wb") as dst:
            for line in src:
                if taken >= budget:
                    break
                dst.write(line)
                taken += len(line)
    return target


def _row(name: str, people: str, result: dict[str, float]) -> list[object]:
    mb = result["bytes"] / 1e6
    load = result["load"]
    rate = mb / result["seconds"]
    return [
        name,
        people,
        f"{mb:,.0f}",
        f"{result['seconds']:.1f}",
        f"{rate:.1f}" if rate >= 1 else f"{rate:.3f}",
        f"{result['cpu']:.1f}",
        f"{result['rss'] / 2**30:.2f}",
        f"{load:.2f}" + (" (busy)" if load > BUSY_LOAD else ""),
    ]


def compare(python: str, target: int, rounds: int) -> None:
    """Our ingest against another checkout's (its interpreter `python`), interleaved on the same
    export, so both see the same machine: the check that a change kept ingest's speed."""
    export = synthetic_export(target)
    work = CACHE / "bench-ingest-compare"
    rows: list[list[object]] = []
    rates: dict[str, list[float]] = {"other": [], "this": []}
    for round_ in range(1, rounds + 1):
        for name, interpreter in (("other", python), ("this", sys.executable)):
            shutil.rmtree(work, ignore_errors=True)
            result = _run(_INGEST, str(export), str(work), "fast", python=interpreter)
            rates[name].append(result["bytes"] / 1e6 / result["seconds"])
            label = f"{'other checkout' if name == 'other' else 'this checkout'}, round {round_}"
            rows.append(_row(label, f"{target:,}", result))
    shutil.rmtree(work, ignore_errors=True)
    header = ["run", "people", "MB", "seconds", "MB/s", "CPU-s", "peak RSS (GB)", "load avg"]
    print(markdown_table(header, rows))
    print()
    this, other = sum(rates["this"]), sum(rates["other"])
    print(f"this / other checkout, mean MB/s over {rounds} rounds: {this / other:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--sizes", default="10000,100000,250000", help="people per export, comma-separated"
    )
    parser.add_argument("--target", type=int, default=100_000, help="size the target is set at")
    parser.add_argument("--fhiry-mb", type=float, default=5.0)
    parser.add_argument(
        "--compare-python",
        help="another checkout's .venv/bin/python: time its ingest and ours, interleaved, at "
        "--target people (nothing else)",
    )
    parser.add_argument("--rounds", type=int, default=2, help="rounds for --compare-python")
    args = parser.parse_args()
    if args.compare_python:
        compare(args.compare_python, args.target, args.rounds)
        return
    sizes = sorted({int(s) for s in args.sizes.split(",")} | {args.target})
    exports = {n: synthetic_export(n) for n in sizes}
    work = CACHE / "bench-ingest"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)

    rows: list[list[object]] = []
    ours: dict[int, dict[str, float]] = {}
    bare: dict[int, dict[str, float]] = {}
    exact: dict[int, dict[str, float]] = {}
    columns: dict[int, dict[str, float]] = {}
    for n in sizes:
        ours[n] = _run(_INGEST, str(exports[n]), str(work / f"ours-{n}"), "fast")
        shutil.rmtree(work / f"ours-{n}", ignore_errors=True)
        rows.append(_row("houseofcare ingest", f"{n:,}", ours[n]))
    for n in sizes:
        exact[n] = _run(_INGEST, str(exports[n]), str(work / f"exact-{n}"), "exact")
        shutil.rmtree(work / f"exact-{n}", ignore_errors=True)
        rows.append(_row("houseofcare ingest, exact path only", f"{n:,}", exact[n]))
    for n in sizes:
        columns[n] = _run(_READ_JSON, str(exports[n]), str(work / f"cols-{n}.duckdb"), "views")
        (work / f"cols-{n}.duckdb").unlink(missing_ok=True)
        rows.append(_row("DuckDB read_json, the views' columns", f"{n:,}", columns[n]))
    for n in sizes:
        bare[n] = _run(_READ_JSON, str(exports[n]), str(work / f"read_json-{n}.duckdb"), "inferred")
        (work / f"read_json-{n}.duckdb").unlink(missing_ok=True)
        rows.append(_row("DuckDB bare read_json into tables", f"{n:,}", bare[n]))
    sample = _sample(exports[args.target], work / "fhiry-sample", args.fhiry_mb)
    fhiry = _run(_FHIRY, str(sample))
    ours_sample = _run(_INGEST, str(sample), str(work / "sample"), "fast")
    rows.append(_row("houseofcare ingest", f"{args.fhiry_mb:g} MB sample", ours_sample))
    rows.append(_row("fhiry", f"{args.fhiry_mb:g} MB sample", fhiry))

    header = [
        "run",
        "people",
        "MB",
        "seconds",
        "MB/s",
        "CPU-s",
        "peak RSS (GB)",
        "load avg (1 min)",
    ]
    print(markdown_table(header, rows))
    print()
    target, rate = args.target, ours[args.target]["bytes"] / ours[args.target]["seconds"]
    bare_rate = bare[target]["bytes"] / bare[target]["seconds"]
    fhiry_rate = fhiry["bytes"] / fhiry["seconds"]
    columns_rate = columns[target]["bytes"] / columns[target]["seconds"]
    exact_rate = exact[target]["bytes"] / exact[target]["seconds"]
    print(
        f"ours at {target:,} people: {rate / 1e6:.0f} MB/s ({int(ours[target]['fast_files'])} "
        f"files on the fast path)"
    )
    print(
        f"ours / DuckDB read_json of the views' columns at {target:,} people: "
        f"{rate / columns_rate:.2f}x"
    )
    print(f"ours / DuckDB bare read_json at {target:,} people: {rate / bare_rate:.2f}x")
    print(f"ours / our exact path alone at {target:,} people: {rate / exact_rate:.2f}x")
    cpu_ratio = bare[target]["cpu"] / ours[target]["cpu"]
    print(f"CPU time, DuckDB bare read_json / ours at {target:,} people: {cpu_ratio:.2f}")
    print(f"ours at {target:,} people / fhiry on the sample: {rate / fhiry_rate:,.0f}x")
    print(f"quarantined in the {target:,}-person export: {int(ours[target]['quarantined'])}")
    if max(r["load"] for r in [*ours.values(), *bare.values()]) > BUSY_LOAD:
        print(f"note: load average above {BUSY_LOAD} during some runs (other jobs on the machine)")


if __name__ == "__main__":
    main()
