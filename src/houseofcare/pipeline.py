"""`hoc run`: one dated pipeline run over the whole population, recorded and reproducible.

A run computes registers and multimorbidity at its as-of date and writes them, tagged with the
run id, in one transaction: a failed or interrupted run leaves no partial results, and earlier
runs stay readable for comparison.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import time
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Final

import duckdb

from houseofcare import __version__
from houseofcare.careplan.measures import measure_codes
from houseofcare.engine import DuckDBEngine
from houseofcare.interrupts import is_interrupt
from houseofcare.population.indicators import (
    CARE_GAP_COLUMNS,
    compute_indicators,
    packaged_indicator_rules,
)
from houseofcare.population.multimorbidity import (
    compute_multimorbidity,
    packaged_multimorbidity_rules,
)
from houseofcare.population.person_readings import compute_person_readings
from houseofcare.population.readings import UnusableReadings, unusable_readings
from houseofcare.population.registers import compute_registers
from houseofcare.population.rules import packaged_register_rules
from houseofcare.progress import NullProgress, Progress
from houseofcare.settings import Settings
from houseofcare.store.analytic import connect, index_by_person
from houseofcare.terminology.codelist import packaged_codelists
from houseofcare.tiers.run import stratify_run

RESULT_TABLES = {
    "run": """CREATE TABLE IF NOT EXISTS run (
        run_id VARCHAR PRIMARY KEY, as_of DATE, started_at TIMESTAMP, finished_at TIMESTAMP,
        code_version VARCHAR, rules_digest VARCHAR, people BIGINT)""",
    "register": """CREATE TABLE IF NOT EXISTS register (
        run_id VARCHAR, patient_id VARCHAR, register VARCHAR,
        first_recorded DATE, latest_recorded DATE)""",
    "multimorbidity": """CREATE TABLE IF NOT EXISTS multimorbidity (
        run_id VARCHAR, patient_id VARCHAR, ltc_count BIGINT, cms_score DOUBLE,
        efi_deficits BIGINT, efi_score DOUBLE, frailty_category VARCHAR)""",
    "care_gap": """CREATE TABLE IF NOT EXISTS care_gap (
        run_id VARCHAR, patient_id VARCHAR, indicator VARCHAR, outcome VARCHAR,
        evidence_code VARCHAR, evidence_date DATE, evidence_value VARCHAR, overdue_since DATE)""",
    # each person's readings of careplan/measures.toml's measures in the years before the
    # run (population/person_readings.py); the latest run's only
    "person_reading": """CREATE TABLE IF NOT EXISTS person_reading (
        run_id VARCHAR, patient_id VARCHAR, measure_id VARCHAR, event_date DATE,
        value_number DOUBLE, value_problem VARCHAR)""",
    # readings no rule could use at the run's date (population/readings.py)
    "unusable_reading": """CREATE TABLE IF NOT EXISTS unusable_reading (
        run_id VARCHAR, quantity VARCHAR, problem VARCHAR, readings BIGINT, people BIGINT)""",
}


#: The run's tables with a row per person (the pages read them one person at a time).
PERSON_RESULT_TABLES: Final = (
    "register",
    "multimorbidity",
    "care_gap",
    "person_reading",
    "tier",
    "risk_score",
)


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    as_of: dt.date
    people: int
    register_entries: dict[str, int]
    seconds: float
    model_version: str | None = None
    levels: dict[int, int] = field(default_factory=dict)
    unusable_readings: list[UnusableReadings] = field(default_factory=list)


def rules_digest() -> str:
    """A digest of every rule and codelist file, so a run records exactly which rules it used."""
    digest = hashlib.sha256()
    for package in ("houseofcare.population", "houseofcare.terminology"):
        root = Path(str(files(package)))
        for path in sorted(root.rglob("*")):
            if path.suffix in {".toml", ".csv"}:
                digest.update(path.relative_to(root).as_posix().encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


#: DuckDB memory limit for a run unless `HOC_MEMORY_LIMIT` (or hoc.toml) sets one.
RUN_MEMORY_LIMIT: Final[str] = "4GB"


def run_pipeline(
    *,
    settings: Settings,
    as_of: dt.date,
    progress: Progress | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> RunSummary:
    """Registers, multimorbidity and care gaps for everyone at `as_of`, under a new run id."""
    progress = progress or NullProgress()
    started = time.perf_counter()
    started_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    run_id = f"{as_of.isoformat()}T{started_at:%Y%m%d%H%M%S%f}"
    own = con is None
    # DuckDB's own default memory limit (80% of RAM) lets a million-person run grow past
    # 8 GB; with RUN_MEMORY_LIMIT it spills instead (docs/performance.md).
    con = con or connect(settings, memory_limit=RUN_MEMORY_LIMIT)
    engine = DuckDBEngine(con)
    step = progress.task("pipeline run", total=3)
    try:
        for ddl in RESULT_TABLES.values():
            con.execute(ddl)
        con.execute("BEGIN TRANSACTION")
        registers = compute_registers(
            engine, packaged_register_rules(), packaged_codelists(), as_of
        )
        con.execute(f"CREATE OR REPLACE TEMP VIEW run_register_view AS {registers.sql}")
        con.execute(
            "CREATE OR REPLACE TEMP TABLE run_register_result AS SELECT * FROM run_register_view"
        )
        con.execute(
            "INSERT INTO register SELECT ?, patient_id, register, first_recorded, latest_recorded "
            "FROM run_register_result",
            [run_id],
        )
        progress.advance(step)
        scores = compute_multimorbidity(
            engine, packaged_multimorbidity_rules(), as_of, "run_register_result"
        )
        con.execute(f"CREATE OR REPLACE TEMP VIEW run_scores_view AS {scores.sql}")
        con.execute(
            "INSERT INTO multimorbidity SELECT ?, patient_id, ltc_count, cms_score, efi_deficits, "
            "efi_score, frailty_category FROM run_scores_view",
            [run_id],
        )
        progress.advance(step)
        gaps = compute_indicators(
            engine, packaged_indicator_rules(), packaged_codelists(), as_of, "run_register_result"
        )
        con.execute(f"CREATE OR REPLACE TEMP VIEW run_care_gap_view AS {gaps.sql}")
        con.execute(
            f"INSERT INTO care_gap SELECT ?, {CARE_GAP_COLUMNS} FROM run_care_gap_view", [run_id]
        )
        # each person's readings of the measures the pages chart: read by key per page view
        readings = compute_person_readings(engine, measure_codes(), as_of)
        con.execute(f"CREATE OR REPLACE TEMP VIEW run_person_reading_view AS {readings.sql}")
        con.execute("DELETE FROM person_reading")  # the latest run's only: what pages show
        con.execute(
            "INSERT INTO person_reading SELECT ?, patient_id, measure_id, event_date, "
            "value_number, value_problem FROM run_person_reading_view ORDER BY patient_id",
            [run_id],
        )
        unusable = unusable_readings(engine, as_of)
        if unusable:
            con.executemany(
                "INSERT INTO unusable_reading VALUES (?, ?, ?, ?, ?)",
                [[run_id, u.quantity, u.problem, u.readings, u.people] for u in unusable],
            )
        # risk scores (latest trained model, if any) and triangle levels: docs/triangle.md
        stratification = stratify_run(con, settings=settings, run_id=run_id, as_of=as_of)
        ((people,),) = con.execute(
            "SELECT count(*) FROM multimorbidity WHERE run_id = ?", [run_id]
        ).fetchall()
        con.execute(
            "INSERT INTO run VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                run_id,
                as_of,
                started_at,
                dt.datetime.now(dt.UTC).replace(tzinfo=None),
                __version__,
                rules_digest(),
                people,
            ],
        )
        # the run's tables are read one person at a time by the pages
        index_by_person(con, PERSON_RESULT_TABLES)
        counts = dict(
            con.execute(
                "SELECT register, count(*) FROM register WHERE run_id = ? GROUP BY register",
                [run_id],
            ).fetchall()
        )
        con.execute("COMMIT")
        progress.advance(step)
    except BaseException as exc:
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        if is_interrupt(exc) and not isinstance(exc, KeyboardInterrupt):
            raise KeyboardInterrupt from exc
        raise
    finally:
        if own:
            con.close()
    return RunSummary(
        run_id=run_id,
        as_of=as_of,
        people=people,
        register_entries=counts,
        seconds=time.perf_counter() - started,
        model_version=stratification.model_version,
        levels=stratification.levels,
        unusable_readings=unusable,
    )
