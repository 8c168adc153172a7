"""The local commissioning plan (`commissioning.plan.build_plan`) for N people.

Target (issue 14): the whole plan for 1,000,000 people in at most 30 s on the 2-core machine.
The population is `hoc synth --format parquet`, run through the pipeline once (cached with
its store); an operational SQLite store is made beside it with an active care plan for one
person in twenty, each with needs, goals, referrals at every stage and some unmet need. The
plan is then built for everyone and for the most populous locality. Beside it, the bare
engine: DuckDB counting people with an active need per domain and locality from the same
rows, with nothing else (no frames, no disclosure control).

    .venv/bin/python benchmarks/bench_commission.py --people 1000000
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
from sqlalchemy import insert
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).parent))

from _common import (
    AS_OF,
    BUSY_LOAD,
    CACHE,
    load_average,
    markdown_table,
    peak_rss_gb,
    synthetic,
    timed,
)
from houseofcare.analytic_tables import CLINICAL_TABLES
from houseofcare.commissioning import (
    plan_capacity,
    plan_care,
    plan_frames,
    plan_inequalities,
    plan_trends,
)
from houseofcare.commissioning.disclosure import packaged_rule
from houseofcare.commissioning.inequality import frame_sql
from houseofcare.commissioning.plan import build_plan
from houseofcare.commissioning.plan_model import Area, PlanContext
from houseofcare.commissioning.population import practices
from houseofcare.engine import DuckDBEngine
from houseofcare.nhs_number import nhs_check_digit
from houseofcare.pipeline import run_pipeline
from houseofcare.settings import Settings
from houseofcare.store.database import make_engine, session_factory
from houseofcare.store.migrate import upgrade_engine
from houseofcare.store.models import (
    CarePlan,
    Goal,
    Need,
    Person,
    Referral,
    ReferralEvent,
    Service,
    UnmetNeed,
)

DOMAINS = ("physical_health", "mental_health", "social_loneliness", "mobility", "medicines")
GOALS = (
    ("HbA1c", "Keep my sugars steady"),
    (None, "Walk to the park with my grandchildren"),
    (None, "Stop smoking before the summer"),
    (None, "Feel less lonely and meet people"),
    (None, "Stay in my own home"),
)
REASONS = ("no_suitable_service", "service_full", "declined")


def analytic_store(people: int) -> tuple[duckdb.DuckDBPyConnection, str]:
    """The synthetic population's store with one pipeline run (made once, then reused)."""
    db = CACHE / f"commission-{people}.duckdb"
    done = CACHE / f"commission-{people}.run"
    if not done.exists():
        db.unlink(missing_ok=True)
        parquet = synthetic(people, "parquet")
        load = "; ".join(
            f'con.execute("CREATE TABLE {t} AS SELECT * FROM '
            f"read_parquet('{parquet / t}.parquet')\")"
            for t in CLINICAL_TABLES
        )
        subprocess.run(
            [sys.executable, "-c", f"import duckdb; con = duckdb.connect({str(db)!r}); {load}"],
            check=True,
        )
        con = duckdb.connect(str(db))
        summary = run_pipeline(settings=Settings(data_dir=CACHE), as_of=AS_OF, con=con)
        con.close()
        done.write_text(summary.run_id)
    return duckdb.connect(str(db)), done.read_text()


def nhs_numbers() -> Any:
    serial = 0
    while True:
        serial += 1
        check = nhs_check_digit(f"9{serial:08d}")
        if check is not None:
            yield f"9{serial:08d}{check}"


def operational_store(con: duckdb.DuckDBPyConnection, people: int) -> Session:
    """A SQLite store with a care plan for one person in twenty (bulk inserts, not timed)."""
    path = CACHE / f"commission-{people}-ops.db"
    url = f"sqlite:///{path}"
    factory = session_factory(make_engine(url))
    if path.exists():
        return factory()
    engine = make_engine(url)
    upgrade_engine(engine)
    chosen = [
        r[0]
        for r in con.execute(
            "SELECT patient_id FROM patient WHERE death_date IS NULL "
            "AND hash(patient_id) % 20 = 0 ORDER BY patient_id"
        ).fetchall()
    ]
    numbers = nhs_numbers()
    now = dt.datetime(2026, 1, 15, tzinfo=dt.UTC)
    with factory() as s, s.begin():
        s.execute(insert(Person), [{"nhs_number": next(numbers), "patient_id": p} for p in chosen])
        ids = [r[0] for r in s.execute(Person.__table__.select().with_only_columns(Person.id))]
        s.execute(
            insert(CarePlan),
            [
                {
                    "person_id": pid,
                    "status": "active",
                    "title": "My plan",
                    "last_reviewed_at": now if i % 3 else None,
                    "version": 1,
                }
                for i, pid in enumerate(ids)
            ],
        )
        plans = [
            r[0] for r in s.execute(CarePlan.__table__.select().with_only_columns(CarePlan.id))
        ]
        s.execute(
            insert(Need),
            [
                {
                    "care_plan_id": plan,
                    "domain": DOMAINS[(i + k) % len(DOMAINS)],
                    "description": "n",
                }
                for i, plan in enumerate(plans)
                for k in range(1 + i % 2)
            ],
        )
        s.execute(
            insert(Goal),
            [
                {
                    "care_plan_id": plan,
                    "target_measure": GOALS[i % len(GOALS)][0],
                    "what_matters_to_me": GOALS[i % len(GOALS)][1],
                    "status": "active" if i % 4 else "completed",
                    "version": 1,
                }
                for i, plan in enumerate(plans)
            ],
        )
        s.execute(
            insert(Service),
            [
                {
                    "oruk_id": "bench-service",
                    "name": "Walk Together",
                    "organisation_name": "Walk Together",
                    "status": "active",
                    "kind": "voluntary",
                    "access": "referral",
                    "needs": [],
                    "conditions": [],
                    "taxonomy": [],
                    "accessibility": [],
                    "languages": [],
                }
            ],
        )
        service = s.execute(Service.__table__.select().with_only_columns(Service.id)).scalar_one()
        stages = ("sent", "accepted", "attended", "declined", "did_not_attend")
        referred = ids[::2]
        s.execute(
            insert(Referral),
            [
                {
                    "person_id": pid,
                    "service_id": service,
                    "status": stages[i % len(stages)],
                    "need_domain": DOMAINS[i % len(DOMAINS)],
                    "version": 1,
                }
                for i, pid in enumerate(referred)
            ],
        )
        referrals = [
            (r[0], r[1])
            for r in s.execute(
                Referral.__table__.select().with_only_columns(Referral.id, Referral.status)
            )
        ]
        moves = {
            "accepted": ["accepted"],
            "attended": ["accepted", "attended"],
            "declined": ["declined"],
            "did_not_attend": ["accepted", "did_not_attend"],
        }
        s.execute(
            insert(ReferralEvent),
            [
                {"referral_id": rid, "to_status": to}
                for rid, status in referrals
                for to in moves.get(str(status), [])
            ],
        )
        s.execute(
            insert(UnmetNeed),
            [
                {
                    "person_id": pid,
                    "need_domain": DOMAINS[i % len(DOMAINS)],
                    "reason": REASONS[i % len(REASONS)],
                }
                for i, pid in enumerate(ids[::7])
            ],
        )
    return factory()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=1_000_000)
    args = parser.parse_args()
    con, run_id = analytic_store(args.people)
    store = operational_store(con, args.people)
    engine = DuckDBEngine(con)
    known = practices(con)
    locality = Counter(p.locality for p in known if p.locality).most_common(1)[0][0]
    everyone = Area("all", None, "the whole area")
    place = Area("locality", locality, locality)
    results: list[list[object]] = []

    def step(name: str, work: Any) -> Any:
        found, seconds = timed(work)
        results.append([name, f"{seconds:.2f}", f"{peak_rss_gb():.2f}"])
        return found

    ctx = PlanContext(engine, run_id, AS_OF, everyone, packaged_rule())
    step("plan frames (everyone)", lambda: plan_frames.register_plan_frames(ctx, store))
    for part, words in (
        (plan_care, "needs, goals and support"),
        (plan_capacity, "capacity against need"),
        (plan_inequalities, "health inequalities"),
        (plan_trends, "trends across runs"),
    ):
        step(f"section: {words} (everyone)", lambda part=part: part.sections(ctx))
    plan = step(
        "whole plan: build_plan (everyone)",
        lambda: build_plan(engine, store, run_id, AS_OF, everyone),
    )
    step(
        f"whole plan: build_plan (locality {locality})",
        lambda: build_plan(engine, store, run_id, AS_OF, place),
    )
    step(
        "bare DuckDB: the people frame's own SQL (inequality.frame_sql) into a table",
        lambda: con.execute(
            f"CREATE OR REPLACE TEMP TABLE bare_frame AS SELECT * FROM {frame_sql(run_id, AS_OF)}"
        ),
    )
    step(
        "bare DuckDB: people with an active need per domain × locality",
        lambda: con.execute(
            "SELECT n.domain, p.locality, count(DISTINCT n.patient_id) FROM plan_needs n "
            "JOIN plan_people p ON p.patient_id = n.patient_id WHERE n.status = 'active' "
            "GROUP BY n.domain, p.locality"
        ).fetchall(),
    )
    people = con.execute("SELECT count(*) FROM plan_people").fetchall()[0][0]
    plans = con.execute("SELECT count(*) FROM plan_op_plans").fetchall()[0][0]
    print(markdown_table(["step", "seconds", "peak RSS GB"], results))
    load = load_average()
    print(
        f"\n{args.people:,} people synthesised; {people:,} in the last plan's area; "
        f"{plans:,} active care plans; {len(plan.sections)} section(s); target ≤ 30 s for the "
        f"whole plan at 1,000,000 people; load average {load:.1f}"
        + (" (busy machine: timings are pessimistic)" if load > BUSY_LOAD else "")
    )


if __name__ == "__main__":
    main()
