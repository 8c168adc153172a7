"""Social prescribing: the people referred to a link worker, and how their referrals went.

A practice professional (or the person's case manager) refers a person to social
prescribing by putting them on a link worker's caseload: the same `caseload_assignment` a
case manager's caseload uses (so the access decision's `caseload` relationship lets the link
worker see what their grants allow), with what matters to the person as the referrer wrote
it. The link worker's page lists their people with their referrals; those whose referral was
declined or who did not attend come first, then by the follow-up date they set.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from houseofcare.careplan.access import relationships_to
from houseofcare.careplan.errors import InvalidChange
from houseofcare.careplan.guard import Guard
from houseofcare.careplan.policy import Action
from houseofcare.selfcare.referrals import RESOURCE, ReferralView, _view
from houseofcare.store.database import transaction
from houseofcare.store.models import CaseloadAssignment, Person, Referral, Role, User

ASSIGNMENT: Final = "CaseloadAssignment"


def link_worker_of(session: Session, person_id: int) -> int | None:
    """The link worker whose caseload the person is on now (the latest, if several)."""
    return session.scalar(
        select(CaseloadAssignment.case_manager_id)
        .join(User, User.id == CaseloadAssignment.case_manager_id)
        .where(
            CaseloadAssignment.person_id == person_id,
            CaseloadAssignment.ended_at.is_(None),
            User.role == Role.link_worker,
        )
        .order_by(CaseloadAssignment.assigned_at.desc(), CaseloadAssignment.id.desc())
        .limit(1)
    )


def link_workers(session: Session) -> list[tuple[int, str]]:
    """Every active link worker: (user id, their name), for the referrer's choice."""
    rows = session.execute(
        select(User.id, User.display_name)
        .where(User.role == Role.link_worker, User.is_active.is_(True))
        .order_by(User.display_name, User.id)
    ).all()
    return [(i, n) for i, n in rows]


def refer_to_link_worker(
    guard: Guard, *, person_id: int, link_worker_id: int, what_matters: str | None
) -> int:
    """Put the person on a link worker's caseload with what matters to them (referral.write
    on the person); an open assignment is kept and its words updated. The assignment's id."""
    text = (what_matters or "").strip()
    with transaction(guard.factory) as session:
        guard.authorise(
            session,
            Action.referral_write,
            person_id,
            audit_action="create",
            resource_type=ASSIGNMENT,
        )
        if not text:
            raise InvalidChange("what_matters", "Say what matters to the person")
        worker = session.get(User, link_worker_id)
        if worker is None or worker.role is not Role.link_worker or not worker.is_active:
            raise InvalidChange("link_worker_id", "Choose a social prescribing link worker")
        assignment = session.scalar(
            select(CaseloadAssignment).where(
                CaseloadAssignment.case_manager_id == link_worker_id,
                CaseloadAssignment.person_id == person_id,
                CaseloadAssignment.ended_at.is_(None),
            )
        )
        if assignment is None:
            assignment = CaseloadAssignment(
                case_manager_id=link_worker_id,
                person_id=person_id,
                assigned_by_id=guard.actor.user_id,
            )
            session.add(assignment)
        assignment.what_matters = text
        session.flush()
        guard.audit(
            session,
            action="create",
            resource_type=ASSIGNMENT,
            resource_id=assignment.id,
            person_id=person_id,
            detail={"link_worker_id": link_worker_id},
        )
        return assignment.id


def set_follow_up(guard: Guard, *, person_id: int, follow_up_on: dt.date | None) -> None:
    """The link worker's next contact with a person on their caseload (None clears it)."""
    with transaction(guard.factory) as session:
        guard.authorise(
            session,
            Action.referral_write,
            person_id,
            audit_action="update",
            resource_type=ASSIGNMENT,
        )
        assignment = session.scalar(
            select(CaseloadAssignment).where(
                CaseloadAssignment.case_manager_id == guard.actor.user_id,
                CaseloadAssignment.person_id == person_id,
                CaseloadAssignment.ended_at.is_(None),
            )
        )
        if assignment is None or guard.actor.role is not Role.link_worker:
            raise guard.deny(
                "only the person's link worker sets their follow-up date",
                action="update",
                resource_type=ASSIGNMENT,
                person_id=person_id,
            )
        assignment.follow_up_on = follow_up_on
        session.flush()
        guard.audit(
            session,
            action="update",
            resource_type=ASSIGNMENT,
            resource_id=assignment.id,
            person_id=person_id,
            detail={"follow_up_on": None if follow_up_on is None else follow_up_on.isoformat()},
        )


@dataclass(frozen=True)
class CaseloadPerson:
    """One person on a link worker's caseload, with their referrals."""

    person_id: int
    name: str
    nhs_number: str
    what_matters: str | None
    follow_up_on: dt.date | None
    referred_at: dt.datetime
    referrals: tuple[ReferralView, ...]

    @property
    def needs_attention(self) -> bool:
        return any(r.needs_attention for r in self.referrals)


def caseload(guard: Guard) -> list[CaseloadPerson]:
    """The link worker's people: declined or did not attend first, then by follow-up date
    (none last), then by name. Each person shown is audited."""
    actor = guard.actor
    with transaction(guard.factory) as session:
        guard.authorise(
            session,
            Action.socialprescribing_read,
            None,
            audit_action="search",
            resource_type="Patient",
        )
        rows = session.execute(
            select(CaseloadAssignment, Person)
            .join(Person, Person.id == CaseloadAssignment.person_id)
            .where(
                CaseloadAssignment.case_manager_id == actor.user_id,
                CaseloadAssignment.ended_at.is_(None),
            )
        ).all()
        ids = [p.id for _, p in rows]
        by_person: dict[int, list[Referral]] = defaultdict(list)
        if ids:
            for r in session.scalars(
                select(Referral)
                .where(Referral.person_id.in_(ids))
                .order_by(Referral.sent_at.desc(), Referral.id.desc())
            ):
                by_person[r.person_id].append(r)
        people = []
        for assignment, person in rows:
            have = relationships_to(session, actor, person.id)
            views = tuple(
                _view(session, guard.policy, actor, r, have, with_events=False)
                for r in by_person[person.id]
            )
            people.append(
                CaseloadPerson(
                    person_id=person.id,
                    name=" ".join(x for x in (person.given_name, person.family_name) if x)
                    or "Name not recorded",
                    nhs_number=person.nhs_number,
                    what_matters=assignment.what_matters,
                    follow_up_on=assignment.follow_up_on,
                    referred_at=assignment.assigned_at,
                    referrals=views,
                )
            )
        guard.audit_shown(session, action="search", shown={"Patient": ids})
        guard.audit(
            session,
            action="search",
            resource_type=RESOURCE,
            detail={"referrals": sum(len(v) for v in by_person.values())},
        )
    people.sort(
        key=lambda p: (
            not p.needs_attention,
            p.follow_up_on is None,
            p.follow_up_on or dt.date.max,
            p.name,
        )
    )
    return people
