"""The partners' pages' work: social care and voluntary groups, with the person's consent.

`/partners` lists the people who consent to share their plan with the user's organisation
type, through the one access decision's filter (`guard.visible_people`, relationship
`consent`), each person listed audited. `/partners/people/{id}` shows one of them as far as
the consent allows (`careplan/partners.py`: plan, goals, needs, the actions the user's
organisation is named in or added, its notes), and takes an action or a note where the
policy grants `careplan.action` / `careplan.comment`.

Without consent there is nothing identifiable: the refusal is audited, and the answer is the
same whether the person exists or not (so a partner cannot learn who is on the register by
trying ids). Only roles that read plans through consent alone (the partners) have these
pages; anyone else is refused, audited.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy.orm import Session

from houseofcare.api.deps import Services
from houseofcare.careplan import partners, plans
from houseofcare.careplan.access import decide_for_person
from houseofcare.careplan.errors import InvalidChange
from houseofcare.careplan.guard import AccessRefused, Guard
from houseofcare.careplan.policy import Action
from houseofcare.store.database import transaction
from houseofcare.store.models import AuditOutcome, Person, Role
from houseofcare.web.page import guard
from houseofcare.web.person_banner import PersonBanner, person_name
from houseofcare.web.planning import _dated
from houseofcare.web.planning_forms import (
    DateEntry,
    Errors,
    _free_text,
    date_entry,
    read_date,
)
from houseofcare.web.session import PageSession

#: People listed per page, by family name, with links to the pages before and after: each
#: person listed is a disclosure (and an audit event), so a page shows a screenful.
LIST_LIMIT: Final = 25

#: The one answer for a person the partner may not see, whether or not they exist.
NOBODY: Final = (
    "You can see a person here only while they have agreed to share their care plan with "
    "your organisation. There is nobody here you can see."
)
NOT_A_PARTNER: Final = (
    "These pages are for social care and voluntary groups, who see a person's care plan "
    "only with their consent. Open the person's page from your own lists instead."
)


class PartnerRefused(Exception):
    """Refused (already audited); the route answers 403 with the message."""


def _gate(services: Services, signed_in: PageSession, checks: Guard, **event: Any) -> None:
    if not partners.is_partner(services.policy, Role(signed_in.user.role)):
        raise checks.deny(NOT_A_PARTNER, **event)


@dataclass(frozen=True)
class PartnersList:
    people: list[partners.SharedPerson]
    more: bool
    organisation_type: str | None
    #: Where the shown people start in the list, and how many there are in all.
    start: int = 0
    total: int = 0

    @property
    def next_start(self) -> int | None:
        return self.start + len(self.people) if self.more else None

    @property
    def previous_start(self) -> int | None:
        return None if self.start <= 0 else max(self.start - LIST_LIMIT, 0)


def partners_list(services: Services, signed_in: PageSession, start: int = 0) -> PartnersList:
    """The people who share with the user's organisation type, a page from `start` (each
    one listed audited)."""
    checks = guard(signed_in, services)
    start = max(start, 0)
    try:
        _gate(services, signed_in, checks, action="search", resource_type="Patient")
        with transaction(services.factory) as session:
            visible = checks.visible_people(Action.careplan_read)
            total = partners.shared_count(session, visible)
            start = min(start, max(total - 1, 0))
            rows = partners.shared_people(session, visible, limit=LIST_LIMIT, offset=start)
            shown = rows[:LIST_LIMIT]
            checks.audit_people(
                session, [p.id for p, _ in shown], action="search", resource_type="Patient"
            )
    except AccessRefused as exc:
        raise _refused(exc) from None
    people = [
        partners.SharedPerson(
            person_id=p.id,
            name=person_name(p.given_name, p.family_name) or "Name not recorded",
            nhs_number=PersonBanner.of(p).nhs_number_spaced,
            birth_date=p.birth_date,
            plan_status=None if plan is None else plan.status.value,
            review_date=None if plan is None else plan.review_date,
        )
        for p, plan in shown
    ]
    kind = signed_in.user.organisation_type
    return PartnersList(
        people=people,
        more=len(rows) > LIST_LIMIT,
        organisation_type=kind,
        start=start,
        total=total,
    )


@dataclass(frozen=True)
class SharedPlan:
    """The plan as a partner is shown it."""

    id: int
    version: int
    status: str
    title: str
    review_date: dt.date | None
    agreed_with_person: bool
    goals: tuple[Mapping[str, Any], ...]
    needs: tuple[Mapping[str, Any], ...]
    actions: tuple[Mapping[str, Any], ...]
    notes: tuple[partners.Note, ...]


@dataclass
class ActionEntry:
    description: str = ""
    due: DateEntry = field(default_factory=DateEntry)


@dataclass
class PartnerView:
    banner: PersonBanner
    plan: SharedPlan | None
    can_add_action: bool
    can_add_note: bool
    organisation_type: str | None
    action: ActionEntry = field(default_factory=ActionEntry)
    note: str = ""
    errors: Errors = field(default_factory=list)


def _shared_plan(session: Session, person_id: int, users: frozenset[int]) -> SharedPlan | None:
    plan = partners.current_plan(session, person_id)
    if plan is None:
        return None
    parts = {key: plans.plan_part(session, plan, key) for key in ("goals", "needs", "actions")}
    return SharedPlan(
        id=plan.id,
        version=plan.version,
        status=plan.status.value,
        title=plan.title,
        review_date=plan.review_date,
        agreed_with_person=plan.agreed_with_person,
        goals=tuple(_dated(g) for g in parts["goals"]),
        needs=tuple(_dated(n) for n in parts["needs"]),
        actions=tuple(_dated(a) for a in partners.partner_actions(parts["actions"], users)),
        notes=tuple(partners.partner_notes(session, plan.id, users)),
    )


def _view(
    services: Services, signed_in: PageSession, session: Session, person_id: int
) -> PartnerView:
    person = session.get(Person, person_id)
    if person is None:  # allowed only with consent, so never reached
        raise AccessRefused(NOBODY)
    actor = signed_in.actor
    users = partners.organisation_users(session, actor.organisation_id)
    policy = services.policy
    return PartnerView(
        banner=PersonBanner.of(person),
        plan=_shared_plan(session, person_id, users),
        can_add_action=decide_for_person(
            session, policy, actor, Action.careplan_action, person_id
        ).allowed,
        can_add_note=decide_for_person(
            session, policy, actor, Action.careplan_comment, person_id
        ).allowed,
        organisation_type=signed_in.user.organisation_type,
    )


def _authorise(
    checks: Guard,
    session: Session,
    person_id: int | None,
    actions: tuple[Action, ...],
    audit_action: str,
) -> int:
    """Every one of `actions` allowed on the person, else the one refusal (audited)."""
    if person_id is None:  # not an id: nobody, refused like anyone not consenting
        raise checks.deny(NOBODY, action=audit_action, resource_type="CarePlan")
    for action in actions:
        checks.authorise(
            session, action, person_id, audit_action=audit_action, resource_type="CarePlan"
        )
    return person_id


def partner_view(services: Services, signed_in: PageSession, person_id: int | None) -> PartnerView:
    """One person's plan as far as the consent allows (audited as a read of the plan)."""
    checks = guard(signed_in, services)
    try:
        _gate(services, signed_in, checks, action="read", resource_type="CarePlan")
        with transaction(services.factory) as session:
            pid = _authorise(
                checks, session, person_id, (Action.careplan_read, Action.goal_read), "read"
            )
            view = _view(services, signed_in, session, pid)
            checks.audit(
                session,
                action="read",
                resource_type="CarePlan",
                resource_id=None if view.plan is None else view.plan.id,
                person_id=pid,
                detail={
                    "partner_view": True,
                    "actions_shown": 0 if view.plan is None else len(view.plan.actions),
                },
            )
    except AccessRefused as exc:
        raise _refused(exc) from None
    return view


@dataclass
class PartnerAnswer:
    """`saved`, or `invalid` with the page to show again (mistakes named, entries kept)."""

    outcome: str
    view: PartnerView | None = None


def add_action(
    services: Services, signed_in: PageSession, person_id: int | None, form: Mapping[str, Any]
) -> PartnerAnswer:
    """Add an action the partner will do (`careplan.action`): a new version of the plan."""
    errors: Errors = []
    entry = ActionEntry(
        description=_free_text(form, "description", "What you will do", errors),
        due=date_entry(form, "due"),
    )
    if not entry.description and not errors:
        errors.append(("description", "Enter what you will do"))
    due = read_date(form, "due", "Date", errors, required=False)
    if due is not None and due < dt.date.today():
        errors.append(("due-day", "The date must be today or in the future"))

    def write(session: Session, checks: Guard, pid: int) -> tuple[str, dict[str, Any]]:
        added = partners.add_action(
            session, pid, checks.actor, description=entry.description, due_date=due
        )
        return "update", {"action_added": added.id, "plan_id": added.care_plan_id}

    return _contribute(
        services,
        signed_in,
        person_id,
        Action.careplan_action,
        errors,
        write,
        keep=lambda view: setattr(view, "action", entry),
    )


def add_note(
    services: Services, signed_in: PageSession, person_id: int | None, form: Mapping[str, Any]
) -> PartnerAnswer:
    """Add a note to the plan (`careplan.comment`): only ever added, with its author."""
    errors: Errors = []
    text = _free_text(form, "note", "The note", errors)
    if not text and not errors:
        errors.append(("note", "Enter a note"))

    def write(session: Session, checks: Guard, pid: int) -> tuple[str, dict[str, Any]]:
        note = partners.add_note(session, pid, checks.actor, text)
        return "comment", {"comment_id": note.id, "plan_id": note.care_plan_id}

    return _contribute(
        services,
        signed_in,
        person_id,
        Action.careplan_comment,
        errors,
        write,
        keep=lambda view: setattr(view, "note", text),
    )


def _contribute(
    services: Services,
    signed_in: PageSession,
    person_id: int | None,
    action: Action,
    errors: Errors,
    write: Any,
    *,
    keep: Any,
) -> PartnerAnswer:
    """Decide, then write in one transaction with its audit. A mistake writes nothing (its
    audit aside) and shows the page again with the entries kept; a refusal comes first,
    whatever the form holds."""
    checks = guard(signed_in, services)
    audit_action = "comment" if action is Action.careplan_comment else "update"
    needed = (Action.careplan_read, action)
    try:
        _gate(services, signed_in, checks, action=audit_action, resource_type="CarePlan")
        if not errors:
            try:
                with transaction(services.factory) as session:
                    pid = _authorise(checks, session, person_id, needed, audit_action)
                    if partners.current_plan(session, pid) is None:
                        raise InvalidChange(
                            "description" if action is Action.careplan_action else "note",
                            "There is no care plan to add to yet",
                        )
                    done, detail = write(session, checks, pid)
                    checks.audit(
                        session,
                        action=done,
                        resource_type="CarePlan",
                        resource_id=detail["plan_id"],
                        person_id=pid,
                        detail={**detail, "partner": True},
                    )
                return PartnerAnswer("saved")
            except InvalidChange as exc:  # rolled back: nothing written
                errors.append((exc.field, str(exc).split(": ", 1)[-1]))
        with transaction(services.factory) as session:
            pid = _authorise(checks, session, person_id, needed, audit_action)
            checks.audit(
                session,
                action=audit_action,
                resource_type="CarePlan",
                outcome=AuditOutcome.invalid,
                person_id=pid,
                detail={"fields": [name for name, _ in errors]},
            )
            view = _view(services, signed_in, session, pid)
        view.errors = errors
        keep(view)
        return PartnerAnswer("invalid", view)
    except AccessRefused as exc:
        raise _refused(exc) from None


def _refused(exc: AccessRefused) -> PartnerRefused:
    """The page's one answer: not a partner, or nobody here (never why: not consenting and
    not existing read the same)."""
    return PartnerRefused(NOT_A_PARTNER if exc.reason == NOT_A_PARTNER else NOBODY)
