"""The audit trail page and its CSV export, through the real app over a real SQLite store:
an administrator sees who looked at whom, filters, pages and exports it (each read of the
trail audited); every other role is refused (audited); no URL the page emits carries an NHS
number. Also the worklists' care plans due for review (own practice only, audited per person)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from tests.integration.test_pages import LIMITS, PASSWORD, sign_in, token_of

from houseofcare.api.app import create_app
from houseofcare.careplan.people import create_organisation, create_user
from houseofcare.settings import Settings
from houseofcare.store.audit import record_audit
from houseofcare.store.audit_seal import seal
from houseofcare.store.database import make_engine, session_factory, transaction
from houseofcare.store.migrate import upgrade_engine
from houseofcare.store.models import (
    AuditEvent,
    AuditOutcome,
    CarePlan,
    CarePlanStatus,
    CareTeam,
    CaseloadAssignment,
    Person,
    Role,
    User,
)

NHS = {"home": "9000000009", "home_later": "9000000017", "other": "9000000025"}


class World:
    def __init__(self, app: object, factory: sessionmaker[Session], people: dict[str, int]):
        self.app = app
        self.factory = factory
        self.people = people

    def browser(self, username: str) -> TestClient:
        client = TestClient(self.app, follow_redirects=False)  # type: ignore[arg-type]
        assert sign_in(client, username).status_code == 303  # type: ignore[attr-defined]
        return client

    def events(self, username: str) -> list[AuditEvent]:
        with self.factory() as session:
            return list(
                session.scalars(
                    select(AuditEvent)
                    .where(AuditEvent.username == username)
                    .order_by(AuditEvent.id)
                )
            )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder: Path = tmp_path_factory.mktemp("audit-pages")
    url = f"sqlite:///{folder / 'operational.sqlite'}"
    engine = make_engine(url)
    upgrade_engine(engine)
    factory = session_factory(engine)
    today = dt.date.today()
    with transaction(factory) as session:
        home = create_organisation(session, ods_code="Y0101", name="Home", type="practice")
        other = create_organisation(session, ods_code="Y0202", name="Other", type="practice")
        for name, role, org in (
            ("a.admin", Role.admin, None),
            ("a.gp", Role.gp, home.id),
            ("a.nurse", Role.nurse, home.id),
            ("a.other", Role.gp, other.id),
            ("a.matron", Role.case_manager, home.id),
            ("a.commissioner", Role.commissioner, None),
        ):
            create_user(
                session,
                username=name,
                password=PASSWORD,
                role=role,
                display_name=name,
                organisation_id=org,
            )
        team = CareTeam(name="Home team", organisation_id=home.id)
        other_team = CareTeam(name="Other team", organisation_id=other.id)
        session.add_all([team, other_team])
        session.flush()
        people: dict[str, int] = {}
        for key, practice, plan_team, review in (
            ("home", home, team, today - dt.timedelta(days=30)),
            ("home_later", home, team, today + dt.timedelta(days=90)),
            ("other", other, other_team, today - dt.timedelta(days=5)),
        ):
            person = Person(
                nhs_number=NHS[key], given_name="Ann", family_name=key, practice_id=practice.id
            )
            session.add(person)
            session.flush()
            people[key] = person.id
            session.add(
                CarePlan(
                    person_id=person.id,
                    status=CarePlanStatus.active,
                    title="My care plan",
                    care_team_id=plan_team.id,
                    review_date=review,
                )
            )
        # the nurse also holds someone of the other practice on a caseload: they may open
        # that person, but the worklists are their own practice's
        nurse = session.scalar(select(User.id).where(User.username == "a.nurse"))
        session.add(CaseloadAssignment(case_manager_id=nurse, person_id=people["other"]))
        record_audit(
            session,
            action="read",
            resource_type="CarePlan",
            username="a.gp",
            role="gp",
            person_id=people["home"],
            resource_id=1,
        )
        record_audit(
            session,
            action="read",
            resource_type="CarePlan",
            outcome=AuditOutcome.denied,
            username="a.other",
            role="gp",
            person_id=people["home"],
            detail={"via": "pages", "reason": "not at their practice"},
        )
    app = create_app(Settings(data_dir=folder / "hoc-data", database_url=url), api_settings=LIMITS)
    yield World(app, factory, people)
    app.state.services.engine.dispose()
    engine.dispose()


def _urls(html: str) -> list[str]:
    return re.findall(r'(?:href|action)="([^"]*)"', html)


def test_the_administrator_sees_who_looked_at_whom(world: World) -> None:
    page = world.browser("a.admin").get("/audit")
    assert page.status_code == 200
    assert "<h1>Audit trail</h1>" in page.text
    assert "Person " + str(world.people["home"]) in page.text
    assert f"NHS number {NHS['home']}" in page.text
    assert "a.other" in page.text and "denied" in page.text
    # reading the trail is itself audited, with what was shown
    event = world.events("a.admin")[-1]
    assert (event.action, event.resource_type, event.outcome) == (
        "search",
        "AuditEvent",
        AuditOutcome.success,
    )
    assert event.detail is not None and event.detail["via"] == "pages"
    assert event.detail["rows"] >= 2


def test_the_page_says_how_far_the_trail_is_sealed(world: World) -> None:
    admin = world.browser("a.admin")
    assert "Not sealed yet" in admin.get("/audit").text
    engine = world.factory.kw["bind"]
    assert seal(engine, wait_seconds=0).events > 0
    with world.factory() as session:
        newest = session.scalar(select(func.max(AuditEvent.id)))
    page = admin.get("/audit").text
    assert f"sealed into a hash chain up to event <strong>{newest}</strong>" in page
    assert "Not sealed yet" not in page


def test_filters_narrow_the_trail(world: World) -> None:
    admin = world.browser("a.admin")
    denied = admin.get("/audit?outcome=denied&action=read")
    assert denied.status_code == 200
    rows = re.findall(r"<tr class=\"nhsuk-table__row\">\s*<td", denied.text)
    assert len(rows) == 1 and "a.other" in denied.text
    by_user = admin.get("/audit?user=a.gp&action=read")
    assert "a.other" not in by_user.text.split("<tbody")[1]
    by_person = admin.get(f"/audit?person={world.people['other']}")
    assert "No events match these filters." in by_person.text
    today = dt.date.today()
    future = admin.get(f"/audit?from={today + dt.timedelta(days=1)}")
    assert "No events match these filters." in future.text
    assert world.events("a.admin")[-1].detail["filters"] == {  # type: ignore[index]
        "from": str(today + dt.timedelta(days=1))
    }


def test_a_bad_filter_names_its_field(world: World) -> None:
    page = world.browser("a.admin").get(f"/audit?person={NHS['home']}x&from=2026-02-30")
    assert page.status_code == 400
    assert "There is a problem" in page.text
    assert 'href="#person"' in page.text and 'href="#from"' in page.text
    assert "not their NHS number" in page.text


def test_pages_are_keyset_pages(world: World) -> None:
    admin = world.browser("a.admin")
    for _ in range(55):  # each view appends an event: more than a page
        admin.get("/audit?action=logout")
    first = admin.get("/audit?user=a.admin")
    older = re.search(r'href="/audit\?([^"]*before=(\d+))"', first.text)
    assert older is not None, "no link to older events"
    second = admin.get("/audit?" + older.group(1).replace("&amp;", "&"))
    assert f"older than event {older.group(2)}" in second.text
    assert 'href="/audit?user=a.admin">Newest events' in second.text


def test_no_url_the_page_emits_carries_an_nhs_number(world: World) -> None:
    admin = world.browser("a.admin")
    page = admin.get(f"/audit?person={world.people['home']}")
    assert NHS["home"] in page.text  # shown in the table…
    urls = _urls(page.text)
    assert urls
    for url in urls:  # …never in a link or form address
        assert not re.search(r"\d{10}", url), url


def test_the_export_is_the_filtered_trail_and_is_audited(world: World) -> None:
    admin = world.browser("a.admin")
    answer = admin.get("/audit/export.csv?outcome=denied&action=read")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [r["username"] for r in rows] == ["a.other"]
    assert rows[0]["nhs_number"] == NHS["home"] and rows[0]["via"] == "pages"
    event = world.events("a.admin")[-1]
    assert (event.action, event.resource_type) == ("export", "AuditEvent")
    assert event.detail["rows"] == 1  # type: ignore[index]
    assert event.detail["filters"] == {"action": "read", "outcome": "denied"}  # type: ignore[index]


@pytest.mark.parametrize("username", ["a.gp", "a.matron", "a.commissioner"])
@pytest.mark.parametrize("path", ["/audit", "/audit/export.csv"])
def test_other_roles_are_refused_and_audited(world: World, username: str, path: str) -> None:
    answer = world.browser(username).get(path)
    assert answer.status_code == 403
    assert "You cannot see this page" in answer.text
    assert NHS["home"] not in answer.text
    event = world.events(username)[-1]
    assert event.resource_type == "AuditEvent" and event.outcome is AuditOutcome.denied
    assert event.action == ("export" if path.endswith(".csv") else "search")


def test_the_worklists_list_own_practice_plans_due_for_review(world: World) -> None:
    page = world.browser("a.nurse").get("/worklists")
    assert page.status_code == 200
    assert "Care plans due for review" in page.text
    due = page.text.split('id="due-reviews"')[1]
    assert NHS["home"] in due  # 30 days overdue
    assert f'href="/people/{world.people["home"]}"' in due
    assert NHS["home_later"] not in due  # review in 90 days
    # another practice's person, though on the nurse's caseload and due
    assert NHS["other"] not in page.text
    with world.factory() as session:
        disclosed = session.scalars(
            select(AuditEvent.person_id).where(
                AuditEvent.username == "a.nurse", AuditEvent.resource_type == "DueReview"
            )
        ).all()
    assert world.people["home"] in disclosed
    assert world.people["other"] not in disclosed


def _lookup(browser: TestClient, number: str, token: str | None = None) -> Any:
    page = browser.get("/audit")
    sent = token_of(page.text) if token is None else token
    return browser.post("/audit/person", data={"nhs_number": number, "csrf_token": sent})


def test_an_nhs_number_sent_by_post_becomes_the_person_id_filter(world: World) -> None:
    admin = world.browser("a.admin")
    answer = _lookup(admin, "900 000 0009")
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/audit?person={world.people['home']}"
    event = world.events("a.admin")[-1]
    assert (event.action, event.person_id) == ("search", world.people["home"])
    assert NHS["home"] not in str(event.detail)  # the number is not kept, the id is
    page = admin.get(answer.headers["location"])
    assert f"NHS number {NHS['home']}" in page.text


def test_an_unusable_nhs_number_is_named_and_not_found_is_said(world: World) -> None:
    admin = world.browser("a.admin")
    wrong = _lookup(admin, "9000000008")
    assert wrong.status_code == 400
    assert 'href="#nhs_number"' in wrong.text and "Enter a valid NHS number" in wrong.text
    unknown = _lookup(admin, "9434765919")
    assert unknown.status_code == 400
    assert "No one with this NHS number is known to this service" in unknown.text
    last = world.events("a.admin")[-2].detail  # then the page shown again
    assert last == {"lookup": "nhs number", "found": False, "via": "pages"}


def test_the_lookup_needs_the_form_s_token_and_the_admin_role(world: World) -> None:
    admin = world.browser("a.admin")
    forged = _lookup(admin, NHS["home"], token="forged")
    assert forged.status_code == 403
    assert world.events("a.admin")[-1].outcome is AuditOutcome.denied
    gp = world.browser("a.gp")
    home = gp.get("/")
    refused = gp.post(
        "/audit/person", data={"nhs_number": NHS["home"], "csrf_token": token_of(home.text)}
    )
    assert refused.status_code == 403 and "You cannot see this page" in refused.text
    last = world.events("a.gp")[-1]
    assert (last.resource_type, last.outcome) == ("AuditEvent", AuditOutcome.denied)
