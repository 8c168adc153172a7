"""Referrals (FHIR ServiceRequest): from a care-plan action to a service, and back again.

A referral is sent from the person's active care plan (an action naming the service as who
does it, made or reused), moves through the flow in `referral_flow.toml` (data: which moves
exist, who may make each, what the care-plan action becomes), and writes its outcome back on
the plan as a new version of the action and a note, so the person's plan shows it.

Who may do what is the one access decision's (`careplan/policy.toml`): `referral.write` is
the referrer's side (the practice team, the case manager, the person's link worker),
`referral.receive` the receiving organisation's (relationship `referred`), and a receiver
may move only referrals to its own organisation's services. A receiver sees who the person
is (name, NHS number, what matters to them, their goals) only while `patient.read` allows
it, which for a voluntary group means the person consents to share with voluntary groups,
checked on every read: a withdrawal narrows what it sees at once. Without it the receiver
sees the service, the dates, the status, a reference and the referrer's contact.

Every move writes a `ReferralEvent` and an audit event in the same transaction and advances
`Referral.version` by compare-and-set (a stale version is refused, writing nothing). A move
the flow does not have, or a side that may not make it, is refused, audited as denied, and
writes nothing. A referral to a full service is refused but leaves its unmet-need row
(`service_full`) and its audit event committed: the need is real whether or not a place
was found. Capacity is `selfcare/capacity.py`'s; a referral takes a place when accepted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from houseofcare.careplan import plans
from houseofcare.careplan.access import decide, relationships_to
from houseofcare.careplan.actor import Actor
from houseofcare.careplan.errors import CarePlanError, InvalidChange, NotFound, StaleVersion
from houseofcare.careplan.guard import Guard
from houseofcare.careplan.policy import Action, Policy, Relationship
from houseofcare.datafiles import read_toml, validation_problems
from houseofcare.selfcare.capacity import capacity
from houseofcare.selfcare.unmet import record_unmet_need
from houseofcare.store.database import transaction
from houseofcare.store.models import Action as PlanAction
from houseofcare.store.models import (
    ActionStatus,
    AuditOutcome,
    CarePlan,
    CarePlanStatus,
    NeedDomain,
    Organisation,
    Performer,
    Person,
    Referral,
    ReferralEvent,
    ReferralStatus,
    Service,
    ServiceStatus,
    UnmetNeedReason,
    User,
)
from houseofcare.store.types import utcnow

FLOW_FILE: Final = Path(__file__).with_name("referral_flow.toml")
RESOURCE: Final = "ServiceRequest"


class Side(StrEnum):
    """Which end of a referral a user is at."""

    referrer = "referrer"
    receiver = "receiver"


# --- The flow (data) --------------------------------------------------------------------------


class FlowError(ValueError):
    """The flow file is missing, malformed or breaks a rule of its schema."""


class Move(BaseModel):
    """One allowed move of a referral."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    from_status: ReferralStatus = Field(alias="from")
    to: ReferralStatus
    by: frozenset[Side] = Field(min_length=1)
    reason: bool = False
    action_status: ActionStatus | None = None
    unmet_need: UnmetNeedReason | None = None
    capacity: bool = False
    words: str = Field(min_length=1)


class Flow(BaseModel):
    """The whole flow: its moves, each (from, to) once, every status reachable from sent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = Field(ge=1)
    move: tuple[Move, ...]

    @model_validator(mode="after")
    def _well_formed(self) -> Flow:
        seen: set[tuple[ReferralStatus, ReferralStatus]] = set()
        for move in self.move:
            pair = (move.from_status, move.to)
            if pair in seen:
                raise ValueError(f"move {pair[0].value} -> {pair[1].value} is listed twice")
            if move.from_status is move.to:
                raise ValueError(f"move {move.to.value} -> {move.to.value} goes nowhere")
            seen.add(pair)
        reached = {ReferralStatus.sent}
        while True:
            more = {m.to for m in self.move if m.from_status in reached} - reached
            if not more:
                break
            reached |= more
        missing = sorted(s.value for s in set(ReferralStatus) - reached)
        if missing:
            raise ValueError(f"statuses no move reaches from sent: {', '.join(missing)}")
        return self

    def find(self, from_status: ReferralStatus, to: ReferralStatus) -> Move | None:
        return next((m for m in self.move if m.from_status is from_status and m.to is to), None)

    def moves_from(self, status: ReferralStatus) -> tuple[Move, ...]:
        return tuple(m for m in self.move if m.from_status is status)


def load_flow(path: Path = FLOW_FILE) -> Flow:
    """Read and check a flow file; errors name the file and the field."""
    raw = read_toml(path, FlowError, "no referral flow file here")
    try:
        return Flow.model_validate(raw)
    except ValidationError as exc:
        raise FlowError(f"{path}: {validation_problems(exc)}") from None


@cache
def packaged_flow() -> Flow:
    """The flow shipped with houseofcare, loaded once."""
    return load_flow()


class ForbiddenMove(CarePlanError):
    """The move is not in the flow, or not this user's side's to make; nothing was written
    (the refusal is audited)."""

    #: True once the refusal has been audited (a way in must not audit it again).
    audited: bool = False


def check_move(
    flow: Flow, from_status: ReferralStatus, to: ReferralStatus, sides: Iterable[Side]
) -> Move:
    """The move from `from_status` to `to` if the flow has it and one of `sides` may make
    it; `ForbiddenMove` (saying why) otherwise."""
    move = flow.find(from_status, to)
    if move is None:
        allowed = ", ".join(m.to.value for m in flow.moves_from(from_status)) or "none"
        raise ForbiddenMove(
            f"a referral that is {from_status.value} cannot become {to.value} "
            f"(it can become: {allowed})"
        )
    if not move.by & set(sides):
        who = " or ".join(sorted(s.value for s in move.by))
        raise ForbiddenMove(f"{move.words}: only the {who} may move a referral to {to.value}")
    return move


def sides_for(
    policy: Policy, actor: Actor, have: frozenset[Relationship], *, own_service: bool
) -> frozenset[Side]:
    """Which ends of a referral the user is at: the referrer's when the policy grants them
    `referral.write` on the person, the receiver's when it grants `referral.receive` and
    the referral's service is their organisation's (`own_service`)."""
    sides = set()
    if decide(policy, actor, Action.referral_write, have).allowed:
        sides.add(Side.referrer)
    if own_service and decide(policy, actor, Action.referral_receive, have).allowed:
        sides.add(Side.receiver)
    return frozenset(sides)


# --- Errors -----------------------------------------------------------------------------------


class ServiceFull(CarePlanError):
    """The service has no places left this month (the unmet need is recorded when sending).
    Always audited where it is raised."""

    audited: bool = True


# --- What is shown ----------------------------------------------------------------------------

STATUS_WORDS: Final[Mapping[ReferralStatus, str]] = {
    ReferralStatus.sent: "Sent",
    ReferralStatus.accepted: "Accepted",
    ReferralStatus.declined: "Declined",
    ReferralStatus.attended: "Attended",
    ReferralStatus.did_not_attend: "Did not attend",
    ReferralStatus.closed: "Closed",
}


def reference(referral_id: int) -> str:
    """The reference both ends quote (on the phone, in a letter): no one's identity in it."""
    return f"REF-{referral_id:06d}"


@dataclass(frozen=True)
class PersonDetails:
    """Who the referral is about: shown to a receiver only with the person's consent."""

    person_id: int
    name: str
    nhs_number: str
    birth_date: dt.date | None
    reason: str | None
    need_domain: str | None
    goals: tuple[str, ...]


@dataclass(frozen=True)
class EventView:
    from_status: str | None
    to_status: str
    note: str | None
    at: dt.datetime
    by: str | None


@dataclass(frozen=True)
class ReferralView:
    """One referral as a user may see it: `person` is None when they may not see who."""

    id: int
    reference: str
    version: int
    status: ReferralStatus
    service_id: int
    service_name: str
    organisation_name: str
    service_organisation_id: int | None
    sent_at: dt.datetime
    accepted_at: dt.datetime | None
    updated_at: dt.datetime
    referrer_name: str | None
    referrer_organisation: str | None
    referrer_contact: str | None
    care_plan_id: int | None
    action_id: int | None
    decline_reason: str | None
    outcome: str | None
    person: PersonDetails | None
    #: The moves this user may make now.
    moves: tuple[Move, ...]
    events: tuple[EventView, ...]

    @property
    def status_words(self) -> str:
        return STATUS_WORDS[self.status]

    @property
    def needs_attention(self) -> bool:
        """Declined or did not attend: the link worker follows these up first."""
        return self.status in (ReferralStatus.declined, ReferralStatus.did_not_attend)


def _name(person: Person) -> str:
    return " ".join(p for p in (person.given_name, person.family_name) if p) or "Name not recorded"


def _goals(session: Session, plan_id: int | None) -> tuple[str, ...]:
    if plan_id is None:
        return ()
    plan = session.get(CarePlan, plan_id)
    if plan is None:
        return ()
    return tuple(
        str(g.get("what_matters_to_me") or "")
        for g in plans.plan_part(session, plan, "goals")
        if g.get("what_matters_to_me")
    )


def _shows_person(
    session: Session, policy: Policy, actor: Actor, person_id: int, have: frozenset[Relationship]
) -> bool:
    """Whether the user may see who the referral is about: the same `patient.read` decision
    as the person page (a receiver's grant is consent to share with its type)."""
    return decide(policy, actor, Action.patient_read, have).allowed


def _view(
    session: Session,
    policy: Policy,
    actor: Actor,
    referral: Referral,
    have: frozenset[Relationship],
    *,
    with_events: bool = True,
) -> ReferralView:
    service = referral.service
    own = actor.organisation_id is not None and service.organisation_id == actor.organisation_id
    sides = sides_for(policy, actor, have, own_service=own)
    moves = tuple(m for m in packaged_flow().moves_from(referral.status) if m.by & sides)
    referrer = session.get(User, referral.referred_by_id) if referral.referred_by_id else None
    referrer_org = (
        session.get(Organisation, referrer.organisation_id)
        if referrer is not None and referrer.organisation_id is not None
        else None
    )
    person = None
    if _shows_person(session, policy, actor, referral.person_id, have):
        p = referral.person
        person = PersonDetails(
            person_id=p.id,
            name=_name(p),
            nhs_number=p.nhs_number,
            birth_date=p.birth_date,
            reason=referral.reason,
            need_domain=referral.need_domain,
            goals=_goals(session, referral.care_plan_id),
        )
    events: tuple[EventView, ...] = ()
    if with_events:
        rows = session.execute(
            select(ReferralEvent, User.display_name)
            .outerjoin(User, User.id == ReferralEvent.by_id)
            .where(ReferralEvent.referral_id == referral.id)
            .order_by(ReferralEvent.id)
        ).all()
        events = tuple(
            EventView(
                from_status=None if e.from_status is None else e.from_status.value,
                to_status=e.to_status.value,
                note=e.note,
                at=e.at,
                by=by,
            )
            for e, by in rows
        )
    return ReferralView(
        id=referral.id,
        reference=reference(referral.id),
        version=referral.version,
        status=referral.status,
        service_id=service.id,
        service_name=service.name,
        organisation_name=service.organisation_name,
        service_organisation_id=service.organisation_id,
        sent_at=referral.sent_at,
        accepted_at=referral.accepted_at,
        updated_at=referral.updated_at,
        referrer_name=None if referrer is None else referrer.display_name,
        referrer_organisation=None if referrer_org is None else referrer_org.name,
        referrer_contact=None
        if referrer_org is None
        else f"{referrer_org.name} (ask for the referrer, quoting {reference(referral.id)})",
        care_plan_id=referral.care_plan_id if person is not None else None,
        action_id=referral.action_id if person is not None else None,
        decline_reason=referral.decline_reason,
        outcome=referral.outcome,
        person=person,
        moves=moves,
        events=events,
    )


def _audit_read(guard: Guard, session: Session, views: Sequence[ReferralView], action: str) -> None:
    """One event per referral shown, naming the person only when they were shown (a receiver
    without consent saw nobody); so every read of a person's details is in the trail."""
    for v in views:
        guard.audit(
            session,
            action=action,
            resource_type=RESOURCE,
            resource_id=v.id,
            person_id=None if v.person is None else v.person.person_id,
            detail={"person_shown": v.person is not None},
        )


# --- Reads ------------------------------------------------------------------------------------


def _load(session: Session, referral_id: int) -> Referral:
    referral = session.get(Referral, referral_id)
    if referral is None:
        raise NotFound(RESOURCE, referral_id)
    return referral


def _authorise_read(guard: Guard, session: Session, referral: Referral) -> frozenset[Relationship]:
    guard.authorise(
        session,
        Action.referral_read,
        referral.person_id,
        audit_action="read",
        resource_type=RESOURCE,
        resource_id=referral.id,
    )
    have = relationships_to(session, guard.actor, referral.person_id)
    if not _receiver_only(guard, have) or _own(guard.actor, referral):
        return have
    # a receiver reaches the person through `referred`: only its own services' referrals
    raise guard.deny(
        "this referral is to another organisation's service",
        action="read",
        resource_type=RESOURCE,
        resource_id=referral.id,
    )


def _receiver_only(guard: Guard, have: frozenset[Relationship]) -> bool:
    """The user reads the person's referrals only as a receiver (through `referred`)."""
    assert guard.actor.role is not None
    granted = guard.policy.granted(guard.actor.role, Action.referral_read)
    return (have & granted) <= {Relationship.referred}


def _own(actor: Actor, referral: Referral) -> bool:
    return (
        actor.organisation_id is not None
        and referral.service.organisation_id == actor.organisation_id
    )


def get_referral(guard: Guard, referral_id: int) -> ReferralView:
    """One referral as the user may see it (audited)."""
    with transaction(guard.factory) as session:
        referral = _load(session, referral_id)
        have = _authorise_read(guard, session, referral)
        view = _view(session, guard.policy, guard.actor, referral, have)
        _audit_read(guard, session, [view], "read")
        return view


def person_referrals(guard: Guard, person_id: int) -> list[ReferralView]:
    """A person's referrals, newest first (a receiver: only those to its services)."""
    with transaction(guard.factory) as session:
        guard.authorise(
            session,
            Action.referral_read,
            person_id,
            audit_action="search",
            resource_type=RESOURCE,
        )
        have = relationships_to(session, guard.actor, person_id)
        query = select(Referral).where(Referral.person_id == person_id)
        if _receiver_only(guard, have):
            query = query.join(Service, Service.id == Referral.service_id).where(
                Service.organisation_id == guard.actor.organisation_id
            )
        rows = session.scalars(query.order_by(Referral.sent_at.desc(), Referral.id.desc())).all()
        views = [_view(session, guard.policy, guard.actor, r, have) for r in rows]
        guard.audit(
            session,
            action="search",
            resource_type=RESOURCE,
            person_id=person_id,
            detail={"referrals": len(views)},
        )
        _audit_read(guard, session, views, "read")
        return views


def search(
    guard: Guard,
    *,
    person_id: int | None = None,
    status: ReferralStatus | None = None,
    organisation_id: int | None = None,
    limit: int = 100,
) -> list[ReferralView]:
    """Referrals the user may read, newest first: by person, status and the performer's
    organisation (the FHIR search). Whom it may show is the access decision's filter plus,
    for a receiver, its own services only."""
    with transaction(guard.factory) as session:
        visible = guard.visible_people(Action.referral_read)
        query = (
            select(Referral)
            .join(Person, Person.id == Referral.person_id)
            .join(Service, Service.id == Referral.service_id)
            .where(visible)
        )
        assert guard.actor.role is not None
        granted = guard.policy.granted(guard.actor.role, Action.referral_read)
        if granted <= {Relationship.referred}:
            query = query.where(Service.organisation_id == guard.actor.organisation_id)
        if person_id is not None:
            query = query.where(Referral.person_id == person_id)
        if status is not None:
            query = query.where(Referral.status == status)
        if organisation_id is not None:
            query = query.where(Service.organisation_id == organisation_id)
        rows = session.scalars(
            query.order_by(Referral.sent_at.desc(), Referral.id.desc()).limit(limit)
        ).all()
        views = [
            _view(
                session,
                guard.policy,
                guard.actor,
                r,
                relationships_to(session, guard.actor, r.person_id),
                with_events=False,
            )
            for r in rows
        ]
        guard.audit(
            session, action="search", resource_type=RESOURCE, detail={"referrals": len(views)}
        )
        _audit_read(guard, session, views, "search")
        return views


def inbox(guard: Guard, *, limit: int = 200) -> list[ReferralView]:
    """The receiving organisation's inbox: referrals to its services, newest first, each
    shown as far as the person's consent allows (audited)."""
    with transaction(guard.factory) as session:
        guard.authorise(
            session, Action.referral_inbox, None, audit_action="search", resource_type=RESOURCE
        )
        if guard.actor.organisation_id is None:
            return []
        rows = session.scalars(
            select(Referral)
            .join(Service, Service.id == Referral.service_id)
            .where(Service.organisation_id == guard.actor.organisation_id)
            .order_by(Referral.sent_at.desc(), Referral.id.desc())
            .limit(limit)
        ).all()
        views = [
            _view(
                session,
                guard.policy,
                guard.actor,
                r,
                relationships_to(session, guard.actor, r.person_id),
            )
            for r in rows
        ]
        guard.audit(
            session, action="search", resource_type=RESOURCE, detail={"referrals": len(views)}
        )
        _audit_read(guard, session, views, "read")
        return views


# --- Sending ----------------------------------------------------------------------------------


def _need_domain(value: str | None) -> str | None:
    if value in (None, ""):
        return None
    try:
        return NeedDomain(value).value
    except ValueError:
        raise InvalidChange("need_domain", f"{value!r} is not a need domain") from None


def _service_for_referral(session: Session, service_id: int) -> Service:
    service = session.get(Service, service_id)
    if service is None:
        raise InvalidChange("service_id", f"service {service_id} does not exist")
    if service.status is not ServiceStatus.active:
        raise InvalidChange(
            "service_id",
            f"{service.name} is {service.status.value} and is not taking referrals; "
            "choose another service",
        )
    return service


def _plan_action(
    session: Session,
    actor: Actor,
    person_id: int,
    service: Service,
    action_id: int | None,
    reason: str | None,
) -> tuple[CarePlan, PlanAction]:
    """The active plan's action the referral comes from: the one given (it must be on the
    person's active plan), or a new one naming the service as who does it."""
    plan = plans.active_care_plan(session, person_id)
    if plan is None:
        raise InvalidChange(
            "care_plan",
            "the person has no active care plan; agree one first, then refer from its actions",
        )
    if action_id is not None:
        action = session.get(PlanAction, action_id)
        if action is None or action.care_plan_id != plan.id:
            raise InvalidChange(
                "action_id", f"action {action_id} is not on the person's active care plan"
            )
        return plan, action
    description = f"Go to {service.name} ({service.organisation_name})"
    if reason:
        description += f": {reason}"
    action = plans.add_action(
        session,
        plan.id,
        {
            "performer": Performer.service,
            "performer_name": service.name[:200],
            "description": description,
        },
        actor,
    )
    return plan, action


def _link_worker_of(session: Session, actor: Actor, person_id: int) -> int | None:
    from houseofcare.selfcare.social_prescribing import link_worker_of

    if actor.role is not None and actor.role.value == "link_worker":
        return actor.user_id
    return link_worker_of(session, person_id)


def send(
    guard: Guard,
    *,
    person_id: int,
    service_id: int,
    reason: str | None,
    need_domain: str | None = None,
    action_id: int | None = None,
    now: dt.datetime | None = None,
) -> ReferralView:
    """Send a referral from the person's active plan to a service (referral.write).

    Refused with `ServiceFull` when the service has no places left this month: the refusal
    writes no referral, but commits an unmet need (`service_full`) and its audit event.
    """
    actor = guard.actor
    full: tuple[str, int] | None = None
    with transaction(guard.factory) as session:
        guard.authorise(
            session, Action.referral_write, person_id, audit_action="create", resource_type=RESOURCE
        )
        domain = _need_domain(need_domain)
        text = (reason or "").strip() or None
        service = _service_for_referral(session, service_id)
        if capacity(session, service.id, now).full:
            person = session.get(Person, person_id)
            record_unmet_need(
                session,
                actor,
                UnmetNeedReason.service_full,
                person_id=person_id,
                need_domain=domain,
                locality=service.locality,
                service_id=service.id,
                detail=text,
            )
            guard.audit(
                session,
                action="create",
                resource_type=RESOURCE,
                outcome=AuditOutcome.conflict,
                person_id=None if person is None else person.id,
                detail={"reason": "service full this month", "service_id": service.id},
            )
            full = (service.name, service.id)
        else:
            plan, action = _plan_action(session, actor, person_id, service, action_id, text)
            stamp = now or utcnow()
            referral = Referral(
                person_id=person_id,
                care_plan_id=plan.id,
                action_id=action.id,
                service_id=service.id,
                status=ReferralStatus.sent,
                reason=text,
                need_domain=domain,
                referred_by_id=actor.user_id,
                link_worker_id=_link_worker_of(session, actor, person_id),
                sent_at=stamp,
                updated_at=stamp,
                version=1,
            )
            session.add(referral)
            session.flush()
            session.add(
                ReferralEvent(
                    referral_id=referral.id,
                    from_status=None,
                    to_status=ReferralStatus.sent,
                    note=text,
                    at=stamp,
                    by_id=actor.user_id,
                )
            )
            session.flush()
            guard.audit(
                session,
                action="create",
                resource_type=RESOURCE,
                resource_id=referral.id,
                person_id=person_id,
                detail={"service_id": service.id, "status": ReferralStatus.sent.value},
            )
            have = relationships_to(session, actor, person_id)
            return _view(session, guard.policy, actor, referral, have)
    assert full is not None
    raise ServiceFull(
        f"{full[0]} is full this month: no referral was sent. The need is recorded as unmet "
        "(service full) for the commissioning plan; choose another service or try next month."
    )


# --- Moving -----------------------------------------------------------------------------------


def _compare_and_set(session: Session, referral_id: int, expected: int) -> int:
    new_version = session.execute(
        update(Referral)
        .where(Referral.id == referral_id, Referral.version == expected)
        .values(version=Referral.version + 1)
        .returning(Referral.version),
        execution_options={"synchronize_session": False},
    ).scalar_one_or_none()
    if new_version is not None:
        return int(new_version)
    current = session.scalar(select(Referral.version).where(Referral.id == referral_id))
    if current is None:
        raise NotFound(RESOURCE, referral_id)
    raise StaleVersion(RESOURCE, referral_id, expected, current)


def _write_back(
    session: Session, actor: Actor, referral: Referral, move: Move, note: str | None
) -> None:
    """The outcome on the care plan: the action's new status (a new version of the action and
    of the plan) and a note saying what happened. A plan closed since is left as it is."""
    if referral.action_id is None:
        return
    action = session.get(PlanAction, referral.action_id)
    if action is None:
        return
    plan = session.get(CarePlan, action.care_plan_id)
    if plan is None or plan.status in (CarePlanStatus.completed, CarePlanStatus.revoked):
        return
    if move.action_status is not None and action.status is not move.action_status:
        plans.update_action(
            session, action.id, action.version, {"status": move.action_status}, actor
        )
    words = (
        f"Referral to {referral.service.name} ({reference(referral.id)}): "
        + {
            ReferralStatus.accepted: "accepted.",
            ReferralStatus.declined: "declined.",
            ReferralStatus.attended: "attended.",
            ReferralStatus.did_not_attend: "did not attend.",
            ReferralStatus.closed: "closed.",
            ReferralStatus.sent: "sent.",
        }[move.to]
    )
    if note:
        words += f" {note}"
    if actor.user_id is not None:
        plans.add_comment(session, plan.id, words, actor)


def move(
    guard: Guard,
    referral_id: int,
    to: ReferralStatus | str,
    *,
    expected_version: int,
    note: str | None = None,
    now: dt.datetime | None = None,
) -> ReferralView:
    """Move a referral (accept, decline with a reason, attended / did not attend, close,
    withdraw) if the flow has the move, the user's side may make it, and the referral is
    still at `expected_version`; otherwise refuse (audited), writing nothing."""
    try:
        target = ReferralStatus(to)
    except ValueError:
        raise InvalidChange("status", f"{to!r} is not a referral status") from None
    text = (note or "").strip() or None
    event = {"action": "update", "resource_type": RESOURCE, "resource_id": referral_id}
    try:
        with transaction(guard.factory) as session:
            return _move(guard, session, referral_id, target, expected_version, text, now)
    except StaleVersion as exc:
        # audited once the work's transaction has rolled back (on SQLite it holds the lock)
        with guard.factory() as session:
            person_id = session.scalar(select(Referral.person_id).where(Referral.id == referral_id))
        guard.audit_now(
            outcome=AuditOutcome.conflict,
            person_id=person_id,
            detail={"reason": "stale version", "expected": expected_version},
            **event,
        )
        exc.audited = True  # type: ignore[attr-defined]
        raise exc from None


def _move(
    guard: Guard,
    session: Session,
    referral_id: int,
    target: ReferralStatus,
    expected_version: int,
    text: str | None,
    now: dt.datetime | None,
) -> ReferralView:
    actor = guard.actor
    event = {"action": "update", "resource_type": RESOURCE, "resource_id": referral_id}
    referral = _load(session, referral_id)
    person_id = referral.person_id
    have = _authorise_read(guard, session, referral)
    sides = sides_for(guard.policy, actor, have, own_service=_own(actor, referral))
    if referral.version != expected_version and sides:
        # someone moved it since the form was read: say so (and show it as it is now)
        # before judging a move made against what it was then
        raise StaleVersion(RESOURCE, referral.id, expected_version, referral.version)
    try:
        chosen = check_move(packaged_flow(), referral.status, target, sides)
    except ForbiddenMove as exc:
        if packaged_flow().find(referral.status, target) is not None:
            # the move exists, but not for this user's side: an access refusal (403)
            raise guard.deny(str(exc), person_id=person_id, **event) from None
        guard.audit_now(
            outcome=AuditOutcome.denied,
            person_id=person_id,
            detail={"reason": str(exc), "to": target.value},
            **event,
        )
        exc.audited = True
        raise
    if chosen.reason and not text:
        raise InvalidChange("reason", f"Give the reason ({chosen.words.lower()})")
    stamp = now or utcnow()
    if chosen.capacity and capacity(session, referral.service_id, stamp).full:
        guard.audit_now(
            outcome=AuditOutcome.conflict,
            person_id=person_id,
            detail={"reason": "service full this month", "to": target.value},
            **event,
        )
        raise ServiceFull(
            f"{referral.service.name} is full this month: the referral cannot be accepted "
            "until a place is free (next month, or when one is released)."
        )
    version = _compare_and_set(session, referral.id, expected_version)
    session.refresh(referral)
    before = referral.status
    referral.status = target
    referral.updated_at = stamp
    if target is ReferralStatus.accepted:
        referral.accepted_at = stamp
    if target is ReferralStatus.declined:
        referral.decline_reason = text
    elif text and target is not ReferralStatus.accepted:
        referral.outcome = text
    session.add(
        ReferralEvent(
            referral_id=referral.id,
            from_status=before,
            to_status=target,
            note=text,
            at=stamp,
            by_id=actor.user_id,
        )
    )
    if chosen.unmet_need is not None:
        record_unmet_need(
            session,
            actor,
            chosen.unmet_need,
            person_id=person_id,
            need_domain=referral.need_domain,
            locality=referral.service.locality,
            service_id=referral.service_id,
            referral_id=referral.id,
            detail=text,
        )
    _write_back(session, actor, referral, chosen, text)
    session.flush()
    guard.audit(
        session,
        person_id=person_id,
        detail={"from": before.value, "to": target.value, "version": version},
        **event,
    )
    return _view(session, guard.policy, actor, referral, have)


def moves_in_words(flow: Flow | None = None) -> list[dict[str, Any]]:
    """The flow as a table (for the docs and the help): from, to, who, reason, action."""
    return [
        {
            "from": m.from_status.value,
            "to": m.to.value,
            "by": " or ".join(sorted(s.value for s in m.by)),
            "reason": m.reason,
            "action_status": None if m.action_status is None else m.action_status.value,
            "unmet_need": None if m.unmet_need is None else m.unmet_need.value,
            "capacity": m.capacity,
            "words": m.words,
        }
        for m in (flow or packaged_flow()).move
    ]
