"""Registers, multimorbidity and frailty for N people from `hoc synth --format parquet`.

Target (issue 3): 1,000,000 people in at most 60 s and 8 GB on the 2-core machine. Beside it,
the bare engine: DuckDB joining the same condition table to the register codelists and
counting people per register, with nothing else.

    .venv/bin/python benchmarks/bench_pipeline.py --patients 1000000
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).parent))

from _common import AS_OF, CACHE, markdown_table, peak_rss_gb, synthetic, timed
from houseofcare.analytic_tables import CLINICAL_TABLES
from houseofcare.pipeline import run_pipeline
from houseofcare.population.registers import rule_tables
from houseofcare.population.rules import packaged_register_rules
from houseofcare.settings import Settings
from houseofcare.terminology.codelist import packaged_codelists


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=1_000_000)
    args = parser.parse_args()
    parquet = synthetic(args.patients, "parquet")
    db = CACHE / f"pipeline-{args.patients}.duckdb"
    db.unlink(missing_ok=True)
    # Load in a child process, so this process's peak RSS is the run's alone (as `hoc run`
    # opening an existing store).
    load = "; ".join(
        f"con.execute(\"CREATE TABLE {t} AS SELECT * FROM read_parquet('{parquet / t}.parquet')\")"
        for t in CLINICAL_TABLES
    )
    subprocess.run(
        [sys.executable, "-c", f"import duckdb; con = duckdb.connect({str(db)!r}); {load}"],
        check=True,
    )
    con = duckdb.connect(str(db))
    events = (
        con.execute("SELECT count(*) FROM condition").fetchone()[0]
        + con.execute("SELECT count(*) FROM medication").fetchone()[0]
        + con.execute("SELECT count(*) FROM observation").fetchone()[0]
    )

    settings = Settings(data_dir=CACHE)
    summary, ours = timed(lambda: run_pipeline(settings=settings, as_of=AS_OF, con=con))
    ours_rss = peak_rss_gb()

    for name, table in rule_tables(packaged_register_rules(), packaged_codelists(), AS_OF).items():
        con.register(name, table)
    _, bare = timed(
        lambda: con.execute(
            "SELECT rc.register, count(DISTINCT c.patient_id) FROM condition c "
            "JOIN rule_code rc ON rc.code = c.code AND rc.role = 'diagnosis' "
            f"WHERE c.onset_date <= DATE '{AS_OF}' GROUP BY rc.register"
        ).fetchall()
    )
    print(
        markdown_table(
            ["work", "people", "coded events", "seconds", "peak RSS GB", "target"],
            [
                [
                    "hoc run (18 registers, LTC count, CMS, eFI, 20 care-gap indicators)",
                    f"{args.patients:,}",
                    f"{events:,}",
                    f"{ours:.1f}",
                    f"{ours_rss:.2f}",
                    "≤ 60 s, ≤ 8 GB",
                ],
                [
                    "bare DuckDB: condition ⋈ codelists, count per register",
                    f"{args.patients:,}",
                    "",
                    f"{bare:.1f}",
                    "",
                    "",
                ],
            ],
        )
    )
    print(f"\nrun {summary.run_id}: {sum(summary.register_entries.values()):,} register entries")


if __name__ == "__main__":
    main()
