"""The partners' view through the real app, on SQLite and PostgreSQL.

A social worker sees nothing identifiable until the person consents to share with social
care: the refusal is audited and reads exactly as for a person who does not exist. With
consent they see the person on their list (each person listed audited) and their plan as
far as the consent allows (goals, needs, and only the actions their organisation is named
in), add an action (a new version of the plan, named as theirs, seen by the person and the
practice) and a note; when the person withdraws, access ends on the next request. A voluntary
group without consent, and roles that are not partners, are refused.

The role × route matrix (`test_api_access.py`) covers every role on each route; the browser
journey is `tests/browser/test_partners.py`.
"""

# ruff: noqa: F401, F811 (the cast fixture is imported, then requested by name)
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from support_partners import GOAL, NEED, NURSE_ACTION, Cast, cast, spaced

from houseofcare.careplan import SYSTEM
from houseofcare.careplan.consent import give_consent, withdraw_consent
from houseofcare.store.database import transaction
from houseofcare.store.models import (
    Action,
    ActionVersion,
    AuditOutcome,
    CarePlan,
    CarePlanComment,
    CarePlanVersion,
)

LA = "local_authority_social_care"
NEXT_YEAR = dt.date.today().year + 1
SW_ACTION = "Arrange a carers assessment and a grab rail for the stairs"


def _consent(cast: Cast, person: str, kind: str = LA) -> int:
    with transaction(cast.factory) as session:
        return give_consent(session, cast.people[person], kind, SYSTEM).id


def _withdraw(cast: Cast, consent_id: int) -> None:
    with transaction(cast.factory) as session:
        withdraw_consent(session, consent_id, SYSTEM)


def _action(cast: Cast, browser, person: str, **fields: str):  # type: ignore[no-untyped-def]
    return browser.post(
        f"/partners/people/{cast.people[person]}/actions",
        data={"csrf_token": cast.token(browser), **fields},
    )


def test_without_consent_nothing_identifiable_and_the_same_answer_as_nobody(cast: Cast) -> None:
    sw = cast.browser("t.sw")
    start = cast.last_event_id()
    listed = sw.get("/partners")
    assert listed.status_code == 200
    assert "Nobody shares their care plan with you" in listed.text
    ada = sw.get(f"/partners/people/{cast.people['Ada']}")
    nobody = sw.get("/partners/people/987654")
    junk = sw.get("/partners/people/abc")
    for answer in (ada, nobody, junk):
        assert answer.status_code == 403
        assert "You cannot see this page" in answer.text
        assert "SHARED, Ada" not in answer.text and spaced(cast.nhs["Ada"]) not in answer.text
    # a person who exists and one who does not read exactly the same
    assert ada.text == nobody.text == junk.text
    before = cast.store()
    assert _action(cast, sw, "Ada", description=SW_ACTION).status_code == 403
    assert cast.store() == before
    events = cast.events("t.sw", start)
    assert [e.outcome for e in events if e.resource_type == "CarePlan"] == [AuditOutcome.denied] * 4
    search = [e for e in events if e.action == "search"]
    assert len(search) == 1 and search[0].detail["people"] == 0


def test_with_consent_the_plan_as_the_consent_allows_and_an_action_the_person_sees(
    cast: Cast,
) -> None:
    _consent(cast, "Ada")
    sw = cast.browser("t.sw")
    start = cast.last_event_id()
    listed = sw.get("/partners").text
    assert "SHARED, Ada" in listed and spaced(cast.nhs["Ada"]) in listed
    assert "PRIVATE, Bob" not in listed
    assert f'href="/partners/people/{cast.people["Ada"]}"' in listed
    listed_events = [e for e in cast.events("t.sw", start) if e.action == "search"]
    assert {e.person_id for e in listed_events} == {None, cast.people["Ada"]}

    page = sw.get(f"/partners/people/{cast.people['Ada']}")
    assert page.status_code == 200, page.text
    html = page.text
    assert "SHARED, Ada" in html and GOAL in html
    assert NEED in html
    assert NURSE_ACTION not in html  # an action for someone else is not shared
    for never in ("Medicines", "Conditions", "Results over time"):
        assert never not in html
    [read] = [e for e in cast.events("t.sw", start) if e.action == "read"]
    assert read.person_id == cast.people["Ada"] and read.outcome is AuditOutcome.success
    assert read.resource_id == str(cast.plan)

    with cast.factory() as session:
        version = session.scalar(select(CarePlan.version).where(CarePlan.id == cast.plan))
    added = _action(
        cast,
        sw,
        "Ada",
        description=SW_ACTION,
        **{"due[day]": "1", "due[month]": "6", "due[year]": str(NEXT_YEAR)},
    )
    assert added.status_code == 303, added.text
    with cast.factory() as session:
        plan = session.get(CarePlan, cast.plan)
        assert plan is not None and plan.version == version + 1
        action = session.scalar(select(Action).where(Action.description == SW_ACTION))
        assert action is not None
        assert action.performer_user_id == cast.users["t.sw"]
        assert action.performer_name == "Test sw (Council)"
        assert action.due_date == dt.date(NEXT_YEAR, 6, 1)
        [first] = session.scalars(
            select(ActionVersion).where(ActionVersion.action_id == action.id)
        ).all()
        assert (
            first.changed_by_id == cast.users["t.sw"] and first.changed_by_role == "social_worker"
        )
        latest = session.scalar(
            select(CarePlanVersion)
            .where(CarePlanVersion.care_plan_id == cast.plan)
            .order_by(CarePlanVersion.version.desc())
            .limit(1)
        )
        assert latest is not None and latest.changed_by_id == cast.users["t.sw"]
        assert latest.changes == {"action_added": action.id}
    [update] = [e for e in cast.events("t.sw", start) if e.action == "update"]
    assert update.outcome is AuditOutcome.success and update.detail["action_added"] == action.id

    shown = sw.get(f"/partners/people/{cast.people['Ada']}?saved=action").text
    assert SW_ACTION in shown and "Test sw (Council)" in shown
    assert "<strong>Saved. Your action is on the person" in shown
    # a colleague of the same council sees it too; the person and the practice see it
    assert SW_ACTION in cast.browser("t.sw2").get(f"/partners/people/{cast.people['Ada']}").text
    for who in ("t.ada", "t.gp"):
        plan_page = cast.browser(who).get(f"/people/{cast.people['Ada']}/plan")
        assert plan_page.status_code == 200
        assert SW_ACTION in plan_page.text and "Test sw (Council)" in plan_page.text
    history = cast.browser("t.gp").get(f"/people/{cast.people['Ada']}/plan/history").text
    assert "Test sw" in history and NURSE_ACTION in history
    # on the care plan page and its history too, a partner sees only their own actions
    for path in ("plan", "plan/history"):
        own = sw.get(f"/people/{cast.people['Ada']}/{path}")
        assert own.status_code == 200
        assert SW_ACTION in own.text and NURSE_ACTION not in own.text
    assert NURSE_ACTION in cast.browser("t.gp").get(f"/people/{cast.people['Ada']}/plan").text


def test_a_note_is_added_with_its_author_and_mistakes_write_nothing(cast: Cast) -> None:
    _consent(cast, "Ada")
    sw = cast.browser("t.sw")
    url = f"/partners/people/{cast.people['Ada']}"
    before = cast.store()
    empty = _action(cast, sw, "Ada", description="  ")
    assert empty.status_code == 400
    assert "There is a problem" in empty.text and "Enter what you will do" in empty.text
    past = _action(
        cast,
        sw,
        "Ada",
        description=SW_ACTION,
        **{"due[day]": "1", "due[month]": "1", "due[year]": "2020"},
    )
    assert past.status_code == 400 and "today or in the future" in past.text
    assert SW_ACTION in past.text  # what was typed is kept
    assert cast.store() == before
    note = sw.post(
        f"{url}/notes",
        data={"csrf_token": cast.token(sw), "note": "Visited: keen on the lunch club"},
    )
    assert note.status_code == 303
    with cast.factory() as session:
        [comment] = session.scalars(select(CarePlanComment)).all()
        assert comment.author_id == cast.users["t.sw"] and comment.care_plan_id == cast.plan
    assert "Visited: keen on the lunch club" in sw.get(url).text
    forged = sw.post(f"{url}/notes", data={"note": "no token"})
    assert forged.status_code == 403
    with cast.factory() as session:
        assert len(session.scalars(select(CarePlanComment)).all()) == 1


def test_withdrawal_ends_access_at_once(cast: Cast) -> None:
    consent = _consent(cast, "Ada")
    sw = cast.browser("t.sw")
    url = f"/partners/people/{cast.people['Ada']}"
    assert sw.get(url).status_code == 200
    _withdraw(cast, consent)
    start = cast.last_event_id()
    after = sw.get(url)
    assert after.status_code == 403 and "SHARED, Ada" not in after.text
    assert "SHARED, Ada" not in sw.get("/partners").text
    before = cast.store()
    assert _action(cast, sw, "Ada", description=SW_ACTION).status_code == 403
    assert cast.store() == before
    outcomes = [e.outcome for e in cast.events("t.sw", start) if e.resource_type == "CarePlan"]
    assert outcomes == [AuditOutcome.denied, AuditOutcome.denied]


def test_other_groups_and_roles_are_refused(cast: Cast) -> None:
    _consent(cast, "Ada")  # to social care only
    vol = cast.browser("t.vol")
    assert vol.get(f"/partners/people/{cast.people['Ada']}").status_code == 403
    assert "SHARED, Ada" not in vol.get("/partners").text
    for who in ("t.gp", "t.ada", "t.commissioner"):
        answer = cast.browser(who).get("/partners")
        assert answer.status_code == 403 and "for social care and voluntary groups" in answer.text
        person = cast.browser(who).get(f"/partners/people/{cast.people['Ada']}")
        assert person.status_code == 403


def test_a_person_with_consent_but_no_plan(cast: Cast) -> None:
    _consent(cast, "Bob", "voluntary_group")
    vol = cast.browser("t.vol")
    assert "PRIVATE, Bob" in vol.get("/partners").text
    page = vol.get(f"/partners/people/{cast.people['Bob']}")
    assert page.status_code == 200 and "There is no care plan yet" in page.text
    assert "Add an action" not in page.text
    before = cast.store()
    answer = _action(cast, vol, "Bob", description="Invite to Breathe Easy")
    assert answer.status_code == 400 and "There is no care plan to add to yet" in answer.text
    assert cast.store() == before


def test_the_fhir_api_shares_no_more_than_the_pages(cast: Cast) -> None:
    """Through the FHIR CarePlan read, search, history and vread a partner gets the plan as
    the consent allows: only their organisation's actions and notes (H-054); the team gets
    everything."""
    _consent(cast, "Ada")
    sw = cast.browser("t.sw")
    assert _action(cast, sw, "Ada", description=SW_ACTION).status_code == 303
    url = f"/partners/people/{cast.people['Ada']}"
    sw.post(f"{url}/notes", data={"csrf_token": cast.token(sw), "note": "Council note"})
    gp = cast.browser("t.gp")
    with transaction(cast.factory) as session:  # a comment by the practice, not shared
        from houseofcare.careplan import Actor, plans
        from houseofcare.store.models import Role

        practice = Actor(user_id=cast.users["t.gp"], username="t.gp", role=Role.gp)
        plans.add_comment(session, cast.plan, "Practice only", practice)

    read = sw.get(f"/fhir/CarePlan/{cast.plan}")
    assert read.status_code == 200, read.text
    for answer in (
        read.text,
        sw.get(f"/fhir/CarePlan?patient={cast.people['Ada']}").text,
    ):
        assert SW_ACTION in answer and "Council note" in answer
        assert NURSE_ACTION not in answer and "Practice only" not in answer
    history = sw.get(f"/fhir/CarePlan/{cast.plan}/_history")
    assert history.status_code == 200 and SW_ACTION in history.text
    assert NURSE_ACTION not in history.text
    version = read.json()["meta"]["versionId"]
    old = sw.get(f"/fhir/CarePlan/{cast.plan}/_history/{version}")
    assert old.status_code == 200 and NURSE_ACTION not in old.text
    # the practice sees the whole plan
    whole = gp.get(f"/fhir/CarePlan/{cast.plan}").text
    assert NURSE_ACTION in whole and SW_ACTION in whole and "Practice only" in whole


def test_the_list_comes_a_page_at_a_time_and_only_those_shown_are_audited(
    cast: Cast, monkeypatch: pytest.MonkeyPatch
) -> None:
    from houseofcare.web import partners_page

    monkeypatch.setattr(partners_page, "LIST_LIMIT", 1)
    _consent(cast, "Ada")
    _consent(cast, "Bob")
    sw = cast.browser("t.sw")
    start = cast.last_event_id()
    first = sw.get("/partners").text
    assert "2 people; 1 to 1 by family name shown" in first
    assert 'href="/partners?start=1"' in first and "Previous people" not in first
    second = sw.get("/partners?start=1").text
    assert "2 people; 2 to 2 by family name shown" in second
    assert 'href="/partners?start=0"' in second and "Next people" not in second
    named = {n for n in ("SHARED, Ada", "PRIVATE, Bob") if n in first}
    assert len(named) == 1 and not named & {
        n for n in ("SHARED, Ada", "PRIVATE, Bob") if n in second
    }
    listed = [
        e.person_id for e in cast.events("t.sw", start) if e.action == "search" and e.person_id
    ]
    assert sorted(listed) == sorted([cast.people["Ada"], cast.people["Bob"]])  # one per page
