"""The pipeline run the pages' figures come from: the latest row of the analytic `run` table.

Every page says how fresh its figures are, since stale figures shown as current are a
clinical hazard (docs/clinical-safety/hazard-log.md). It asks the one reader of analytic
results (`houseofcare.results`), read-only, for this one row; anything missing (no store, no
run yet, a store being written) is said in words rather than failing the page.

The answer is kept per process while the store's file (and its write-ahead log) is unchanged:
opening a DuckDB file costs tens of milliseconds, every page asks, and a new run rewrites the
file, so a page never shows a run older than the store holds.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb

from houseofcare.results import AnalyticResults, ResultsUnavailable
from houseofcare.settings import Settings
from houseofcare.store.analytic import store_stamp

__all__ = ["RunStatus", "latest_run", "store_stamp"]


@dataclass(frozen=True)
class RunStatus:
    """The latest pipeline run, or why there is none to show."""

    run_id: str | None = None
    as_of: dt.date | None = None
    finished_at: dt.datetime | None = None
    #: Why there is no run to show (None when there is one).
    missing: str | None = None


#: The store's file → (its stamp, the answer read from it).
_KNOWN: dict[Path, tuple[tuple[int, ...], RunStatus]] = {}


def latest_run(settings: Settings) -> RunStatus:
    """The most recently finished run of the analytic store named by `settings`."""
    path = settings.analytic_db_path
    if not path.exists():
        return RunStatus(missing="There is no analytic store yet: run `hoc ingest` and `hoc run`.")
    stamp = store_stamp(path)
    known = _KNOWN.get(path)
    if known is not None and known[0] == stamp:
        return known[1]
    try:
        with AnalyticResults.open(settings) as results:
            run = results.latest_run()
    except (ResultsUnavailable, duckdb.Error):
        return RunStatus(missing="The analytic store cannot be read now; try again shortly.")
    if run is None:
        status = RunStatus(missing="No pipeline run yet: run `hoc run`.")
    else:
        status = RunStatus(run_id=run.run_id, as_of=run.as_of, finished_at=run.finished_at)
    _KNOWN[path] = (stamp, status)
    return status
