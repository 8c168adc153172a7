"""The consent page through the real app, on SQLite and PostgreSQL: the person records, sees
and withdraws their own consent to share (no id in the address); a professional with them
does the same from the person's page; the page says who sees what; mistakes and forms
without the session's CSRF token write nothing; every view, change and refusal is audited.

Who may open each route, for every role, is the role × route matrix (`test_api_access.py`);
the partner's side of consent is `test_pages_partners.py`; the browser journey is
`tests/browser/test_partners.py`.
"""

# ruff: noqa: F401, F811 (the cast fixture is imported, then requested by name)
from __future__ import annotations

from sqlalchemy import select
from support_partners import Cast, cast, spaced

from houseofcare.careplan import SYSTEM
from houseofcare.careplan.consent import give_consent
from houseofcare.store.database import transaction
from houseofcare.store.models import AuditOutcome, ConsentToShare, OrganisationType

LA = "local_authority_social_care"


def _consents(cast: Cast, person: str) -> list[ConsentToShare]:
    with cast.factory() as session:
        return list(
            session.scalars(
                select(ConsentToShare)
                .where(ConsentToShare.person_id == cast.people[person])
                .order_by(ConsentToShare.id)
            ).all()
        )


def test_the_person_records_sees_and_withdraws_their_own_consent(cast: Cast) -> None:
    ada = cast.browser("t.ada")
    start = cast.last_event_id()
    page = ada.get("/consent")
    assert page.status_code == 200, page.text
    html = page.text
    assert "Who can see your care plan" in html
    assert spaced(cast.nhs["Ada"]) in html  # the banner: whose consent this is
    assert html.count("Not shared") == 2  # social care and voluntary groups
    # the page says plainly who sees what, and what never
    for words in ("your goals, in your own words", "your medicines", "your test results"):
        assert words in html
    read = cast.events("t.ada", start)
    assert [(e.action, e.resource_type, e.person_id) for e in read] == [
        ("read", "Consent", cast.people["Ada"])
    ]

    given = ada.post(
        "/consent",
        data={"csrf_token": cast.token(ada), "do": "give", "organisation_type": LA},
    )
    assert given.status_code == 303 and given.headers["location"] == "/consent?saved=given"
    [consent] = _consents(cast, "Ada")
    assert consent.organisation_type is OrganisationType.local_authority_social_care
    assert consent.withdrawn_at is None and consent.recorded_by_id == cast.users["t.ada"]
    after = ada.get("/consent?saved=given").text
    assert "<strong>Saved. Your care plan is now shared" in after  # markup, not escaped
    assert "Stop sharing with social care" in after
    assert "recorded by Test ada" in after
    created = [e for e in cast.events("t.ada", start) if e.action == "create"]
    assert [(e.resource_id, e.outcome) for e in created] == [
        (str(consent.id), AuditOutcome.success)
    ]

    withdrawn = ada.post(
        "/consent",
        data={"csrf_token": cast.token(ada), "do": "withdraw", "consent_id": str(consent.id)},
    )
    assert withdrawn.status_code == 303
    [consent] = _consents(cast, "Ada")
    assert consent.withdrawn_at is not None and consent.withdrawn_by_id == cast.users["t.ada"]
    history = ada.get("/consent").text
    assert history.count("Not shared") == 2 and "Still shared" not in history
    updated = [e for e in cast.events("t.ada", start) if e.action == "update"]
    assert [e.outcome for e in updated] == [AuditOutcome.success]


def test_the_person_cannot_touch_another_persons_consent(cast: Cast) -> None:
    with transaction(cast.factory) as session:
        bobs = give_consent(session, cast.people["Bob"], LA, SYSTEM).id
    ada = cast.browser("t.ada")
    before = cast.store()
    start = cast.last_event_id()
    answer = ada.post(
        "/consent",
        data={"csrf_token": cast.token(ada), "do": "withdraw", "consent_id": str(bobs)},
    )
    assert answer.status_code == 400
    assert "nothing was changed" in answer.text
    assert "PRIVATE, Bob" not in answer.text  # nothing of Bob's
    assert spaced(cast.nhs["Bob"]) not in answer.text
    assert cast.store() == before
    [event] = [e for e in cast.events("t.ada", start) if e.action == "update"]
    assert event.outcome is AuditOutcome.not_found and event.person_id == cast.people["Ada"]
    # and another person's page is refused: their id is not Ada's
    refused = ada.get(f"/people/{cast.people['Bob']}/consent")
    assert refused.status_code == 403 and spaced(cast.nhs["Bob"]) not in refused.text


def test_a_mistake_or_a_form_without_the_token_writes_nothing(cast: Cast) -> None:
    ada = cast.browser("t.ada")
    before = cast.store()
    start = cast.last_event_id()
    wrong = ada.post(
        "/consent",
        data={"csrf_token": cast.token(ada), "do": "give", "organisation_type": "acute_trust"},
    )
    assert wrong.status_code == 400
    assert (
        "There is a problem" in wrong.text
        and "Choose who to share your care plan with" in wrong.text
    )
    forged = ada.post("/consent", data={"do": "give", "organisation_type": LA})
    assert forged.status_code == 403 and "Nothing was saved" in forged.text
    assert cast.store() == before
    outcomes = [e.outcome for e in cast.events("t.ada", start) if e.action in ("create", "update")]
    assert outcomes == [AuditOutcome.invalid, AuditOutcome.denied]


def test_a_professional_records_consent_from_the_persons_page(cast: Cast) -> None:
    gp = cast.browser("t.gp")
    person = gp.get(f"/people/{cast.people['Ada']}")
    assert f'href="/people/{cast.people["Ada"]}/consent"' in person.text
    url = f"/people/{cast.people['Ada']}/consent"
    page = gp.get(url)
    assert page.status_code == 200 and "Consent to share the care plan" in page.text
    answer = gp.post(
        url,
        data={"csrf_token": cast.token(gp), "do": "give", "organisation_type": "voluntary_group"},
    )
    assert answer.status_code == 303 and answer.headers["location"] == f"{url}?saved=given"
    [consent] = _consents(cast, "Ada")
    assert consent.organisation_type is OrganisationType.voluntary_group
    assert consent.recorded_by_id == cast.users["t.gp"]
    # the person sees who recorded it on their own page
    assert "recorded by Test gp" in cast.browser("t.ada").get("/consent").text


def test_consent_pages_refused_to_who_may_not_and_audited(cast: Cast) -> None:
    start = cast.last_event_id()
    gp_own = cast.browser("t.gp").get("/consent")  # not a person: no own consent page
    assert gp_own.status_code == 403 and "You cannot see this page" in gp_own.text
    social = cast.browser("t.sw").get(f"/people/{cast.people['Ada']}/consent")
    assert social.status_code == 403 and spaced(cast.nhs["Ada"]) not in social.text
    nobody = cast.browser("t.gp").get("/people/99999/consent")
    assert nobody.status_code == 403
    junk = cast.browser("t.gp").get("/people/x1/consent")
    assert junk.status_code == 403
    for who in ("t.gp", "t.sw"):
        assert all(
            e.outcome is AuditOutcome.denied
            for e in cast.events(who, start)
            if e.resource_type == "Consent"
        )
        assert any(e.resource_type == "Consent" for e in cast.events(who, start))
