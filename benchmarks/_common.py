"""Helpers shared by the benchmark scripts: cached synthetic inputs, timing, peak memory."""

from __future__ import annotations

import datetime as dt
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

CACHE = Path(__file__).parent / ".cache"
AS_OF = dt.date(2026, 3, 31)
T = TypeVar("T")


def synthetic(patients: int, fmt: str, seed: int = 1) -> Path:
    """A synthetic population, generated once and cached under benchmarks/.cache/."""
    from houseofcare.synth import generate_population

    out = CACHE / f"synth-{fmt}-{patients}-s{seed}"
    if not (out / ".complete").exists():
        generate_population(patients=patients, seed=seed, as_of=AS_OF, out=out, fmt=fmt)
        (out / ".complete").write_text("ok")
    return out


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def peak_rss_gb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


#: Above this 1-minute load average (2 cores), timings are flagged as taken on a busy machine.
BUSY_LOAD = 1.5


def load_average() -> float:
    """The 1-minute load average: other jobs share the machine, so tables state it."""
    return os.getloadavg()[0]


def synthetic_export(patients: int, seed: int = 1) -> Path:
    """A FHIR NDJSON export written by the `hoc synth` command itself, cached like `synthetic`."""
    out = CACHE / f"synth-ndjson-{patients}-s{seed}"
    if not (out / ".complete").exists():
        hoc = Path(sys.executable).with_name("hoc")
        subprocess.run(
            [str(hoc), "synth", "--patients", str(patients), "--seed", str(seed),
             "--as-of", AS_OF.isoformat(), "--out", str(out)],
            check=True,
        )  # fmt: skip
        (out / ".complete").write_text("ok")
    return out
