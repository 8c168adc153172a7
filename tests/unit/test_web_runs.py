"""The pages' latest run is remembered per process only until the analytic store changes:
a new run shows at once, never the one before it (hazard H-045)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

from houseofcare.settings import Settings
from houseofcare.web.runs import latest_run


def _add_run(path: Path, run_id: str, as_of: dt.date, finished: dt.datetime) -> None:
    con = duckdb.connect(str(path))
    try:
        con.execute(
            "CREATE TABLE IF NOT EXISTS run "
            "(run_id VARCHAR, as_of DATE, finished_at TIMESTAMP, people BIGINT)"
        )
        con.execute("INSERT INTO run VALUES (?, ?, ?, 10)", [run_id, as_of, finished])
    finally:
        con.close()


def test_a_new_run_shows_at_once(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert latest_run(settings).missing is not None  # no store yet
    _add_run(settings.analytic_db_path, "first", dt.date(2026, 1, 1), dt.datetime(2026, 1, 2))
    assert latest_run(settings).run_id == "first"
    assert latest_run(settings).run_id == "first"  # remembered
    _add_run(settings.analytic_db_path, "second", dt.date(2026, 2, 1), dt.datetime(2026, 2, 2))
    shown = latest_run(settings)
    assert (shown.run_id, shown.as_of) == ("second", dt.date(2026, 2, 1))
