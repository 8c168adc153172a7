"""Sharing the care plan with partners: local authority social care and voluntary groups.

The person decides, by consent to share (`careplan/consent.py`), which kinds of partner
organisation see their plan; the access decision (`careplan/access.py`, relationship
`consent`) lets a partner's user in only while that consent is in force, checked afresh on
every request, so a withdrawal takes effect at once. This module says what a partner is
shown and what they may add, for the pages and anything else that shares a plan with them:

- **shown**: the plan (title, status, review date), the goals in the person's words, the
  needs, and only the actions their organisation is named in (as who does it) or added;
  and the notes their organisation wrote. Never conditions, medicines, results, risk, care
  gaps or contacts (those are `record.read` and `risk.read`, which partners do not hold).
- **added**: an action (who does what, by when) with their organisation named as who does
  it, written through the care-plan service as a new version of the action and of the plan
  (`plans.add_action`); and a note, a comment on the plan (`plans.add_comment`), which is
  only ever added, never changed, with its author and time. Nothing a partner adds can
  change or remove what anyone else wrote.

Consent here is given and withdrawn through the same service the FHIR Consent API uses; the
pages offer only the partner types, and a consent can only be withdrawn from its own person.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session, aliased

from houseofcare.careplan import consent as consent_service
from houseofcare.careplan import plans
from houseofcare.careplan.actor import Actor
from houseofcare.careplan.errors import InvalidChange, NotFound
from houseofcare.careplan.policy import Action, Policy, Relationship
from houseofcare.careplan.records import CarePlanRecord, Comment
from houseofcare.store.models import Action as PlanAction
from houseofcare.store.models import (
    CarePlan,
    CarePlanComment,
    CarePlanStatus,
    ConsentToShare,
    Organisation,
    OrganisationType,
    Performer,
    Person,
    Role,
    User,
)

#: The partner organisation types a person may share their plan with, in the order shown.
PARTNER_TYPES: Final = (
    OrganisationType.local_authority_social_care,
    OrganisationType.voluntary_group,
)

#: Each partner type in words: (who, who they are, in a sentence).
PARTNER_WORDS: Final[Mapping[OrganisationType, tuple[str, str]]] = {
    OrganisationType.local_authority_social_care: (
        "Social care",
        "social workers of the council's adult social care team",
    ),
    OrganisationType.voluntary_group: (
        "Voluntary and community groups",
        "groups such as a Breathe Easy or carers' group, who support people to look after "
        "themselves",
    ),
}

#: Every organisation type a consent may name, in words (the history shows them all).
ORGANISATION_WORDS: Final[Mapping[str, str]] = {
    OrganisationType.practice.value: "GP practices",
    OrganisationType.community_trust.value: "Community health services",
    OrganisationType.acute_trust.value: "Hospitals",
    OrganisationType.local_authority_social_care.value: "Social care",
    OrganisationType.voluntary_group.value: "Voluntary and community groups",
}

#: What a partner with consent sees of the plan, in the person's words.
SHARED_PARTS: Final = (
    "your care plan: its title, whether it is agreed and when it is next reviewed",
    "your goals, in your own words",
    "your needs written in the plan (these can include health, mobility or medicines needs)",
    "the actions their organisation is named in or has added, and the notes it has written",
)

#: What a partner never sees, whatever the person consents to.
NOT_SHARED: Final = (
    "your conditions",
    "your medicines",
    "your test results",
    "your risk of going into hospital",
    "your appointments, admissions and A&E visits",
    "actions for other people or organisations",
)

#: Plans a partner may be shown: being worked on, the active one first.
OPEN_STATUSES: Final = (CarePlanStatus.active, CarePlanStatus.draft, CarePlanStatus.on_hold)


def partner_roles(policy: Policy) -> frozenset[Role]:
    """Roles that read plans only through consent to share (the partners' pages are theirs)."""
    return frozenset(
        role
        for role in Role
        if policy.identifiable(role)
        and policy.granted(role, Action.careplan_read) == frozenset({Relationship.consent})
    )


def is_partner(policy: Policy, role: Role | None) -> bool:
    return role is not None and role in partner_roles(policy)


# --- Consent --------------------------------------------------------------------------------


def _partner_type(value: str | None) -> OrganisationType:
    try:
        chosen = OrganisationType(value or "")
    except ValueError:
        chosen = None
    if chosen not in PARTNER_TYPES:
        raise InvalidChange("organisation_type", "Choose who to share your care plan with")
    return chosen


@dataclass(frozen=True)
class ConsentEvent:
    """One consent, as its history shows it."""

    id: int
    organisation_type: str
    given_at: dt.datetime
    given_by: str | None
    withdrawn_at: dt.datetime | None
    withdrawn_by: str | None


@dataclass(frozen=True)
class PartnerSharing:
    """One partner type and whether the person shares with it now."""

    organisation_type: str
    who: str
    about: str
    current: ConsentEvent | None


@dataclass(frozen=True)
class ConsentOverview:
    """The person's consents: each partner type now, and every consent ever recorded."""

    partners: tuple[PartnerSharing, ...]
    history: tuple[ConsentEvent, ...]


def consent_overview(session: Session, person_id: int) -> ConsentOverview:
    """Each partner type with the consent in force (if any), and the whole history, newest
    first (other types recorded through the API included)."""
    given_by, withdrawn_by = aliased(User), aliased(User)
    rows = session.execute(
        select(ConsentToShare, given_by.display_name, withdrawn_by.display_name)
        .outerjoin(given_by, given_by.id == ConsentToShare.recorded_by_id)
        .outerjoin(withdrawn_by, withdrawn_by.id == ConsentToShare.withdrawn_by_id)
        .where(ConsentToShare.person_id == person_id)
        .order_by(ConsentToShare.given_at.desc(), ConsentToShare.id.desc())
    ).all()
    history = tuple(
        ConsentEvent(
            id=c.id,
            organisation_type=c.organisation_type.value,
            given_at=c.given_at,
            given_by=by,
            withdrawn_at=c.withdrawn_at,
            withdrawn_by=off,
        )
        for c, by, off in rows
    )
    partners = tuple(
        PartnerSharing(
            organisation_type=kind.value,
            who=PARTNER_WORDS[kind][0],
            about=PARTNER_WORDS[kind][1],
            current=next(
                (
                    e
                    for e in history
                    if e.organisation_type == kind.value and e.withdrawn_at is None
                ),
                None,
            ),
        )
        for kind in PARTNER_TYPES
    )
    return ConsentOverview(partners=partners, history=history)


def give(session: Session, person_id: int, organisation_type: str | None, actor: Actor) -> int:
    """Share the plan with a partner type from now (a consent already in force is kept); the
    consent's id."""
    chosen = _partner_type(organisation_type)
    return consent_service.give_consent(session, person_id, chosen, actor).id


def withdraw(session: Session, person_id: int, consent_id: int | None, actor: Actor) -> int:
    """Stop sharing from now: the person's own consent only (another person's, or none, is
    `NotFound`, the same answer whether or not it exists)."""
    consent = None if consent_id is None else session.get(ConsentToShare, consent_id)
    if consent is None or consent.person_id != person_id:
        raise NotFound("Consent", consent_id)
    return consent_service.withdraw_consent(session, consent.id, actor).id


# --- What a partner sees --------------------------------------------------------------------


@dataclass(frozen=True)
class SharedPerson:
    """One person on a partner's list."""

    person_id: int
    name: str
    nhs_number: str
    birth_date: dt.date | None
    plan_status: str | None
    review_date: dt.date | None


def shared_people(
    session: Session, visible: ColumnElement[bool], *, limit: int, offset: int = 0
) -> list[tuple[Person, CarePlan | None]]:
    """The people `visible` lets the partner see (the access decision's filter), by family
    name, each with their plan being worked on; at most `limit` from `offset` (one more
    tells the caller there are more)."""
    people = session.scalars(
        select(Person)
        .where(visible)
        .order_by(Person.family_name, Person.given_name, Person.id)
        .offset(offset)
        .limit(limit + 1)
    ).all()
    ids = [p.id for p in people]
    open_plans: dict[int, CarePlan] = {}
    if ids:
        for plan in session.scalars(
            select(CarePlan)
            .where(CarePlan.person_id.in_(ids), CarePlan.status.in_(OPEN_STATUSES))
            .order_by(CarePlan.id)
        ):
            kept = open_plans.get(plan.person_id)
            if kept is None or (
                plan.status is CarePlanStatus.active and kept.status is not CarePlanStatus.active
            ):
                open_plans[plan.person_id] = plan
    return [(p, open_plans.get(p.id)) for p in people]


def shared_count(session: Session, visible: ColumnElement[bool]) -> int:
    """How many people `visible` lets the partner see (a count: nobody is disclosed by it)."""
    return int(session.scalar(select(func.count()).select_from(Person).where(visible)) or 0)


def current_plan(session: Session, person_id: int) -> CarePlan | None:
    """The plan being worked on: the active one, else the latest draft or one on hold."""
    plan = plans.active_care_plan(session, person_id)
    if plan is not None:
        return plan
    return session.scalar(
        select(CarePlan)
        .where(CarePlan.person_id == person_id, CarePlan.status.in_(OPEN_STATUSES))
        .order_by(CarePlan.id.desc())
        .limit(1)
    )


def organisation_users(session: Session, organisation_id: int | None) -> frozenset[int]:
    """The users of one organisation (a partner sees what any of them is named in or added)."""
    if organisation_id is None:
        return frozenset()
    return frozenset(
        session.scalars(select(User.id).where(User.organisation_id == organisation_id)).all()
    )


def named_in(action: Mapping[str, Any], users: Iterable[int]) -> bool:
    """True when the action names one of `users` as who does it, or one of them added it."""
    ours = set(users)
    return action.get("performer_user_id") in ours or action.get("created_by_id") in ours


def partner_actions(
    actions: Sequence[Mapping[str, Any]], users: Iterable[int]
) -> tuple[Mapping[str, Any], ...]:
    """Only the actions the partner's organisation is named in or added."""
    ours = frozenset(users)
    return tuple(a for a in actions if named_in(a, ours))


@dataclass(frozen=True)
class SharedVersion:
    """One version of the plan as a partner may read its history (the fields the history
    reads from a `CarePlanVersion`)."""

    version: int
    change: Any
    changed_at: dt.datetime
    changed_by_id: int | None
    changed_by_role: str | None
    changes: dict[str, Any]
    snapshot: dict[str, Any]


def shared_versions(rows: Iterable[Any], action_ids: Iterable[int]) -> list[SharedVersion]:
    """A plan's versions as a partner may read them: a change to an action that is not theirs
    is left out (and a version that changed nothing else is left out whole), and each
    snapshot's actions are narrowed to theirs."""
    ours = frozenset(action_ids)
    shown = []
    for row in rows:
        changes = dict(row.changes or {})
        hidden = False
        if "action_added" in changes and changes["action_added"] not in ours:
            del changes["action_added"]
            hidden = True
        changed = changes.get("action")
        if isinstance(changed, Mapping) and changed.get("id") not in ours:
            del changes["action"]
            hidden = True
        changes.pop("actions", None)
        if hidden and not changes:
            continue
        snapshot = dict(row.snapshot or {})
        snapshot["actions"] = [a for a in snapshot.get("actions") or [] if a.get("id") in ours]
        shown.append(
            SharedVersion(
                version=row.version,
                change=row.change,
                changed_at=row.changed_at,
                changed_by_id=row.changed_by_id,
                changed_by_role=row.changed_by_role,
                changes=changes,
                snapshot=snapshot,
            )
        )
    return shown


@dataclass(frozen=True)
class Note:
    text: str
    at: dt.datetime
    by: str


def partner_notes(session: Session, plan_id: int, users: Iterable[int]) -> list[Note]:
    """The notes the partner's organisation wrote on the plan, oldest first."""
    ours = list(users)
    if not ours:
        return []
    rows = session.execute(
        select(CarePlanComment.text, CarePlanComment.created_at, User.display_name)
        .join(User, User.id == CarePlanComment.author_id)
        .where(CarePlanComment.care_plan_id == plan_id, CarePlanComment.author_id.in_(ours))
        .order_by(CarePlanComment.id)
    ).all()
    return [Note(text=text, at=at, by=by) for text, at, by in rows]


def shared_record(
    session: Session, record: CarePlanRecord, actor: Actor, *, with_notes: bool = True
) -> CarePlanRecord:
    """A plan record (as the API shows it) cut to what a partner may see: the actions their
    organisation is named in, and the notes it wrote (`with_notes`; a stored version has
    none). The FHIR CarePlan read, search and history answer a partner with this, so the API
    shows no more than the partners' pages (H-054)."""
    users = organisation_users(session, actor.organisation_id)
    actions = tuple(a for a in record.content.actions if a.performer_user_id in users)
    comments: tuple[Comment, ...] = ()
    if with_notes:
        comments = tuple(
            Comment(author=n.by, text=n.text, time=n.at)
            for n in partner_notes(session, record.id, users)
        )
    return replace(record, content=replace(record.content, actions=actions), comments=comments)


# --- What a partner adds --------------------------------------------------------------------


def performer_name(session: Session, actor: Actor) -> str:
    """The partner as an action names them: "Their Name (Their organisation)"."""
    user = session.get(User, actor.user_id) if actor.user_id is not None else None
    organisation = (
        session.get(Organisation, actor.organisation_id)
        if actor.organisation_id is not None
        else None
    )
    name = user.display_name if user is not None else (actor.username or "")
    return f"{name} ({organisation.name})" if organisation is not None else name


def add_action(
    session: Session,
    person_id: int,
    actor: Actor,
    *,
    description: str,
    due_date: dt.date | None,
) -> PlanAction:
    """Add an action the partner does, to the person's plan being worked on: a new version of
    the action and of the plan, the partner named as who does it (`InvalidChange` when the
    person has no plan yet)."""
    plan = current_plan(session, person_id)
    if plan is None:
        raise InvalidChange("description", "There is no care plan to add to yet")
    return plans.add_action(
        session,
        plan.id,
        {
            "performer": Performer.professional,
            "performer_name": performer_name(session, actor),
            "performer_user_id": actor.user_id,
            "description": description,
            "due_date": due_date,
        },
        actor,
    )


def add_note(session: Session, person_id: int, actor: Actor, text: str) -> CarePlanComment:
    """Add a note to the person's plan being worked on (only ever added, with its author)."""
    plan = current_plan(session, person_id)
    if plan is None:
        raise InvalidChange("note", "There is no care plan to add to yet")
    return plans.add_comment(session, plan.id, text, actor)
