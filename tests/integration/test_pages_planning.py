"""The care-planning pages through the real app over a real SQLite store: the conversation
writes a new version with the goal exactly as typed; a mistake writes nothing and names the
field; a stale form shows what changed and does not overwrite; a review is a new version;
the history says what changed; the results letter's PDF; refusals audited.

Who may open each page, on SQLite and PostgreSQL, is the role × route matrix
(`test_api_access.py`); the browser journeys are `tests/browser/test_planning.py`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from tests.unit.test_letter_pdf import pdf_text

from houseofcare.api.app import create_app
from houseofcare.careplan import SYSTEM
from houseofcare.careplan.people import create_organisation, create_person, create_user
from houseofcare.careplan.preparation import MeasureResult, ResultsSummary, prepare
from houseofcare.settings import Settings
from houseofcare.store.database import make_engine, session_factory, transaction
from houseofcare.store.migrate import upgrade_engine
from houseofcare.store.models import (
    Action,
    AuditEvent,
    AuditOutcome,
    CarePlan,
    CarePlanParticipant,
    CarePlanVersion,
    Goal,
    Need,
    Preparation,
    Role,
)

PASSWORD = "correct horse battery staple"
GOAL = "To dance at my granddaughter’s wedding in June — without my knees hurting!"
NEXT_YEAR = dt.date.today().year + 1


@dataclass
class Planning:
    app: Any
    factory: sessionmaker[Session]
    person: int
    other: int

    def browser(self, username: str) -> TestClient:
        browser = TestClient(self.app, follow_redirects=False)
        form = browser.get("/sign-in")
        answer = browser.post(
            "/sign-in",
            data={"username": username, "password": PASSWORD, "csrf_token": token(form.text)},
        )
        assert answer.status_code == 303, answer.text
        return browser

    def store(self) -> dict[str, Any]:
        """Everything a care-planning form writes (audit aside)."""
        with self.factory() as session:
            counts = {
                model.__tablename__: session.scalar(select(func.count()).select_from(model))
                for model in (CarePlan, CarePlanVersion, Goal, Action, Need, CarePlanParticipant)
            }
            counts["plans"] = sorted(session.execute(select(CarePlan.id, CarePlan.version)).all())
            counts["sent"] = sorted(
                session.execute(select(Preparation.id, Preparation.sent_on)).all()
            )
            counts["preparations"] = session.scalar(select(func.count()).select_from(Preparation))
        return counts

    def last_event(self, username: str) -> AuditEvent:
        with self.factory() as session:
            event = session.scalar(
                select(AuditEvent)
                .where(AuditEvent.username == username)
                .order_by(AuditEvent.id.desc())
                .limit(1)
            )
            assert event is not None
            return event


def token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None, "no CSRF token on the page"
    return found.group(1)


def version_field(html: str) -> str:
    found = re.search(r'name="version" value="(\d+)"', html)
    assert found is not None, "no version on the form"
    return found.group(1)


@pytest.fixture(scope="module")
def planning(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Planning]:
    folder: Path = tmp_path_factory.mktemp("planning")
    url = f"sqlite:///{folder / 'operational.sqlite'}"
    engine = make_engine(url)
    upgrade_engine(engine)
    factory = session_factory(engine)
    with transaction(factory) as session:
        practice = create_organisation(session, ods_code="Y0101", name="P", type="practice")
        other_practice = create_organisation(session, ods_code="Y0102", name="Q", type="practice")
        council = create_organisation(
            session, ods_code="LA9", name="Council", type="local_authority_social_care"
        )
        for name, role, org in (
            ("pl.gp", Role.gp, practice.id),
            ("pl.nurse", Role.nurse, practice.id),
            ("pl.social", Role.social_worker, council.id),
            ("pl.commissioner", Role.commissioner, None),
        ):
            create_user(
                session,
                username=name,
                password=PASSWORD,
                role=role,
                display_name=name,
                organisation_id=org,
            )
        person = create_person(
            session,
            nhs_number="9990000018",
            practice_id=practice.id,
            given_name="Ada",
            family_name="Planned",
            birth_date=dt.date(1950, 2, 3),
            patient_id="pat-planned",
        )
        other = create_person(
            session, nhs_number="9990000026", practice_id=other_practice.id, given_name="Bo"
        )
        summary = ResultsSummary(
            patient_id="pat-planned",
            run_id="run-7",
            as_of="2026-03-31",
            measures=(
                MeasureResult(
                    measure="hba1c",
                    label="HbA1c (average blood sugar)",
                    value=62.0,
                    unit="mmol/mol",
                    date="2026-02-14",
                    meaning="59 or more: higher than most people with diabetes aim for.",
                    about="Your average blood sugar over the last 2 to 3 months.",
                ),
            ),
            care_gaps=(),
            risk=None,
        )
        prepare(session, person.id, SYSTEM, summary=summary)
        ids = (person.id, other.id)
    app = create_app(Settings(data_dir=folder / "hoc-data", database_url=url))
    yield Planning(app, factory, *ids)
    app.state.services.engine.dispose()
    engine.dispose()


def conversation_form(html: str, **changes: str | list[str]) -> dict[str, Any]:
    """A filled-in conversation form as the page would send it."""
    data: dict[str, Any] = {
        "csrf_token": token(html),
        "version": version_field(html),
        "goal-1-text": GOAL,
        "goal-1-measure": "hba1c",
        "goal-1-value": "58",
        "action-1-what": "Walk for 10 minutes every day",
        "action-1-who": "person",
        "need-1-domain": "mobility",
        "need-1-text": "Stairs are hard",
        "review_date[day]": "30",
        "review_date[month]": "9",
        "review_date[year]": str(NEXT_YEAR),
        "took_part": ["person", "me"],
        "agreed": "yes",
    }
    data.update(changes)
    return data


def test_the_conversation_writes_a_new_version_with_the_goal_exactly_as_typed(
    planning: Planning,
) -> None:
    gp = planning.browser("pl.gp")
    url = f"/people/{planning.person}/plan/conversation"
    opened = gp.get(url)
    assert opened.status_code == 200, opened.text
    assert "PLANNED, Ada" in opened.text  # the person banner
    before = planning.store()
    saved = gp.post(url, data=conversation_form(opened.text))
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"] == f"/people/{planning.person}/plan?saved=conversation"
    with planning.factory() as session:
        goal = session.scalars(select(Goal).order_by(Goal.id.desc())).first()
        assert goal is not None
        assert goal.what_matters_to_me == GOAL
        assert goal.target_measure == "HbA1c (average blood sugar)"
        assert (goal.target_value, goal.target_unit) == (58.0, "mmol/mol")
        plan = session.get(CarePlan, goal.care_plan_id)
        assert plan is not None and plan.agreed_with_person
        assert plan.review_date == dt.date(NEXT_YEAR, 9, 30)
        assert {p.role.value for p in plan.participants} == {"person", "professional"}
    after = planning.store()
    assert after["care_plan_version"] > before["care_plan_version"]
    page = gp.get(saved.headers["location"])
    assert "The conversation is recorded as a new version" in page.text
    assert "dance at my granddaughter’s wedding" in page.text
    assert "Agreed with the person" in page.text
    event = planning.last_event("pl.gp")
    assert (event.action, event.outcome) == ("read", AuditOutcome.success)
    assert event.person_id == planning.person


def test_a_mistake_writes_nothing_and_names_each_field(planning: Planning) -> None:
    nurse = planning.browser("pl.nurse")
    url = f"/people/{planning.person}/plan/conversation"
    opened = nurse.get(url)
    before = planning.store()
    wrong = conversation_form(
        opened.text,
        **{"goal-1-value": "about sixty", "review_date[month]": "13", "agreed": ""},
    )
    answer = nurse.post(url, data=wrong)
    assert answer.status_code == 400
    assert planning.store() == before, "a refused form wrote to the store"
    assert "There is a problem" in answer.text
    assert "<title>Error: Record the care-planning conversation" in answer.text
    for field, message in (
        ("goal-1-value", "Goal 1&#39;s target must be a number"),
        ("review_date-day", "Review date must be a real date"),
        ("agreed", "Confirm the person agreed this plan with you"),
    ):
        assert f'href="#{field}"' in answer.text, field
        assert message in answer.text
    # what was typed is kept
    assert "about sixty" in answer.text
    assert GOAL in answer.text.replace("&#39;", "'")
    event = planning.last_event("pl.nurse")
    assert event.outcome is AuditOutcome.invalid
    assert "goal-1-value" in event.detail["fields"]


def test_agreement_needs_the_person_to_have_taken_part(planning: Planning) -> None:
    nurse = planning.browser("pl.nurse")
    url = f"/people/{planning.person}/plan/conversation"
    opened = nurse.get(url)
    before = planning.store()
    answer = nurse.post(url, data=conversation_form(opened.text, took_part=["me"]))
    assert answer.status_code == 400
    assert "The person must take part to agree their plan" in answer.text
    assert planning.store() == before


def test_a_stale_form_shows_what_changed_and_does_not_overwrite(planning: Planning) -> None:
    gp, nurse = planning.browser("pl.gp"), planning.browser("pl.nurse")
    url = f"/people/{planning.person}/plan/conversation"
    gp_form, nurse_form = gp.get(url), nurse.get(url)
    assert version_field(gp_form.text) == version_field(nurse_form.text)
    first = gp.post(
        url, data=conversation_form(gp_form.text, **{"goal-1-text": "Sleep through the night"})
    )
    assert first.status_code == 303, first.text
    before = planning.store()
    second = nurse.post(
        url, data=conversation_form(nurse_form.text, **{"goal-1-text": "Swim on Fridays"})
    )
    assert second.status_code == 409, second.text
    assert planning.store() == before, "the stale form overwrote the plan"
    assert "This plan was changed by someone else" in second.text
    assert "nothing you entered has been saved" in second.text
    assert "Goal added: “Sleep through the night”" in second.text
    assert "by pl.gp (gp)" in second.text
    assert "Swim on Fridays" in second.text  # the nurse's entries are kept
    with planning.factory() as session:
        texts = set(session.scalars(select(Goal.what_matters_to_me)))
        current = session.scalar(
            select(CarePlan.version).where(CarePlan.person_id == planning.person)
        )
    assert "Sleep through the night" in texts and "Swim on Fridays" not in texts
    assert version_field(second.text) == str(current), "the form now stands on the new plan"
    assert planning.last_event("pl.nurse").outcome is AuditOutcome.conflict
    # sending it again, having seen the change, adds the nurse's goal beside the GP's
    again = nurse.post(
        url, data=conversation_form(second.text, **{"goal-1-text": "Swim on Fridays"})
    )
    assert again.status_code == 303, again.text
    with planning.factory() as session:
        texts = set(session.scalars(select(Goal.what_matters_to_me)))
    assert {"Sleep through the night", "Swim on Fridays"} <= texts


def test_a_review_makes_a_new_version_and_the_history_shows_what_changed(
    planning: Planning,
) -> None:
    gp = planning.browser("pl.gp")
    url = f"/people/{planning.person}/plan/review"
    opened = gp.get(url)
    assert opened.status_code == 200, opened.text
    was = int(version_field(opened.text))
    data = {
        "csrf_token": token(opened.text),
        "version": str(was),
        "next_review[day]": "1",
        "next_review[month]": "3",
        "next_review[year]": str(NEXT_YEAR + 1),
        "note": "Going well",
    }
    bad = gp.post(url, data={**data, "next_review[year]": "2001"})
    assert bad.status_code == 400
    assert "The next review date must be in the future" in bad.text
    assert 'href="#next_review-day"' in bad.text
    saved = gp.post(url, data=data)
    assert saved.status_code == 303, saved.text
    with planning.factory() as session:
        plan = session.scalar(select(CarePlan).where(CarePlan.person_id == planning.person))
        assert plan is not None
        assert plan.version == was + 1
        assert plan.review_date == dt.date(NEXT_YEAR + 1, 3, 1)
        versions = session.scalar(
            select(func.count())
            .select_from(CarePlanVersion)
            .where(CarePlanVersion.care_plan_id == plan.id)
        )
    assert versions == plan.version, "every version is kept"
    history = gp.get(saved.headers["location"])
    assert history.status_code == 200
    assert "Plan reviewed" in history.text
    assert f"Review date: 30 September {NEXT_YEAR} → 1 March {NEXT_YEAR + 1}" in history.text
    assert "Review note: Going well" in history.text
    assert "Care-planning conversation recorded" in history.text
    assert "Goal added: “To dance" in history.text
    # the same review sent twice is stale: never a second overwrite
    twice = gp.post(url, data=data)
    assert twice.status_code == 409
    assert "Plan reviewed" in twice.text


def test_the_results_letter_page_and_pdf(planning: Planning) -> None:
    nurse = planning.browser("pl.nurse")
    page = nurse.get(f"/people/{planning.person}/preparation")
    assert page.status_code == 200, page.text
    assert "Your results before your care-planning conversation" in page.text
    assert "Your result: 62 mmol/mol" in page.text
    assert "higher than most people with diabetes aim for" in page.text
    assert "Figures come from the pipeline run of" in page.text
    assert "31 March 2026" in page.text
    # the person's own target, from the goal the conversation recorded
    assert "Your target: 58 mmol/mol" in page.text
    pdf = nurse.get(f"/people/{planning.person}/preparation/letter.pdf")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    text = pdf_text(pdf.content)
    assert "HbA1c (average blood sugar)" in text
    assert "62 mmol/mol" in text
    assert "PLANNED, Ada" in text
    event = planning.last_event("pl.nurse")
    assert (event.action, event.resource_type, event.outcome) == (
        "export",
        "Preparation",
        AuditOutcome.success,
    )


def test_marking_the_letter_sent_checks_the_date(planning: Planning) -> None:
    nurse = planning.browser("pl.nurse")
    url = f"/people/{planning.person}/preparation"
    page = nurse.get(url)
    before = planning.store()
    future = {
        "csrf_token": token(page.text),
        "sent_on[day]": "1",
        "sent_on[month]": "1",
        "sent_on[year]": str(NEXT_YEAR + 1),
    }
    wrong = nurse.post(f"{url}/sent", data=future)
    assert wrong.status_code == 400
    assert "The date sent cannot be in the future" in wrong.text
    assert 'href="#sent_on-day"' in wrong.text
    assert planning.store() == before
    today = dt.date.today()
    sent = nurse.post(
        f"{url}/sent",
        data={
            **future,
            "sent_on[day]": str(today.day),
            "sent_on[month]": str(today.month),
            "sent_on[year]": str(today.year),
        },
    )
    assert sent.status_code == 303, sent.text
    shown = nurse.get(sent.headers["location"])
    assert f"Sent {today:%-d %B %Y}" in shown.text


def test_preparing_without_a_pipeline_run_says_so_and_writes_nothing(planning: Planning) -> None:
    gp = planning.browser("pl.gp")
    page = gp.get(f"/people/{planning.person}/preparation")
    before = planning.store()
    answer = gp.post(
        f"/people/{planning.person}/preparation", data={"csrf_token": token(page.text)}
    )
    assert answer.status_code == 409
    assert "The letter could not be prepared" in answer.text
    assert planning.store() == before
    assert planning.last_event("pl.gp").outcome is AuditOutcome.error


@pytest.mark.parametrize(
    ("username", "path"),
    [
        ("pl.social", "/people/{me}/plan"),
        ("pl.commissioner", "/people/{me}/plan/history"),
        ("pl.gp", "/people/{other}/plan"),
        ("pl.gp", "/people/{other}/preparation/letter.pdf"),
        ("pl.social", "/people/{me}/preparation"),
    ],
)
def test_refused_roles_see_the_refusal_and_it_is_audited(
    planning: Planning, username: str, path: str
) -> None:
    browser = planning.browser(username)
    answer = browser.get(path.format(me=planning.person, other=planning.other))
    assert answer.status_code == 403
    assert "You cannot see this page" in answer.text
    assert "PLANNED" not in answer.text
    assert planning.last_event(username).outcome is AuditOutcome.denied


def test_a_refused_write_and_a_form_without_its_token_write_nothing(planning: Planning) -> None:
    gp = planning.browser("pl.gp")
    opened = gp.get(f"/people/{planning.person}/plan/conversation")
    before = planning.store()
    no_token = conversation_form(opened.text, csrf_token="")
    answer = gp.post(f"/people/{planning.person}/plan/conversation", data=no_token)
    assert answer.status_code == 403
    assert "The form could not be sent" in answer.text
    unrelated = gp.post(
        f"/people/{planning.other}/plan/conversation", data=conversation_form(opened.text)
    )
    assert unrelated.status_code == 403
    assert "You cannot see this page" in unrelated.text
    assert planning.store() == before
    assert planning.last_event("pl.gp").outcome is AuditOutcome.denied
