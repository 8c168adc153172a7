"""The level-2 analytics on DuckDB and on Spark (local mode): same queries, same results?

For N people from `hoc synth --format parquet`, both engines read the Parquet files, compute
the registers (materialised), the multimorbidity scores and every care-gap indicator, and the
script checks the three results are identical row for row. Beside them, the bare engine:
Spark joining the condition table to the register diagnosis codes and counting per register.
It also serves as the worked example of running the analytics on Spark (docs/registers.md).

    .venv/bin/python benchmarks/bench_engines.py --patients 20000
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import duckdb
import psutil

sys.path.insert(0, str(Path(__file__).parent))

from _common import AS_OF, markdown_table, synthetic, timed
from houseofcare.analytic_tables import CLINICAL_TABLES
from houseofcare.engine import DuckDBEngine, Engine, SparkEngine, spark_session
from houseofcare.population.indicators import compute_indicators, packaged_indicator_rules
from houseofcare.population.multimorbidity import (
    compute_multimorbidity,
    packaged_multimorbidity_rules,
)
from houseofcare.population.registers import compute_registers, rule_tables
from houseofcare.population.rules import packaged_register_rules
from houseofcare.terminology.codelist import packaged_codelists


def level_two(engine: Engine, parquet: Path) -> dict[str, list[tuple[object, ...]]]:
    """Registers, scores and care gaps for everyone, as sorted rows."""
    for table in CLINICAL_TABLES:
        engine.read_parquet(table, parquet / f"{table}.parquet")
    codelists = packaged_codelists()
    registers = compute_registers(engine, packaged_register_rules(), codelists, AS_OF)
    engine.materialise("run_register_result", registers.sql)
    scores = compute_multimorbidity(
        engine, packaged_multimorbidity_rules(), AS_OF, "run_register_result"
    )
    gaps = compute_indicators(
        engine, packaged_indicator_rules(), codelists, AS_OF, "run_register_result"
    )
    return {
        "registers": sorted(engine.rows("SELECT * FROM run_register_result"), key=repr),
        "scores": sorted(scores.rows(), key=repr),
        "care gaps": sorted(gaps.rows(), key=repr),
    }


def jvm_rss_gb() -> float:
    """Resident memory of the Spark JVM(s) started by this process."""
    children = psutil.Process().children(recursive=True)
    return sum(child.memory_info().rss for child in children) / 1024**3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=20_000)
    parser.add_argument("--driver-memory", default="4g", help="Spark driver (JVM) heap")
    args = parser.parse_args()
    parquet = synthetic(args.patients, "parquet")

    duck, duck_seconds = timed(lambda: level_two(DuckDBEngine(duckdb.connect()), parquet))
    session, start_seconds = timed(
        lambda: spark_session(**{"spark.driver.memory": args.driver_memory})
    )
    spark = SparkEngine(session)
    sparked, spark_seconds = timed(lambda: level_two(spark, parquet))
    spark_rss = jvm_rss_gb()

    for name, table in rule_tables(packaged_register_rules(), packaged_codelists(), AS_OF).items():
        spark.register(name, table)
    _, bare_seconds = timed(
        lambda: spark.rows(
            "SELECT rc.register, count(DISTINCT c.patient_id) FROM condition c "
            "JOIN rule_code rc ON rc.code = c.code AND rc.role = 'diagnosis' "
            f"WHERE c.onset_date <= DATE '{AS_OF}' GROUP BY rc.register"
        )
    )
    session.stop()

    same = all(duck[name] == sparked[name] for name in duck)
    counts = ", ".join(f"{name} {len(rows):,}" for name, rows in duck.items())
    print(
        markdown_table(
            ["engine", "people", "work", "seconds", "memory GB", "identical results"],
            [
                [
                    "DuckDB (in process)",
                    f"{args.patients:,}",
                    "18 registers, LTC/CMS/eFI, 20 indicators",
                    f"{duck_seconds:.1f}",
                    "",
                    "",
                ],
                [
                    "Spark local[2] (start-up not counted)",
                    f"{args.patients:,}",
                    "the same queries, transpiled",
                    f"{spark_seconds:.1f}",
                    f"{spark_rss:.2f} (JVM RSS)",
                    "yes" if same else "NO",
                ],
                ["Spark session start-up", "", "", f"{start_seconds:.1f}", "", ""],
                [
                    "bare Spark: condition ⋈ codelists, count per register",
                    f"{args.patients:,}",
                    "",
                    f"{bare_seconds:.1f}",
                    "",
                    "",
                ],
            ],
        )
    )
    print(f"\nrows: {counts}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if not same:
        for name in duck:
            print(f"{name}: duckdb {len(duck[name]):,} rows, spark {len(sparked[name]):,} rows")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
