"""The pipeline run the pages' figures come from: the latest row of the analytic `run` table.

Every page says how fresh its figures are, since stale figures shown as current are a
clinical hazard (docs/clinical-safety/hazard-log.md). It asks the one reader of analytic
results (`houseofcare.results`), read-only, for this one row; anything missing (no store, no
run yet, a store being written) is said in words rather than failing the page.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb

from houseofcare.results import AnalyticResults, ResultsUnavailable
from houseofcare.settings import Settings


@dataclass(frozen=True)
class RunStatus:
    """The latest pipeline run, or why there is none to show."""

    run_id: str | None = None
    as_of: dt.date | None = None
    finished_at: dt.datetime | None = None
    #: Why there is no run to show (None when there is one).
    missing: str | None = None


def latest_run(settings: Settings) -> RunStatus:
    """The most recently finished run of the analytic store named by `settings`."""
    if not settings.analytic_db_path.exists():
        return RunStatus(missing="There is no analytic store yet: run `hoc ingest` and `hoc run`.")
    try:
        with AnalyticResults.open(settings) as results:
            run = results.latest_run()
    except (ResultsUnavailable, duckdb.Error):
        return RunStatus(missing="The analytic store cannot be read now; try again shortly.")
    if run is None:
        return RunStatus(missing="No pipeline run yet: run `hoc run`.")
    return RunStatus(run_id=run.run_id, as_of=run.as_of, finished_at=run.finished_at)
