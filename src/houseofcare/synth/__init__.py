"""The synthetic population generator behind ``hoc synth``.

It writes a seeded, England-like population as a FHIR R4 bulk export (UK Core shaped NDJSON)
or directly as the analytic tables (Parquet), together with a ``truth/`` folder holding the true
probability of emergency admission that the generator used — so risk models built on the data
can be scored against what is actually knowable. See docs/synthetic-population.md.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from houseofcare.progress import Progress
from houseofcare.synth.export import run
from houseofcare.synth.timeline import DEFAULT_HISTORY_YEARS

__all__ = ["SynthSummary", "generate_population"]


@dataclass(frozen=True)
class SynthSummary:
    """What a run wrote: where, in which format, for how many people, and how long it took."""

    out: Path
    format: str  # "ndjson" or "parquet"
    people: int
    rows: dict[str, int]  # resource type (ndjson) or table name (parquet) -> count
    seconds: float


def generate_population(
    *,
    patients: int,
    seed: int,
    as_of: datetime.date,
    out: Path,
    fmt: str = "ndjson",
    gzip: bool = False,
    oracle_dates: list[datetime.date] | None = None,
    progress: Progress | None = None,
    history_years: int = DEFAULT_HISTORY_YEARS,
) -> SynthSummary:
    """Generate ``patients`` people with ``history_years`` of history up to ``as_of`` into ``out``.

    The same seed, size, as-of date and history always give the same files. ``oracle_dates``
    defaults to the as-of date minus 12 months (scorable against the generated history) and the
    as-of date. Five years of history (the default) give the admission-risk model its 36-month
    look-back at its training date.
    Raises ``ValueError`` for bad arguments.
    """
    rows, seconds = run(
        patients=patients,
        seed=seed,
        as_of=as_of,
        out=Path(out),
        fmt=fmt,
        gzip=gzip,
        oracle_dates=oracle_dates,
        progress=progress,
        history_years=history_years,
    )
    return SynthSummary(out=Path(out), format=fmt, people=patients, rows=rows, seconds=seconds)
