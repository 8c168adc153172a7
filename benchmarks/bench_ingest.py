"""Benchmark `hoc ingest`: throughput on a 100,000-person synthetic export, against DuckDB's bare
`read_json` and fhiry, and peak memory at two input sizes (it should not grow with the input).

Run: `.venv/bin/python benchmarks/bench_ingest.py [--patients 100000] [--small 10000]`.
Each measurement runs in its own subprocess so peak RSS belongs to that measurement alone.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import CACHE, markdown_table, synthetic

_INGEST = """
import json, resource, sys, time
from pathlib import Path
from houseofcare.ingest import ingest_paths
from houseofcare.settings import Settings
report = ingest_paths(paths=[Path(sys.argv[1])], settings=Settings(data_dir=Path(sys.argv[2])))
print(json.dumps({"bytes": report.bytes, "seconds": report.seconds,
                  "quarantined": report.quarantined,
                  "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""

_READ_JSON = """
import json, resource, sys, time
from pathlib import Path
import duckdb
folder, db = Path(sys.argv[1]), sys.argv[2]
files = sorted(p for p in folder.glob("*.ndjson"))
con = duckdb.connect(db)
start = time.perf_counter()
for i, f in enumerate(files):
    con.execute(f"CREATE TABLE t{i} AS SELECT * FROM read_json('{f}', "
                "format='newline_delimited', sample_size=-1, maximum_object_size=67108864)")
seconds = time.perf_counter() - start
print(json.dumps({"bytes": sum(f.stat().st_size for f in files), "seconds": seconds,
                  "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""

_FHIRY = """
import json, resource, sys, time
from fhiry.fhirndjson import Fhirndjson
from pathlib import Path
f = Fhirndjson()
f.folder = sys.argv[1]
start = time.perf_counter()
f.process_source()
seconds = time.perf_counter() - start
size = sum(p.stat().st_size for p in Path(sys.argv[1]).glob("*.ndjson"))
print(json.dumps({"bytes": size, "seconds": seconds, "rows": len(f.df),
                  "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


def _run(script: str, *args: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"benchmark step failed:\n{done.stderr}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
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


def _row(name: str, result: dict[str, float]) -> list[object]:
    mb = result["bytes"] / 1e6
    return [
        name,
        f"{mb:,.0f}",
        f"{result['seconds']:.1f}",
        f"{mb / result['seconds']:.1f}",
        f"{result['rss'] / 2**30:.2f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--fhiry-mb", type=float, default=5.0)
    args = parser.parse_args()
    big = synthetic(args.patients, "ndjson")
    small = synthetic(args.small, "ndjson")
    work = CACHE / "bench-ingest"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)

    ours = _run(_INGEST, str(big), str(work / "big"))
    ours_small = _run(_INGEST, str(small), str(work / "small"))
    bare = _run(_READ_JSON, str(big), str(work / "read_json.duckdb"))
    sample = _sample(big, work / "fhiry-sample", args.fhiry_mb)
    fhiry = _run(_FHIRY, str(sample))
    ours_sample = _run(_INGEST, str(sample), str(work / "sample"))

    ours_rate = ours["bytes"] / ours["seconds"]
    fhiry_rate = fhiry["bytes"] / fhiry["seconds"]
    rows = [
        _row(f"houseofcare ingest, {args.patients:,} people", ours),
        _row(f"houseofcare ingest, {args.small:,} people", ours_small),
        _row(f"DuckDB read_json into tables, {args.patients:,} people", bare),
        _row(f"houseofcare ingest, {args.fhiry_mb:g} MB sample", ours_sample),
        _row(f"fhiry, {args.fhiry_mb:g} MB sample", fhiry),
    ]
    print(markdown_table(["run", "MB", "seconds", "MB/s", "peak RSS (GB)"], rows))
    print()
    print(f"ours / fhiry throughput: {ours_rate / fhiry_rate:,.0f}x")
    print(f"ours / DuckDB read_json: {ours_rate / (bare['bytes'] / bare['seconds']):.2f}x")
    print(f"quarantined in the {args.patients:,}-person export: {int(ours['quarantined'])}")


if __name__ == "__main__":
    main()
