"""`hoc run`: one dated pipeline run over the whole population, recorded and reproducible.

A run computes, at its as-of date: registers, multimorbidity, care gaps, each person's
readings, risk scores (when a model is trained) and the triangle's levels. Every step is a
query through the engine seam, so the same run goes on DuckDB (the embedded default) or on
Apache Spark (`--engine spark`, docs/scaling.md). Each step's rows are kept on the engine as
``run_<table>`` and handed to one result writer (`run_results.py`), which stores them tagged
with the run id: in the analytic store, in one transaction, or in a Parquet lake, moved into
place only when the whole run is written. A failed or interrupted run leaves no partial
results, and earlier runs stay readable for comparison.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import time
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Final

import duckdb
import pyarrow as pa

from houseofcare import __version__
from houseofcare.careplan.measures import measure_codes
from houseofcare.engine import DuckDBEngine, Engine
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
from houseofcare.risk.model import load_model, threads
from houseofcare.risk.scoring import score_query
from houseofcare.run_results import (
    RESULT_TABLES,
    AnalyticStoreWriter,
    ResultWriter,
    run_schema,
)
from houseofcare.settings import Settings
from houseofcare.store.analytic import connect
from houseofcare.terminology.codelist import packaged_codelists
from houseofcare.tiers.assign import tier_query

__all__ = ["PERSON_RESULT_TABLES", "RESULT_TABLES", "RunSummary", "run_on", "run_pipeline"]

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


#: The steps of a run, in order (for progress bars and the benchmark's per-step table).
STEPS: Final = (
    "registers",
    "multimorbidity",
    "care gaps",
    "readings",
    "risk scores",
    "tiers",
    "write",
)


def run_memory_limit() -> str:
    """DuckDB's memory limit for a run unless `HOC_MEMORY_LIMIT` (or hoc.toml) sets one: half
    the machine's memory, and at least 4 GB.

    DuckDB's own default (80% of RAM) lets a million-person run grow past 8 GB, with the
    web app and the operational store on the same machine. With half, the run spills instead
    (docs/performance.md); a million people use about 3.3 GB of it, and five million, whose
    features and scores cannot all be spilled, about 12 GB on a 24 GB machine (4 GB failed
    there: docs/scaling.md).
    """
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return "4GB"
    return f"{max(4, total // 2**30 // 2)}GB"


RUN_MEMORY_LIMIT: Final[str] = run_memory_limit()


def new_run_id(as_of: dt.date) -> tuple[str, dt.datetime]:
    started_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return f"{as_of.isoformat()}T{started_at:%Y%m%d%H%M%S%f}", started_at


def run_pipeline(
    *,
    settings: Settings,
    as_of: dt.date,
    progress: Progress | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
    timings: dict[str, float] | None = None,
) -> RunSummary:
    """The embedded run: DuckDB over the analytic store, results into the same store."""
    own = con is None
    # DuckDB's own default memory limit (80% of RAM) lets a run grow over everything else
    # on the machine; with RUN_MEMORY_LIMIT it spills instead (docs/performance.md).
    con = con or connect(settings, memory_limit=RUN_MEMORY_LIMIT)
    try:
        writer = AnalyticStoreWriter(con, settings.lake_path / "_handover")
        return run_on(
            DuckDBEngine(con),
            writer,
            settings=settings,
            as_of=as_of,
            progress=progress,
            timings=timings,
        )
    finally:
        if own:
            con.close()


def run_on(
    engine: Engine,
    writer: ResultWriter,
    *,
    settings: Settings,
    as_of: dt.date,
    progress: Progress | None = None,
    timings: dict[str, float] | None = None,
) -> RunSummary:
    """Every step of a run on `engine` (its clinical tables named), stored by `writer`.

    `timings`, when given, receives each step's seconds (benchmarks/bench_scale.py).
    """
    progress = progress or NullProgress()
    started = time.perf_counter()
    run_id, started_at = new_run_id(as_of)
    step = progress.task(f"pipeline run ({engine.name})", total=len(STEPS))
    clock = _Clock(timings)
    model = load_model(settings)
    try:
        writer.begin(run_id)
        registers = compute_registers(
            engine, packaged_register_rules(), packaged_codelists(), as_of
        )
        engine.materialise("run_register", registers.sql)
        writer.write("register", engine, "run_register")
        clock.lap("registers")
        progress.advance(step)
        scores = compute_multimorbidity(
            engine, packaged_multimorbidity_rules(), as_of, "run_register"
        )
        engine.materialise("run_multimorbidity", scores.sql)
        writer.write("multimorbidity", engine, "run_multimorbidity")
        clock.lap("multimorbidity")
        progress.advance(step)
        gaps = compute_indicators(
            engine, packaged_indicator_rules(), packaged_codelists(), as_of, "run_register"
        )
        engine.materialise("run_care_gap", f"SELECT {CARE_GAP_COLUMNS} FROM ({gaps.sql}) AS g")
        writer.write("care_gap", engine, "run_care_gap")
        clock.lap("care gaps")
        progress.advance(step)
        # each person's readings of the measures the pages chart: read by key per page view
        readings = compute_person_readings(engine, measure_codes(), as_of)
        engine.view("run_person_reading", readings.sql)
        writer.write("person_reading", engine, "run_person_reading", order_by="patient_id")
        unusable = unusable_readings(engine, as_of)
        writer.write_rows(
            "unusable_reading",
            pa.table(
                {
                    "run_id": pa.array([run_id] * len(unusable), pa.string()),
                    "quantity": pa.array([u.quantity for u in unusable], pa.string()),
                    "problem": pa.array([u.problem for u in unusable], pa.string()),
                    "readings": pa.array([u.readings for u in unusable], pa.int64()),
                    "people": pa.array([u.people for u in unusable], pa.int64()),
                }
            ),
        )
        clock.lap("readings")
        progress.advance(step)
        # risk scores (latest trained model, if any) and triangle levels: docs/triangle.md
        if model is None:
            # empty: the triangle then ignores risk
            engine.register("run_risk_score", run_schema("risk_score").empty_table())
        else:
            scored = score_query(
                engine,
                model,
                as_of,
                num_threads=threads(settings),
                registers=("run_register", "run_multimorbidity"),
            )
            engine.materialise("run_risk_score", scored.sql)
            writer.write("risk_score", engine, "run_risk_score")
        clock.lap("risk scores")
        progress.advance(step)
        ((people,),) = engine.rows("SELECT count(*) FROM run_multimorbidity")
        tiers = tier_query(engine, as_of=as_of, people=people, has_risk=model is not None)
        engine.materialise("run_tier", tiers.sql)
        writer.write("tier", engine, "run_tier")
        levels = {
            int(level): int(n)
            for level, n in engine.rows(
                "SELECT level, count(*) FROM run_tier GROUP BY level ORDER BY level"
            )
        }
        counts = {
            str(name): int(n)
            for name, n in engine.rows(
                "SELECT register, count(*) FROM run_register GROUP BY register"
            )
        }
        clock.lap("tiers")
        progress.advance(step)
        writer.write_rows(
            "run",
            pa.table(
                {
                    "run_id": [run_id],
                    "as_of": pa.array([as_of], pa.date32()),
                    "started_at": pa.array([started_at], pa.timestamp("us")),
                    "finished_at": pa.array(
                        [dt.datetime.now(dt.UTC).replace(tzinfo=None)], pa.timestamp("us")
                    ),
                    "code_version": [__version__],
                    "rules_digest": [rules_digest()],
                    "people": pa.array([people], pa.int64()),
                }
            ),
        )
        writer.commit()
        clock.lap("write")
        progress.advance(step)
    except BaseException as exc:
        writer.abort()
        if is_interrupt(exc) and not isinstance(exc, KeyboardInterrupt):
            raise KeyboardInterrupt from exc
        raise
    return RunSummary(
        run_id=run_id,
        as_of=as_of,
        people=people,
        register_entries=counts,
        seconds=time.perf_counter() - started,
        model_version=None if model is None else model.version,
        levels=levels,
        unusable_readings=unusable,
    )


class _Clock:
    """Seconds per step, when asked for."""

    def __init__(self, timings: dict[str, float] | None) -> None:
        self.timings = timings
        self.last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        if self.timings is not None:
            self.timings[name] = now - self.last
        self.last = now


def run_with(
    *,
    settings: Settings,
    as_of: dt.date,
    engine: str = "duckdb",
    source: Path | None = None,
    results: str = "store",
    progress: Progress | None = None,
    timings: dict[str, float] | None = None,
) -> RunSummary:
    """`hoc run` with its choices: the engine, where the clinical tables come from, and where
    the results go (docs/scaling.md).

    - `engine`: "duckdb" (embedded) or "spark" (`settings.spark_master`);
    - `source`: a folder of clinical tables as Parquet; by default the analytic store on
      DuckDB, and the lake's clinical tables on Spark (exported from the analytic store first
      when the lake has none);
    - `results`: "store" (the analytic store the pages read) or "lake" (``<lake>/results``).

    Spark is started before any store is opened: a Spark that cannot start changes nothing.
    """
    if engine not in ("duckdb", "spark") or results not in ("store", "lake"):
        raise ValueError(f"unknown engine {engine!r} or results {results!r}")
    if engine == "duckdb" and source is None and results == "store":
        return run_pipeline(settings=settings, as_of=as_of, progress=progress, timings=timings)
    from houseofcare.clinical_lake import clinical_folder, export_clinical, read_clinical, stale
    from houseofcare.run_results import ParquetLakeWriter

    chosen: Engine
    own: list[duckdb.DuckDBPyConnection] = []
    if engine == "spark":
        from houseofcare.engine import SparkEngine
        from houseofcare.spark_session import start_spark

        chosen = SparkEngine(start_spark(settings))
        if source is None:
            source = clinical_folder(settings)
            if stale(source, settings):
                export_clinical(settings, source)
    elif source is None:
        own.append(connect(settings, memory_limit=RUN_MEMORY_LIMIT))
        chosen = DuckDBEngine(own[-1])
    else:
        own.append(
            duckdb.connect(config={"memory_limit": settings.memory_limit or RUN_MEMORY_LIMIT})
        )
        chosen = DuckDBEngine(own[-1])
    try:
        if source is not None:
            read_clinical(chosen, source)
        writer: ResultWriter
        if results == "lake":
            writer = ParquetLakeWriter(settings.lake_path / "results")
        else:
            store = (
                own[0]
                if own and engine == "duckdb" and source is None
                else connect(settings, memory_limit=RUN_MEMORY_LIMIT)
            )
            if store not in own:
                own.append(store)
            writer = AnalyticStoreWriter(store, settings.lake_path / "_handover")
        return run_on(
            chosen, writer, settings=settings, as_of=as_of, progress=progress, timings=timings
        )
    finally:
        for con in own:
            con.close()
