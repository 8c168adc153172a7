"""Benchmark the FHIR API: CarePlan read and update over real HTTP with 100,000 people and
care plans in PostgreSQL (targets: read p99 <= 20 ms at >= 1,000 reads/s; update p99 <= 50 ms).

Run: `.venv/bin/python benchmarks/bench_api.py [--people 100000] [--seconds 20]
[--connections 4,8,16]`.

Setup: PostgreSQL at 127.0.0.1:5432 (trust auth, user postgres, database `test`), and wrk
(`bash scripts/setup-benchmarks` installs Debian's package, pinned). Reads are driven by wrk
(random plan ids from a Lua script, a bearer token, keep-alive connections). Updates are
driven by a small asyncio HTTP/1.1 load generator in this file (keep-alive, If-Match with
the version it last wrote, so every update is a real write); without wrk, reads use it too.
The script:

1. checks `free` memory (>= 10 GB available, else it stops);
2. creates its own database, migrates it with the shipped Alembic migrations and bulk-loads
   the people and plans with COPY (not one by one);
3. starts `hoc serve --workers 2` (uvicorn on uvloop and httptools, no access log; two
   workers for two cores) as a subprocess;
4. measures reads and updates at each concurrency in `--connections` (latency under a closed
   loop is mostly queueing: at 16 connections a request waits for up to 15 others on two
   cores, so the p99 target is read at the lower one and throughput at both), and two bare
   baselines on the same machine at the same time:
   a trivial endpoint of the same app (`/health`, no database) through wrk, and a raw psycopg
   read of the same plan row (no HTTP, no auth, no audit);
5. prints a markdown table (pasted into docs/performance.md) and drops the database.

Every API read here is a full read: token check (the per-worker credential cache), access
decision (practice, caseload, consent), the plan with its goals, actions, needs and
participants, and an audit row written and committed in PostgreSQL (one statement: see
src/houseofcare/careplan/pg_read.py). Every update is a full FHIR PUT: If-Match
compare-and-set under the row lock, access decision, subject check, a new version row with the
diff and a snapshot, the audit row, committed (two round trips on PostgreSQL: see
src/houseofcare/careplan/pg_update.py). Two more bare baselines: the read's one statement and
the update's two round trips, each in-process on one connection without HTTP.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import psutil
import psycopg

sys.path.insert(0, str(Path(__file__).parent))

from _common import markdown_table

SERVER = "postgresql://postgres@127.0.0.1:5432"
PORT = 8765
PASSWORD = "bench-password"

WRK_SCRIPT = """
math.randomseed(os.time())
local n = {people}
request = function()
  return wrk.format("GET", "/fhir/CarePlan/" .. math.random({first}, {first} + n - 1), {{
    ["Authorization"] = "Bearer {token}" }})
end
"""


def check_memory() -> None:
    available = psutil.virtual_memory().available / 2**30
    print(f"memory available: {available:.1f} GB")
    if available < 10:
        sys.exit("fewer than 10 GB available: wait for other jobs and try again")


def create_database() -> tuple[str, str]:
    name = f"hoc_bench_api_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{SERVER}/test", autocommit=True) as con:
        con.execute(f'CREATE DATABASE "{name}"')
    return name, f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def drop_database(name: str) -> None:
    with psycopg.connect(f"{SERVER}/test", autocommit=True) as con:
        con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def load(url: str, people: int) -> tuple[int, int]:
    """Migrate, create a practice and a nurse, and COPY `people` people and active plans."""
    from houseofcare.careplan.people import create_organisation, create_user
    from houseofcare.store.database import make_engine, session_factory, transaction
    from houseofcare.store.migrate import upgrade_engine
    from houseofcare.synth.nhs_number import nhs_numbers

    engine = make_engine(url)
    upgrade_engine(engine)
    with transaction(session_factory(engine)) as session:
        practice = create_organisation(session, ods_code="Y9999", name="Bench", type="practice")
        create_user(
            session,
            username="bench.nurse",
            password=PASSWORD,
            role="nurse",
            display_name="Bench nurse",
            organisation_id=practice.id,
        )
        practice_id = practice.id
    engine.dispose()
    numbers = nhs_numbers(np.arange(people), seed=7)
    started = time.perf_counter()
    with psycopg.connect(url.replace("+psycopg", "")) as con:
        with con.cursor() as cur:
            buffer = io.StringIO()
            for i, number in enumerate(numbers):
                buffer.write(
                    f"{number}\tp{i}\tPerson\t{i}\t{practice_id}\t2026-01-01 00:00:00+00\n"
                )
            buffer.seek(0)
            with cur.copy(
                "COPY person (nhs_number, patient_id, given_name, family_name, practice_id, "
                "created_at) FROM STDIN"
            ) as copy:
                copy.write(buffer.read())
            cur.execute("SELECT min(id) FROM person")
            first_person = cur.fetchone()[0]  # type: ignore[index]
            cur.execute(
                """
                INSERT INTO care_plan (person_id, status, title, period_start, agreed_with_person,
                    version, created_at, updated_at)
                SELECT id, 'active', 'My care plan', DATE '2026-01-01', false, 1,
                    TIMESTAMPTZ '2026-01-01', TIMESTAMPTZ '2026-01-01'
                FROM person ORDER BY id
                """
            )
            cur.execute("SELECT min(id) FROM care_plan")
            first_plan = cur.fetchone()[0]  # type: ignore[index]
        con.commit()
        con.execute("ANALYZE")
    print(f"loaded {people:,} people and plans in {time.perf_counter() - started:.1f} s")
    return first_person, first_plan


def start_server(url: str, data_dir: Path, workers: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "HOC_DATABASE_URL": url, "HOC_DATA_DIR": str(data_dir)}
    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("hoc")),
            "serve",
            "--port",
            str(PORT),
            "--workers",
            str(workers),
        ],
        env=env,
    )
    deadline = time.monotonic() + 60
    import httpx

    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{PORT}/health", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError("the server did not start")


def token() -> str:
    import httpx

    response = httpx.post(
        f"http://127.0.0.1:{PORT}/auth/token",
        data={"username": "bench.nurse", "password": PASSWORD},
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


# --- the asyncio load generator ----------------------------------------------------------------


async def _request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes
) -> tuple[int, bytes]:
    writer.write(raw)
    await writer.drain()
    status_line = await reader.readline()
    status = int(status_line.split()[1])
    length = 0
    etag = b""
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value)
        elif name.lower() == b"etag":
            etag = value.strip()
    if length:
        await reader.readexactly(length)
    return status, etag


async def drive(
    kind: str,
    auth: str,
    first_plan: int,
    first_person: int,
    people: int,
    seconds: float,
    connections: int,
    versions: dict[int, int] | None = None,
) -> tuple[list[float], int, float]:
    """Run `connections` keep-alive clients for `seconds`; latencies (s), errors, elapsed.

    `versions` remembers each plan's version across runs (updates send it in If-Match)."""
    latencies: list[float] = []
    errors = 0
    versions = {} if versions is None else versions
    stop = time.perf_counter() + seconds
    rng = random.Random(7)

    async def one(worker: int) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
        own = list(range(worker, people, connections))
        rng.shuffle(own)
        step = 0
        while time.perf_counter() < stop:
            index = own[step % len(own)] if kind == "update" else rng.randrange(people)
            step += 1
            plan = first_plan + index
            if kind == "read":
                raw = (
                    f"GET /fhir/CarePlan/{plan} HTTP/1.1\r\nHost: x\r\n"
                    f"Authorization: Bearer {auth}\r\n\r\n"
                ).encode()
            else:
                version = versions.get(plan, 1)
                body = json.dumps(
                    {
                        "resourceType": "CarePlan",
                        "id": str(plan),
                        "status": "active",
                        "intent": "plan",
                        "title": f"My care plan (edit {version})",
                        "subject": {"reference": f"Patient/{first_person + index}"},
                        "period": {"start": "2026-01-01"},
                    }
                ).encode()
                raw = (
                    f"PUT /fhir/CarePlan/{plan} HTTP/1.1\r\nHost: x\r\n"
                    f"Authorization: Bearer {auth}\r\nContent-Type: application/fhir+json\r\n"
                    f'If-Match: W/"{version}"\r\nContent-Length: {len(body)}\r\n\r\n'
                ).encode() + body
            started = time.perf_counter()
            status, etag = await _request(reader, writer, raw)
            latencies.append(time.perf_counter() - started)
            if status != 200:
                errors += 1
            elif kind == "update":
                versions[plan] = int(etag.decode().split('"')[1])
        writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(connections)))
    return latencies, errors, time.perf_counter() - began


def summarise(label: str, latencies: list[float], errors: int, elapsed: float) -> list[object]:
    ms = np.array(latencies) * 1000
    return [
        label,
        f"{len(ms) / elapsed:,.0f}",
        f"{np.percentile(ms, 50):.1f}",
        f"{np.percentile(ms, 99):.1f}",
        f"{errors:,}",
        f"{os.getloadavg()[0]:.1f}",
    ]


def run_wrk(
    path_script: Path, seconds: int, connections: int, url: str
) -> tuple[float, float, float, int]:
    """wrk's requests/s, p50 and p99 in ms, and non-2xx count."""
    result = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(path_script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    out = result.stdout
    rps = float(out.split("Requests/sec:")[1].split()[0])
    lat = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in ("50%", "99%"):
            value = parts[1]
            factor = 1000 if value.endswith("s") and not value.endswith(("ms", "us")) else 1
            if value.endswith("us"):
                lat[parts[0]] = float(value[:-2]) / 1000
            elif value.endswith("ms"):
                lat[parts[0]] = float(value[:-2])
            else:
                lat[parts[0]] = float(value[:-1]) * factor
    bad = 0
    if "Non-2xx or 3xx responses:" in out:
        bad = int(out.split("Non-2xx or 3xx responses:")[1].split()[0])
    return rps, lat["50%"], lat["99%"], bad


def raw_psycopg(url: str, first_plan: int, people: int, count: int = 20_000) -> list[object]:
    rng = random.Random(1)
    latencies = []
    with psycopg.connect(url.replace("+psycopg", "")) as con:
        start = time.perf_counter()
        for _ in range(count):
            t = time.perf_counter()
            con.execute(
                "SELECT * FROM care_plan WHERE id = %s", [first_plan + rng.randrange(people)]
            ).fetchall()
            latencies.append(time.perf_counter() - t)
        elapsed = time.perf_counter() - start
    return summarise(
        "bare: raw psycopg read of the plan row (1 connection, no HTTP)", latencies, 0, elapsed
    )


def statement_only(url: str, first_plan: int, people: int, count: int = 5_000) -> list[object]:
    """The API read's one statement (access check, audit INSERT committed, plan and parts)
    in this process, one connection, no HTTP: what the database alone costs per read."""
    from houseofcare.careplan.actor import Actor
    from houseofcare.careplan.pg_read import PlanReader
    from houseofcare.careplan.policy import Role, packaged_policy

    with psycopg.connect(url.replace("+psycopg", "")) as con:
        user_id, organisation_id = con.execute(
            "SELECT id, organisation_id FROM user_account WHERE username = 'bench.nurse'"
        ).fetchone()  # type: ignore[misc]
    actor = Actor(user_id, "bench.nurse", Role.nurse, organisation_id, "practice")
    reader = PlanReader(url.replace("+psycopg", ""), packaged_policy(), size=1)
    rng = random.Random(2)
    latencies = []
    start = time.perf_counter()
    for _ in range(count):
        t = time.perf_counter()
        if reader.read(actor, first_plan + rng.randrange(people)) is None:
            raise RuntimeError("the bench nurse was refused a plan at their practice")
        latencies.append(time.perf_counter() - t)
    elapsed = time.perf_counter() - start
    reader.close()
    return summarise(
        "bare: the read's one SQL statement with its audit commit (1 connection, no HTTP)",
        latencies,
        0,
        elapsed,
    )


def update_only(
    url: str,
    first_plan: int,
    first_person: int,
    people: int,
    versions: dict[int, int],
    count: int = 2_000,
) -> list[object]:
    """The API update's fast path (pg_update: lock and read, check, write version and
    audit, commit) in this process, one connection, no HTTP: what the database alone costs
    per update, nearly all of it the durable commit."""
    from houseofcare.careplan.actor import Actor
    from houseofcare.careplan.pg_update import PlanUpdater
    from houseofcare.careplan.policy import Role, packaged_policy
    from houseofcare.careplan.records import CarePlanContent
    from houseofcare.store.models import CarePlanStatus
    from houseofcare.store.pgpool import PgPool

    with psycopg.connect(url.replace("+psycopg", "")) as con:
        user_id, organisation_id = con.execute(
            "SELECT id, organisation_id FROM user_account WHERE username = 'bench.nurse'"
        ).fetchone()  # type: ignore[misc]
    actor = Actor(user_id, "bench.nurse", Role.nurse, organisation_id, "practice")
    pool = PgPool(url.replace("+psycopg", ""), size=1)
    updater = PlanUpdater(pool, packaged_policy())
    rng = random.Random(3)
    latencies = []
    start = time.perf_counter()
    for _ in range(count):
        index = rng.randrange(people)
        plan = first_plan + index
        version = versions.get(plan, 1)
        content = CarePlanContent(
            person_id=first_person + index,
            status=CarePlanStatus.active,
            title=f"My care plan (edit {version})",
            period_start=dt.date(2026, 1, 1),
        )
        t = time.perf_counter()
        record = updater.update(actor, plan, version, content)
        latencies.append(time.perf_counter() - t)
        if record is None:
            raise RuntimeError(f"the bench nurse's update of CarePlan/{plan} was not done")
        versions[plan] = record.version
    elapsed = time.perf_counter() - start
    pool.close()
    return summarise(
        "bare: the update's two round trips with its commit (1 connection, no HTTP)",
        latencies,
        0,
        elapsed,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument(
        "--connections",
        type=lambda text: [int(part) for part in text.split(",")],
        default=[4, 8, 16],
        help="comma-separated concurrencies to measure reads and updates at (default 4,8,16)",
    )
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    check_memory()
    name, url = create_database()
    data_dir = Path(tempfile.mkdtemp(prefix="hoc-bench-api-"))
    server = None
    try:
        first_person, first_plan = load(url, args.people)
        server = start_server(url, data_dir, args.workers)
        auth = token()
        rows: list[list[object]] = []
        wrk = shutil.which("wrk")
        base = f"http://127.0.0.1:{PORT}"
        script = data_dir / "read.lua"
        script.write_text(WRK_SCRIPT.format(people=args.people, first=first_plan, token=auth))
        if wrk:  # warm up: connections opened, statements prepared, caches filled
            subprocess.run(
                ["wrk", "-t1", "-c4", "-d3s", "-s", str(script), base],
                check=True,
                capture_output=True,
            )
        for connections in args.connections:
            if wrk:
                rps, p50, p99, bad = run_wrk(script, args.seconds, connections, base)
                rows.append(
                    [
                        f"CarePlan read (wrk, random plan, {connections} connections)",
                        f"{rps:,.0f}",
                        f"{p50:.1f}",
                        f"{p99:.1f}",
                        f"{bad:,}",
                        f"{os.getloadavg()[0]:.1f}",
                    ]
                )
            else:
                lat, err, elapsed = asyncio.run(
                    drive(
                        "read",
                        auth,
                        first_plan,
                        first_person,
                        args.people,
                        args.seconds,
                        connections,
                    )
                )
                rows.append(
                    summarise(
                        f"CarePlan read (asyncio generator, {connections} connections)",
                        lat,
                        err,
                        elapsed,
                    )
                )
        if wrk:
            health = data_dir / "health.lua"
            health.write_text('request = function() return wrk.format("GET", "/health") end\n')
            top = max(args.connections)
            rps, p50, p99, bad = run_wrk(health, args.seconds, top, base)
            rows.append(
                [
                    f"bare: trivial endpoint of the same app (/health, wrk, {top} connections)",
                    f"{rps:,.0f}",
                    f"{p50:.1f}",
                    f"{p99:.1f}",
                    f"{bad:,}",
                    f"{os.getloadavg()[0]:.1f}",
                ]
            )
        versions: dict[int, int] = {}
        for connections in args.connections:
            lat, err, elapsed = asyncio.run(
                drive(
                    "update",
                    auth,
                    first_plan,
                    first_person,
                    args.people,
                    args.seconds,
                    connections,
                    versions,
                )
            )
            rows.append(
                summarise(
                    f"CarePlan update with If-Match (asyncio generator, {connections} connections)",
                    lat,
                    err,
                    elapsed,
                )
            )
        rows.append(statement_only(url, first_plan, args.people))
        rows.append(update_only(url, first_plan, first_person, args.people, versions))
        rows.append(raw_psycopg(url, first_plan, args.people))
        print()
        print(
            f"{args.people:,} people and care plans in PostgreSQL; uvicorn with "
            f"{args.workers} workers (uvloop, httptools, no access log); {args.seconds} s per "
            f"measurement; {os.cpu_count()} cores"
        )
        print(
            markdown_table(
                ["measurement", "requests/s", "p50 ms", "p99 ms", "errors", "load avg"], rows
            )
        )
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        drop_database(name)
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
