"""The whole `hoc run` at 100,000, 1,000,000 and 5,000,000 people, on DuckDB and on Spark.

Target (issue 15): the 5,000,000-person run completes on this 2-core, 24 GB machine, in at most
3 minutes on DuckDB, with cost linear in people. Each run goes in a child process, so its
peak memory is its own: the resident memory of the whole process tree (Python, and Spark's JVM
and Python workers) is sampled every 0.2 s. Each step's seconds come from the pipeline itself
(`run_on(..., timings=...)`).

- DuckDB: the population is loaded into an analytic store first (not timed, as `hoc run`
  finds it), then `hoc run` runs on it and writes its results into it.
- Spark (`local[2]`, HOC_SPARK_DRIVER_MEMORY, default 8g here): `hoc run --engine spark
  --from <parquet> --results lake`, the population read from `hoc synth --format parquet`
  and the results written as a Parquet lake.

One model, trained once on the 100,000-person population, scores every size. Beside each
DuckDB size: the bare engine joining the same events to the register codelists and counting
people per register, with nothing else.

    .venv/bin/python benchmarks/bench_scale.py
    .venv/bin/python benchmarks/bench_scale.py --sizes 100000 1000000 --engines spark
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import psutil

sys.path.insert(0, str(Path(__file__).parent))

from _common import AS_OF, CACHE, load_average, markdown_table, synthetic, timed
from houseofcare.analytic_tables import CLINICAL_TABLES
from houseofcare.pipeline import STEPS
from houseofcare.population.registers import rule_tables
from houseofcare.population.rules import packaged_register_rules
from houseofcare.settings import Settings
from houseofcare.terminology.codelist import packaged_codelists

SCALE = CACHE / "scale"
MODEL_PEOPLE = 100_000


def model_settings(data_dir: Path) -> Settings:
    """A project folder whose `models/` holds the one model every size uses."""
    models = SCALE / "models"
    if not models.is_dir():
        from houseofcare.clinical_lake import read_clinical
        from houseofcare.engine import DuckDBEngine
        from houseofcare.risk.model import train_model

        con = duckdb.connect()
        engine = DuckDBEngine(con)
        read_clinical(engine, synthetic(MODEL_PEOPLE, "parquet"))
        train_model(engine, settings=Settings(data_dir=SCALE), as_of=AS_OF)
        con.close()
    data_dir.mkdir(parents=True, exist_ok=True)
    if not (data_dir / "models").exists():
        (data_dir / "models").symlink_to(models)
    return Settings(data_dir=data_dir)


def one_run(engine: str, people: int) -> None:
    """In the child: one run, its step timings printed as JSON on the last line."""
    from houseofcare.pipeline import run_with

    parquet = synthetic(people, "parquet")
    timings: dict[str, float] = {}
    folder = SCALE / f"{engine}-{people}"
    settings = model_settings(folder)
    if engine == "duckdb":
        summary = run_with(settings=settings, as_of=AS_OF, timings=timings)
    else:
        summary = run_with(
            settings=settings,
            as_of=AS_OF,
            engine="spark",
            source=parquet,
            results="lake",
            timings=timings,
        )
    print(json.dumps({"timings": timings, "people": summary.people, "total": summary.seconds}))


def load_store(people: int) -> Path:
    """The population in a fresh analytic store (in its own process: not part of the run)."""
    parquet = synthetic(people, "parquet")
    folder = SCALE / f"duckdb-{people}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    db = folder / "analytic.duckdb"
    load = "; ".join(
        f"con.execute(\"CREATE TABLE {t} AS SELECT * FROM read_parquet('{parquet / t}.parquet')\")"
        for t in CLINICAL_TABLES
        if (parquet / f"{t}.parquet").exists()
    )
    subprocess.run(
        [sys.executable, "-c", f"import duckdb; con = duckdb.connect({str(db)!r}); {load}"],
        check=True,
    )
    # the store's own schema (quarantine, indexes) as `hoc ingest` leaves it
    from houseofcare.store.analytic import connect

    connect(Settings(data_dir=folder)).close()
    return folder


def measured(engine: str, people: int) -> dict[str, object]:
    """One run in a child process, with its process tree's peak resident memory."""
    if engine == "duckdb":
        load_store(people)
    else:
        shutil.rmtree(SCALE / f"spark-{people}", ignore_errors=True)
    env = {**os.environ, "HOC_SPARK_DRIVER_MEMORY": os.environ.get("HOC_SPARK_DRIVER_MEMORY", "8g")}
    child = subprocess.Popen(
        [sys.executable, __file__, "--one", engine, str(people)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    peak = 0.0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        parent = psutil.Process(child.pid)
        while not stop.is_set():
            try:
                tree = [parent, *parent.children(recursive=True)]
                rss = sum(p.memory_info().rss for p in tree if p.is_running())
                peak = max(peak, rss / 1024**3)
            except psutil.Error:
                pass
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    started = time.perf_counter()
    sampler.start()
    out, _ = child.communicate()
    wall = time.perf_counter() - started
    stop.set()
    sampler.join()
    if child.returncode != 0:
        raise SystemExit(f"{engine} at {people:,} people failed (exit {child.returncode})")
    result = json.loads(out.strip().splitlines()[-1])
    result.update(engine=engine, size=people, peak_gb=peak, wall=wall)
    return result


def bare_registers(people: int) -> float:
    """The bare engine: coded events (conditions, readings, medicines) joined to the register
    codelists, people counted per register, with nothing else."""
    parquet = synthetic(people, "parquet")
    con = duckdb.connect()
    for name, table in rule_tables(packaged_register_rules(), packaged_codelists(), AS_OF).items():
        con.register(name, table)
    events = " UNION ALL ".join(
        f"SELECT patient_id, code FROM read_parquet('{parquet / t}.parquet')"
        for t in ("condition", "observation", "medication")
    )
    _, seconds = timed(
        lambda: con.execute(
            f"SELECT rc.register, count(DISTINCT e.patient_id) FROM ({events}) e "
            "JOIN rule_code rc ON rc.code = e.code GROUP BY rc.register"
        ).fetchall()
    )
    con.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 5_000_000])
    parser.add_argument("--engines", nargs="+", default=["duckdb", "spark"])
    parser.add_argument(
        "--spark-sizes",
        type=int,
        nargs="+",
        default=None,
        help="Sizes to run on Spark (default: every size).",
    )
    parser.add_argument("--one", nargs=2, metavar=("ENGINE", "PEOPLE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one_run(args.one[0], int(args.one[1]))
        return
    model_settings(SCALE / "train")
    rows: list[list[object]] = []
    for people in args.sizes:
        synthetic(people, "parquet")
        for engine in args.engines:
            if engine == "spark" and args.spark_sizes and people not in args.spark_sizes:
                continue
            load = load_average()
            r = measured(engine, people)
            timings = r["timings"]
            assert isinstance(timings, dict)
            total = float(r["total"])  # type: ignore[arg-type]
            rows.append(
                [
                    f"{people:,}",
                    engine,
                    *[f"{timings.get(step, 0.0):.1f}" for step in STEPS],
                    f"**{total:.1f}**",
                    f"{total / people * 1e6:.1f}",
                    f"{r['peak_gb']:.2f}",
                    f"{load:.1f}",
                ]
            )
            print(rows[-1], flush=True)
        if "duckdb" in args.engines:
            rows.append(
                [f"{people:,}", "bare DuckDB: register join", *[""] * len(STEPS),
                 f"{bare_registers(people):.1f}", "", "", f"{load_average():.1f}"]
            )  # fmt: skip
    header = ["people", "engine", *STEPS, "total s", "s per 1M people", "peak GB", "load"]
    print(markdown_table(header, rows))


if __name__ == "__main__":
    main()
