"""The care-planning pages' work: the plan, the results letter, the conversation, the review
and the history, over the care-plan services.

Every read and write first asks the one access decision (`careplan.guard.Guard`, through
`web.page.guard`) for the person in the URL, and is audited (`via: pages`): a view as a
`read`, a change with the change itself (same transaction), a refusal, a mistake or a stale
form in its own transaction, with nothing else written. A form is written whole in ONE
transaction (create the plan if there is none, record the conversation, add each goal, action
and need), so a failure anywhere leaves the plan as it was.

Stale forms: every edit form carries the plan version it was opened at. If the plan has moved
on since (someone else saved first), nothing is written; the user is shown what changed, who
changed it and when, with their own entries kept, and asked to review and send again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import duckdb
from sqlalchemy import select
from sqlalchemy.orm import Session

from houseofcare.api.deps import Services
from houseofcare.careplan import partners, plans
from houseofcare.careplan import preparation as prep
from houseofcare.careplan.errors import InvalidChange, StaleVersion
from houseofcare.careplan.guard import AccessRefused, Guard
from houseofcare.careplan.policy import Action
from houseofcare.store.database import transaction
from houseofcare.store.models import AuditOutcome, CarePlan, CarePlanStatus, Person, Role
from houseofcare.web.letter import Letter, build_letter, letter_pdf
from houseofcare.web.page import guard
from houseofcare.web.person_banner import PersonBanner
from houseofcare.web.plan_changes import VersionChange, changes_since, versions_in_words
from houseofcare.web.planning_forms import (
    Conversation,
    ConversationEntries,
    DateEntry,
    Errors,
    ReviewEntries,
    read_conversation,
    read_review,
    read_sent,
)
from houseofcare.web.runs import RunStatus, latest_run
from houseofcare.web.session import PageSession

#: Plans that can still be worked on, the active one first.
OPEN_STATUSES = (CarePlanStatus.active, CarePlanStatus.draft, CarePlanStatus.on_hold)


class PlanningRefused(Exception):
    """The access decision refused (already audited); the reason is shown on a 403 page."""


@dataclass(frozen=True)
class PlanSummary:
    """The plan as its page shows it: the plan's own fields and its parts, as stored."""

    id: int
    version: int
    status: str
    title: str
    review_date: dt.date | None
    agreed_with_person: bool
    agreed_at: dt.datetime | None
    conversation_at: dt.datetime | None
    last_reviewed_at: dt.datetime | None
    goals: tuple[Mapping[str, Any], ...]
    actions: tuple[Mapping[str, Any], ...]
    needs: tuple[Mapping[str, Any], ...]
    participants: tuple[Mapping[str, Any], ...]


@dataclass
class PlanningPage:
    """What every care-planning page shows: whose it is, the run, the plan as it is now."""

    banner: PersonBanner
    run: RunStatus
    plan: PlanSummary | None
    can_write: bool
    history: list[VersionChange] = field(default_factory=list)


@dataclass
class FormAnswer:
    """How a submitted form went: `saved`, `invalid` (mistakes named) or `stale` (someone
    else changed the plan first: `changes` since the form's version)."""

    outcome: str
    page: PlanningPage
    errors: Errors = field(default_factory=list)
    changes: list[VersionChange] = field(default_factory=list)


@dataclass
class PreparationPage:
    page: PlanningPage
    letter: Letter | None
    preparation_id: int | None = None
    sent_on: dt.date | None = None
    errors: Errors = field(default_factory=list)
    sent_entry: DateEntry = field(default_factory=DateEntry)
    unavailable: str | None = None


class _Invalid(Exception):
    def __init__(self, errors: Errors) -> None:
        super().__init__("invalid form")
        self.errors = errors


def current_plan(session: Session, person_id: int) -> CarePlan | None:
    """The person's plan being worked on: the active one, else their latest draft or one on
    hold (the house of care has one plan per person)."""
    plan = plans.active_care_plan(session, person_id)
    if plan is not None:
        return plan
    return session.scalar(
        select(CarePlan)
        .where(CarePlan.person_id == person_id, CarePlan.status.in_(OPEN_STATUSES))
        .order_by(CarePlan.id.desc())
        .limit(1)
    )


#: Date fields of a plan's parts, stored as ISO text in the JSON rows.
_DATES = ("target_due", "due_date", "start_date", "status_date")


def _dated(row: Mapping[str, Any]) -> dict[str, Any]:
    """A part's row with its dates as dates (the pages write them out in words)."""
    return {
        key: dt.date.fromisoformat(value[:10]) if key in _DATES and value else value
        for key, value in row.items()
    }


def _summary(session: Session, plan: CarePlan | None) -> PlanSummary | None:
    if plan is None:
        return None
    parts = {
        key: tuple(_dated(row) for row in plans.plan_part(session, plan, key))
        for key in plans.PLAN_PARTS
    }
    return PlanSummary(
        id=plan.id,
        version=plan.version,
        status=plan.status.value,
        title=plan.title,
        review_date=plan.review_date,
        agreed_with_person=plan.agreed_with_person,
        agreed_at=plan.agreed_at,
        conversation_at=plan.conversation_at,
        last_reviewed_at=plan.last_reviewed_at,
        goals=parts["goals"],
        actions=parts["actions"],
        needs=parts["needs"],
        participants=parts["participants"],
    )


def can_write(services: Services, signed_in: PageSession) -> bool:
    """Whether the user's role may change plans at all (the links offered; each change is
    still decided for the person when it is made)."""
    return bool(services.policy.granted(Role(signed_in.user.role), Action.careplan_write))


@contextmanager
def _authorised(
    services: Services,
    signed_in: PageSession,
    person_id: int,
    actions: Sequence[Action],
    *,
    audit_action: str,
    resource_type: str,
) -> Iterator[tuple[Session, Guard, Person]]:
    """A transaction in which every one of `actions` on the person was allowed (a refusal is
    audited by the guard and raised as `PlanningRefused`; nothing is read about the person
    before it is allowed, so a person who does not exist is refused like one not related)."""
    checks = guard(signed_in, services)
    try:
        with transaction(services.factory) as session:
            for action in actions:
                checks.authorise(
                    session,
                    action,
                    person_id,
                    audit_action=audit_action,
                    resource_type=resource_type,
                )
            person = session.get(Person, person_id)
            if person is None:  # allowed only with a relationship, so never reached
                raise checks.deny(
                    "no such person", action=audit_action, resource_type=resource_type
                )
            yield session, checks, person
    except AccessRefused as exc:
        raise PlanningRefused(exc.reason) from None


def _page(
    services: Services, signed_in: PageSession, session: Session, person: Person
) -> PlanningPage:
    summary = _summary(session, current_plan(session, person.id))
    # --- issue 12: a partner (social care, voluntary group) reading through consent sees
    # only the actions their organisation is named in or added, as on the partners' view
    if summary is not None and partners.is_partner(services.policy, signed_in.actor.role):
        ours = partners.organisation_users(session, signed_in.actor.organisation_id)
        actions = partners.partner_actions(summary.actions, ours)
        summary = dataclasses.replace(summary, actions=actions)
    return PlanningPage(
        banner=PersonBanner.of(person),
        run=latest_run(services.settings),
        plan=summary,
        can_write=can_write(services, signed_in),
    )


def _opened(
    services: Services,
    signed_in: PageSession,
    person_id: int,
    action: Action,
    *,
    detail: dict[str, Any] | None = None,
    with_history: bool = False,
) -> PlanningPage:
    """The plan page as `action` opens it, audited as a read of the plan (with `detail`)."""
    with _authorised(
        services,
        signed_in,
        person_id,
        [action],
        audit_action="read",
        resource_type="CarePlan",
    ) as (session, checks, person):
        shown = _page(services, signed_in, session, person)
        if with_history and shown.plan is not None:
            rows: Sequence[Any] = plans.care_plan_history(session, shown.plan.id)
            if partners.is_partner(services.policy, signed_in.actor.role):
                # --- issue 12: a partner reads only their organisation's actions' history
                ours = [a["id"] for a in shown.plan.actions]
                rows = partners.shared_versions(rows, ours)
            shown.history = versions_in_words(session, rows)
        checks.audit(
            session,
            action="read",
            resource_type="CarePlan",
            resource_id=None if shown.plan is None else shown.plan.id,
            person_id=person_id,
            detail=detail,
        )
    return shown


def plan_page(services: Services, signed_in: PageSession, person_id: int) -> PlanningPage:
    """The person's plan as it is now (audited as a read)."""
    return _opened(services, signed_in, person_id, Action.careplan_read)


def history_page(services: Services, signed_in: PageSession, person_id: int) -> PlanningPage:
    """Every version of the plan, newest first, with who changed what and when (audited)."""
    return _opened(
        services,
        signed_in,
        person_id,
        Action.careplan_read,
        detail={"history": True},
        with_history=True,
    )


def form_page(services: Services, signed_in: PageSession, person_id: int) -> PlanningPage:
    """The plan as an edit form opens it (the writers' page: `careplan.write`; audited)."""
    return _opened(services, signed_in, person_id, Action.careplan_write, detail={"form": True})


def _stale_answer(
    services: Services, signed_in: PageSession, person_id: int, exc: StaleVersion
) -> FormAnswer:
    """After a stale form (nothing written): the plan now and what changed since the form's
    version, audited as a conflict."""
    checks = guard(signed_in, services)
    with services.factory() as session:
        person = session.get(Person, person_id)
        assert person is not None
        page = _page(services, signed_in, session, person)
        changes = changes_since(session, int(str(exc.id)), exc.expected)
    checks.audit_now(
        action="update",
        resource_type="CarePlan",
        outcome=AuditOutcome.conflict,
        resource_id=exc.id,
        person_id=person_id,
        detail={"reason": "stale version", "expected": exc.expected, "current": exc.current},
    )
    return FormAnswer("stale", page, changes=changes)


def _invalid_answer(
    services: Services, signed_in: PageSession, person_id: int, errors: Errors, what: str
) -> FormAnswer:
    checks = guard(signed_in, services)
    checks.audit_now(
        action="update",
        resource_type=what,
        outcome=AuditOutcome.invalid,
        person_id=person_id,
        detail={"fields": [name for name, _ in errors]},
    )
    with services.factory() as session:
        person = session.get(Person, person_id)
        assert person is not None
        page = _page(services, signed_in, session, person)
    return FormAnswer("invalid", page, errors=errors)


def _check_version(plan: CarePlan | None, opened_at: int) -> None:
    """Refuse a form opened at another version than the plan's now (nothing written)."""
    current = 0 if plan is None else plan.version
    if opened_at != current:
        raise StaleVersion("CarePlan", 0 if plan is None else plan.id, opened_at, current)


def _write_conversation(
    session: Session, checks: Guard, person: Person, opened_at: int, talk: Conversation
) -> CarePlan:
    """Everything the conversation agreed, in this one transaction, each change a version."""
    actor = checks.actor
    plan = current_plan(session, person.id)
    _check_version(plan, opened_at)
    if plan is None:
        plan = plans.create_care_plan(session, person.id, actor)
    elif plan.status is not CarePlanStatus.active:
        # agreed with the person: the draft becomes their plan
        plan = plans.update_care_plan(
            session, plan.id, plan.version, {"status": CarePlanStatus.active}, actor
        )
    plan = plans.record_conversation(
        session,
        plan.id,
        plan.version,
        actor,
        participants=list(talk.participants),
        agreed_with_person=talk.agreed_with_person,
        review_date=talk.review_date,
    )
    for goal in talk.goals:
        plans.add_goal(session, plan.id, goal, actor)
    for action in talk.actions:
        plans.add_action(session, plan.id, action, actor)
    for need in talk.needs:
        plans.add_need(session, plan.id, need, actor)
    session.refresh(plan)
    return plan


#: Service fields → the form field a mistake the services found is shown against.
_SERVICE_FIELDS = {
    "review_date": "review_date-day",
    "next_review_date": "next_review-day",
    "participants": "took_part",
    "sent_on": "sent_on-day",
}


def _service_error(exc: InvalidChange) -> Errors:
    return [(_SERVICE_FIELDS.get(exc.field.split(".")[0], ""), str(exc))]


def save_conversation(
    services: Services, signed_in: PageSession, person_id: int, form: Mapping[str, Any]
) -> tuple[FormAnswer, ConversationEntries]:
    """Record the care-planning conversation from the form, all or nothing."""
    user = signed_in.user
    entries = ConversationEntries()
    try:
        with _authorised(
            services,
            signed_in,
            person_id,
            [Action.careplan_write, Action.goal_write],
            audit_action="update",
            resource_type="CarePlan",
        ) as (session, checks, person):
            entries, talk, errors = read_conversation(
                form,
                person_name=PersonBanner.of(person).name,
                user_name=user.display_name,
                user_id=user.user_id,
            )
            if talk is None:
                raise _Invalid(errors)
            try:
                plan = _write_conversation(session, checks, person, entries.version, talk)
            except InvalidChange as exc:
                raise _Invalid(_service_error(exc)) from None
            checks.audit(
                session,
                action="update",
                resource_type="CarePlan",
                resource_id=plan.id,
                person_id=person_id,
                detail={"change": "conversation", "version": plan.version},
            )
            page = _page(services, signed_in, session, person)
    except _Invalid as exc:
        answer = _invalid_answer(services, signed_in, person_id, exc.errors, "CarePlan")
        return answer, entries
    except StaleVersion as exc:
        return _stale_answer(services, signed_in, person_id, exc), entries
    return FormAnswer("saved", page), entries


def save_review(
    services: Services, signed_in: PageSession, person_id: int, form: Mapping[str, Any]
) -> tuple[FormAnswer, ReviewEntries]:
    """Review the plan: a new version with the next review date, never an overwrite."""
    entries, when, errors = read_review(form)
    try:
        with _authorised(
            services,
            signed_in,
            person_id,
            [Action.careplan_write],
            audit_action="update",
            resource_type="CarePlan",
        ) as (session, checks, person):
            plan = current_plan(session, person.id)
            if plan is None:
                raise _Invalid([("", "There is no plan to review yet: record a conversation")])
            if when is None:
                raise _Invalid(errors)
            _check_version(plan, entries.version)
            try:
                plan = plans.review_care_plan(
                    session,
                    plan.id,
                    entries.version,
                    checks.actor,
                    next_review_date=when,
                    note=entries.note or None,
                )
            except InvalidChange as exc:
                raise _Invalid(_service_error(exc)) from None
            checks.audit(
                session,
                action="update",
                resource_type="CarePlan",
                resource_id=plan.id,
                person_id=person_id,
                detail={"change": "reviewed", "version": plan.version},
            )
            page = _page(services, signed_in, session, person)
    except _Invalid as exc:
        return _invalid_answer(services, signed_in, person_id, exc.errors, "CarePlan"), entries
    except StaleVersion as exc:
        return _stale_answer(services, signed_in, person_id, exc), entries
    return FormAnswer("saved", page), entries


# --- Preparation: the results letter -------------------------------------------------------


def _letter(banner: PersonBanner, plan: PlanSummary | None, record: Any) -> Letter:
    return build_letter(
        banner,
        record.summary,
        prepared_on=record.prepared_at.date(),
        sent_on=record.sent_on,
        talk_about=record.talk_about,
        goals=() if plan is None else plan.goals,
    )


def _preparation_page(
    services: Services, signed_in: PageSession, session: Session, person: Person
) -> PreparationPage:
    page = _page(services, signed_in, session, person)
    record = prep.latest_preparation(session, person.id)
    if record is None:
        return PreparationPage(page=page, letter=None)
    letter = _letter(page.banner, page.plan, record)
    # the letter's figures are the run it was prepared from, not the latest
    page.run = RunStatus(run_id=record.run_id, as_of=letter.run_as_of)
    return PreparationPage(
        page=page,
        letter=letter,
        preparation_id=record.id,
        sent_on=record.sent_on,
    )


def preparation_page(services: Services, signed_in: PageSession, person_id: int) -> PreparationPage:
    """The person's latest results letter (audited as a read of the preparation)."""
    with _authorised(
        services,
        signed_in,
        person_id,
        [Action.preparation_read],
        audit_action="read",
        resource_type="Preparation",
    ) as (session, checks, person):
        shown = _preparation_page(services, signed_in, session, person)
        checks.audit(
            session,
            action="read",
            resource_type="Preparation",
            resource_id=shown.preparation_id,
            person_id=person_id,
        )
    return shown


def letter_file(
    services: Services, signed_in: PageSession, person_id: int
) -> tuple[bytes, int] | None:
    """The letter as a PDF and its preparation id (None: nothing prepared yet); audited as
    an `export` of the preparation."""
    with _authorised(
        services,
        signed_in,
        person_id,
        [Action.preparation_read],
        audit_action="export",
        resource_type="Preparation",
    ) as (session, checks, person):
        shown = _preparation_page(services, signed_in, session, person)
        checks.audit(
            session,
            action="export",
            resource_type="Preparation",
            resource_id=shown.preparation_id,
            person_id=person_id,
            detail={"format": "pdf"},
        )
    if shown.letter is None or shown.preparation_id is None:
        return None
    return letter_pdf(shown.letter), shown.preparation_id


def prepare_letter(
    services: Services, signed_in: PageSession, person_id: int
) -> PreparationPage | None:
    """Prepare a new results letter from the latest pipeline run (the team's act:
    `careplan.write`). None when done; else the page saying why it could not be."""
    try:
        with _authorised(
            services,
            signed_in,
            person_id,
            [Action.careplan_write],
            audit_action="create",
            resource_type="Preparation",
        ) as (session, checks, person):
            record = prep.prepare(session, person_id, checks.actor, settings=services.settings)
            checks.audit(
                session,
                action="create",
                resource_type="Preparation",
                resource_id=record.id,
                person_id=person_id,
                detail={"run": record.run_id},
            )
    except (prep.NoAnalyticRun, InvalidChange, duckdb.Error) as exc:
        reason = (
            "The results letter could not be prepared: there are no results for this person "
            f"to read now ({exc}). Try again after the next pipeline run."
        )
        guard(signed_in, services).audit_now(
            action="create",
            resource_type="Preparation",
            outcome=AuditOutcome.error,
            person_id=person_id,
            detail={"reason": str(exc)},
        )
        with services.factory() as session:
            person = session.get(Person, person_id)
            assert person is not None
            shown = _preparation_page(services, signed_in, session, person)
        shown.unavailable = reason
        return shown
    return None


def mark_sent(
    services: Services, signed_in: PageSession, person_id: int, form: Mapping[str, Any]
) -> PreparationPage | None:
    """Record the date the letter was sent (the team's act: `careplan.write`). None when
    done; else the page with the mistake named (nothing written)."""
    entry, when, errors = read_sent(form)
    try:
        with _authorised(
            services,
            signed_in,
            person_id,
            [Action.careplan_write],
            audit_action="update",
            resource_type="Preparation",
        ) as (session, checks, person):
            record = prep.latest_preparation(session, person_id)
            if record is None:
                raise _Invalid([("", "Prepare the results letter before marking it sent")])
            if when is None:
                raise _Invalid(errors)
            try:
                prep.mark_summary_sent(session, record.id, checks.actor, sent_on=when)
            except InvalidChange as exc:
                problem = "The date sent cannot be before the letter was prepared"
                raise _Invalid([("sent_on-day", problem)]) from exc
            checks.audit(
                session,
                action="update",
                resource_type="Preparation",
                resource_id=record.id,
                person_id=person_id,
                detail={"sent_on": when.isoformat()},
            )
    except _Invalid as exc:
        guard(signed_in, services).audit_now(
            action="update",
            resource_type="Preparation",
            outcome=AuditOutcome.invalid,
            person_id=person_id,
            detail={"fields": [name for name, _ in exc.errors]},
        )
        with services.factory() as session:
            person = session.get(Person, person_id)
            assert person is not None
            shown = _preparation_page(services, signed_in, session, person)
        shown.errors = exc.errors
        shown.sent_entry = entry
        return shown
    return None
