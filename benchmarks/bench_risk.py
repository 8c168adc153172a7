"""Admission-risk model at scale: training, and features + scoring, for N people.

Targets (issue 4): features and scoring for 1,000,000 people in at most 60 s and 8 GB; training
on 1,000,000 in at most 10 minutes. Input: `hoc synth --format parquet` (cached), loaded into a
DuckDB file once. Each measured step runs in its own subprocess, so its peak RSS is its own:

- train: `train_model` (features at two index dates, LightGBM, calibration, artefact);
- score: what `hoc run` adds for the model, `write_risk_scores` (features at the as-of date,
  prediction, SHAP factors for the top quarter, phrases, percentiles, INSERT into risk_score);
- bare: DuckDB alone on the feature query's core aggregate (encounters per person and kind in
  the windows of `features.toml`, 3 to 36 months), and LightGBM alone predicting on the same
  feature matrix.

    HOC_THREADS=2 .venv/bin/python benchmarks/bench_risk.py --patients 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import AS_OF, CACHE, markdown_table, synthetic

CHILD = """
import datetime as dt, json, resource, sys, time
from pathlib import Path
import duckdb
from houseofcare.engine import DuckDBEngine
from houseofcare.settings import Settings
part, db, data_dir = sys.argv[1], sys.argv[2], Path(sys.argv[3])
as_of = dt.date.fromisoformat(sys.argv[4])
settings = Settings(data_dir=data_dir)
config = {"threads": settings.threads} if settings.threads else {}
if settings.memory_limit:
    config["memory_limit"] = settings.memory_limit
con = duckdb.connect(db, config=config)
imported = time.perf_counter()
import lightgbm, sklearn.metrics  # imported once per process; timed apart from the work
extra = {"import_seconds": time.perf_counter() - imported}
began = time.perf_counter()
if part == "train":
    from houseofcare.risk.model import train_model
    result = train_model(DuckDBEngine(con), settings=settings, as_of=as_of)
    extra.update(trees=result.model.metadata["trees"], people=result.training_people,
                 auroc=result.model.metadata["validation_metrics"]["auroc"])
elif part == "score":
    from houseofcare.risk.scoring import write_risk_scores
    con.execute("BEGIN TRANSACTION")
    version = write_risk_scores(con, settings=settings, run_id="bench", as_of=as_of)
    ((people, explained),) = con.execute(
        "SELECT count(*), count(factor_1) FROM risk_score WHERE run_id = 'bench'").fetchall()
    con.execute("ROLLBACK")
    extra.update(people=people, explained=explained)
elif part == "bare_sql":
    from houseofcare.population.registers import _months_before
    from houseofcare.risk.features import packaged_feature_spec
    spec = packaged_feature_spec()
    windows = ", ".join(
        f"count(*) FILTER (WHERE period_start >= TIMESTAMP '{_months_before(as_of, m)}') AS w{m}"
        for m in spec.windows_months)
    since = _months_before(as_of, spec.lookback_months)
    rows = con.execute(
        f"SELECT count(*) FROM (SELECT patient_id, class_code, priority_code, {windows} "
        f"FROM encounter WHERE period_start >= TIMESTAMP '{since}' "
        f"AND period_start < TIMESTAMP '{as_of}' GROUP BY ALL)").fetchall()
    extra.update(people=rows[0][0], windows=len(spec.windows_months))
elif part == "bare_predict":
    from houseofcare.risk.model import build_cohort, load_model, threads
    model = load_model(settings)
    cohort = build_cohort(DuckDBEngine(con), as_of, with_label=False)
    began = time.perf_counter()
    model.booster.predict(cohort.x, num_threads=threads(settings))
    extra.update(people=cohort.x.shape[0])
seconds = time.perf_counter() - began
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "peak_kb": peak, **extra}))
"""


def child(part: str, db: Path, data_dir: Path) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, part, str(db), str(data_dir), AS_OF.isoformat()],
        check=True,
        capture_output=True,
        text=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["load"] = os.getloadavg()[0]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=1_000_000)
    args = parser.parse_args()
    parquet = synthetic(args.patients, "parquet")
    data_dir = CACHE / f"risk-{args.patients}"
    db = data_dir / "analytic.duckdb"
    if not db.exists():
        import duckdb

        from houseofcare.analytic_tables import CLINICAL_TABLES

        data_dir.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(db))
        for table in CLINICAL_TABLES:
            con.execute(
                f"CREATE TABLE {table} AS SELECT * FROM read_parquet('{parquet / table}.parquet')"
            )
        con.close()
    began = time.perf_counter()
    train = child("train", db, data_dir)
    score = child("score", db, data_dir)
    bare_sql = child("bare_sql", db, data_dir)
    bare_predict = child("bare_predict", db, data_dir)
    threads = os.environ.get("HOC_THREADS", "all cores")
    rows = [
        [
            f"train (features at 2 dates, LightGBM {train['trees']} trees, calibration, save)",
            f"{train['people']:,}",
            f"{train['seconds']:.1f}",
            f"{train['peak_kb'] / 1024**2:.2f}",
            f"{train['load']:.1f}",
            "≤ 600 s",
        ],
        [
            f"features + scoring (`write_risk_scores`: {score['explained']:,} explained)",
            f"{score['people']:,}",
            f"{score['seconds']:.1f}",
            f"{score['peak_kb'] / 1024**2:.2f}",
            f"{score['load']:.1f}",
            "≤ 60 s, ≤ 8 GB",
        ],
        [
            f"bare DuckDB: encounter counts per person in {bare_sql['windows']} windows",
            f"{bare_sql['people']:,} groups",
            f"{bare_sql['seconds']:.1f}",
            "",
            f"{bare_sql['load']:.1f}",
            "",
        ],
        [
            "bare LightGBM: predict on the feature matrix",
            f"{bare_predict['people']:,}",
            f"{bare_predict['seconds']:.1f}",
            "",
            f"{bare_predict['load']:.1f}",
            "",
        ],
    ]
    print(
        markdown_table(
            ["work", "people", "seconds", "peak RSS GB", "load avg", "target"],
            rows,
        )
    )
    print(
        f"\nthreads: {threads}; validation AUROC {train['auroc']:.3f}; importing LightGBM and "
        f"scikit-learn took {score['import_seconds']:.1f} s per process (not counted above); "
        f"total {time.perf_counter() - began:.0f} s"
    )


if __name__ == "__main__":
    main()
