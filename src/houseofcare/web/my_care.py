"""My care plan: the person's own pages (issue 12), and the same pages for a carer they chose.

Whose record a page shows is never taken from something the person could change: the
`/me` pages resolve the person from the signed-in user (a patient user *is* one person). A
carer with the person's proxy access reaches the same pages at `/cared-for/{person id}`;
there the id is checked by the one access decision for the relationships `self` or `proxy`
only, so changing it reaches nobody else's record: anyone else is refused, and the refusal is
audited (hazard H-052). Professionals use their own pages (`/people/{id}`), never these.

Every page and form asks the guard (`careplan.guard`, through `web.page.guard`) for the
action it needs and is audited (`via: pages`): results are `preparation.read` (what the
results summary shows), "what I want to talk about" `preparation.comment`, the plan
`careplan.read` and its comments `careplan.comment`, the access log `audit.own`, carers
`proxy.write` (the person only). The services are the care-plan domain's
(`careplan/preparation.py`, `careplan/plans.py`, `careplan/proxy.py`); results are read
through `houseofcare.results` in each measure's one unit and explained from
`careplan/explanations.toml` (hazard H-053).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Final

import duckdb
from sqlalchemy import select
from sqlalchemy.orm import Session

from houseofcare.api.deps import Services
from houseofcare.careplan import plans
from houseofcare.careplan import preparation as prep
from houseofcare.careplan import proxy as proxies
from houseofcare.careplan.access import relationships_to
from houseofcare.careplan.errors import InvalidChange, NotFound
from houseofcare.careplan.explanations import Explained, Explanations, packaged_explanations
from houseofcare.careplan.guard import AccessRefused, Guard
from houseofcare.careplan.policy import Action, Relationship
from houseofcare.population.person_readings import READINGS_YEARS, years_before
from houseofcare.results import AnalyticResults, Reading, ResultsUnavailable
from houseofcare.store.audit import audit_events
from houseofcare.store.database import transaction
from houseofcare.store.models import (
    AuditEvent,
    AuditOutcome,
    CarePlanComment,
    Organisation,
    Person,
    Role,
    User,
)
from houseofcare.terminology.codelist import packaged_codelists
from houseofcare.web.page import guard
from houseofcare.web.person_banner import PersonBanner
from houseofcare.web.planning import PlanSummary, current_plan
from houseofcare.web.planning import _summary as plan_summary
from houseofcare.web.runs import RunStatus, latest_run
from houseofcare.web.session import PageSession

#: Longest text a person may send in one go (talk about, a comment).
MAX_TEXT: Final = 2000
#: Entries of the access log to a page.
LOG_PAGE: Final = 25
#: The relationships these pages serve: the person, and a carer they chose.
OWN: Final = frozenset({Relationship.self, Relationship.proxy})


class MyCareRefused(Exception):
    """The access decision refused (already audited); the reason is shown on a 403 page."""


@dataclass(frozen=True)
class Subject:
    """Whose record the page shows, and how the signed-in user relates to them."""

    person_id: int
    banner: PersonBanner
    #: The signed-in user is the person (else a carer with their proxy access).
    is_self: bool
    #: Where these pages are for this person: `/me`, or `/cared-for/{id}` for a carer.
    base: str


def base_path(person_id: int | None) -> str:
    return "/me" if person_id is None else f"/cared-for/{person_id}"


@contextmanager
def _opened(
    services: Services,
    signed_in: PageSession,
    person_id: int | None,
    action: Action,
    *,
    audit_action: str,
    resource_type: str,
) -> Iterator[tuple[Session, Guard, Person, Subject]]:
    """A transaction in which `action` on the page's person was allowed.

    `person_id` None is the signed-in person themselves; an id (the carer's pages) must be
    the user's own or one whose proxy access they hold, checked before anything is read.
    """
    checks = guard(signed_in, services)
    actor = signed_in.actor
    try:
        checks.require_identifiable(audit_action=audit_action, resource_type=resource_type)
        with transaction(services.factory) as session:
            if person_id is None:
                if actor.role is not Role.patient or actor.person_id is None:
                    raise checks.deny(
                        "My care plan is the person's own record: these pages are for people "
                        "who sign in as themselves",
                        action=audit_action,
                        resource_type=resource_type,
                    )
                target = actor.person_id
            else:
                target = person_id
                if not relationships_to(session, actor, target) & OWN:
                    raise checks.deny(
                        "These pages show only your own record, or the record of someone who "
                        "gave you access as their carer",
                        action=audit_action,
                        resource_type=resource_type,
                        resource_id=target,
                        person_id=target,
                    )
            checks.authorise(
                session, action, target, audit_action=audit_action, resource_type=resource_type
            )
            person = session.get(Person, target)
            if person is None:  # allowed only with a relationship, so never reached
                raise checks.deny(
                    "no such person", action=audit_action, resource_type=resource_type
                )
            subject = Subject(
                person_id=target,
                banner=PersonBanner.of(person),
                is_self=actor.person_id == target,
                base=base_path(person_id),
            )
            yield session, checks, person, subject
    except AccessRefused as exc:
        raise MyCareRefused(exc.reason) from None


# --- Results, explained ------------------------------------------------------------------------


@dataclass(frozen=True)
class LeftOut:
    date: dt.date | None
    why: str


@dataclass(frozen=True)
class ExplainedResult:
    """One measure's latest usable reading, in its one unit, with what it means."""

    measure: str
    heading: str
    what_it_is: str
    why_it_matters: str
    unit: str
    unit_words: str
    converted: str | None
    #: None when there is no usable reading (then `left_out` says why, if any were found).
    value: str | None = None
    date: dt.date | None = None
    meaning: str | None = None
    #: Readings after the latest usable one (or all, with none usable) that were left out.
    left_out: tuple[LeftOut, ...] = ()


@dataclass
class ResultsPage:
    subject: Subject
    run: RunStatus
    results: list[ExplainedResult] = field(default_factory=list)
    #: Why there are no results to show (not linked, no run, store busy), else None.
    missing: str | None = None
    since: dt.date | None = None
    #: People who gave the signed-in user proxy access (their own page only).
    cared_for: list[proxies.CaredFor] = field(default_factory=list)


@cache
def _codes() -> Mapping[str, frozenset[str]]:
    codelists = packaged_codelists()
    return {e.measure.id: e.measure.all_codes(codelists) for e in packaged_explanations().measures}


def explain(
    readings: Sequence[Reading], explanations: Explanations | None = None
) -> list[ExplainedResult]:
    """Each explained measure with its latest usable reading and what it means; readings
    the event layer could not use are named with why, never shown as a number."""
    words = explanations or packaged_explanations()
    by_measure: dict[str, list[Reading]] = {}
    for reading in readings:
        by_measure.setdefault(reading.measure, []).append(reading)
    found = []
    for explained in words.measures:
        ordered = sorted(by_measure.get(explained.measure.id, []), key=_when)
        if ordered:
            found.append(_explained(explained, ordered, words))
    return found


def _when(reading: Reading) -> dt.date:
    return reading.date or dt.date.min


def _explained(
    explained: Explained, readings: Sequence[Reading], words: Explanations
) -> ExplainedResult:
    text = explained.text
    usable = [r for r in readings if r.value is not None]
    latest = usable[-1] if usable else None
    newer = [
        r for r in readings if r.value is None and (latest is None or _when(r) > _when(latest))
    ]
    left_out = tuple(LeftOut(r.date, words.why_left_out(r.problem)) for r in reversed(newer))
    base = {
        "measure": explained.measure.id,
        "heading": text.heading,
        "what_it_is": text.what_it_is,
        "why_it_matters": text.why_it_matters,
        "unit": text.unit,
        "unit_words": text.unit_words,
        "converted": text.converted,
        "left_out": left_out,
    }
    if latest is None or latest.value is None:
        return ExplainedResult(**base)
    return ExplainedResult(
        **base,
        value=explained.shown(latest.value),
        date=latest.date,
        meaning=explained.meaning(latest.value),
    )


def _readings(
    services: Services, run_id: str, as_of: dt.date, patient_id: str
) -> tuple[Reading, ...]:
    with AnalyticResults.open(services.settings) as results:
        return results.run_readings(run_id, as_of, patient_id, _codes())


def results_page(
    services: Services, signed_in: PageSession, person_id: int | None = None
) -> ResultsPage:
    """The person's latest results explained, from the latest pipeline run (audited as a
    read of their observations, with the run and the measures shown)."""
    with _opened(
        services,
        signed_in,
        person_id,
        Action.preparation_read,
        audit_action="read",
        resource_type="Observation",
    ) as (session, _checks, person, subject):
        patient_id = person.patient_id
        page = ResultsPage(subject=subject, run=latest_run(services.settings))
        if subject.is_self:
            page.cared_for = list(proxies.cared_for_by(session, signed_in.user.user_id))
    run = page.run
    if patient_id is None:
        page.missing = (
            "This record is not yet linked to the clinical record at the practice, so there "
            "are no results to show. Ask the practice."
        )
    elif run.run_id is None or run.as_of is None:
        page.missing = run.missing or "There are no results yet."
    else:
        try:
            page.results = explain(_readings(services, run.run_id, run.as_of, patient_id))
            page.since = years_before(run.as_of, READINGS_YEARS)
        except (ResultsUnavailable, duckdb.Error):
            page.missing = "Your results cannot be read just now. Please try again later."
    with transaction(services.factory) as session:
        guard(signed_in, services).audit(
            session,
            action="read",
            resource_type="Observation",
            person_id=page.subject.person_id,
            detail={
                "page": "my results",
                "run": run.run_id,
                "measures": [r.measure for r in page.results if r.value is not None],
                "left_out": sum(len(r.left_out) for r in page.results),
            },
        )
    return page


# --- What I want to talk about -----------------------------------------------------------------


@dataclass
class TalkPage:
    subject: Subject
    text: str = ""
    written_at: dt.datetime | None = None
    sent_on: dt.date | None = None
    errors: list[tuple[str, str]] = field(default_factory=list)


def talk_page(services: Services, signed_in: PageSession, person_id: int | None = None) -> TalkPage:
    """ "What I want to talk about" as saved, with its form (audited as a read)."""
    with _opened(
        services,
        signed_in,
        person_id,
        Action.preparation_read,
        audit_action="read",
        resource_type="Preparation",
    ) as (session, checks, _person, subject):
        record = prep.latest_preparation(session, subject.person_id)
        page = TalkPage(subject=subject)
        if record is not None:
            page.text = record.talk_about or ""
            page.written_at = record.talk_about_at
            page.sent_on = record.sent_on
        checks.audit(
            session,
            action="read",
            resource_type="Preparation",
            resource_id=None if record is None else record.id,
            person_id=subject.person_id,
            detail={"page": "what I want to talk about"},
        )
    return page


def _text_problem(text: str, what: str) -> str | None:
    if not text.strip():
        return f"Enter {what}"
    if len(text) > MAX_TEXT:
        return f"{what[0].upper()}{what[1:]} must be {MAX_TEXT} characters or fewer"
    return None


def save_talk(
    services: Services, signed_in: PageSession, text: str, person_id: int | None = None
) -> TalkPage | None:
    """Save "what I want to talk about" through the preparation service (None: saved).
    A mistake, or no results to attach it to yet, comes back as the page with it named;
    nothing is written and the attempt is audited."""
    problem = _text_problem(text, "what you want to talk about")
    try:
        with _opened(
            services,
            signed_in,
            person_id,
            Action.preparation_comment,
            audit_action="update",
            resource_type="Preparation",
        ) as (session, checks, _person, subject):
            if problem is not None:
                raise InvalidChange("talk_about", problem)
            record = prep.latest_preparation(session, subject.person_id)
            if record is None:
                record = prep.prepare(
                    session, subject.person_id, checks.actor, settings=services.settings
                )
            record = prep.add_talking_points(session, record.id, text, checks.actor)
            checks.audit(
                session,
                action="update",
                resource_type="Preparation",
                resource_id=record.id,
                person_id=subject.person_id,
                detail={"change": "talk about"},
            )
    except (InvalidChange, prep.NoAnalyticRun, duckdb.Error) as exc:
        message = problem or (
            "This cannot be saved yet: your team has not prepared your results. "
            "Please try again after your next blood test, or tell your practice."
        )
        guard(signed_in, services).audit_now(
            action="update",
            resource_type="Preparation",
            outcome=AuditOutcome.invalid if problem else AuditOutcome.error,
            person_id=signed_in.user.person_id if person_id is None else person_id,
            detail={"reason": str(exc)},
        )
        page = talk_page(services, signed_in, person_id)
        page.text = text
        page.errors = [("talk_about", message)]
        return page
    return None


# --- The plan and comments ---------------------------------------------------------------------


@dataclass(frozen=True)
class Comment:
    author: str
    written_at: dt.datetime
    text: str


@dataclass(frozen=True)
class Progress:
    """A goal's target beside the person's latest reading of the same measure, or why it
    cannot be compared."""

    latest: str | None
    note: str | None


@dataclass
class MyPlanPage:
    subject: Subject
    plan: PlanSummary | None
    comments: list[Comment] = field(default_factory=list)
    progress: dict[int, Progress] = field(default_factory=dict)
    errors: list[tuple[str, str]] = field(default_factory=list)
    comment_text: str = ""


GOAL_WORDS: Final[dict[str, str]] = {
    "proposed": "Suggested",
    "planned": "Planned",
    "accepted": "Agreed",
    "active": "Working on it",
    "on-hold": "On hold",
    "completed": "Done",
    "cancelled": "Stopped",
    "entered-in-error": "Recorded by mistake",
    "rejected": "Not taken up",
}


def plan_page(
    services: Services, signed_in: PageSession, person_id: int | None = None
) -> MyPlanPage:
    """The person's plan (goals in their own words, actions and who does them, the review
    date) and comments to their team; audited as a read of the plan."""
    with _opened(
        services,
        signed_in,
        person_id,
        Action.careplan_read,
        audit_action="read",
        resource_type="CarePlan",
    ) as (session, checks, person, subject):
        plan = current_plan(session, subject.person_id)
        summary = plan_summary(session, plan)
        page = MyPlanPage(subject=subject, plan=summary)
        if summary is not None:
            rows = session.execute(
                select(CarePlanComment, User.display_name, User.id)
                .join(User, User.id == CarePlanComment.author_id)
                .where(CarePlanComment.care_plan_id == summary.id)
                .order_by(CarePlanComment.id.desc())
            ).all()
            page.comments = [
                Comment(
                    author="You" if user_id == signed_in.user.user_id else name,
                    written_at=c.created_at,
                    text=c.text,
                )
                for c, name, user_id in rows
            ]
        patient_id = person.patient_id
        checks.audit(
            session,
            action="read",
            resource_type="CarePlan",
            resource_id=None if summary is None else summary.id,
            person_id=subject.person_id,
            detail={"page": "my plan"},
        )
    if summary is not None and patient_id is not None:
        page.progress = _progress(services, patient_id, summary.goals)
    return page


def _target_measure(goal: Mapping[str, Any]) -> Explained | None:
    named = (goal.get("target_measure") or "").strip().lower()
    if not named:
        return None
    for explained in packaged_explanations().measures:
        label = explained.measure.label.lower()
        if named in {
            explained.measure.id,
            label,
            label.split(" ")[0],
            explained.text.heading.lower(),
        }:
            return explained
    return None


def _progress(
    services: Services, patient_id: str, goals: Sequence[Mapping[str, Any]]
) -> dict[int, Progress]:
    """For each goal with a target on a measure of the results page: the latest reading in
    the same unit (a target in another unit is not compared: it says so)."""
    wanted = {g["id"]: m for g in goals if (m := _target_measure(g)) is not None}
    if not wanted:
        return {}
    run = latest_run(services.settings)
    if run.run_id is None or run.as_of is None:
        return {}
    try:
        readings = _readings(services, run.run_id, run.as_of, patient_id)
        results = {r.measure: r for r in explain(readings)}
    except (ResultsUnavailable, duckdb.Error):
        return {}
    found = {}
    for goal in goals:
        explained = wanted.get(goal["id"])
        if explained is None:
            continue
        unit = (goal.get("target_unit") or "").strip()
        if unit and unit != explained.text.unit:
            found[goal["id"]] = Progress(
                None,
                f"The target is in {unit}, but results are in {explained.text.unit}: "
                "ask your team to compare them with you.",
            )
            continue
        latest = results.get(explained.measure.id)
        if latest is None or latest.value is None:
            found[goal["id"]] = Progress(None, "No result to compare with yet.")
            continue
        day = "" if latest.date is None else f" on {latest.date:%-d %B %Y}"
        found[goal["id"]] = Progress(f"{latest.value} {latest.unit}{day}", None)
    return found


def save_comment(
    services: Services, signed_in: PageSession, text: str, person_id: int | None = None
) -> MyPlanPage | None:
    """A comment to the team on the plan, through the plan service (None: saved); a
    mistake comes back as the page with it named, nothing written, the attempt audited."""
    problem = _text_problem(text, "your comment")
    try:
        with _opened(
            services,
            signed_in,
            person_id,
            Action.careplan_comment,
            audit_action="comment",
            resource_type="CarePlan",
        ) as (session, checks, _person, subject):
            if problem is not None:
                raise InvalidChange("text", problem)
            plan = current_plan(session, subject.person_id)
            if plan is None:
                raise NotFound("CarePlan", None)
            plans.add_comment(session, plan.id, text, checks.actor)
            checks.audit(
                session,
                action="comment",
                resource_type="CarePlan",
                resource_id=plan.id,
                person_id=subject.person_id,
                detail={"page": "my plan"},
            )
    except (InvalidChange, NotFound) as exc:
        message = problem or "There is no care plan to comment on yet."
        guard(signed_in, services).audit_now(
            action="comment",
            resource_type="CarePlan",
            outcome=AuditOutcome.invalid,
            person_id=signed_in.user.person_id if person_id is None else person_id,
            detail={"reason": str(exc)},
        )
        page = plan_page(services, signed_in, person_id)
        page.errors = [("comment", message)]
        page.comment_text = text
        return page
    return None


# --- Who has looked at my record ---------------------------------------------------------------

#: What an event did, in words, by (action, resource type); then by action alone.
WHAT_WORDS: Final[dict[tuple[str, str], str]] = {
    ("read", "Patient"): "Opened your record",
    ("search", "Patient"): "Found you in a search",
    ("read", "CarePlan"): "Read your care plan",
    ("create", "CarePlan"): "Started your care plan",
    ("update", "CarePlan"): "Changed your care plan",
    ("comment", "CarePlan"): "Wrote a comment on your care plan",
    ("read", "Goal"): "Read your goals",
    ("update", "Goal"): "Changed a goal",
    ("create", "Goal"): "Added a goal",
    ("read", "Observation"): "Looked at your results",
    ("read", "Preparation"): "Read your results letter",
    ("create", "Preparation"): "Prepared your results letter",
    ("update", "Preparation"): "Updated your results letter or what you want to talk about",
    ("export", "Preparation"): "Downloaded your results letter",
    ("read", "RiskAssessment"): "Looked at your risk of going into hospital",
    ("read", "Consent"): "Looked at your consent to share",
    ("create", "Consent"): "Recorded your consent to share",
    ("update", "Consent"): "Changed your consent to share",
    ("search", "AuditEvent"): "Looked at who has seen your record",
    ("create", "ProxyGrant"): "Gave a carer access to your record",
    ("update", "ProxyGrant"): "Took back a carer's access to your record",
    ("read", "ProxyGrant"): "Looked at who can see your record as your carer",
    ("search", "CaseloadCandidate"): "Saw you on a list of people who may need a case manager",
    ("assign", "Caseload"): "Took you onto their caseload",
}
ACTION_WORDS: Final[dict[str, str]] = {
    "read": "Looked at your record",
    "search": "Saw you in a list",
    "create": "Added to your record",
    "update": "Changed your record",
    "export": "Downloaded part of your record",
    "comment": "Wrote a comment",
}
OUTCOME_WORDS: Final[dict[str, str]] = {
    "success": "",
    "denied": "Refused: they were not allowed",
    "not_found": "Nothing found",
    "invalid": "Not saved: there was a mistake in the form",
    "conflict": "Not saved: someone else had changed it first",
    "error": "Not done: something went wrong",
}
ROLE_WORDS: Final[dict[str, str]] = {
    "gp": "GP",
    "nurse": "Practice nurse",
    "case_manager": "Case manager (community matron)",
    "social_worker": "Social worker",
    "voluntary_sector": "Voluntary or community group",
    "commissioner": "Commissioner",
    "patient": "Person",
    "admin": "Administrator",
}


@dataclass(frozen=True)
class LogEntry:
    id: int
    when: dt.datetime
    who: str
    where: str
    what: str
    outcome: str


@dataclass
class AccessLogPage:
    subject: Subject
    entries: list[LogEntry]
    #: The id to page back from ("Older entries"), None on the last page.
    older: int | None
    before: int | None


def _who(
    event: AuditEvent, users: Mapping[int, tuple[str, str | None]], me: int
) -> tuple[str, str]:
    """Who acted and where they work, in words."""
    role = ROLE_WORDS.get(event.role or "", event.role or "")
    if event.user_id is None:
        return "houseofcare itself (an automatic task)", ""
    if event.user_id == me:
        return "You", ""
    name, organisation = users.get(event.user_id, (event.username or "Unknown user", None))
    if event.role == "patient":
        if event.outcome is AuditOutcome.success:
            return name, "Your carer, with the access you gave them"
        # another person's sign-in that tried (and was refused): never called "your carer"
        return name, "Signed in as a person, without your permission"
    return name, f"{role}, {organisation}" if organisation else role


def access_log_page(
    services: Services,
    signed_in: PageSession,
    person_id: int | None = None,
    *,
    before: int | None = None,
) -> AccessLogPage:
    """Every audit event about the person (who, their role and organisation, when, what),
    newest first, a page at a time; the viewing itself is audited as a search of the trail
    about them."""
    with _opened(
        services,
        signed_in,
        person_id,
        Action.audit_own,
        audit_action="search",
        resource_type="AuditEvent",
    ) as (session, checks, _person, subject):
        events = audit_events(
            session, person_id=subject.person_id, limit=LOG_PAGE + 1, before_id=before
        )
        shown = list(events[:LOG_PAGE])
        ids = {e.user_id for e in shown if e.user_id is not None}
        users = {
            user_id: (name, organisation)
            for user_id, name, organisation in session.execute(
                select(User.id, User.display_name, Organisation.name)
                .outerjoin(Organisation, Organisation.id == User.organisation_id)
                .where(User.id.in_(ids))
            ).all()
        }
        entries = []
        for event in shown:
            who, where = _who(event, users, signed_in.user.user_id)
            what = WHAT_WORDS.get(
                (event.action, event.resource_type),
                ACTION_WORDS.get(event.action, event.action.capitalize()),
            )
            outcome = event.outcome.value if event.outcome else ""
            entries.append(
                LogEntry(
                    event.id,
                    event.occurred_at,
                    who,
                    where,
                    what,
                    OUTCOME_WORDS.get(outcome, outcome),
                )
            )
        checks.audit(
            session,
            action="search",
            resource_type="AuditEvent",
            person_id=subject.person_id,
            detail={"page": "who has looked at my record", "shown": len(shown), "before": before},
        )
    older = shown[-1].id if len(events) > LOG_PAGE and shown else None
    return AccessLogPage(subject=subject, entries=entries, older=older, before=before)


# --- Carers (proxy access) ---------------------------------------------------------------------


@dataclass
class CarersPage:
    subject: Subject
    carers: list[proxies.Proxy]
    username: str = ""
    errors: list[tuple[str, str]] = field(default_factory=list)


def carers_page(services: Services, signed_in: PageSession) -> CarersPage:
    """The carers the person has given access to (the person only; audited as a read)."""
    with _opened(
        services,
        signed_in,
        None,
        Action.proxy_write,
        audit_action="read",
        resource_type="ProxyGrant",
    ) as (session, checks, _person, subject):
        page = CarersPage(
            subject=subject, carers=list(proxies.proxies_of(session, subject.person_id))
        )
        checks.audit(
            session,
            action="read",
            resource_type="ProxyGrant",
            person_id=subject.person_id,
            detail={"carers": len(page.carers)},
        )
    return page


def add_carer(services: Services, signed_in: PageSession, username: str) -> CarersPage | None:
    """Give a carer access by their username (None: done; else the page with the mistake,
    nothing written, the attempt audited)."""
    try:
        with _opened(
            services,
            signed_in,
            None,
            Action.proxy_write,
            audit_action="create",
            resource_type="ProxyGrant",
        ) as (session, checks, _person, subject):
            grant = proxies.give_proxy(session, subject.person_id, username, checks.actor)
            checks.audit(
                session,
                action="create",
                resource_type="ProxyGrant",
                resource_id=grant.id,
                person_id=subject.person_id,
                detail={"carer_user_id": grant.proxy_user_id},
            )
    except InvalidChange as exc:
        guard(signed_in, services).audit_now(
            action="create",
            resource_type="ProxyGrant",
            outcome=AuditOutcome.invalid,
            person_id=signed_in.user.person_id,
            detail={
                "reason": "no such carer" if str(exc).endswith(proxies.NOT_A_CARER) else str(exc)
            },
        )
        page = carers_page(services, signed_in)
        page.username = username
        page.errors = [("username", str(exc).split(": ", 1)[-1])]
        return page
    return None


def withdraw_carer(services: Services, signed_in: PageSession, grant_id: int | None) -> None:
    """Take back a carer's access (the person's own grants only: any other id is refused,
    audited, and changes nothing)."""
    try:
        with _opened(
            services,
            signed_in,
            None,
            Action.proxy_write,
            audit_action="update",
            resource_type="ProxyGrant",
        ) as (session, checks, _person, subject):
            try:
                if grant_id is None:
                    raise NotFound("ProxyGrant", None)
                grant = proxies.withdraw_proxy(session, subject.person_id, grant_id, checks.actor)
            except NotFound:
                raise checks.deny(
                    "That is not one of your carers",
                    action="update",
                    resource_type="ProxyGrant",
                    resource_id=grant_id,
                    person_id=subject.person_id,
                ) from None
            checks.audit(
                session,
                action="update",
                resource_type="ProxyGrant",
                resource_id=grant.id,
                person_id=subject.person_id,
                detail={"change": "withdrawn", "carer_user_id": grant.proxy_user_id},
            )
    except AccessRefused as exc:
        raise MyCareRefused(exc.reason) from None
