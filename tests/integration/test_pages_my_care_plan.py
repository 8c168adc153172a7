"""My care plan (issue 12) through the real app over real stores, on SQLite and PostgreSQL:
a small DuckDB analytic store with one run (the person page's test data) and an operational
store with a person, their plan, another person, a carer and a GP.

What the person reads (their results explained in one unit, readings left out named, never
shown as numbers), what they write (talk about, comments) and that it reaches the services'
tables, their access log, and above all that nobody reaches another person's pages by
changing an id, with every refusal audited (hazards H-052, H-053).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from test_api_support import without_tokens
from test_pages_person import PASSWORD, _analytic_store, _nhs

from houseofcare.api.app import create_app
from houseofcare.careplan import SYSTEM
from houseofcare.careplan.people import create_organisation, create_person, create_user
from houseofcare.careplan.plans import add_action, add_goal, create_care_plan
from houseofcare.careplan.preparation import ResultsSummary, prepare
from houseofcare.settings import Settings
from houseofcare.store.database import make_engine, session_factory, transaction
from houseofcare.store.migrate import upgrade_engine
from houseofcare.store.models import (
    AuditEvent,
    AuditOutcome,
    CarePlanComment,
    Preparation,
    ProxyGrant,
    Role,
)
from houseofcare.web.security import CONTENT_SECURITY_POLICY


@dataclass
class Site:
    app: object
    factory: sessionmaker[Session]
    people: dict[str, int] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)
    plans: dict[str, int] = field(default_factory=dict)

    def browser(self, username: str) -> TestClient:
        browser = TestClient(self.app, follow_redirects=False)  # type: ignore[arg-type]
        answer = browser.post(
            "/sign-in",
            data={
                "username": username,
                "password": PASSWORD,
                "csrf_token": token(browser.get("/sign-in").text),
            },
        )
        assert answer.status_code == 303, answer.text
        return browser

    def events(self, username: str) -> list[AuditEvent]:
        with self.factory() as session:
            return list(
                session.scalars(
                    select(AuditEvent)
                    .where(AuditEvent.user_id == self.users[username])
                    .order_by(AuditEvent.id)
                ).all()
            )


def token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    make_postgres_database: Callable[[str], str],
) -> Iterator[Site]:
    folder: Path = tmp_path_factory.mktemp(f"my-care-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{folder / 'operational.sqlite'}"
    else:
        url = make_postgres_database("mycare")
    engine = make_engine(url)
    upgrade_engine(engine)
    factory = session_factory(engine)
    settings = Settings(data_dir=folder / "hoc-data", database_url=url)
    _analytic_store(settings)
    app = create_app(settings)
    built = Site(app=app, factory=factory)
    with transaction(factory) as session:
        practice = create_organisation(session, ods_code="Y0001", name="Riverside", type="practice")
        ada = create_person(
            session,
            nhs_number=_nhs(1),
            patient_id="p-ada",
            given_name="Ada",
            family_name="Lovelace",
            birth_date=dt.date(1940, 5, 1),
            practice_id=practice.id,
        )
        bea = create_person(
            session, nhs_number=_nhs(2), patient_id="p-bea", given_name="Bea",
            family_name="Private", practice_id=practice.id,
        )  # fmt: skip
        carl = create_person(
            session, nhs_number=_nhs(4), given_name="Carl", family_name="Carer",
            practice_id=practice.id,
        )  # fmt: skip
        plan = create_care_plan(
            session, ada.id, SYSTEM, title="Ada's plan", review_date=dt.date(2026, 9, 1)
        )
        add_goal(
            session,
            plan.id,
            {
                "what_matters_to_me": "Walk to the allotment",
                "target_measure": "HbA1c",
                "target_value": 58,
                "target_unit": "mmol/mol",
            },
            SYSTEM,
        )
        add_action(
            session,
            plan.id,
            {"performer": "service", "performer_name": "Walking group", "description": "Invite"},
            SYSTEM,
        )
        bea_plan = create_care_plan(session, bea.id, SYSTEM, title="Bea's plan")
        add_goal(session, bea_plan.id, {"what_matters_to_me": "Bea's secret goal"}, SYSTEM)
        summary = ResultsSummary(
            patient_id="p-ada", run_id="run-1", as_of="2026-03-31", measures=(), care_gaps=(),
            risk=None,
        )  # fmt: skip
        prepare(session, ada.id, SYSTEM, summary=summary)
        built.plans = {"ada": plan.id, "bea": bea_plan.id}
        for name, role, org, person in (
            ("gp", Role.gp, practice.id, None),
            ("ada.self", Role.patient, None, ada.id),
            ("bea.self", Role.patient, None, bea.id),
            ("carl.carer", Role.patient, None, carl.id),
        ):
            built.users[name] = create_user(
                session,
                username=name,
                password=PASSWORD,
                role=role,
                display_name=name.split(".")[0].capitalize(),
                organisation_id=org,
                person_id=person,
            ).id
        built.people = {"ada": ada.id, "bea": bea.id, "carl": carl.id}
    yield built
    app.state.services.engine.dispose()
    engine.dispose()


def _section(html: str, measure: str) -> str:
    start = html.index(f'id="result-{measure}"')
    end = html.find("</section>", start)
    return html[start:end]


def test_the_person_reads_their_results_explained_in_one_unit(site: Site) -> None:
    page = site.browser("ada.self").get("/me")
    assert page.status_code == 200, page.text
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    text = page.text
    assert "LOVELACE, Ada" in text and "<title>My results" in text
    assert "Figures come from the pipeline run of <strong>31 March 2026</strong>" in text
    hba1c = _section(text, "hba1c")
    # the latest usable HbA1c (61 mmol/mol), its meaning from measures.toml's bands
    assert "61 <abbr" in hba1c and "mmol/mol</abbr>" in hba1c and "10 October 2025" in hba1c
    assert "59 or more: higher than most people with diabetes aim for" in hba1c
    # a newer reading in a unit nobody can convert: named, never shown as a number
    assert "A newer result from 10 January 2026 is not shown" in hba1c
    assert "a unit we cannot convert" in hba1c and "6.9" not in hba1c
    # a reading after the run's date is not the latest
    assert "40 <abbr" not in hba1c
    # the % reading is never shown as %: the page says how other units were converted
    assert "7.5" not in hba1c
    systolic = _section(text, "systolic_bp")
    assert "148 <abbr" in systolic and "140 to 159: higher than usually aimed for" in systolic
    assert "52 <abbr" in _section(text, "egfr")
    bmi = _section(text, "bmi")
    assert "31.3 <abbr" in bmi and "30 to 39.9: obesity" in bmi
    # cholesterol: no reading in the record, so no section (never an empty number)
    assert 'id="result-cholesterol"' not in text
    event = site.events("ada.self")[-1]
    assert (event.action, event.resource_type, event.outcome) == (
        "read",
        "Observation",
        AuditOutcome.success,
    )
    assert event.person_id == site.people["ada"] and event.detail["run"] == "run-1"
    assert "hba1c" in event.detail["measures"] and event.detail["left_out"] == 1


def test_talk_about_is_saved_through_the_preparation_and_audited(site: Site) -> None:
    browser = site.browser("ada.self")
    form = browser.get("/me/talk-about")
    assert form.status_code == 200
    empty = browser.post(
        "/me/talk-about", data={"talk_about": "  ", "csrf_token": token(form.text)}
    )
    assert empty.status_code == 400 and "There is a problem" in empty.text
    assert "Enter what you want to talk about" in empty.text
    assert site.events("ada.self")[-2].outcome is AuditOutcome.invalid
    saved = browser.post(
        "/me/talk-about",
        data={"talk_about": "My breathing at night", "csrf_token": token(form.text)},
    )
    assert saved.status_code == 303 and saved.headers["location"] == "/me/talk-about?saved=1"
    with site.factory() as session:
        record = session.scalar(
            select(Preparation).where(Preparation.person_id == site.people["ada"])
        )
        assert record is not None and record.talk_about == "My breathing at night"
        assert record.talk_about_by_id == site.users["ada.self"]
    again = browser.get("/me/talk-about?saved=1").text
    assert "Saved." in again and "My breathing at night" in again
    update = [e for e in site.events("ada.self") if e.action == "update"][-1]
    assert update.outcome is AuditOutcome.success and update.resource_type == "Preparation"
    # without the form's token nothing is written
    forged = browser.post("/me/talk-about", data={"talk_about": "forged"})
    assert forged.status_code == 403
    with site.factory() as session:
        record = session.scalar(
            select(Preparation).where(Preparation.person_id == site.people["ada"])
        )
        assert record is not None and record.talk_about == "My breathing at night"


def test_the_person_sees_their_plan_and_comments_to_their_team(site: Site) -> None:
    browser = site.browser("ada.self")
    page = browser.get("/me/plan")
    assert page.status_code == 200, page.text
    text = page.text
    assert "Walk to the allotment" in text and "Bea&#39;s secret goal" not in text
    assert "Target: HbA1c 58 mmol/mol" in text
    assert "Latest result: 61 mmol/mol on 10 October 2025" in text  # progress, same unit
    assert "Walking group" in text and "1 September 2026" in text
    sent = browser.post(
        "/me/plan/comments",
        data={"comment": "I have started the walking group", "csrf_token": token(text)},
    )
    assert sent.status_code == 303, sent.text
    with site.factory() as session:
        comments = session.scalars(
            select(CarePlanComment.text).where(CarePlanComment.care_plan_id == site.plans["ada"])
        ).all()
    assert "I have started the walking group" in comments
    shown = browser.get("/me/plan").text
    assert "I have started the walking group" in shown and "<strong>You</strong>" in shown
    comment = [e for e in site.events("ada.self") if e.action == "comment"][-1]
    assert comment.outcome is AuditOutcome.success and comment.person_id == site.people["ada"]


def test_the_access_log_shows_only_events_about_the_person_and_is_audited(site: Site) -> None:
    site.browser("gp").get(f"/people/{site.people['ada']}")
    site.browser("gp").get(f"/people/{site.people['bea']}")
    browser = site.browser("ada.self")
    page = browser.get("/me/access-log")
    assert page.status_code == 200, page.text
    text = page.text
    assert "<strong>Gp</strong>" in text and "GP, Riverside" in text
    assert "Opened your record" in text
    with site.factory() as session:
        about_bea = session.scalars(
            select(AuditEvent.id).where(AuditEvent.person_id == site.people["bea"])
        ).all()
        about_ada = session.scalars(
            select(AuditEvent.id).where(AuditEvent.person_id == site.people["ada"])
        ).all()
    assert about_bea and about_ada
    shown = {int(i) for i in re.findall(r"before=(\d+)", text)}
    assert not shown & set(about_bea)
    viewed = site.events("ada.self")[-1]
    assert (viewed.action, viewed.resource_type) == ("search", "AuditEvent")
    assert viewed.person_id == site.people["ada"]
    # paged: "Older entries" pages back by id, and the page after says so
    older = browser.get(f"/me/access-log?before={min(about_ada)}")
    assert older.status_code == 200 and "Newest entries" in older.text


@pytest.mark.parametrize(
    "path",
    [
        "/cared-for/{bea}",
        "/cared-for/{bea}/talk-about",
        "/cared-for/{bea}/plan",
        "/cared-for/{bea}/access-log",
    ],
)
def test_changing_the_id_reaches_nobody_else_and_is_audited(site: Site, path: str) -> None:
    browser = site.browser("ada.self")
    page = browser.get(path.format(bea=site.people["bea"]))
    assert page.status_code == 403
    assert "You cannot see this page" in page.text
    shown = without_tokens(page.text)
    assert "Bea" not in shown and "Private" not in shown.replace("privacy", "")
    event = site.events("ada.self")[-1]
    assert event.outcome is AuditOutcome.denied and event.person_id == site.people["bea"]


def test_writes_to_another_person_by_id_are_refused_and_write_nothing(site: Site) -> None:
    browser = site.browser("ada.self")
    csrf = token(browser.get("/me").text)
    bea = site.people["bea"]
    talk = browser.post(
        f"/cared-for/{bea}/talk-about", data={"talk_about": "hijack", "csrf_token": csrf}
    )
    comment = browser.post(
        f"/cared-for/{bea}/plan/comments", data={"comment": "hijack", "csrf_token": csrf}
    )
    assert talk.status_code == comment.status_code == 403
    with site.factory() as session:
        assert not session.scalars(
            select(CarePlanComment).where(CarePlanComment.care_plan_id == site.plans["bea"])
        ).all()
    assert [e.outcome for e in site.events("ada.self")[-2:]] == [AuditOutcome.denied] * 2


def test_an_id_that_is_not_a_number_is_nobody_never_yourself(site: Site) -> None:
    page = site.browser("ada.self").get("/cared-for/me")
    assert page.status_code == 403 and "LOVELACE" not in page.text


def test_a_professional_is_refused_my_care_plan_pages_even_for_their_own_patients(
    site: Site,
) -> None:
    browser = site.browser("gp")
    assert browser.get("/me").status_code == 403
    page = browser.get(f"/cared-for/{site.people['ada']}")
    assert page.status_code == 403
    assert site.events("gp")[-1].outcome is AuditOutcome.denied


def test_a_carer_gets_the_same_view_until_the_person_takes_it_back(site: Site) -> None:
    ada, carl = site.browser("ada.self"), site.browser("carl.carer")
    own = f"/cared-for/{site.people['ada']}"
    assert carl.get(own).status_code == 403  # no access yet
    form = ada.get("/me/carers")
    assert form.status_code == 200 and "Nobody." in form.text
    wrong = ada.post("/me/carers", data={"username": "gp", "csrf_token": token(form.text)})
    assert (
        wrong.status_code == 400 and "Nobody with that username can be given access" in wrong.text
    )
    added = ada.post("/me/carers", data={"username": "carl.carer", "csrf_token": token(form.text)})
    assert added.status_code == 303, added.text
    # the carer now sees the person's pages, and their own home lists the person
    assert "/cared-for/" in carl.get("/me").text
    results = carl.get(own)
    assert results.status_code == 200 and "LOVELACE, Ada" in results.text
    assert "as a carer" in results.text
    plan = carl.get(f"{own}/plan")
    assert plan.status_code == 200 and "Walk to the allotment" in plan.text
    assert "Their goals: what matters to them" in plan.text  # a carer reads "their"
    assert "Comments to their team" in plan.text and "My goals" not in plan.text
    assert carl.get(f"{own}/access-log").status_code == 200
    # but never the person's carers page: only the person gives or takes back access
    assert "My carers" not in results.text
    # the person's log names the carer
    log = ada.get("/me/access-log").text
    assert "Your carer, with the access you gave them" in log
    with site.factory() as session:
        grant = session.scalar(
            select(ProxyGrant).where(
                ProxyGrant.person_id == site.people["ada"], ProxyGrant.withdrawn_at.is_(None)
            )
        )
        assert grant is not None
    # Bea cannot withdraw Ada's carer by changing the grant id
    bea = site.browser("bea.self")
    refused = bea.post(
        f"/me/carers/{grant.id}/withdraw", data={"csrf_token": token(bea.get("/me").text)}
    )
    assert refused.status_code == 403
    assert site.events("bea.self")[-1].outcome is AuditOutcome.denied
    assert carl.get(own).status_code == 200
    withdrawn = ada.post(f"/me/carers/{grant.id}/withdraw", data={"csrf_token": token(form.text)})
    assert withdrawn.status_code == 303
    assert carl.get(own).status_code == 403  # at once
    kinds = [(e.action, e.resource_type) for e in site.events("ada.self")]
    assert ("create", "ProxyGrant") in kinds and ("update", "ProxyGrant") in kinds


def test_the_person_s_log_names_someone_who_tried_and_was_refused(site: Site) -> None:
    assert site.browser("ada.self").get(f"/cared-for/{site.people['bea']}").status_code == 403
    log = site.browser("bea.self").get("/me/access-log").text
    first = log[log.index("hoc-access-log__entry") :].split("</li>", 1)[0]
    assert "<strong>Ada</strong>" in first
    assert "Signed in as a person, without your permission" in first
    assert "Refused: they were not allowed" in first
    assert "Your carer" not in first


def test_the_api_and_its_searches_see_a_carer_s_person_exactly_while_the_grant_lives(
    site: Site,
) -> None:
    """The relationship `proxy` is one predicate of the one access decision: a read and a
    search (`visible_people`) agree, and both end with the grant."""
    from houseofcare.careplan.proxy import give_proxy, withdraw_proxy

    with transaction(site.factory) as session:
        grant = give_proxy(session, site.people["ada"], "carl.carer", SYSTEM).id
    client = TestClient(site.app)  # type: ignore[arg-type]
    answer = client.post("/auth/token", data={"username": "carl.carer", "password": PASSWORD})
    headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
    ada, bea = site.people["ada"], site.people["bea"]
    assert client.get(f"/fhir/Patient/{ada}", headers=headers).status_code == 200
    assert client.get(f"/fhir/Patient/{bea}", headers=headers).status_code == 403
    found = client.get("/fhir/CarePlan?status=active", headers=headers).json()
    people = {e["resource"]["subject"]["reference"] for e in found.get("entry", [])}
    assert f"Patient/{ada}" in people and f"Patient/{bea}" not in people
    with transaction(site.factory) as session:
        withdraw_proxy(session, ada, grant, SYSTEM)
    assert client.get(f"/fhir/Patient/{ada}", headers=headers).status_code == 403
    found = client.get("/fhir/CarePlan?status=active", headers=headers).json()
    assert not found.get("entry")


def test_a_person_not_yet_linked_to_a_clinical_record_is_told_so_and_nothing_is_saved(
    site: Site,
) -> None:
    browser = site.browser("carl.carer")  # Carl's own record has no analytic link
    page = browser.get("/me")
    assert page.status_code == 200
    assert "not yet linked to the clinical record" in page.text
    assert "hoc-result" not in page.text
    sent = browser.post(
        "/me/talk-about",
        data={"talk_about": "my knees", "csrf_token": token(browser.get("/me/talk-about").text)},
    )
    assert sent.status_code == 400 and "This cannot be saved yet" in sent.text
    assert "my knees" in sent.text  # what they typed is kept
    with site.factory() as session:
        assert not session.scalars(
            select(Preparation).where(Preparation.person_id == site.people["carl"])
        ).all()
    failed = [e for e in site.events("carl.carer") if e.action == "update"][-1]
    assert failed.outcome is AuditOutcome.error and failed.person_id == site.people["carl"]
