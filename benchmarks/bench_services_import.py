"""Benchmark importing a 5,000-service ORUK 3.0 feed into the directory (target <= 10 s).

Run: `.venv/bin/python benchmarks/bench_services_import.py [--services 5000] [--postgres]`.

The feed is generated deterministically (seeded): fully nested ORUK 3.0 services like the
demo directory's (organisation, schedule, service area, location with address and
accessibility, languages, cost, our vocabularies and esd classifications), written as one
JSON page. Each run imports it into a fresh SQLite store (and a fresh PostgreSQL database
with `--postgres`: 127.0.0.1:5432, trust auth, user postgres, database `test`) through the
same `import_path` that `hoc services import` calls: every record checked against the
published schema, mapped, and written in one transaction. A second import of the same feed
(every record unchanged) is timed too. Prints a markdown table for docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import BUSY_LOAD, load_average, markdown_table, peak_rss_gb
from houseofcare.selfcare.directory import ServiceRecord
from houseofcare.selfcare.directory_import import import_path, oruk_page
from houseofcare.selfcare.oruk import oruk_from_record
from houseofcare.store.database import make_engine, session_factory
from houseofcare.store.migrate import upgrade_engine
from houseofcare.store.models import NeedDomain, ServiceAccess, ServiceKind

LOCALITIES = ("Manchester", "Blackpool", "Leeds", "Sheffield", "Wiltshire", "Wokingham")
CONDITIONS = ("DM", "COPD", "CHD", "HF", "AST", "HYP", "DEP", "DEM")
WORDS = ("walking", "peer support", "advice", "exercise", "befriending", "education", "café")


def feed(count: int, seed: int = 13) -> dict:
    """`count` services as one ORUK 3.0 page (the same feed for the same seed)."""
    rng = random.Random(seed)
    needs = [n.value for n in NeedDomain]
    documents = []
    for i in range(count):
        place = LOCALITIES[i % len(LOCALITIES)]
        record = ServiceRecord(
            oruk_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            name=f"{place} {rng.choice(WORDS)} group {i}",
            organisation_name=f"{place} community organisation {i % 400}",
            kind=rng.choice(list(ServiceKind)),
            access=rng.choice(list(ServiceAccess)),
            description="A group for people living with long-term conditions. " * 3,
            needs=tuple(rng.sample(needs, 3)),
            conditions=tuple(rng.sample(CONDITIONS, rng.randint(0, 2))),
            taxonomy=(("esdServiceTypes", "Support groups", "http://id.esd.org.uk/service/1"),),
            locality=place,
            address=f"{i % 200 + 1} High Street",
            postcode=f"AB{i % 9 + 1} {i % 8 + 1}CD",
            latitude=round(53 + rng.random(), 5),
            longitude=round(-2 + rng.random(), 5),
            capacity_per_month=rng.choice([None, 10, 20, 30]),
            cost="Free",
            accessibility=("Step-free access", "Hearing loop"),
            languages=("en", rng.choice(["ur", "pa", "pl", "bn"])),
            phone="0161 496 0000",
            email="group@example.org.uk",
            opening_times="Every Tuesday, 10:00 to 12:00",
        )
        documents.append(oruk_from_record(record))
    return oruk_page(documents)


def run(url: str, path: Path) -> tuple[float, float, int]:
    engine = make_engine(url)
    upgrade_engine(engine)
    factory = session_factory(engine)
    try:
        start = time.perf_counter()
        first = import_path(factory, path)
        seconds = time.perf_counter() - start
        start = time.perf_counter()
        again = import_path(factory, path)
        repeat = time.perf_counter() - start
    finally:
        engine.dispose()
    assert first.counts.imported == first.read and not first.rejected
    assert again.counts.unchanged == first.read
    return seconds, repeat, first.counts.imported


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=5_000)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "feed.json"
        path.write_text(json.dumps(feed(args.services)))
        stores = [("SQLite", f"sqlite:///{Path(folder) / 'operational.sqlite'}")]
        if args.postgres:
            import psycopg

            name = f"hoc_bench_services_{uuid.uuid4().hex[:8]}"
            with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as c:
                c.execute(f'CREATE DATABASE "{name}"')
            stores.append(("PostgreSQL", f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"))
        try:
            for label, url in stores:
                seconds, repeat, count = run(url, path)
                rows.append(
                    [
                        label,
                        f"{count:,}",
                        f"{seconds:.2f}",
                        f"{count / seconds:,.0f}",
                        f"{repeat:.2f}",
                        f"{peak_rss_gb() * 1024:,.0f} MB",
                    ]
                )
        finally:
            if args.postgres:
                with psycopg.connect(
                    "postgresql://postgres@127.0.0.1:5432/test", autocommit=True
                ) as c:
                    c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    header = ["store", "services", "import (s)", "services/s", "re-import, unchanged (s)"]
    print(markdown_table([*header, "peak RSS"], rows))
    load = load_average()
    busy = " (busy machine: timings are pessimistic)" if load > BUSY_LOAD else ""
    print(f"\n1-minute load average {load:.2f}{busy}; target: import <= 10 s")


if __name__ == "__main__":
    main()
