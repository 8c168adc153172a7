"""Helpers shared by the benchmark scripts: cached synthetic inputs, timing, peak memory."""

from __future__ import annotations

import datetime as dt
import resource
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
