"""The web app's hold on the analytic store (`store/analytic_hold.py`) and the store's indexes
by person, on real DuckDB files and real processes.

A process that holds the store open must never keep a writer (`hoc ingest`, `hoc run`) out,
must never show data older than the writer's, and a writer that dies must not leave readers
refused. The indexes must not stop the store's columns being added to.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import duckdb
import pytest

from houseofcare.results import AnalyticResults, ResultsUnavailable
from houseofcare.settings import Settings
from houseofcare.store import analytic_hold
from houseofcare.store.analytic import connect, ensure_schema, hold_open, person_index


def _store(settings: Settings, value: str = "first") -> None:
    con = connect(settings)
    con.execute("CREATE TABLE IF NOT EXISTS marker (v VARCHAR)")
    con.execute("DELETE FROM marker")
    con.execute("INSERT INTO marker VALUES (?)", [value])
    con.close()


def _marker(settings: Settings) -> str:
    with AnalyticResults.open(settings) as results:
        return str(results.con.execute("SELECT v FROM marker").fetchall()[0][0])


def _writer(settings: Settings, value: str) -> subprocess.Popen[str]:
    """Another process writing the store through `connect`, as `hoc run` does."""
    code = textwrap.dedent(
        f"""
        from pathlib import Path
        from houseofcare.settings import Settings
        from houseofcare.store.analytic import connect
        con = connect(Settings(data_dir=Path({str(settings.data_dir)!r})))
        con.execute("UPDATE marker SET v = {value!r}")
        con.close()
        print("written")
        """
    )
    return subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.fixture
def held(settings: Settings):  # type: ignore[no-untyped-def]
    _store(settings)
    hold_open(settings)
    hold = analytic_hold.held(settings.analytic_db_path)
    assert hold is not None
    yield hold
    hold.release()
    analytic_hold._holds.pop(settings.analytic_db_path.resolve(), None)


def test_a_held_store_is_read_through_the_anchor_and_lets_a_writer_in(
    settings: Settings, held: analytic_hold.Hold
) -> None:
    assert _marker(settings) == "first"
    assert held.held  # the anchor stays open between reads
    writer = _writer(settings, "second")
    out, err = writer.communicate(timeout=60)
    assert writer.returncode == 0, err
    assert out.strip() == "written"
    # the writer got the file, so the anchor was let go; the next read holds a fresh one
    # that sees the writer's data, not the database loaded before it
    assert _marker(settings) == "second"
    assert held.held


def test_reads_are_refused_while_a_writer_waits_and_resume_when_it_dies(
    settings: Settings, held: analytic_hold.Hold
) -> None:
    assert _marker(settings) == "first"
    # a writer that announces itself and then hangs (killed before it opens the store)
    code = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from houseofcare.store.analytic_hold import wait_to_write
        with wait_to_write(Path({str(settings.analytic_db_path)!r})):
            print("waiting", flush=True)
            time.sleep(600)
        """
    )
    waiting = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert waiting.stdout is not None and waiting.stdout.readline().strip() == "waiting"
        assert analytic_hold.writer_waiting(settings.analytic_db_path)
        with pytest.raises(ResultsUnavailable, match="being updated"):
            _marker(settings)
        deadline = time.monotonic() + 5
        while held.held and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not held.held  # the anchor was let go for the writer
    finally:
        os.kill(waiting.pid, signal.SIGKILL)
        waiting.wait()
    # the kernel dropped the dead writer's lock: nothing is left to hold the readers off
    assert not analytic_hold.writer_waiting(settings.analytic_db_path)
    assert _marker(settings) == "first"


def test_a_writer_in_the_holding_process_itself_gets_the_store(
    settings: Settings, held: analytic_hold.Hold
) -> None:
    assert _marker(settings) == "first"
    _store(settings, "again")  # `connect` lets this process's own anchor go first
    assert _marker(settings) == "again"


def test_a_replaced_store_file_is_held_anew(settings: Settings, held: analytic_hold.Hold) -> None:
    assert _marker(settings) == "first"
    other = Settings(data_dir=settings.data_dir / "other")
    _store(other, "restored")
    os.replace(other.analytic_db_path, settings.analytic_db_path)
    assert _marker(settings) == "restored"


def test_a_writer_waits_for_another_writer_then_fails_with_duckdb_s_own_error(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from houseofcare.store import analytic

    _store(settings)
    code = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from houseofcare.settings import Settings
        from houseofcare.store.analytic import connect
        con = connect(Settings(data_dir=Path({str(settings.data_dir)!r})))
        print("open", flush=True)
        time.sleep(600)
        """
    )
    other = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout is not None and other.stdout.readline().strip() == "open"
        monkeypatch.setattr(analytic, "WRITE_WAIT_SECONDS", 0.5)
        started = time.monotonic()
        with pytest.raises(duckdb.IOException, match="lock"):
            connect(settings)
        assert time.monotonic() - started >= 0.5  # it waited before giving up
    finally:
        other.kill()
        other.wait()


def test_every_table_with_a_person_is_indexed_and_can_still_gain_a_column(
    settings: Settings,
) -> None:
    con = connect(settings)
    indexed = {row[0] for row in con.execute("SELECT table_name FROM duckdb_indexes()").fetchall()}
    assert {"patient", "observation", "medication", "encounter", "condition"} <= indexed
    # a store made before `observation.value_ucum` joined the contract, indexed since
    con.execute(f"DROP INDEX {person_index('observation')}")
    con.execute("ALTER TABLE observation DROP COLUMN value_ucum")
    con.execute(f"CREATE INDEX {person_index('observation')} ON observation (patient_id)")
    con.execute(
        "INSERT INTO observation (observation_id, patient_id, code) VALUES ('o1', 'p1', 'c')"
    )
    ensure_schema(con)  # DuckDB alters no indexed table: the index is dropped and made again
    assert con.execute("SELECT value_ucum FROM observation WHERE patient_id = 'p1'").fetchall() == [
        (None,)
    ]
    assert person_index("observation") in {
        row[0] for row in con.execute("SELECT index_name FROM duckdb_indexes()").fetchall()
    }
    con.close()


def test_a_run_indexes_its_tables_by_person(settings: Settings) -> None:
    import datetime as dt

    from houseofcare.pipeline import PERSON_RESULT_TABLES, run_pipeline

    con = connect(settings)
    con.execute("INSERT INTO patient (patient_id, birth_date) VALUES ('p1', DATE '1950-01-01')")
    con.close()
    run_pipeline(settings=settings, as_of=dt.date(2026, 3, 31))
    con = duckdb.connect(str(settings.analytic_db_path), read_only=True)
    indexes = {row[0] for row in con.execute("SELECT index_name FROM duckdb_indexes()").fetchall()}
    tables = {row[0] for row in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    con.close()
    assert {person_index(t) for t in PERSON_RESULT_TABLES if t in tables} <= indexes
    assert {"register", "care_gap", "multimorbidity", "tier"} <= tables
