"""The referral service on SQLite and PostgreSQL: sending from the plan, the moves, capacity,
unmet need, the outcome on the care plan, consent scoping for the receiver, audit, and stale
versions. The moves themselves, every role and every pair, are `tests/unit/test_referral_flow.py`.
"""

# ruff: noqa: F401, F811 (the cast fixture is imported, then requested by name)
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from support_referrals import GOAL, Cast, cast

from houseofcare.careplan import SYSTEM
from houseofcare.careplan.consent import give_consent, withdraw_consent
from houseofcare.careplan.errors import InvalidChange, StaleVersion
from houseofcare.careplan.guard import AccessRefused
from houseofcare.selfcare import referrals
from houseofcare.selfcare.capacity import capacity
from houseofcare.selfcare.referrals import ForbiddenMove, ServiceFull
from houseofcare.store.database import transaction
from houseofcare.store.models import (
    Action,
    ActionStatus,
    AuditOutcome,
    CarePlan,
    CarePlanComment,
    Referral,
    ReferralEvent,
    ReferralStatus,
    UnmetNeed,
    UnmetNeedReason,
)

VG = "voluntary_group"


def _send(cast: Cast, who: str = "t.gp", person: str = "Ada", service: str = "walk", **kw):  # type: ignore[no-untyped-def]
    return referrals.send(
        cast.guard(who),
        person_id=cast.people[person],
        service_id=cast.services[service],
        reason=kw.pop("reason", "Would like to walk with others"),
        need_domain=kw.pop("need_domain", "social_loneliness"),
        **kw,
    )


def _consent(cast: Cast, person: str = "Ada") -> int:
    with transaction(cast.factory) as session:
        return give_consent(session, cast.people[person], VG, SYSTEM).id


def test_sending_makes_an_action_on_the_plan_the_referral_and_its_event(cast: Cast) -> None:
    start = cast.last_event_id()
    sent = _send(cast)
    assert sent.status is ReferralStatus.sent and sent.version == 1
    with cast.factory() as session:
        referral = session.get(Referral, sent.id)
        assert referral is not None
        action = session.get(Action, referral.action_id)
        assert action is not None and action.care_plan_id == cast.plans["Ada"]
        assert action.performer.value == "service"
        assert action.performer_name == "Wednesday walking group"
        # the link worker following Ada up is recorded with the referral
        assert referral.link_worker_id == cast.users["t.lw"]
        events = session.scalars(
            select(ReferralEvent).where(ReferralEvent.referral_id == sent.id)
        ).all()
        assert [(e.from_status, e.to_status) for e in events] == [(None, ReferralStatus.sent)]
    created = [e for e in cast.events("t.gp", start) if e.action == "create"]
    assert created[-1].resource_type == "ServiceRequest"
    assert created[-1].person_id == cast.people["Ada"]
    assert created[-1].outcome is AuditOutcome.success


def test_sending_reuses_an_action_given_and_refuses_one_from_another_plan(cast: Cast) -> None:
    first = _send(cast)
    again = _send(cast, action_id=first.action_id)
    assert again.action_id == first.action_id
    before = cast.store()
    with cast.factory() as session:
        bob_plan = session.get(CarePlan, cast.plans["Bob"])
        assert bob_plan is not None
    bob_action = _send(cast, person="Bob").action_id
    before = cast.store()
    with pytest.raises(InvalidChange, match="action_id"):
        _send(cast, action_id=bob_action)
    assert cast.store() == before


def test_a_closed_service_and_a_person_without_a_plan_are_refused(cast: Cast) -> None:
    before = cast.store()
    with pytest.raises(InvalidChange, match="not taking referrals"):
        _send(cast, service="closed")
    with pytest.raises(InvalidChange, match="no active care plan"):
        _send(cast, person="Cy")
    with pytest.raises(InvalidChange, match="need domain"):
        _send(cast, need_domain="happiness")
    assert cast.store() == before


def test_capacity_goes_down_as_referrals_are_accepted_and_a_full_service_refuses(
    cast: Cast,
) -> None:
    vol = cast.guard("t.vol")
    with cast.factory() as session:
        assert capacity(session, cast.services["walk"]).left == 2
    first, second, third = _send(cast), _send(cast, person="Bob"), _send(cast)
    referrals.move(vol, first.id, "accepted", expected_version=1)
    with cast.factory() as session:
        assert capacity(session, cast.services["walk"]).left == 1
    referrals.move(vol, second.id, "accepted", expected_version=1)
    with cast.factory() as session:
        assert capacity(session, cast.services["walk"]).full
    # accepting into a full service is refused, writing nothing
    before = cast.store()
    with pytest.raises(ServiceFull, match="full this month"):
        referrals.move(vol, third.id, "accepted", expected_version=1)
    assert cast.store() == before
    # sending to it now is refused: no referral, but the unmet need and its audit stay
    start = cast.last_event_id()
    with pytest.raises(ServiceFull, match="unmet"):
        _send(cast, person="Bob")
    after = cast.store()
    assert after["referrals"] == before["referrals"]
    assert after["unmet"] == before["unmet"] + 1
    with cast.factory() as session:
        row = session.scalars(select(UnmetNeed).order_by(UnmetNeed.id.desc())).first()
        assert row is not None and row.reason is UnmetNeedReason.service_full
        assert row.person_id == cast.people["Bob"] and row.service_id == cast.services["walk"]
        assert row.need_domain == "social_loneliness" and row.locality == "Leeds"
    refused = [e for e in cast.events("t.gp", start) if e.resource_type == "ServiceRequest"]
    assert refused[-1].outcome is AuditOutcome.conflict


def test_a_service_with_no_places_is_full_at_once(cast: Cast) -> None:
    with pytest.raises(ServiceFull):
        _send(cast, service="lunch")
    with cast.factory() as session:
        assert session.scalar(select(Referral.id)) is None
        assert session.scalar(select(UnmetNeed.reason)) is UnmetNeedReason.service_full


def test_decline_needs_a_reason_and_records_unmet_need(cast: Cast) -> None:
    sent = _send(cast)
    vol = cast.guard("t.vol")
    before = cast.store()
    with pytest.raises(InvalidChange, match="reason"):
        referrals.move(vol, sent.id, "declined", expected_version=1, note="  ")
    assert cast.store() == before
    declined = referrals.move(
        vol, sent.id, "declined", expected_version=1, note="The group walks 5 miles; too far"
    )
    assert declined.status is ReferralStatus.declined and declined.version == 2
    assert declined.decline_reason == "The group walks 5 miles; too far"
    with cast.factory() as session:
        need = session.scalar(select(UnmetNeed).where(UnmetNeed.referral_id == sent.id))
        assert need is not None and need.reason is UnmetNeedReason.declined
        assert need.detail == "The group walks 5 miles; too far"
        action = session.get(Action, sent.action_id)
        assert action is not None and action.status is ActionStatus.cancelled


def test_the_outcome_is_written_back_on_the_plan(cast: Cast) -> None:
    sent = _send(cast)
    vol = cast.guard("t.vol")
    with cast.factory() as session:
        plan_version = session.get(CarePlan, cast.plans["Ada"]).version  # type: ignore[union-attr]
    accepted = referrals.move(vol, sent.id, "accepted", expected_version=1)
    with cast.factory() as session:
        action = session.get(Action, sent.action_id)
        assert action is not None and action.status is ActionStatus.in_progress
        assert session.get(CarePlan, cast.plans["Ada"]).version > plan_version  # type: ignore[union-attr]
    attended = referrals.move(
        vol, sent.id, "attended", expected_version=accepted.version, note="Came every week"
    )
    assert attended.outcome == "Came every week"
    closed = referrals.move(cast.guard("t.gp"), sent.id, "closed", expected_version=3)
    assert closed.status is ReferralStatus.closed
    with cast.factory() as session:
        action = session.get(Action, sent.action_id)
        assert (
            action is not None and action.status is ActionStatus.completed and action.version >= 3
        )
        notes = session.scalars(
            select(CarePlanComment.text).where(CarePlanComment.care_plan_id == cast.plans["Ada"])
        ).all()
        assert any("attended. Came every week" in n for n in notes)
        moves = session.execute(
            select(ReferralEvent.from_status, ReferralEvent.to_status)
            .where(ReferralEvent.referral_id == sent.id)
            .order_by(ReferralEvent.id)
        ).all()
        assert [m[1].value for m in moves] == ["sent", "accepted", "attended", "closed"]


def test_did_not_attend_stops_the_action(cast: Cast) -> None:
    sent = _send(cast)
    vol = cast.guard("t.vol")
    referrals.move(vol, sent.id, "accepted", expected_version=1)
    referrals.move(vol, sent.id, "did_not_attend", expected_version=2, note="Not seen")
    with cast.factory() as session:
        action = session.get(Action, sent.action_id)
        assert action is not None and action.status is ActionStatus.stopped


def test_forbidden_moves_are_refused_audited_and_write_nothing(cast: Cast) -> None:
    sent = _send(cast)
    before = cast.store()
    start = cast.last_event_id()
    # not in the flow
    with pytest.raises(ForbiddenMove, match="cannot become attended"):
        referrals.move(cast.guard("t.vol"), sent.id, "attended", expected_version=1)
    # in the flow, but the receiver's move: the referrer may not accept
    with pytest.raises(AccessRefused, match="receiver"):
        referrals.move(cast.guard("t.gp"), sent.id, "accepted", expected_version=1)
    # another voluntary group may not touch Walk Together's referral
    with pytest.raises(AccessRefused):
        referrals.move(cast.guard("t.vol2"), sent.id, "accepted", expected_version=1)
    # the person may read, never move
    with pytest.raises(AccessRefused):
        referrals.move(cast.guard("t.ada"), sent.id, "closed", expected_version=1, note="no")
    with pytest.raises(AccessRefused):
        referrals.move(cast.guard("t.commissioner"), sent.id, "accepted", expected_version=1)
    assert cast.store() == before
    for who in ("t.vol", "t.gp", "t.vol2", "t.ada", "t.commissioner"):
        outcomes = [e.outcome for e in cast.events(who, start)]
        assert outcomes and set(outcomes) == {AuditOutcome.denied}, who


def test_a_stale_version_is_refused_and_shows_the_current_one(cast: Cast) -> None:
    sent = _send(cast)
    vol = cast.guard("t.vol")
    referrals.move(vol, sent.id, "accepted", expected_version=1)
    before = cast.store()
    with pytest.raises(StaleVersion) as raised:
        referrals.move(vol, sent.id, "attended", expected_version=1)
    assert raised.value.current == 2
    assert cast.store() == before
    assert cast.events("t.vol")[-1].outcome is AuditOutcome.conflict


def test_the_referrer_withdraws_with_a_reason(cast: Cast) -> None:
    sent = _send(cast)
    gp = cast.guard("t.gp")
    with pytest.raises(InvalidChange):
        referrals.move(gp, sent.id, "closed", expected_version=1)
    withdrawn = referrals.move(gp, sent.id, "closed", expected_version=1, note="Moved away")
    assert withdrawn.status is ReferralStatus.closed
    with cast.factory() as session:
        action = session.get(Action, sent.action_id)
        assert action is not None and action.status is ActionStatus.cancelled


def test_the_receiver_sees_who_only_with_consent_and_withdrawal_narrows_at_once(
    cast: Cast,
) -> None:
    sent = _send(cast)
    vol = cast.guard("t.vol")
    start = cast.last_event_id()
    [shown] = referrals.inbox(vol)
    assert shown.id == sent.id and shown.person is None
    assert shown.reference == f"REF-{sent.id:06d}"
    assert shown.referrer_name == "Test gp" and shown.referrer_organisation == "Practice A"
    assert shown.care_plan_id is None and shown.action_id is None
    reads = [e for e in cast.events("t.vol", start) if e.resource_id == str(sent.id)]
    assert reads and all(e.person_id is None for e in reads)
    consent = _consent(cast)
    start = cast.last_event_id()
    [shown] = referrals.inbox(vol)
    assert shown.person is not None
    assert shown.person.name == "Ada Walker" and shown.person.nhs_number == cast.nhs["Ada"]
    assert shown.person.reason == "Would like to walk with others"
    assert shown.person.goals == (GOAL,)
    reads = [e for e in cast.events("t.vol", start) if e.resource_id == str(sent.id)]
    assert reads[-1].person_id == cast.people["Ada"]
    assert reads[-1].detail == {"person_shown": True}
    with transaction(cast.factory) as session:
        withdraw_consent(session, consent, SYSTEM)
    [shown] = referrals.inbox(vol)
    assert shown.person is None
    assert referrals.get_referral(vol, sent.id).person is None
    # the receiver can still act on the referral without seeing who it is
    assert referrals.move(vol, sent.id, "accepted", expected_version=1).person is None


def test_another_group_sees_nothing_of_the_referral(cast: Cast) -> None:
    sent = _send(cast)
    _consent(cast)
    other = cast.guard("t.vol2")
    assert referrals.inbox(other) == []
    with pytest.raises(AccessRefused):
        referrals.get_referral(other, sent.id)
    assert referrals.search(other) == []
    with pytest.raises(AccessRefused):
        referrals.person_referrals(other, cast.people["Ada"])
    assert cast.events("t.vol2")[-1].outcome is AuditOutcome.denied


def test_the_person_reads_their_referrals_and_the_team_searches(cast: Cast) -> None:
    _send(cast)
    cafe = _send(cast, service="cafe")
    mine = referrals.person_referrals(cast.guard("t.ada"), cast.people["Ada"])
    assert [r.id for r in mine] == [cafe.id, cafe.id - 1]
    assert mine[0].person is not None
    # a receiver reading the person's referrals sees only those to its own services
    theirs = referrals.person_referrals(cast.guard("t.vol2"), cast.people["Ada"])
    assert [r.id for r in theirs] == [cafe.id]
    found = referrals.search(cast.guard("t.nurse"), status=ReferralStatus.sent)
    assert {r.id for r in found} == {cafe.id, cafe.id - 1}
    by_org = referrals.search(cast.guard("t.nurse"), organisation_id=cast.orgs["CC"])
    assert [r.id for r in by_org] == [cafe.id]
    with pytest.raises(AccessRefused):
        referrals.person_referrals(cast.guard("t.commissioner"), cast.people["Ada"])


def test_the_link_worker_refers_for_people_on_their_caseload_only(cast: Cast) -> None:
    sent = _send(cast, who="t.lw")
    assert sent.status is ReferralStatus.sent
    before = cast.store()
    with pytest.raises(AccessRefused):
        _send(cast, who="t.lw", person="Bob")
    assert cast.store() == before


def test_a_person_referred_to_a_link_worker_stays_a_case_management_candidate(
    cast: Cast,
) -> None:
    """The link worker's caseload shares the case managers' table: being referred to social
    prescribing must not take a level 3 person off the case managers' candidates."""
    from houseofcare.careplan.caseload import holder, unassigned_among
    from houseofcare.store.models import Person

    with transaction(cast.factory) as session:
        ada = session.get(Person, cast.people["Ada"])
        assert ada is not None
        ada.patient_id = "pat-ada"
    with cast.factory() as session:
        assert holder(session, cast.people["Ada"]) is None
        total, shown = unassigned_among(session, ["pat-ada"])
        assert (total, [u.patient_id for u in shown]) == (1, ["pat-ada"])
