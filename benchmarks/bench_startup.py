"""Benchmark `hoc`'s start-up as a user meets it: whole processes, from exec to exit (issue 16).

Run: `.venv/bin/python benchmarks/bench_startup.py [--before OLD_SRC] [--patients 1000]`.

Targets: `hoc --help` in at most 0.3 s; a whole-process `hoc ingest` of an export (Condition,
Observation and Patient) within 1.5x of a bare DuckDB process that reads the same files into
tables with `read_json`. Each figure is the median of several runs, each in a fresh process, so
it includes the interpreter's start and every import. `--before` names another checkout's `src`
folder (for instance a `git archive` of the commit before the change), timed interleaved with
this one so both see the same machine. `--warm` first compiles each checkout's bytecode
(`__pycache__`), as an installed package has it; the table says whether each had it. Prints a
markdown table for docs/performance.md.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import BUSY_LOAD, CACHE, load_average, markdown_table, synthetic_export

THIS_SRC = Path(__file__).resolve().parent.parent / "src"

#: The resource types of the issue's ingest target (a 10,000-person export is about 79 MB).
INGEST_TYPES = ("Condition", "Observation", "Patient")

_READ_JSON = """
import sys
import duckdb
con = duckdb.connect(sys.argv[1])
for i, f in enumerate(sys.argv[2:]):
    con.execute(f"CREATE TABLE t{i} AS SELECT * FROM read_json('{f}', "
                "format='newline_delimited', sample_size=-1, maximum_object_size=67108864)")
con.close()
"""


def _env(src: Path | None, *, write_bytecode: bool = False) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if src is not None:
        env["PYTHONPATH"] = str(src)
    if write_bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _seconds(
    command: list[str], env: dict[str, str], before_each: Callable[[], None] | None = None
) -> tuple[float, float]:
    """Wall-clock and CPU seconds (user + system) of one whole process; a failure stops the
    benchmark. CPU seconds hardly change when other jobs share the machine; wall-clock does."""
    if before_each is not None:
        before_each()
    start, start_cpu = time.perf_counter(), _children_cpu()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    seconds, cpu = time.perf_counter() - start, _children_cpu() - start_cpu
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr}")
    return seconds, cpu


def _empty_folder(folder: Path) -> None:
    """Each ingest starts from no store, so every run does the same work."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)


def _has_bytecode(src: Path) -> bool:
    """Whether the checkout's `houseofcare.cli` has cached bytecode (not compiled each run)."""
    cli = src / "houseofcare" / "cli.py"
    return Path(importlib.util.cache_from_source(str(cli))).exists()


def _ingest_files(patients: int) -> list[Path]:
    export = synthetic_export(patients)
    return [export / f"{name}.ndjson" for name in INGEST_TYPES]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--before", type=Path, help="another checkout's src folder to compare")
    parser.add_argument("--runs", type=int, default=9, help="runs of each start-up measurement")
    parser.add_argument("--patients", type=int, default=1_000, help="people in the export")
    parser.add_argument("--ingest-runs", type=int, default=3, help="runs of each ingest")
    parser.add_argument("--no-ingest", action="store_true", help="start-up rows only")
    parser.add_argument("--warm", action="store_true", help="write bytecode before timing")
    args = parser.parse_args()

    python = sys.executable
    hoc = [python, "-m", "houseofcare.cli"]
    checkouts = {"this checkout": THIS_SRC}
    if args.before:
        checkouts = {"before": args.before.resolve(), **checkouts}
    if args.warm:  # as `pip install` leaves a package: every module compiled once
        for src in checkouts.values():
            _seconds([python, "-m", "compileall", "-q", str(src)], _env(None, write_bytecode=True))
    timings: dict[str, list[tuple[float, float]]] = {}

    def measure(
        label: str,
        command: list[str],
        env: dict[str, str],
        before_each: Callable[[], None] | None = None,
    ) -> None:
        timings.setdefault(label, []).append(_seconds(command, env, before_each))

    load = load_average()
    for _ in range(args.runs):  # interleaved, so every row sees the same machine
        measure("`python -c pass`", [python, "-c", "pass"], _env(None))
        measure("`python -c 'import duckdb'`", [python, "-c", "import duckdb"], _env(None))
        for name, src in checkouts.items():
            env = _env(src)
            measure(
                f"`import houseofcare.cli` ({name})", [python, "-c", "import houseofcare.cli"], env
            )
            measure(f"`hoc --help` ({name})", [*hoc, "--help"], env)
    if not args.no_ingest:
        files = _ingest_files(args.patients)
        megabytes = sum(f.stat().st_size for f in files) / 1e6
        work = CACHE / "bench-startup"
        fresh = functools.partial(_empty_folder, work)
        for _ in range(args.ingest_runs):
            label = f"bare DuckDB `read_json` into tables, {megabytes:,.1f} MB"
            measure(label, [python, "-c", _READ_JSON, str(work / "bare.duckdb"), *map(str, files)],
                    _env(None), before_each=fresh)  # fmt: skip
            for name, src in checkouts.items():
                command = [*hoc, "ingest", *map(str, files), "--data-dir", str(work / "hoc")]
                label = f"`hoc ingest` {args.patients:,} people, {megabytes:,.1f} MB ({name})"
                measure(label, command, _env(src), before_each=fresh)
        shutil.rmtree(work, ignore_errors=True)
    end_load = load_average()

    bytecode = ", ".join(
        f"{name}: {'cached' if _has_bytecode(src) else 'compiled each run'}"
        for name, src in checkouts.items()
    )
    rows = [
        [
            label,
            len(runs),
            f"{statistics.median(wall for wall, _ in runs):.3f}",
            f"{min(wall for wall, _ in runs):.3f}",
            f"{statistics.median(cpu for _, cpu in runs):.3f}",
        ]
        for label, runs in timings.items()
    ]
    header = ["whole process", "runs", "median s", "fastest s", "median CPU s"]
    print(markdown_table(header, rows))
    busy = " (busy: another job shares the 2 cores)" if max(load, end_load) > BUSY_LOAD else ""
    print(f"\n1-minute load average {load:.2f} before, {end_load:.2f} after{busy}; "
          f"houseofcare bytecode: {bytecode}.")  # fmt: skip


if __name__ == "__main__":
    main()
