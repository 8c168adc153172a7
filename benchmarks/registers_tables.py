"""The tables of docs/registers.md ("On the synthetic population"), re-made from a store.

`hoc prevalence` on a pipeline run (each register beside QOF England), and the deprivation
gradient of multimorbidity by IMD decile, on the store `bench_commission.py` caches for
1,000,000 people (the calibrated synthetic population, seed 1, as of 2026-03-31), or any
store given with `--store`. Counts are disclosure-controlled as the command's are.

    .venv/bin/python benchmarks/registers_tables.py [--store PATH]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).parent))

from _common import CACHE, markdown_table
from houseofcare.commissioning.population import practices, register_lookups
from houseofcare.engine import DuckDBEngine, sql_literal
from houseofcare.population.prevalence import prevalence
from houseofcare.population.rules import packaged_register_rules


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=CACHE / "commission-1000000.duckdb")
    args = parser.parse_args()
    if not args.store.exists():
        sys.exit(f"no store at {args.store}: run benchmarks/bench_commission.py first")
    con = duckdb.connect(str(args.store), read_only=True)
    engine = DuckDBEngine(con)
    ((run_id, as_of),) = con.execute(
        "SELECT run_id, as_of FROM run ORDER BY finished_at DESC LIMIT 1"
    ).fetchall()
    ((people,),) = con.execute("SELECT count(*) FROM patient").fetchall()
    print(f"{people:,} people, run {run_id} as of {as_of}\n")
    rows = prevalence(engine, run_id, packaged_register_rules()).rows()
    table = []
    within = 0
    for register, count, listed, pct, qof in sorted((r[0], r[2], r[3], r[4], r[5]) for r in rows):
        gap = None if not qof or pct is None else 100 * (pct - qof) / qof
        within += gap is not None and abs(gap) <= 10
        table.append(
            [register, f"{count:,}", f"{listed:,}", pct, qof, "" if gap is None else f"{gap:.1f}"]
        )
    print(
        markdown_table(
            [
                "register",
                "people on register",
                "list",
                "prevalence %",
                "QOF England %",
                "relative difference %",
            ],
            table,
        )
    )
    print(f"\n{within} of {len(table)} registers within ±10% of QOF England\n")
    register_lookups(engine, practices(con))
    run = sql_literal(run_id)
    gradient = con.execute(
        f"""
        SELECT l.imd_decile, round(avg(m.ltc_count), 3), round(100 * avg(CASE WHEN
               m.ltc_count >= 2 THEN 1 ELSE 0 END), 1), round(avg(m.cms_score), 3)
        FROM multimorbidity m JOIN patient p ON p.patient_id = m.patient_id
        JOIN population_lsoa l ON l.lsoa_code = p.lsoa_code
        WHERE m.run_id = {run} AND l.imd_decile IS NOT NULL
        GROUP BY l.imd_decile ORDER BY l.imd_decile
        """
    ).fetchall()
    print(
        markdown_table(
            ["IMD decile (1 = most deprived)", "mean LTC count", "% with 2+ LTCs", "mean CMS"],
            [list(r) for r in gradient],
        )
    )


if __name__ == "__main__":
    main()
