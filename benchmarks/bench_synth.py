"""Benchmark `hoc synth`: parquet at 1,000,000 people and NDJSON at 100,000 people.

Each run is a fresh subprocess that reports its own peak resident memory (``ru_maxrss``,
DuckDB included). Prints a markdown table. Usage:
``.venv/bin/python benchmarks/bench_synth.py [--parquet-people N] [--ndjson-people N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = """
import datetime, json, resource, sys
from pathlib import Path
from houseofcare.synth import generate_population
s = generate_population(patients=int(sys.argv[1]), seed=1, as_of=datetime.date(2024, 3, 31),
                        out=Path(sys.argv[2]), fmt=sys.argv[3])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"rows": s.rows, "peak_kb": peak}))
"""


def run(people: int, fmt: str, scratch: Path) -> dict[str, object]:
    out = scratch / f"{fmt}-{people}"
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(people), str(out), fmt],
        check=True,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - began
    report = json.loads(done.stdout.strip().splitlines()[-1])
    rows, peak_kb = report["rows"], report["peak_kb"]
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {
        "people": people,
        "format": fmt,
        "seconds": seconds,
        "peak_rss_gb": peak_kb / 1024**2,
        "rows": sum(rows.values()),
        "mb": size / 1024**2,
        "load": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--parquet-people", type=int, default=1_000_000)
    parser.add_argument("--ndjson-people", type=int, default=100_000)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        results.append(run(args.ndjson_people, "ndjson", Path(tmp)))
        results.append(run(args.parquet_people, "parquet", Path(tmp)))
    print(
        "| people | format | seconds | peak RSS GB | rows written | MB written | people/s "
        "| load average |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['people']:,} | {r['format']} | {r['seconds']:.1f} | {r['peak_rss_gb']:.2f} "
            f"| {r['rows']:,} | {r['mb']:,.0f} | {r['people'] / r['seconds']:,.0f} "
            f"| {r['load']:.1f} |"
        )


if __name__ == "__main__":
    main()
