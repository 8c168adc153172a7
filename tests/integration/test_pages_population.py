"""The population and help pages through the real app over real stores: the operational store
on SQLite and on PostgreSQL, and a DuckDB analytic store holding one run written by hand, so
every figure is known.

The population: practice A (in Leeds) has 40 people, 20 in the most deprived fifth of
England's areas and 20 in the least; practice B (in Manchester) has 25, all in the most
deprived fifth. Levels: A 3/12/10/15 people at levels 3/2/1/0, B 0/9/6/10. Nine of A's people
and three of B's are on the diabetes register. Small counts (3 at level 3, B's 6 at level 1,
B's 3 on the register) must never show; the others are rounded to the nearest 5.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html import unescape
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from test_api_support import nhs_numbers, page_sign_in

from houseofcare.api.app import create_app
from houseofcare.api.route_access import ROUTE_ACCESS, Open
from houseofcare.careplan import SYSTEM
from houseofcare.careplan.people import create_organisation, create_person, create_user
from houseofcare.careplan.plans import create_care_plan
from houseofcare.commissioning.population import LSOA_FILE
from houseofcare.engine import DuckDBEngine
from houseofcare.pipeline import RESULT_TABLES
from houseofcare.population.prevalence import prevalence
from houseofcare.population.rules import packaged_register_rules
from houseofcare.risk.scoring import RISK_SCORE_DDL
from houseofcare.settings import Settings
from houseofcare.store.analytic import connect
from houseofcare.store.database import make_engine, session_factory, transaction
from houseofcare.store.migrate import upgrade_engine
from houseofcare.store.models import AuditEvent, AuditOutcome, Role
from houseofcare.tiers.assign import TIER_DDL
from houseofcare.tiers.report import level_counts
from houseofcare.web.help import packaged_help

PASSWORD = "correct horse battery staple"
RUN, AS_OF = "run-1", dt.date(2026, 3, 31)
#: practice → (locality, [(level, imd decile, on the DM register)] per person)
LEVELS = {"A": (3, 12, 10, 15), "B": (0, 9, 6, 10)}
USERS = {
    "u.commissioner": (Role.commissioner, None),
    "u.gp": (Role.gp, "A"),
    "u.nurse": (Role.nurse, "A"),
    "u.matron": (Role.case_manager, "CT"),
    "u.social": (Role.social_worker, "LA"),
    "u.voluntary": (Role.voluntary_sector, "VG"),
    "u.patient": (Role.patient, None),
    "u.admin": (Role.admin, None),
}


def _lsoas() -> dict[tuple[str, int], str]:
    """An LSOA per (local authority, IMD decile) for Leeds and Manchester, from the lookup."""
    found: dict[tuple[str, int], str] = {}
    with Path(str(LSOA_FILE)).open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["LAD_NAME"] in ("Leeds", "Manchester"):
                found.setdefault((row["LAD_NAME"], int(row["IMD_OVERALL"])), row["LSOA_CODE"])
    return found


@dataclass
class Population:
    app: object
    factory: sessionmaker[Session]
    settings: Settings
    person_ids: list[int]
    nhs: list[str]

    def browser(self, username: str) -> TestClient:
        browser = TestClient(self.app, follow_redirects=False)  # type: ignore[arg-type]
        assert page_sign_in(browser, username, PASSWORD).status_code == 303
        return browser

    def events(self, username: str) -> list[AuditEvent]:
        with self.factory() as session:
            return list(
                session.scalars(
                    select(AuditEvent)
                    .where(AuditEvent.username == username)
                    .order_by(AuditEvent.id)
                )
            )


def _analytic(settings: Settings, *, risk: bool = True) -> list[str]:
    """The run, written by hand (`risk`: with a model's scores); the NHS numbers in it."""
    lsoa = _lsoas()
    numbers = nhs_numbers()
    written: list[str] = []
    con = connect(settings)
    try:
        for ddl in (*RESULT_TABLES.values(), TIER_DDL, *([RISK_SCORE_DDL] if risk else [])):
            con.execute(ddl)
        finished = dt.datetime(2026, 4, 1, 2)
        con.execute(
            "INSERT INTO run VALUES (?, ?, ?, ?, 'test', 'test', 65)",
            [RUN, AS_OF, finished, finished],
        )
        for practice, org, locality in (("A", "org-A", "Leeds"), ("B", "org-B", "Manchester")):
            con.execute(
                "INSERT INTO organization (organization_id, ods_code, name) VALUES (?, ?, ?)",
                [org, f"Y0{practice}", f"Practice {practice}"],
            )
            n = 0
            for level, people in zip((3, 2, 1, 0), LEVELS[practice], strict=True):
                for _ in range(people):
                    n += 1
                    pid = f"pa-{practice}{n:02d}"
                    decile = 1 if practice == "B" or n <= 20 else 10
                    number = next(numbers)
                    written.append(number)
                    con.execute(
                        "INSERT INTO patient (patient_id, nhs_number, given_name, family_name, "
                        "gender, birth_date, lsoa_code, practice_id) "
                        "VALUES (?, ?, 'Zebedee', ?, 'female', DATE '1950-01-01', ?, ?)",
                        [pid, number, f"Quux{n}", lsoa[(locality, decile)], org],
                    )
                    con.execute("INSERT INTO tier VALUES (?, ?, ?, 'rules')", [RUN, pid, level])
                    if risk:
                        con.execute(
                            "INSERT INTO risk_score VALUES (?, ?, ?, 50, NULL, NULL, NULL, 'm1')",
                            [RUN, pid, 0.45 if level == 3 else 0.02],
                        )
                    if n <= {"A": 9, "B": 3}[practice]:
                        con.execute(
                            "INSERT INTO register VALUES (?, ?, 'DM', DATE '2010-01-01', "
                            "DATE '2010-01-01')",
                            [RUN, pid],
                        )
    finally:
        con.close()
    return written


@pytest.fixture(params=["sqlite", "postgresql"])
def world(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    make_postgres_database: Callable[[str], str],
) -> Iterator[Population]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'operational.sqlite'}"
    else:
        url = make_postgres_database("population")
    engine = make_engine(url)
    upgrade_engine(engine)
    factory = session_factory(engine)
    numbers = nhs_numbers()
    for _ in range(200):  # the operational people's numbers differ from the analytic ones
        next(numbers)
    person_ids: list[int] = []
    nhs: list[str] = []
    with transaction(factory) as session:
        orgs = {
            "A": create_organisation(session, ods_code="Y0A", name="Practice A", type="practice"),
            "CT": create_organisation(session, ods_code="CT9", name="T", type="community_trust"),
            "LA": create_organisation(
                session, ods_code="LA9", name="L", type="local_authority_social_care"
            ),
            "VG": create_organisation(session, ods_code="VG9", name="V", type="voluntary_group"),
        }
        for n in range(2):
            person = create_person(
                session,
                nhs_number=next(numbers),
                patient_id=f"pa-A{n + 1:02d}",
                given_name="Zebedee",
                family_name=f"Quux{n + 1}",
                birth_date=dt.date(1950, 1, 1),
                practice_id=orgs["A"].id,
            )
            person_ids.append(person.id)
            nhs.append(person.nhs_number)
            create_care_plan(session, person.id, SYSTEM, title="My plan")
        for username, (role, org) in USERS.items():
            create_user(
                session,
                username=username,
                password=PASSWORD,
                role=role,
                display_name=username,
                organisation_id=None if org is None else orgs[org].id,
                person_id=person_ids[0] if role is Role.patient else None,
            )
    settings = Settings(data_dir=tmp_path / "hoc-data", database_url=url)
    nhs += _analytic(settings)
    app = create_app(settings)
    yield Population(app, factory, settings, person_ids, nhs)
    app.state.services.engine.dispose()
    engine.dispose()


#: A responsive table's repeated heading and every tag: what a cell's text is not.
_MARKUP = r'<span class="nhsuk-table__heading".*?</span>|<[^>]+>'


def _cells(html: str, table_id: str) -> list[list[str]]:
    """The text of each body row's cells (header cell first) of the table with that id."""
    table = re.search(rf'<table id="{table_id}".*?</table>', html, re.S)
    assert table is not None, f"no table {table_id}"
    body = table.group(0).split("<tbody", 1)[1]
    rows = []
    for row in re.findall(r"<tr.*?</tr>", body, re.S):
        cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        text = [unescape(re.sub(r"\s+", " ", re.sub(_MARKUP, "", c))).strip() for c in cells]
        rows.append(text)
    return rows


def _shown(value: object) -> str:
    """A controlled figure as the page writes it (None: suppressed)."""
    if value is None:
        return "*"
    return f"{value:,}" if isinstance(value, int) else f"{value}"


def test_a_commissioner_sees_controlled_figures_matching_the_commands(world: Population) -> None:
    page = world.browser("u.commissioner").get("/population")
    assert page.status_code == 200, page.text
    html = page.text
    # the triangle, as `hoc tiers` counts it: 3 at level 3 suppressed, the rest rounded to 5
    triangle = _cells(html, "triangle-table")
    assert [r[1] for r in triangle] == ["*", "20", "15", "25"]
    assert [r[2] for r in triangle] == ["*", "33.3%", "25.0%", "41.7%"]
    con = connect(world.settings, read_only=True)
    try:
        tiers = level_counts(con, RUN, by_practice=False).fetchall()
        rows = prevalence(DuckDBEngine(con), RUN, packaged_register_rules()).rows()
    finally:
        con.close()
    assert [(r[1], r[2]) for r in triangle] == [
        (_shown(people), "*" if share is None else f"{share:.1f}%") for _, people, share in tiers
    ]
    # register prevalence, as `hoc prevalence` gives it, beside QOF England
    shown = {r[0]: r[1:] for r in _cells(html, "prevalence-table")}
    for _register, name, count, size, pct, qof, relative in rows:
        assert shown[name][0] == _shown(count)
        assert shown[name][1] == _shown(size)
        assert shown[name][2] == ("*" if pct is None else f"{pct:.2f}%")
        assert shown[name][3] == f"{qof:.2f}%"
        assert shown[name][4] == ("*" if relative is None else f"{relative:+.1f}%")
    assert shown["Diabetes mellitus"][:3] == ["10", "65", "15.38%"]
    # the triangle drawn as a triangle, with its figures
    assert '<svg class="hoc-triangle"' in html
    assert "Level 2: disease-specific care management" in html
    assert "20 people (33.3%)" in html


def test_small_counts_never_show(world: Population) -> None:
    html = world.browser("u.commissioner").get("/population?practice=org-B").text
    triangle = _cells(html, "triangle-table")
    # B: nobody at level 3 (0 is not disclosive), 9 → 10, 6 suppressed, 10
    assert [r[1] for r in triangle] == ["0", "10", "*", "10"]
    by_imd = {r[0]: r[1:] for r in _cells(html, "triangle-imd")}
    assert by_imd["1 (most deprived)"][2] == "* (*)"
    prevalence_rows = {r[0]: r[1:] for r in _cells(html, "prevalence-table")}
    assert prevalence_rows["Diabetes mellitus"][0] == "*"
    assert prevalence_rows["Diabetes mellitus"][2] == "*"
    # no figure of the page is 1 to 7 people
    for table in ("triangle-table", "risk-table", "prevalence-table"):
        for row in _cells(html, table):
            for cell in row[1:]:
                number = cell.split(" ")[0].replace(",", "")
                if number.isdigit():
                    assert int(number) == 0 or int(number) > 7, (table, row)


def test_a_commissioner_never_sees_anyone(world: Population) -> None:
    browser = world.browser("u.commissioner")
    for path in ("/population", "/population?practice=org-A", "/population?locality=Leeds"):
        html = browser.get(path).text
        assert "Zebedee" not in html and "Quux" not in html
        assert "pa-A" not in html and "pa-B" not in html
        for number in world.nhs:
            assert number not in html
            assert f"{number[:3]} {number[3:6]} {number[6:]}" not in html
        assert "/people/" not in html
    # every person page is refused, and each refusal audited with the person
    for person_id in world.person_ids:
        for path in (
            f"/people/{person_id}",
            f"/people/{person_id}/plan",
            f"/people/{person_id}/plan/history",
            f"/people/{person_id}/plan/conversation",
            f"/people/{person_id}/plan/review",
            f"/people/{person_id}/preparation",
            f"/people/{person_id}/preparation/letter.pdf",
        ):
            before = len(world.events("u.commissioner"))
            answer = browser.get(path)
            assert answer.status_code == 403, path
            assert "You cannot see this page" in answer.text
            assert "Zebedee" not in answer.text
            new = world.events("u.commissioner")[before:]
            assert [e.outcome for e in new] == [AuditOutcome.denied], path


def test_each_view_is_audited_with_its_filters(world: Population) -> None:
    world.browser("u.commissioner").get("/population?locality=Manchester")
    event = world.events("u.commissioner")[-1]
    assert event.action == "search" and event.resource_type == "Population"
    assert event.outcome is AuditOutcome.success and event.person_id is None
    assert event.detail is not None
    assert event.detail["locality"] == "Manchester" and event.detail["run"] == RUN
    refused = world.browser("u.nurse").get("/population")
    assert refused.status_code == 403
    event = world.events("u.nurse")[-1]
    assert event.resource_type == "Population" and event.outcome is AuditOutcome.denied


def test_filters_by_practice_and_locality(world: Population) -> None:
    browser = world.browser("u.gp")
    everyone = browser.get("/population").text
    practices = [r[0] for r in _cells(everyone, "practices-levels")]
    assert practices == ["Practice A", "Practice B"]
    manchester = browser.get("/population?locality=Manchester").text
    assert [r[0] for r in _cells(manchester, "practices-levels")] == ["Practice B"]
    assert [r[1] for r in _cells(manchester, "triangle-table")] == ["0", "10", "*", "10"]
    assert "Figures for the practices of Manchester" in manchester
    leeds_a = browser.get("/population?practice=org-A&locality=Leeds").text
    assert [r[1] for r in _cells(leeds_a, "triangle-table")] == ["*", "10", "10", "15"]
    # A's IMD split: half in the most deprived fifth, half in the least
    imd = {r[0]: r[1:] for r in _cells(leeds_a, "practices-imd")}
    assert imd["Practice A"][0] == "20 (50.0%)" and imd["Practice A"][4] == "20 (50.0%)"
    # the per-practice figures are `hoc tiers --by-practice`'s
    con = connect(world.settings, read_only=True)
    try:
        per_practice = level_counts(con, RUN, by_practice=True).fetchall()
    finally:
        con.close()
    b = [_shown(people) for practice, _, people, _ in per_practice if practice == "org-B"]
    shown_b = {r[0]: r[1:] for r in _cells(everyone, "practices-levels")}["Practice B"]
    # B has nobody at level 3: the command has no row for it, the page says 0
    assert [c.split(" ")[0] for c in shown_b][1:] == b
    # a practice or locality there is not: said on the page, everyone's figures shown
    wrong = browser.get("/population?practice=nowhere")
    assert wrong.status_code == 400
    assert "Choose a practice from the list" in wrong.text
    mismatch = browser.get("/population?practice=org-B&locality=Leeds")
    assert mismatch.status_code == 400
    assert "That practice is not in Leeds" in mismatch.text


def test_the_page_says_when_there_is_no_run(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'op.sqlite'}"
    engine = make_engine(url)
    upgrade_engine(engine)
    with transaction(session_factory(engine)) as session:
        create_user(
            session, username="c", password=PASSWORD, role=Role.commissioner, display_name="c"
        )
    app = create_app(Settings(data_dir=tmp_path / "hoc-data", database_url=url))
    browser = TestClient(app, follow_redirects=False)
    assert page_sign_in(browser, "c", PASSWORD).status_code == 303
    page = browser.get("/population")
    assert page.status_code == 200
    assert "No figures yet" in page.text
    app.state.services.engine.dispose()
    engine.dispose()


def test_a_run_without_a_risk_model_says_so(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'op.sqlite'}"
    engine = make_engine(url)
    upgrade_engine(engine)
    with transaction(session_factory(engine)) as session:
        create_user(
            session, username="c", password=PASSWORD, role=Role.commissioner, display_name="c"
        )
    settings = Settings(data_dir=tmp_path / "hoc-data", database_url=url)
    _analytic(settings, risk=False)
    app = create_app(settings)
    browser = TestClient(app, follow_redirects=False)
    assert page_sign_in(browser, "c", PASSWORD).status_code == 303
    page = browser.get("/population")
    assert page.status_code == 200
    assert "This run had no trained risk model" in page.text
    assert 'id="risk-table"' not in page.text
    assert [r[1] for r in _cells(page.text, "triangle-table")] == ["*", "20", "15", "25"]
    app.state.services.engine.dispose()
    engine.dispose()


def test_the_help_names_exactly_who_may_open_each_page(world: Population) -> None:
    """Each page the help lists opens for exactly the roles it names (H-057): pages about one
    person through the policy's grants (with a related person); the others in the app."""
    from houseofcare.careplan.policy import packaged_policy

    policy = packaged_policy()
    browsers = {username: world.browser(username) for username in USERS}
    for page in packaged_help().page:
        action = ROUTE_ACCESS[("GET", page.path)]
        if "{" in page.path:
            if isinstance(action, Open):  # --- issue 13: a page any signed-in role may open
                assert set(page.roles) == set(Role), page.key
                continue
            granted = {role for role in Role if policy.granted(role, action)}  # type: ignore[arg-type]
            assert set(page.roles) == granted, page.key
            continue
        for username, (role, _) in USERS.items():
            status = browsers[username].get(page.path).status_code
            assert (status == 200) == (role in page.roles), (page.key, role, status)
    # every role's help page, and the index, open signed in or not
    anonymous = TestClient(world.app, follow_redirects=False)  # type: ignore[arg-type]
    assert anonymous.get("/help").status_code == 200
    for role in Role:
        answer = anonymous.get(f"/help/{role.value}")
        assert answer.status_code == 200
    assert anonymous.get("/help/nobody").status_code == 404
    commissioner = anonymous.get("/help/commissioner").text
    assert "Population" in commissioner and "Worklists" not in commissioner
    # the help is linked from every page, signed in or not
    assert 'href="/help"' in anonymous.get("/sign-in").text
    assert 'href="/help"' in browsers["u.gp"].get("/").text
