"""The caseload page through the real app over real stores: the operational store on SQLite
and on PostgreSQL, and a DuckDB analytic store holding two dated runs and the encounters
between them.

The cast: two case managers (`cm.one` holds Ada and Bob; `cm.two` holds Dan) and a GP. In the
earlier run Ada, Bob and Dan are at level 3 and Cat at level 2; in the latest, Bob has gone
down to level 2, Cat is new to level 3 and Eve is at level 3 too. Ada was admitted as an
emergency between the runs. The caseload holds at most 3 people.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from test_api_support import form_token, nhs_numbers, page_sign_in

from houseofcare.api.app import create_app
from houseofcare.careplan import SYSTEM
from houseofcare.careplan.people import (
    assign_to_caseload,
    create_organisation,
    create_person,
    create_user,
    is_on_caseload,
)
from houseofcare.careplan.plans import create_care_plan
from houseofcare.pipeline import RESULT_TABLES
from houseofcare.risk.scoring import RISK_SCORE_DDL
from houseofcare.settings import Settings
from houseofcare.store.analytic import connect
from houseofcare.store.database import make_engine, session_factory, transaction
from houseofcare.store.migrate import upgrade_engine
from houseofcare.store.models import AuditEvent, AuditOutcome, CaseloadAssignment, Role
from houseofcare.tiers.assign import TIER_DDL

PASSWORD = "correct horse battery staple"
PEOPLE = ("Ada", "Bob", "Cat", "Dan", "Eve")
EARLIER, LATEST = dt.date(2026, 1, 31), dt.date(2026, 3, 31)
#: Levels per run: Bob leaves level 3, Cat joins it.
LEVELS = {
    "run-1": {"Ada": 3, "Bob": 3, "Cat": 2, "Dan": 3, "Eve": 1},
    "run-2": {"Ada": 3, "Bob": 2, "Cat": 3, "Dan": 3, "Eve": 3},
}
RISKS = {"Ada": 0.21, "Bob": 0.12, "Cat": 0.55, "Dan": 0.48, "Eve": 0.33}


@dataclass
class Caseload:
    app: object
    factory: sessionmaker[Session]
    people: dict[str, int]
    nhs: dict[str, str]
    users: dict[str, int]

    def browser(self, username: str) -> TestClient:
        browser = TestClient(self.app, follow_redirects=False)  # type: ignore[arg-type]
        assert page_sign_in(browser, username, PASSWORD).status_code == 303
        return browser

    def assignments(self) -> int:
        with self.factory() as session:
            return session.scalar(select(func.count()).select_from(CaseloadAssignment)) or 0

    def on(self, who: str, name: str) -> bool:
        with self.factory() as session:
            return is_on_caseload(session, self.users[who], self.people[name])

    def last_event(self, who: str) -> AuditEvent:
        with self.factory() as session:
            event = session.scalar(
                select(AuditEvent)
                .where(AuditEvent.user_id == self.users[who])
                .order_by(AuditEvent.id.desc())
                .limit(1)
            )
            assert event is not None
            return event

    def events(self, who: str, resource_type: str) -> list[AuditEvent]:
        with self.factory() as session:
            return list(
                session.scalars(
                    select(AuditEvent).where(
                        AuditEvent.user_id == self.users[who],
                        AuditEvent.resource_type == resource_type,
                    )
                )
            )


def _analytic(settings: Settings) -> None:
    """Two runs, their levels and (latest only) risks with reasons; encounters."""
    con = connect(settings)
    try:
        for ddl in (*RESULT_TABLES.values(), TIER_DDL, RISK_SCORE_DDL):
            con.execute(ddl)
        for run_id, as_of in (("run-1", EARLIER), ("run-2", LATEST)):
            finished = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(2))
            con.execute(
                "INSERT INTO run VALUES (?, ?, ?, ?, 'test', 'test', 5)",
                [run_id, as_of, finished, finished],
            )
            for name, level in LEVELS[run_id].items():
                con.execute(
                    "INSERT INTO tier VALUES (?, ?, ?, ?)",
                    [run_id, f"p-{name}", level, f"Level {level} by the triangle's rules"],
                )
        for name, risk in RISKS.items():
            con.execute(
                "INSERT INTO risk_score VALUES ('run-2', ?, ?, ?, ?, ?, NULL, 'm1')",
                [f"p-{name}", risk, risk * 100, f"{name}: emergency admissions", "Frailty"],
            )
        encounters = [
            # Ada: an emergency admission between the runs, and a GP contact before it
            ("e1", "Ada", "IMP", "183452005", "EM", "2026-03-10 09:00", "2026-03-14 12:00"),
            ("e2", "Ada", "AMB", "11429006", None, "2026-02-20 10:00", "2026-02-20 10:15"),
            # Bob: only a GP contact since, and an A&E visit before the earlier run
            ("e3", "Bob", "AMB", "11429006", None, "2026-03-20 10:00", "2026-03-20 10:15"),
            ("e4", "Bob", "EMER", "4525004", "EM", "2025-12-01 22:00", "2025-12-02 01:00"),
        ]
        for eid, name, cls, code, priority, start, end in encounters:
            con.execute(
                "INSERT INTO encounter (encounter_id, patient_id, status, class_code, type_code, "
                "priority_code, period_start, period_end) VALUES (?, ?, 'finished', ?, ?, ?, "
                "CAST(? AS TIMESTAMP), CAST(? AS TIMESTAMP))",
                [eid, f"p-{name}", cls, code, priority, start, end],
            )
    finally:
        con.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def world(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    make_postgres_database: Callable[[str], str],
) -> Iterator[Caseload]:
    """The cast on each operational store (PostgreSQL locks the case manager's row when
    checking capacity; SQLite has one writer at a time)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'operational.sqlite'}"
    else:
        url = make_postgres_database("caseload")
    engine = make_engine(url)
    upgrade_engine(engine)
    factory = session_factory(engine)
    numbers = nhs_numbers()
    people: dict[str, int] = {}
    nhs: dict[str, str] = {}
    users: dict[str, int] = {}
    with transaction(factory) as session:
        practice = create_organisation(session, ods_code="Y0100", name="P", type="practice")
        trust = create_organisation(session, ods_code="CT9", name="T", type="community_trust")
        for name in PEOPLE:
            person = create_person(
                session,
                nhs_number=next(numbers),
                patient_id=f"p-{name}",
                given_name=name,
                family_name="Tester",
                birth_date=dt.date(1940, 1, 1),
                practice_id=practice.id,
            )
            people[name], nhs[name] = person.id, person.nhs_number
        for username, role, org in (
            ("cm.one", Role.case_manager, trust.id),
            ("cm.two", Role.case_manager, trust.id),
            ("p.gp", Role.gp, practice.id),
        ):
            users[username] = create_user(
                session,
                username=username,
                password=PASSWORD,
                role=role,
                display_name=username,
                organisation_id=org,
            ).id
        for who, name in (("cm.one", "Ada"), ("cm.one", "Bob"), ("cm.two", "Dan")):
            assign_to_caseload(session, case_manager_id=users[who], person_id=people[name])
        plan = create_care_plan(session, people["Ada"], SYSTEM, title="Ada's plan")
        plan.review_date = dt.date(2026, 6, 1)
    settings = Settings(
        data_dir=tmp_path / "hoc-data", database_url=url, caseload_min=2, caseload_max=3
    )
    _analytic(settings)
    app = create_app(settings)
    yield Caseload(app, factory, people, nhs, users)
    app.state.services.engine.dispose()
    engine.dispose()


def _spaced(number: str) -> str:
    return f"{number[:3]} {number[3:6]} {number[6:]}"


def _section(html: str, heading: str) -> str:
    """The page's text from `heading` to the next heading of the same or higher level."""
    start = html.index(heading)
    found = re.search(r"<h[23]", html[start + len(heading) :])
    return html[start : start + len(heading) + (found.start() if found else len(html))]


def test_the_caseload_ranks_the_admitted_first_with_reasons_and_the_run(world: Caseload) -> None:
    page = world.browser("cm.one").get("/caseload")
    assert page.status_code == 200, page.text
    html = page.text
    assert "31 March 2026" in html  # the run the figures come from
    assert "2 of 3" in html
    table = _section(html, "People on your caseload")
    # Ada (admitted since the last run) comes before Bob, though neither order is by name
    assert table.index(_spaced(world.nhs["Ada"])) < table.index(_spaced(world.nhs["Bob"]))
    assert "Admitted on 10 Mar 2026, discharged on 14 Mar 2026" in table
    assert "Ada: emergency admissions" in table and "Frailty" in table
    assert "1 Jun 2026" in table  # Ada's next review
    assert "20 Mar 2026" in table  # Bob's last contact
    assert "A&amp;E on" not in table  # Bob's A&E was before the earlier run
    assert f'href="/people/{world.people["Ada"]}"' in table
    # the candidates: level 3 now, on nobody's caseload, highest risk first; not Dan (held)
    candidates = _section(html, "Level 3 people on nobody")
    assert candidates.index(_spaced(world.nhs["Cat"])) < candidates.index(_spaced(world.nhs["Eve"]))
    assert _spaced(world.nhs["Dan"]) not in html
    assert "/people/" not in candidates  # no link to a record they may not open yet
    # every person shown is audited, the caseload and the candidates apart
    shown = {e.person_id for e in world.events("cm.one", "Caseload") if e.person_id}
    assert shown == {world.people["Ada"], world.people["Bob"]}
    offered = {e.person_id for e in world.events("cm.one", "CaseloadCandidate") if e.person_id}
    assert offered == {world.people["Cat"], world.people["Eve"]}
    assert all(
        e.detail and e.detail.get("via") == "pages" for e in world.events("cm.one", "Caseload")
    )


def test_new_to_and_left_level3_since_the_last_run(world: Caseload) -> None:
    html = world.browser("cm.one").get("/caseload").text
    assert "Compared with the run of 31 Jan 2026" in html
    joined = _section(html, "New to level 3 since the last run")
    assert "TESTER, Cat" in joined and "level 2 before" in joined
    assert "TESTER, Ada" not in joined
    left = _section(html, "Left level 3 since the last run")
    assert "TESTER, Bob" in left and "level 2 now" in left
    assert "TESTER, Ada" not in left


def test_assign_within_capacity_then_refused_beyond_it(world: Caseload) -> None:
    browser = world.browser("cm.one")
    token = form_token(browser.get("/caseload").text)
    added = browser.post(
        "/caseload/assign", data={"person_id": world.people["Cat"], "csrf_token": token}
    )
    assert added.status_code == 303
    assert world.on("cm.one", "Cat")
    event = world.last_event("cm.one")
    assert (event.action, event.outcome, event.person_id) == (
        "create",
        AuditOutcome.success,
        world.people["Cat"],
    )
    page = browser.get(added.headers["location"]).text
    assert "now on your caseload" in page and "3 of 3" in page
    assert "Your caseload is full" in page
    before = world.assignments()
    refused = browser.post(
        "/caseload/assign", data={"person_id": world.people["Eve"], "csrf_token": token}
    )
    assert refused.status_code == 409
    assert "Your caseload is full: you hold 3 people and the most is 3" in refused.text
    assert "There is a problem" in refused.text
    assert world.assignments() == before and not world.on("cm.one", "Eve")
    event = world.last_event("cm.one")
    assert (event.action, event.outcome) == ("search", AuditOutcome.success)  # the page again
    refusal = [
        e
        for e in world.events("cm.one", "CaseloadAssignment")
        if e.outcome is AuditOutcome.conflict
    ]
    assert refusal and refusal[-1].person_id == world.people["Eve"]


@pytest.mark.parametrize(
    ("name", "cause"),
    [("Bob", "not at level 3"), ("Dan", "on another case manager's caseload")],
)
def test_only_an_unheld_level3_person_can_be_taken_on(
    world: Caseload, name: str, cause: str
) -> None:
    browser = world.browser("cm.two" if name == "Bob" else "cm.one")
    who = "cm.two" if name == "Bob" else "cm.one"
    token = form_token(browser.get("/caseload").text)
    if name == "Bob":  # Bob is cm.one's; release him first so only his level stops it
        with transaction(world.factory) as session:
            held = session.scalar(
                select(CaseloadAssignment).where(
                    CaseloadAssignment.person_id == world.people["Bob"]
                )
            )
            assert held is not None
            session.delete(held)
    before = world.assignments()
    answer = browser.post(
        "/caseload/assign", data={"person_id": world.people[name], "csrf_token": token}
    )
    assert answer.status_code == 400
    assert "only level 3 (case management) people of the latest run" in answer.text
    assert world.assignments() == before
    denied = [
        e for e in world.events(who, "CaseloadAssignment") if e.outcome is AuditOutcome.denied
    ]
    assert denied and cause in (denied[-1].detail or {})["reason"]


def test_release_with_a_reason(world: Caseload) -> None:
    browser = world.browser("cm.one")
    token = form_token(browser.get("/caseload").text)
    missing = browser.post(
        "/caseload/release", data={"person_id": world.people["Bob"], "csrf_token": token}
    )
    assert missing.status_code == 400
    assert "Choose why this person is leaving your caseload" in missing.text
    assert 'href="#release-reason"' in missing.text
    assert world.on("cm.one", "Bob")
    released = browser.post(
        "/caseload/release",
        data={"person_id": world.people["Bob"], "reason": "stepped-down", "csrf_token": token},
    )
    assert released.status_code == 303
    assert not world.on("cm.one", "Bob")
    event = world.last_event("cm.one")
    assert (event.action, event.person_id) == ("update", world.people["Bob"])
    assert "stepped down" in (event.detail or {})["reason"]
    page = browser.get(released.headers["location"]).text
    assert "released from your caseload" in page and "1 of 3" in page
    assert "Below the usual minimum of 2 people" in page


def test_release_of_someone_not_on_your_caseload_writes_nothing(world: Caseload) -> None:
    browser = world.browser("cm.one")
    token = form_token(browser.get("/caseload").text)
    answer = browser.post(
        "/caseload/release",
        data={"person_id": world.people["Dan"], "reason": "moved-away", "csrf_token": token},
    )
    assert answer.status_code == 400
    assert world.on("cm.two", "Dan")


def test_a_form_without_its_token_writes_nothing(world: Caseload) -> None:
    browser = world.browser("cm.one")
    before = world.assignments()
    for url, data in (
        ("/caseload/assign", {"person_id": world.people["Cat"]}),
        ("/caseload/release", {"person_id": world.people["Ada"], "reason": "died"}),
    ):
        answer = browser.post(url, data={**data, "csrf_token": "forged"})
        assert answer.status_code == 403
        assert world.last_event("cm.one").outcome is AuditOutcome.denied
    assert world.assignments() == before and world.on("cm.one", "Ada")
    assert not world.on("cm.one", "Cat")


def test_other_roles_are_refused_and_audited(world: Caseload) -> None:
    browser = world.browser("p.gp")
    page = browser.get("/caseload")
    assert page.status_code == 403 and "You cannot see this page" in page.text
    assert world.last_event("p.gp").outcome is AuditOutcome.denied
    token = form_token(browser.get("/").text)
    before = world.assignments()
    answer = browser.post(
        "/caseload/assign", data={"person_id": world.people["Cat"], "csrf_token": token}
    )
    assert answer.status_code == 403
    assert world.assignments() == before
    event = world.last_event("p.gp")
    assert (event.action, event.outcome) == ("create", AuditOutcome.denied)
    assert 'href="/caseload"' not in browser.get("/").text  # no menu link to it


def test_two_assignments_at_once_cannot_both_pass_the_capacity_check(world: Caseload) -> None:
    """cm.one holds 2 of 3: Cat and Eve taken on at the same moment, one of them is refused
    (the case manager's row is written first: a row lock on PostgreSQL, the write lock on
    SQLite)."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    from houseofcare.careplan.actor import Actor
    from houseofcare.careplan.caseload import CaseloadRefused
    from houseofcare.careplan.caseload import take_on as take

    start = Barrier(2)

    def attempt(name: str) -> bool:
        start.wait()
        try:
            with transaction(world.factory) as session:
                take(
                    session,
                    case_manager_id=world.users["cm.one"],
                    person_id=world.people[name],
                    at_level3=True,
                    capacity=3,
                    actor=Actor(world.users["cm.one"], "cm.one", Role.case_manager),
                )
                time.sleep(0.3)  # hold the transaction open while the other one tries
        except CaseloadRefused:
            return False
        return True

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(attempt, ["Cat", "Eve"]))
    assert sorted(outcomes) == [False, True]
    with world.factory() as session:
        held = session.scalar(
            select(func.count())
            .select_from(CaseloadAssignment)
            .where(
                CaseloadAssignment.case_manager_id == world.users["cm.one"],
                CaseloadAssignment.ended_at.is_(None),
            )
        )
    assert held == 3


def test_a_refused_release_keeps_what_was_chosen(world: Caseload) -> None:
    browser = world.browser("cm.one")
    token = form_token(browser.get("/caseload").text)
    answer = browser.post(
        "/caseload/release", data={"person_id": world.people["Bob"], "csrf_token": token}
    )
    assert answer.status_code == 400
    assert f'<option value="{world.people["Bob"]}" selected' in answer.text


def test_candidates_come_a_page_at_a_time_and_only_those_shown_are_audited(
    world: Caseload, monkeypatch: pytest.MonkeyPatch
) -> None:
    from houseofcare.web import caseload as caseload_page

    monkeypatch.setattr(caseload_page, "CANDIDATE_ROWS", 1)
    browser = world.browser("cm.one")
    first = _section(browser.get("/caseload").text, "Level 3 people on nobody")
    assert _spaced(world.nhs["Cat"]) in first and _spaced(world.nhs["Eve"]) not in first
    assert "2 people; 1 to 1 by risk are shown" in first
    assert 'href="/caseload?candidates=1#candidates"' in first
    assert "Higher risk candidates" not in first
    offered = {e.person_id for e in world.events("cm.one", "CaseloadCandidate") if e.person_id}
    assert offered == {world.people["Cat"]}  # only who was shown

    second = _section(browser.get("/caseload?candidates=1").text, "Level 3 people on nobody")
    assert _spaced(world.nhs["Eve"]) in second and _spaced(world.nhs["Cat"]) not in second
    assert "2 people; 2 to 2 by risk are shown" in second
    assert 'href="/caseload?candidates=0#candidates"' in second
    assert "Next candidates" not in second
    # a position past the end shows the last one; anything that is not a position, the first
    assert _spaced(world.nhs["Eve"]) in browser.get("/caseload?candidates=99").text
    assert _spaced(world.nhs["Cat"]) in browser.get("/caseload?candidates=-3").text
