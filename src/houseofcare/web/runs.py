"""The pipeline run the pages' figures come from: the latest row of the analytic `run` table.

Every page says how fresh its figures are, since stale figures shown as current are a
clinical hazard (docs/clinical-safety/hazard-log.md). The analytic store is opened read-only
and only for this one row; anything missing (no store, no run yet, a store being written) is
said in words rather than failing the page.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb

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
    path = settings.analytic_db_path
    if not path.exists():
        return RunStatus(missing="There is no analytic store yet: run `hoc ingest` and `hoc run`.")
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        return RunStatus(missing="The analytic store cannot be read now; try again shortly.")
    try:
        has_run = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'run'"
        ).fetchone()
        if not has_run or not has_run[0]:
            return RunStatus(missing="No pipeline run yet: run `hoc run`.")
        row = con.execute(
            "SELECT run_id, as_of, finished_at FROM run ORDER BY finished_at DESC LIMIT 1"
        ).fetchone()
    finally:
        con.close()
    if row is None:
        return RunStatus(missing="No pipeline run yet: run `hoc run`.")
    return RunStatus(run_id=str(row[0]), as_of=row[1], finished_at=row[2])
