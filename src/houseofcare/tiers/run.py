"""Risk scores and triangle levels for a pipeline run, written inside the run's transaction."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb

from houseofcare.risk.scoring import write_risk_scores
from houseofcare.settings import Settings
from houseofcare.tiers.assign import write_tiers


@dataclass(frozen=True)
class Stratification:
    """What a run wrote: the model used (None without one) and each level's size."""

    model_version: str | None
    levels: dict[int, int]


def stratify_run(
    con: duckdb.DuckDBPyConnection, *, settings: Settings, run_id: str, as_of: dt.date
) -> Stratification:
    """Score everyone with the latest model (if trained), then place everyone on the triangle.

    Runs on the caller's connection and transaction: if anything fails, the run's registers,
    scores and tiers are rolled back together.
    """
    version = write_risk_scores(con, settings=settings, run_id=run_id, as_of=as_of)
    levels = write_tiers(con, run_id=run_id, as_of=as_of, has_risk=version is not None)
    return Stratification(model_version=version, levels=levels)
