"""Benchmark the pages: each page's server time with 100,000 people and plans loaded, 4
concurrent users (target: p95 <= 100 ms on the 2-core machine), beside the bare API CarePlan
read of the same data and a trivial endpoint of the same app.

Run: `.venv/bin/python benchmarks/bench_pages.py [--people 100000] [--seconds 20]
[--connections 4] [--workers 2] [--only PATH ...] [--keep]` (`--only` measures just those
pages of `PAGES`, beside the bare rows; `--keep` leaves the stores to profile a page by hand).

Setup: PostgreSQL at 127.0.0.1:5432 (trust auth, user postgres, database `test`), and wrk
(`bash scripts/setup-benchmarks`). The script:

1. checks `free` memory (>= 10 GB available, else it stops), as bench_api does;
2. builds the analytic store as `hoc run` sees it: a synthetic population (`hoc synth`'s
   generator, Parquet, cached under benchmarks/.cache/) loaded into a DuckDB file, then one
   dated pipeline run (`run_pipeline`, what `hoc run` calls);
3. creates its own PostgreSQL database, migrates it and bulk-loads (COPY and INSERT ...
   SELECT, not one by one) the same people with their practices, one active care plan each
   (review dates spread over the year around today, so about half are due), a care team per
   practice, a case manager's caseload, and one audit event per plan;
4. starts `hoc serve --workers N` (two per core) over both stores, waits for its audit
   sealer to seal the loaded trail (else the first pages measured share the cores with
   it), signs each bench user in through the sign-in page (a page session cookie, as a
   browser holds it);
5. probes each page of `PAGES` once: a page answering 404 (not merged yet) is skipped with a
   note, so the script runs before and after the pages it lists exist;
6. drives each page with wrk (`--connections` keep-alive connections, random person ids from
   a Lua script where the path has one) and reads requests/s, p50, p95 and p99 latency (wrk's
   own histogram; on this loopback the latency is the server's time plus a few tens of µs);
7. measures the bare API CarePlan read of a random plan at the nurse's practice (bearer
   token, as bench_api does) and `/health` the same way;
8. prints a markdown table (docs/performance.md, "Pages") and drops the database.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb
import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).parent))

from _common import AS_OF, BUSY_LOAD, load_average, markdown_table, synthetic
from bench_api import SERVER, check_memory, drop_database

#: The pages measured: (path, bench user). `{person}` is replaced by a random person id of
#: the nurse's practice (or of the matron's caseload, for the matron), per request. Add the
#: new pages here as they are merged; a page that answers 404 is skipped with a note.
PAGES: list[tuple[str, str]] = [
    ("/", "bench.nurse"),
    ("/worklists", "bench.nurse"),
    ("/worklists/recall.csv", "bench.nurse"),
    ("/audit", "bench.admin"),
    ("/caseload", "bench.matron"),
    ("/people/{person}", "bench.nurse"),
    ("/people/{person}/plan", "bench.nurse"),
    ("/people/{person}/preparation", "bench.nurse"),
    ("/people/{person}/plan/history", "bench.nurse"),
    # --- issue 12: population and help pages
    ("/population", "bench.commissioner"),
    ("/help", "bench.commissioner"),
    # --- issue 12: My care plan (the person's own pages; bench.patient is the first person
    # of the bench practice, so no id in the path)
    ("/me", "bench.patient"),
    ("/me/talk-about", "bench.patient"),
    ("/me/plan", "bench.patient"),
    ("/me/access-log", "bench.patient"),
    # --- issue 12: consent and the partners' view (bench.social: a social worker; the first
    # SHARED people of the bench practice share their plan with social care)
    ("/consent", "bench.patient"),
    ("/people/{person}/consent", "bench.nurse"),
    ("/partners", "bench.social"),
    ("/partners/people/{person}", "bench.social"),
    # --- issue 13: the directory, suggest support and a person's referrals (the bench store's
    # directory is empty: these measure the pages' own cost; bench_matching.py measures
    # matching among 5,000 services)
    ("/services", "bench.nurse"),
    ("/people/{person}/support", "bench.nurse"),
    ("/people/{person}/referrals", "bench.nurse"),
    # --- issue 14: the commissioners' page (the plan kept while neither store changes; the
    # first view builds it: the p99)
    ("/commissioning", "bench.commissioner"),
]
TARGET_P95_MS = 100.0
PORT = 8775
PASSWORD = "bench-password"
CASELOAD = 60
USERS = {
    "bench.nurse": "nurse",
    "bench.admin": "admin",
    "bench.matron": "case_manager",
    "bench.commissioner": "commissioner",  # issue 12: population pages
}

#: One request per call: the path with a random person id, the session cookie or bearer
#: token. `done` prints wrk's percentiles (µs) for this script to read (wrk's --latency
#: summary has no p95).
LUA = """
math.randomseed(os.time())
local first, count = {first}, {count}
local path = "{path}"
request = function()
  local p = path:gsub("{{person}}", tostring(math.random(first, first + count - 1)))
  return wrk.format("GET", p, {{ ["{header}"] = "{value}" }})
end
done = function(summary, latency, requests)
  for _, q in ipairs({{50, 95, 99}}) do
    io.write(string.format("P%d %d\\n", q, latency:percentile(q)))
  end
end
"""


@dataclass(frozen=True)
class Bench:
    """What was loaded: the id ranges the Lua scripts draw from."""

    people: int
    practice: str
    practice_people: int
    first_person: int
    first_plan: int
    caseload_first: int


def analytic_store(data_dir: Path, people: int) -> None:
    """The synthetic population in the analytic store and one pipeline run over it."""
    from houseofcare.analytic_tables import CLINICAL_TABLES
    from houseofcare.pipeline import run_pipeline
    from houseofcare.settings import Settings
    from houseofcare.store.analytic import ensure_schema

    parquet = synthetic(people, "parquet")
    settings = Settings(data_dir=data_dir)
    started = time.perf_counter()
    con = duckdb.connect(str(settings.analytic_db_path))
    for table in CLINICAL_TABLES:
        con.execute(
            f"CREATE TABLE {table} AS SELECT * FROM read_parquet('{parquet / table}.parquet')"
        )
    ensure_schema(con)  # what a store made by `hoc ingest` has (its indexes by person)
    run_pipeline(settings=settings, as_of=AS_OF, con=con)
    con.close()
    print(f"analytic store and pipeline run: {time.perf_counter() - started:.1f} s")


def create_database() -> tuple[str, str]:
    name = f"hoc_bench_pages_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{SERVER}/test", autocommit=True) as con:
        con.execute(f'CREATE DATABASE "{name}"')
    return name, f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def operational_store(url: str, data_dir: Path) -> Bench:
    """Migrate; the practices, people, plans, teams, users, caseload and a trail, in bulk."""
    from houseofcare.careplan.people import create_organisation, create_user
    from houseofcare.settings import Settings
    from houseofcare.store.database import make_engine, session_factory, transaction
    from houseofcare.store.migrate import upgrade_engine

    started = time.perf_counter()
    analytic = duckdb.connect(str(Settings(data_dir=data_dir).analytic_db_path), read_only=True)
    rows = analytic.execute(
        "SELECT nhs_number, patient_id, given_name, family_name, birth_date, gender, "
        "practice_id FROM patient WHERE nhs_number IS NOT NULL AND practice_id IS NOT NULL "
        "ORDER BY practice_id, patient_id"
    ).fetchall()
    practices = analytic.execute(
        "SELECT practice_id, count(*) AS n FROM patient WHERE nhs_number IS NOT NULL "
        "AND practice_id IS NOT NULL GROUP BY practice_id ORDER BY n DESC, practice_id"
    ).fetchall()
    analytic.close()
    engine = make_engine(url)
    upgrade_engine(engine)
    with transaction(session_factory(engine)) as session:
        orgs = {
            code: create_organisation(
                session, ods_code=str(code), name=f"Practice {code}", type="practice"
            ).id
            for code, _n in practices
        }
        trust = create_organisation(
            session, ods_code="RBENCH", name="Bench community trust", type="community_trust"
        )
        home = practices[0][0]
        for username, role in USERS.items():
            create_user(
                session,
                username=username,
                password=PASSWORD,
                role=role,
                display_name=username,
                organisation_id={"nurse": orgs[home], "case_manager": trust.id}.get(role),
            )
    engine.dispose()
    buffer = io.StringIO()
    for nhs, patient, given, family, born, gender, practice in rows:
        cells = [nhs, patient, given, family, born, gender, orgs[practice], "2026-01-01 00:00+00"]
        buffer.write("\t".join(r"\N" if c is None else str(c) for c in cells) + "\n")
    with psycopg.connect(url.replace("+psycopg", "")) as con, con.cursor() as cur:
        with cur.copy(
            "COPY person (nhs_number, patient_id, given_name, family_name, birth_date, "
            "gender, practice_id, created_at) FROM STDIN"
        ) as copy:
            copy.write(buffer.getvalue())
        cur.execute(
            "INSERT INTO care_team (name, organisation_id, created_at) "
            "SELECT 'Practice team', id, TIMESTAMPTZ '2026-01-01' FROM organisation "
            "WHERE type = 'practice'"
        )
        cur.execute(
            """
            INSERT INTO care_plan (person_id, status, title, care_team_id, period_start,
                review_date, agreed_with_person, version, created_at, updated_at)
            SELECT p.id, 'active', 'My care plan', t.id, DATE '2026-01-01',
                CURRENT_DATE - 180 + (p.id % 365), true, 1,
                TIMESTAMPTZ '2026-01-01', TIMESTAMPTZ '2026-01-01'
            FROM person p JOIN care_team t ON t.organisation_id = p.practice_id
            ORDER BY p.id
            """
        )
        cur.execute(
            "SELECT min(p.id), count(*), min(c.id) FROM person p "
            "JOIN care_plan c ON c.person_id = p.id WHERE p.practice_id = %s",
            [orgs[home]],
        )
        first_person, practice_people, first_plan = cur.fetchone()  # type: ignore[misc]
        caseload_first = first_person + practice_people - CASELOAD
        cur.execute(
            "INSERT INTO caseload_assignment (case_manager_id, person_id, assigned_at) "
            "SELECT u.id, p.id, TIMESTAMPTZ '2026-02-01' FROM person p, user_account u "
            "WHERE u.username = 'bench.matron' AND p.id >= %s AND p.id < %s",
            [caseload_first, caseload_first + CASELOAD],
        )
        # the trail as it would be: one event for each plan's creation
        cur.execute(
            "INSERT INTO audit_event (occurred_at, user_id, username, role, action, "
            "resource_type, resource_id, person_id, outcome) "
            "SELECT c.created_at, u.id, u.username, u.role, 'create', 'CarePlan', "
            "c.id::text, c.person_id, 'success' FROM care_plan c, user_account u "
            "WHERE u.username = 'bench.nurse' ORDER BY c.id"
        )
        con.commit()
        con.execute("ANALYZE")
    _bench_patient(url, first_person)  # --- issue 12: My care plan
    _bench_partners(url, first_person)  # --- issue 12: consent and the partners' view
    print(
        f"operational store: {len(rows):,} people and plans, {len(orgs)} practices "
        f"({practice_people:,} at the bench practice) in {time.perf_counter() - started:.1f} s"
    )
    return Bench(
        people=len(rows),
        practice=str(home),
        practice_people=practice_people,
        first_person=first_person,
        first_plan=first_plan,
        caseload_first=caseload_first,
    )


# --- issue 12: My care plan: a person who signs in as themselves
PATIENT = "bench.patient"


def _bench_patient(url: str, person_id: int) -> None:
    """`bench.patient`: the sign-in of one person of the bench practice (their own pages)."""
    from houseofcare.careplan.people import create_user
    from houseofcare.store.database import make_engine, session_factory, transaction

    engine = make_engine(url)
    with transaction(session_factory(engine)) as session:
        create_user(
            session,
            username=PATIENT,
            password=PASSWORD,
            role="patient",
            display_name=PATIENT,
            person_id=person_id,
        )
    engine.dispose()


# --- issue 12: consent and the partners' view
SOCIAL = "bench.social"
SHARED = 500


def _bench_partners(url: str, first_person: int) -> None:
    """`bench.social`, a social worker of a bench local authority, and the first `SHARED`
    people of the bench practice sharing their plan with social care."""
    from houseofcare.careplan.people import create_organisation, create_user
    from houseofcare.store.database import make_engine, session_factory, transaction

    engine = make_engine(url)
    with transaction(session_factory(engine)) as session:
        council = create_organisation(
            session,
            ods_code="LBENCH",
            name="Bench council social care",
            type="local_authority_social_care",
        )
        create_user(
            session,
            username=SOCIAL,
            password=PASSWORD,
            role="social_worker",
            display_name=SOCIAL,
            organisation_id=council.id,
        )
    engine.dispose()
    with psycopg.connect(url.replace("+psycopg", "")) as con:
        con.execute(
            "INSERT INTO consent_to_share (person_id, organisation_type, given_at) "
            "SELECT id, 'local_authority_social_care', TIMESTAMPTZ '2026-01-02' FROM person "
            "WHERE id >= %s AND id < %s",
            [first_person, first_person + SHARED],
        )


def start_server(url: str, data_dir: Path, workers: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "HOC_DATABASE_URL": url, "HOC_DATA_DIR": str(data_dir)}
    hoc = str(Path(sys.executable).with_name("hoc"))
    process = subprocess.Popen(
        [hoc, "serve", "--port", str(PORT), "--workers", str(workers)], env=env
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{PORT}/health", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError("the server did not start")


def wait_for_the_sealer(url: str, limit: float = 600.0, quiet: bool = False) -> None:
    """Wait until `hoc serve`'s sealer has sealed the trail loaded with the plans (one event
    per plan): hashing 100,000 events takes it a minute or so of the same two cores, and
    measuring a page meanwhile measures the sealer too. Called again before each page
    (`quiet`): a list page writes an audit event per person listed, thousands a second under
    wrk, and the next page measured would otherwise share the cores with sealing them."""
    started = time.monotonic()
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as con:
        (target,) = con.execute("SELECT coalesce(max(id), 0) FROM audit_event").fetchone()
        while time.monotonic() - started < limit:
            (sealed,) = con.execute(
                "SELECT coalesce(max(last_event_id), 0) FROM audit_seal"
            ).fetchone()
            if sealed >= target:
                waited = time.monotonic() - started
                if not quiet or waited >= 1:
                    print(f"the sealer caught up with the trail in {waited:.0f} s")
                return
            time.sleep(1)
    print(f"the sealer had not caught up after {limit:.0f} s: the figures include its work")


def page_session(username: str) -> str:
    """Sign in through the sign-in page as a browser does; the session cookie header."""
    with httpx.Client(base_url=f"http://127.0.0.1:{PORT}", follow_redirects=False) as client:
        form = client.get("/sign-in")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        if token is None:
            raise RuntimeError("no CSRF token on the sign-in page")
        answer = client.post(
            "/sign-in",
            data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)},
        )
        if answer.status_code != 303 or "hoc_session" not in client.cookies:
            raise RuntimeError(f"{username} could not sign in: {answer.status_code}")
        return f"hoc_session={client.cookies['hoc_session']}"


def bearer(username: str) -> str:
    answer = httpx.post(
        f"http://127.0.0.1:{PORT}/auth/token",
        data={"username": username, "password": PASSWORD},
    )
    answer.raise_for_status()
    return f"Bearer {answer.json()['access_token']}"


def run_wrk(script: Path, seconds: int, connections: int) -> tuple[float, float, float, float, int]:
    """wrk's requests/s, p50, p95 and p99 in ms, and the count of non-2xx/3xx answers."""
    result = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(script),
         f"http://127.0.0.1:{PORT}"],
        capture_output=True,
        text=True,
        check=True,
    )  # fmt: skip
    out = result.stdout
    rps = float(out.split("Requests/sec:")[1].split()[0])
    quantiles = {int(q): int(us) / 1000 for q, us in re.findall(r"^P(\d+) (\d+)$", out, re.M)}
    bad = 0
    if "Non-2xx or 3xx responses:" in out:
        bad = int(out.split("Non-2xx or 3xx responses:")[1].split()[0])
    return rps, quantiles[50], quantiles[95], quantiles[99], bad


def lua(
    folder: Path, name: str, path: str, header: str, value: str, first: int, count: int
) -> Path:
    script = folder / f"{name}.lua"
    script.write_text(LUA.format(first=first, count=count, path=path, header=header, value=value))
    return script


def measure(
    label: str, script: Path, seconds: int, connections: int, target: bool = True
) -> list[object]:
    subprocess.run(  # warm up: connections, caches, prepared statements
        ["wrk", "-t1", f"-c{connections}", "-d2s", "-s", str(script), f"http://127.0.0.1:{PORT}"],
        check=True,
        capture_output=True,
    )
    rps, p50, p95, p99, bad = run_wrk(script, seconds, connections)
    load = load_average()
    verdict = ("yes" if p95 <= TARGET_P95_MS else "**no**") if target else ""
    return [
        label,
        f"{rps:,.0f}",
        f"{p50:.1f}",
        f"{p95:.1f}",
        f"{p99:.1f}",
        f"{bad:,}",
        verdict,
        f"{load:.1f}" + (" (busy)" if load > BUSY_LOAD else ""),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=4)
    # two per core: a browser's keep-alive connection stays with one worker, and each
    # worker runs its Python under one lock, so with one per core two users can share a
    # worker while the other idles; with two per core the OS spreads them (docs/performance.md)
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1))
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="PATH",
        help="measure only this page (as written in PAGES; repeat for more), beside the bare rows",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the stores (print their database URL and data folder) to profile a page by "
        "hand; drop the database later with `dropdb`",
    )
    args = parser.parse_args()
    unknown = set(args.only) - {path for path, _ in PAGES}
    if unknown:
        sys.exit(f"not a page of PAGES: {', '.join(sorted(unknown))}")
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: run `bash scripts/setup-benchmarks`")
    check_memory()
    data_dir = Path(tempfile.mkdtemp(prefix="hoc-bench-pages-"))
    name, url = create_database()
    server = None
    try:
        analytic_store(data_dir, args.people)
        bench = operational_store(url, data_dir)
        server = start_server(url, data_dir, args.workers)
        wait_for_the_sealer(url)
        cookies = {user: page_session(user) for user in [*USERS, PATIENT, SOCIAL]}
        rows: list[list[object]] = []
        notes: list[str] = []
        for path, user in PAGES:
            if args.only and path not in args.only:
                continue
            if "{person}" in path:
                first, count = {
                    "bench.matron": (bench.caseload_first, CASELOAD),
                    SOCIAL: (bench.first_person, SHARED),
                }.get(user, (bench.first_person, bench.practice_people))
            else:
                first, count = 0, 1
            probe = httpx.get(
                f"http://127.0.0.1:{PORT}{path.replace('{person}', str(first))}",
                headers={"Cookie": cookies[user]},
                timeout=60,
            )
            if probe.status_code != 200:
                what = "not on this branch yet" if probe.status_code == 404 else "not measured"
                notes.append(f"`{path}` ({user}) answered {probe.status_code}: {what}")
                continue
            slug = re.sub(r"\W+", "-", path).strip("-") or "home"
            wait_for_the_sealer(url, quiet=True)
            script = lua(data_dir, slug, path, "Cookie", cookies[user], first, count)
            rows.append(measure(f"page `{path}` ({user})", script, args.seconds, args.connections))
        api = lua(
            data_dir,
            "api",
            "/fhir/CarePlan/{person}",
            "Authorization",
            bearer("bench.nurse"),
            bench.first_plan,
            bench.practice_people,
        )
        rows.append(
            measure(
                "bare API: FHIR CarePlan read, random plan at the practice (bearer token)",
                api,
                args.seconds,
                args.connections,
                target=False,
            )
        )
        health = lua(data_dir, "health", "/health", "Accept", "*/*", 0, 1)
        rows.append(
            measure(
                "bare: trivial endpoint of the same app (/health)",
                health,
                args.seconds,
                args.connections,
                target=False,
            )
        )
        print()
        print(
            f"{bench.people:,} people and care plans in PostgreSQL and in the analytic store "
            f"(one pipeline run); the bench practice {bench.practice} has "
            f"{bench.practice_people:,} of them; uvicorn with {args.workers} workers; wrk, "
            f"{args.connections} connections, {args.seconds} s per row after a 2 s warm-up; "
            f"{os.cpu_count()} cores"
        )
        print(
            markdown_table(
                [
                    "measurement",
                    "requests/s",
                    "p50 ms",
                    "p95 ms",
                    "p99 ms",
                    "non-2xx",
                    f"p95 ≤ {TARGET_P95_MS:.0f} ms",
                    "load avg",
                ],
                rows,
            )
        )
        for note in notes:
            print(f"- skipped: {note}")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        if args.keep:
            print(f"kept: HOC_DATABASE_URL={url} HOC_DATA_DIR={data_dir}")
        else:
            drop_database(name)
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
