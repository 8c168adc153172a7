"""The referral pages through the real app, on SQLite and PostgreSQL: refer (and a refused
form writing nothing, a full service recording its unmet need), the person's referrals, the
receiving organisation's inbox (accept, decline with a reason, attendance, a stale form), the
link worker's caseload and follow-up date, and "Your referrals" on My care plan.
"""

# ruff: noqa: F401, F811 (the cast fixture is imported, then requested by name)
from __future__ import annotations

import re

from sqlalchemy import select
from support_referrals import WHAT_MATTERS, Cast, cast
from test_api_support import without_tokens

from houseofcare.careplan import SYSTEM
from houseofcare.careplan.consent import give_consent
from houseofcare.store.database import transaction
from houseofcare.store.models import (
    AuditOutcome,
    CaseloadAssignment,
    Referral,
    ReferralStatus,
    UnmetNeed,
    UnmetNeedReason,
)


def _refer(cast: Cast, who: str, person: str, service: str, **fields: str):  # type: ignore[no-untyped-def]
    browser = cast.browser(who)
    data = {
        "csrf_token": cast.token(browser),
        "service_id": str(cast.services[service]),
        "need_domain": "social_loneliness",
        "reason": "Would like company on walks",
        "action_id": "new",
        **fields,
    }
    return browser, browser.post(f"/people/{cast.people[person]}/referrals/new", data=data)


def _referral(cast: Cast) -> Referral:
    with cast.factory() as session:
        row = session.scalars(select(Referral).order_by(Referral.id.desc())).first()
        assert row is not None
        session.expunge(row)
        return row


def test_refer_page_shows_places_and_sends(cast: Cast) -> None:
    gp = cast.browser("t.gp")
    page = gp.get(f"/people/{cast.people['Ada']}/referrals/new?service_id={cast.services['walk']}")
    assert page.status_code == 200, page.text
    assert "Wednesday walking group" in page.text and "2 places left this month" in page.text
    listing = gp.get(f"/people/{cast.people['Ada']}/referrals/new")
    assert "Lunch club (Lunch club (charity)): Full this month" in listing.text
    assert "Old choir" not in listing.text
    _, sent = _refer(cast, "t.gp", "Ada", "walk")
    assert sent.status_code == 303, sent.text
    assert sent.headers["location"].endswith("/referrals?saved=sent")
    referral = _referral(cast)
    assert (
        referral.status is ReferralStatus.sent and referral.reason == "Would like company on walks"
    )
    mine = gp.get(f"/people/{cast.people['Ada']}/referrals")
    assert "Wednesday walking group" in mine.text and "Withdraw" in mine.text


def test_a_refused_refer_form_writes_nothing_and_says_why(cast: Cast) -> None:
    before = cast.store()
    _, answer = _refer(cast, "t.gp", "Ada", "walk", reason="  ", need_domain="")
    assert answer.status_code == 400
    assert "There is a problem" in answer.text
    assert "Say what matters to the person" in answer.text
    assert "Choose the part of life" in answer.text
    _, closed = _refer(cast, "t.gp", "Ada", "closed")
    assert closed.status_code == 400 and "not taking referrals" in closed.text
    assert cast.store() == before
    browser = cast.browser("t.gp")
    forged = browser.post(
        f"/people/{cast.people['Ada']}/referrals/new",
        data={"service_id": str(cast.services["walk"]), "reason": "x", "need_domain": "mobility"},
    )
    assert forged.status_code == 403 and cast.store() == before


def test_a_full_service_refuses_and_records_the_unmet_need(cast: Cast) -> None:
    before = cast.store()
    _, answer = _refer(cast, "t.gp", "Ada", "lunch")
    assert answer.status_code == 409
    assert "Lunch club is full this month" in answer.text
    after = cast.store()
    assert after["referrals"] == before["referrals"] and after["unmet"] == before["unmet"] + 1
    with cast.factory() as session:
        assert session.scalar(select(UnmetNeed.reason)) is UnmetNeedReason.service_full


def test_inbox_accept_decline_attendance_and_a_stale_form(cast: Cast) -> None:
    _refer(cast, "t.gp", "Ada", "walk")
    first = _referral(cast)
    _refer(cast, "t.gp", "Bob", "walk")
    second = _referral(cast)
    vol = cast.browser("t.vol")
    inbox = vol.get("/referrals/inbox")
    assert inbox.status_code == 200
    # nobody consents to share with voluntary groups: no names, a reference instead
    assert "Ada" not in without_tokens(inbox.text) and f"REF-{first.id:06d}" in inbox.text
    assert "Not shared" in inbox.text
    assert inbox.text.index(f"REF-{second.id:06d}") < inbox.text.index(f"REF-{first.id:06d}")
    with transaction(cast.factory) as session:
        give_consent(session, cast.people["Ada"], "voluntary_group", SYSTEM)
    inbox = vol.get("/referrals/inbox")
    assert "Ada Walker" in inbox.text and "Would like company on walks" in inbox.text
    token = cast.token(vol)
    url = f"/referrals/inbox/{first.id}"
    # a decline without a reason: the error summary, nothing written
    before = cast.store()
    missing = vol.post(url, data={"csrf_token": token, "to": "declined", "version": "1"})
    assert missing.status_code == 400 and "There is a problem" in missing.text
    assert f'href="#note-{first.id}-declined"' in missing.text
    assert cast.store() == before
    accepted = vol.post(url, data={"csrf_token": token, "to": "accepted", "version": "1"})
    assert accepted.status_code == 303
    # the same form again (version 1): stale, shown as it is now, nothing written
    before = cast.store()
    stale = vol.post(url, data={"csrf_token": token, "to": "accepted", "version": "1"})
    assert stale.status_code == 409 and "changed by someone else" in stale.text
    assert "Accepted" in stale.text and cast.store() == before
    attended = vol.post(
        url, data={"csrf_token": token, "to": "attended", "version": "2", "note": "Loved it"}
    )
    assert attended.status_code == 303
    declined = vol.post(
        f"/referrals/inbox/{second.id}",
        data={"csrf_token": token, "to": "declined", "version": "1", "note": "Too far to walk"},
    )
    assert declined.status_code == 303
    with cast.factory() as session:
        statuses = dict(session.execute(select(Referral.id, Referral.status)).all())
    assert statuses == {first.id: ReferralStatus.attended, second.id: ReferralStatus.declined}
    # the other group sees none of it and may not move it
    other = cast.browser("t.vol2")
    assert f"REF-{first.id:06d}" not in other.get("/referrals/inbox").text
    refused = other.post(
        url, data={"csrf_token": cast.token(other), "to": "closed", "version": "3"}
    )
    assert refused.status_code == 403


def test_the_person_sees_their_referrals_on_my_care_plan(cast: Cast) -> None:
    _refer(cast, "t.gp", "Ada", "walk")
    ada = cast.browser("t.ada")
    page = ada.get("/me/plan")
    assert page.status_code == 200
    assert "Your referrals" in page.text and "Wednesday walking group" in page.text
    assert "/services?access=self_referral" in page.text


def test_link_worker_caseload_follow_up_and_refer_to_social_prescribing(cast: Cast) -> None:
    _refer(cast, "t.lw", "Ada", "walk")
    referral = _referral(cast)
    vol = cast.browser("t.vol")
    vol.post(
        f"/referrals/inbox/{referral.id}",
        data={"csrf_token": cast.token(vol), "to": "declined", "version": "1", "note": "Full up"},
    )
    gp = cast.browser("t.gp")
    social = gp.post(
        f"/people/{cast.people['Bob']}/social-prescribing",
        data={
            "csrf_token": cast.token(gp),
            "link_worker_id": str(cast.users["t.lw"]),
            "what_matters": "Wants to get back to gardening",
        },
    )
    assert social.status_code == 303, social.text
    empty = gp.post(
        f"/people/{cast.people['Bob']}/social-prescribing",
        data={"csrf_token": cast.token(gp), "link_worker_id": str(cast.users["t.lw"])},
    )
    assert empty.status_code == 400 and "Say what matters" in empty.text
    lw = cast.browser("t.lw")
    page = lw.get("/social-prescribing")
    assert page.status_code == 200
    assert WHAT_MATTERS in page.text and "Wants to get back to gardening" in page.text
    # Ada's referral was declined: she comes first, marked to follow up
    assert page.text.index("Ada Walker") < page.text.index("Bob Private")
    assert "Follow up" in page.text and "Declined: Full up" in page.text
    token = cast.token(lw)
    bad = lw.post(
        f"/social-prescribing/{cast.people['Bob']}/follow-up",
        data={
            "csrf_token": token,
            "follow-up[day]": "31",
            "follow-up[month]": "2",
            "follow-up[year]": "2027",
        },
    )
    assert bad.status_code == 400 and "real date" in bad.text
    saved = lw.post(
        f"/social-prescribing/{cast.people['Bob']}/follow-up",
        data={
            "csrf_token": token,
            "follow-up[day]": "14",
            "follow-up[month]": "1",
            "follow-up[year]": "2027",
        },
    )
    assert saved.status_code == 303
    with cast.factory() as session:
        days = session.scalars(
            select(CaseloadAssignment.follow_up_on).where(
                CaseloadAssignment.person_id == cast.people["Bob"]
            )
        ).all()
    assert [d.isoformat() for d in days if d] == ["2027-01-14"]
    assert re.search(r"Now 14 January 2027", lw.get("/social-prescribing").text)
    # a GP may not set a link worker's follow-up date, nor see their caseload
    assert gp.get("/social-prescribing").status_code == 403
    assert (
        gp.post(
            f"/social-prescribing/{cast.people['Bob']}/follow-up",
            data={
                "csrf_token": cast.token(gp),
                "follow-up[day]": "1",
                "follow-up[month]": "1",
                "follow-up[year]": "2027",
            },
        ).status_code
        == 403
    )
    assert cast.events("t.gp")[-1].outcome is AuditOutcome.denied
