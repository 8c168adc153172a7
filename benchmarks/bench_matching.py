"""Matching one person among 5,000 services (issue 13 target: p95 ≤ 50 ms), on SQLite and
PostgreSQL.

Each store is migrated and given 5,000 generated services (needs, conditions, localities of
three counties and some with none, ages, capacities with referrals accepted this month,
accessibility, languages, 10% not active) and `--people` people with an active care plan of
one to three needs, a goal, an activation level and preferences. Each person's registers and
home LSOA (what the analytic store would give) are drawn too. The time measured is what the
"Suggest support" page spends matching: the person's facts from the store
(`matching.person_facts`) and `matching.match` (the directory stamp, the candidates from the
directory kept per stamp, this month's capacity counts, scoring, and the reasons of the 25
the page lists), in a new session each time, as a page view does. The first views of each
store (reading the directory) are left out as warm-up.

Setup: PostgreSQL at 127.0.0.1:5432 (trust auth, user postgres, database `test`).

    .venv/bin/python benchmarks/bench_matching.py [--services 5000] [--people 300]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from sqlalchemy import insert, select

from _common import load_average, markdown_table
from houseofcare.selfcare.matching import LSOA_FILE, AnalyticFacts, match, person_facts
from houseofcare.store.database import make_engine, session_factory, transaction
from houseofcare.store.migrate import upgrade_engine
from houseofcare.store.models import (
    Activation,
    CarePlan,
    Goal,
    Need,
    NeedDomain,
    Person,
    Referral,
    Service,
    SupportPreference,
)
from houseofcare.synth.nhs_number import nhs_numbers
from houseofcare.web.support_page import SHOWN

SERVER = "postgresql://postgres@127.0.0.1:5432"
COUNTIES = ("Bedfordshire", "Greater Manchester (Met County)", "Kent")
REGISTERS = ("HYP", "DM", "AST", "COPD", "CHD", "HF", "DEP", "CKD", "STIA", "DEM")
WORDS = [
    "walking",
    "group",
    "coffee",
    "friends",
    "garden",
    "craft",
    "singing",
    "swimming",
    "cooking",
    "money",
    "housing",
]
ACCESSIBILITY = ("wheelchair access", "hearing loop", "step-free access", "large print")
LANGUAGES = ("en", "pa", "ur", "pl", "bn")


def _places() -> tuple[list[str], list[str]]:
    """The districts of three counties, and LSOAs in them."""
    districts: set[str] = set()
    lsoas: list[str] = []
    with LSOA_FILE.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["COUNTY_CONURBATION"] in COUNTIES:
                districts.add(row["LAD_NAME"])
                lsoas.append(row["LSOA_CODE"])
    return sorted(districts), lsoas


def _services(count: int, districts: list[str], rng: random.Random) -> list[dict[str, Any]]:
    domains = [d.value for d in NeedDomain]
    rows = []
    for n in range(count):
        limit = rng.choice([None, None, 5, 10, 20])
        rows.append(
            {
                "oruk_id": str(uuid.UUID(int=rng.getrandbits(128))),
                "name": f"{rng.choice(WORDS).title()} {rng.choice(WORDS)} {n}",
                "organisation_name": f"Organisation {n % 700}",
                "description": " ".join(rng.choices(WORDS, k=8)),
                "status": "active" if rng.random() < 0.9 else rng.choice(["inactive", "defunct"]),
                "kind": rng.choice(["voluntary", "community", "self_help", "statutory",
                                    "education", "rehabilitation"]),
                "access": rng.choice(["self_referral", "referral", "both"]),
                "needs": rng.sample(domains, rng.randint(1, 3)),
                "conditions": [rng.choice(REGISTERS)] if rng.random() < 0.2 else [],
                "taxonomy": [{"taxonomy": "esd", "term": rng.choice(WORDS)}],
                "locality": None if rng.random() < 0.15 else rng.choice(districts),
                "minimum_age": 18 if rng.random() < 0.3 else None,
                "maximum_age": rng.choice([25, 65]) if rng.random() < 0.1 else None,
                "capacity_per_month": limit,
                "accessibility": rng.sample(ACCESSIBILITY, rng.randint(0, 2)),
                "languages": ["en"] + ([rng.choice(LANGUAGES)] if rng.random() < 0.2 else []),
            }
        )  # fmt: skip
    return rows


def _load(url: str, services: int, people: int, seed: int) -> list[tuple[int, AnalyticFacts]]:
    """Migrate and fill a store; each person's id and their analytic facts."""
    rng = random.Random(seed)
    districts, lsoas = _places()
    engine = make_engine(url)
    upgrade_engine(engine)
    factory = session_factory(engine)
    domains = [d.value for d in NeedDomain]
    numbers = iter(nhs_numbers(np.arange(people), seed))
    now = dt.datetime.now(dt.UTC)
    with transaction(factory) as session:
        session.execute(insert(Service), _services(services, districts, rng))
        service_ids = list(session.scalars(select(Service.id)))
        session.execute(
            insert(Person),
            [
                {
                    "nhs_number": str(next(numbers)),
                    "birth_date": dt.date(rng.randint(1935, 2000), 6, 1),
                }
                for _ in range(people)
            ],
        )
        person_ids = list(session.scalars(select(Person.id).order_by(Person.id)))
        session.execute(
            insert(CarePlan),
            [{"person_id": p, "status": "active", "title": "Plan"} for p in person_ids],
        )
        plans = dict(session.execute(select(CarePlan.person_id, CarePlan.id)).all())
        session.execute(
            insert(Need),
            [
                {"care_plan_id": plans[p], "domain": d, "description": "need"}
                for p in person_ids
                for d in rng.sample(domains, rng.randint(1, 3))
            ],
        )
        session.execute(
            insert(Goal),
            [
                {"care_plan_id": plans[p], "status": "active",
                 "what_matters_to_me": " ".join(rng.choices(WORDS, k=5))}
                for p in person_ids
            ],
        )  # fmt: skip
        session.execute(
            insert(Activation),
            [{"person_id": p, "score": (s := rng.uniform(30, 90)), "level": 1 + int(s > 47) +
              int(s > 55.1) + int(s > 67)} for p in person_ids],
        )  # fmt: skip
        session.execute(
            insert(SupportPreference),
            [
                {"person_id": p, "language": rng.choice(LANGUAGES), "ways": ["group"],
                 "accessibility": rng.sample(ACCESSIBILITY, rng.randint(0, 1))}
                for p in person_ids
            ],
        )  # fmt: skip
        session.execute(
            insert(Referral),
            [
                {"person_id": rng.choice(person_ids), "service_id": rng.choice(service_ids),
                 "status": "accepted", "accepted_at": now}
                for _ in range(services)
            ],
        )  # fmt: skip
    engine.dispose()
    return [
        (
            p,
            AnalyticFacts(
                registers=frozenset(rng.sample(REGISTERS, rng.randint(0, 3))),
                lsoa_code=rng.choice(lsoas),
            ),
        )
        for p in person_ids
    ]


def _time(
    url: str, people: list[tuple[int, AnalyticFacts]]
) -> tuple[list[float], list[float], float, float]:
    """Wall-clock and this process's CPU milliseconds per person (CPU leaves out waiting for
    a shared machine's cores, and PostgreSQL's own work)."""
    engine = make_engine(url)
    factory = session_factory(engine)
    times, cpu, candidates, suggested = [], [], [], []
    for warm in (True, False):
        for person_id, facts in people[:20] if warm else people:
            start, start_cpu = time.perf_counter(), time.process_time()
            with factory() as session:
                found = match(session, person_facts(session, person_id, facts), limit=SHOWN)
            if not warm:
                times.append((time.perf_counter() - start) * 1000)
                cpu.append((time.process_time() - start_cpu) * 1000)
                candidates.append(found.considered)
                suggested.append(found.suitable)
    engine.dispose()
    return times, cpu, statistics.mean(candidates), statistics.mean(suggested)


@contextmanager
def _store(kind: str) -> Iterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{Path(folder) / 'operational.sqlite'}"
        return
    name = f"hoc_bench_matching_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{SERVER}/test", autocommit=True) as con:
        con.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(f"{SERVER}/test", autocommit=True) as con:
            con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=5_000)
    parser.add_argument("--people", type=int, default=300)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    rows = []
    for kind in args.engines.split(","):
        with _store(kind) as url:
            people = _load(url, args.services, args.people, args.seed)
            times, cpu, candidates, suggested = _time(url, people)
        rows.append(
            [
                kind,
                f"{args.services:,}",
                len(times),
                f"{candidates:.0f}",
                f"{suggested:.0f}",
                f"{_percentile(times, 0.5):.1f}",
                f"{_percentile(times, 0.95):.1f}",
                f"{_percentile(times, 0.99):.1f}",
                f"{_percentile(cpu, 0.95):.1f}",
                "yes" if _percentile(times, 0.95) <= 50 else "NO",
            ]
        )
    print(f"load average {load_average():.1f}")
    print(
        markdown_table(
            ["store", "services", "people", "candidates (mean)", "suggested (mean)",
             "p50 ms", "p95 ms", "p99 ms", "CPU p95 ms", "p95 ≤ 50 ms"],
            rows,
        )
    )  # fmt: skip


if __name__ == "__main__":
    main()
