"""The caseload page: a case manager's level 3 people, ranked by risk, who was in hospital,
who joined or left level 3, and the candidates they may take on.

Thin over the services: access is the one decision (`caseload.write`, `careplan.guard`),
the operational rules are `careplan.caseload`'s and the figures come from the latest pipeline
run through `houseofcare.results`. Every person shown is audited (a `search` per person, the
candidates separately), every assignment and release too, and every refusal.
"""

from __future__ import annotations

import datetime as dt
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, Final

import duckdb

from houseofcare.api.deps import Services
from houseofcare.careplan import caseload as service
from houseofcare.careplan.caseload import RELEASE_REASONS, CaseloadPerson, CaseloadRefused
from houseofcare.careplan.guard import Guard
from houseofcare.careplan.policy import Action
from houseofcare.engine import DuckDBEngine
from houseofcare.results import (
    AnalyticResults,
    HospitalEvent,
    LevelChange,
    ResultsUnavailable,
    Risk,
    Run,
)
from houseofcare.store.database import transaction
from houseofcare.store.models import AuditOutcome, CarePlanStatus, Person
from houseofcare.tiers.proportionate import packaged_proportionate_policy
from houseofcare.web.page import guard as page_guard
from houseofcare.web.person_banner import PersonBanner, person_name
from houseofcare.web.runs import RunStatus, store_stamp
from houseofcare.web.session import PageSession
from houseofcare.web.store_memo import StoreMemo

#: Candidates shown at once (highest risk first), with a link to the next ones. Each one
#: shown is someone not (yet) in the case manager's care whose name and risk are disclosed:
#: a short page discloses no more than the choice needs (a caseload grows a few at a time).
CANDIDATE_ROWS: Final = 20
#: Without an earlier run to compare with, hospital events of this many days are shown.
NO_EARLIER_RUN_DAYS: Final = 30
#: A care plan's status as the page says it.
PLAN_WORDS: Final[dict[CarePlanStatus | None, str]] = {
    CarePlanStatus.active: "Agreed (active)",
    CarePlanStatus.on_hold: "On hold",
    CarePlanStatus.draft: "Draft: not yet agreed",
    CarePlanStatus.completed: "Completed: no live plan",
    CarePlanStatus.revoked: "Stopped: no live plan",
    None: "No care plan",
}
UNREADABLE: Final = (
    "The analytic store cannot be read now (a pipeline run may be writing it); try again "
    "shortly. Your caseload is shown without its figures."
)


@dataclass(frozen=True)
class Row:
    """One person as the page lists them."""

    banner: PersonBanner
    level: int | None = None
    #: Why the run placed them at their level (the reason shown when there is no risk model).
    level_reason: str | None = None
    risk: Risk | None = None
    events: tuple[HospitalEvent, ...] = ()
    last_contact: dt.datetime | None = None
    plan: str = ""
    review_date: dt.date | None = None
    change: LevelChange | None = None

    @property
    def new_to_level3(self) -> bool:
        return self.change is not None and self.change.joined_level3

    @property
    def left_level3(self) -> bool:
        return self.change is not None and self.change.left_level3


@dataclass
class CaseloadView:
    """What the caseload page shows, from the latest run."""

    run: RunStatus
    capacity_min: int
    capacity_max: int
    previous: Run | None = None
    #: Hospital events are shown from this day.
    since: dt.date | None = None
    rows: list[Row] = field(default_factory=list)
    candidates: list[Row] = field(default_factory=list)
    candidates_total: int = 0
    #: Where the shown candidates start in the ranked list (0: the highest risk).
    candidates_from: int = 0

    @property
    def count(self) -> int:
        return len(self.rows)

    @property
    def in_hospital_news(self) -> list[Row]:
        return [r for r in self.rows if r.events]

    @property
    def joined(self) -> list[Row]:
        return [r for r in self.rows + self.candidates if r.new_to_level3]

    @property
    def left(self) -> list[Row]:
        return [r for r in self.rows if r.left_level3]

    @property
    def next_candidates(self) -> int | None:
        """Where the next page of candidates starts, or None after the last."""
        after = self.candidates_from + len(self.candidates)
        return after if after < self.candidates_total else None

    @property
    def earlier_candidates(self) -> int | None:
        """Where the page of candidates before this one starts, or None on the first."""
        if self.candidates_from <= 0:
            return None
        return max(self.candidates_from - CANDIDATE_ROWS, 0)

    @property
    def full(self) -> bool:
        return self.count >= self.capacity_max

    @property
    def release_reasons(self) -> dict[str, str]:
        return RELEASE_REASONS


def _banner(person: CaseloadPerson | service.Unassigned, today: dt.date) -> PersonBanner:
    return PersonBanner(
        person_id=person.person_id,
        name=person_name(person.given_name, person.family_name) or "Name not recorded",
        nhs_number=person.nhs_number,
        birth_date=person.birth_date,
        today=today,
    )


def _authorise(guard: Guard, audit_action: str, resource_type: str) -> None:
    """The one access decision: only a role granted `caseload.write` (case managers) has a
    caseload page; anyone else is refused and audited (`AccessRefused`)."""
    with transaction(guard.factory) as session:
        guard.authorise(
            session,
            Action.caseload_write,
            None,
            audit_action=audit_action,
            resource_type=resource_type,
        )


def caseload_view(
    services: Services, signed_in: PageSession, candidates_from: int = 0
) -> CaseloadView:
    """The signed-in case manager's caseload and a page of candidates from
    `candidates_from` (audited per person shown)."""
    guard = page_guard(signed_in, services)
    _authorise(guard, "search", "Caseload")
    today = dt.date.today()
    settings = services.settings
    with services.factory() as session:
        people = service.on_caseload(
            session, signed_in.user.user_id, visible=guard.visible_people(Action.patient_read)
        )
    view = CaseloadView(
        run=RunStatus(missing="No pipeline run yet: run `hoc run`."),
        capacity_min=settings.caseload_min,
        capacity_max=settings.caseload_max,
    )
    figures: dict[str, Any] = {}
    shown_candidates: list[service.Unassigned] = []
    stamp = store_stamp(settings.analytic_db_path)
    try:
        with ExitStack() as stack:
            opened: list[AnalyticResults] = []

            def results() -> AnalyticResults:
                """The store, opened only when an answer is not already kept."""
                if not opened:
                    opened.append(stack.enter_context(AnalyticResults.open(settings)))
                return opened[0]

            run, previous, level3 = _BASIS.get(
                (stamp, str(settings.analytic_db_path)), lambda: _basis(results())
            )
            if run is not None:
                view.run = RunStatus(
                    run_id=run.run_id, as_of=run.as_of, finished_at=run.finished_at
                )
                view.previous = previous
                since = (
                    previous.as_of
                    if previous is not None
                    else run.as_of - dt.timedelta(days=NO_EARLIER_RUN_DAYS)
                )
                view.since = since
                with services.factory() as session:
                    total, shown_candidates = service.unassigned_among(
                        session,
                        level3,
                        shown=slice(start := max(candidates_from, 0), start + CANDIDATE_ROWS),
                    )
                    if not shown_candidates and total:
                        # asked past the end (an old link): from the last one instead
                        start = total - 1
                        _, shown_candidates = service.unassigned_among(
                            session, level3, shown=slice(start, start + CANDIDATE_ROWS)
                        )
                view.candidates_total = total
                view.candidates_from = start
                on_list = [p.patient_id for p in people if p.patient_id]
                everyone = on_list + [c.patient_id for c in shown_candidates]
                figures = _FIGURES.get(
                    (stamp, str(settings.analytic_db_path), tuple(on_list), tuple(everyone)),
                    lambda: _figures(results(), run, previous, since, on_list, everyone),
                )
    except ResultsUnavailable as exc:
        view.run = RunStatus(missing=str(exc))
    except duckdb.Error:
        view.run = RunStatus(missing=UNREADABLE)
    view.rows = _rank(
        [_row(p, p.patient_id, today, figures, plan=PLAN_WORDS[p.care_plan_status]) for p in people]
    )
    view.candidates = [_row(c, c.patient_id, today, figures) for c in shown_candidates]
    with transaction(services.factory) as session:
        guard.audit_shown(
            session,
            action="search",
            shown={
                "Caseload": [r.banner.person_id for r in view.rows],
                "CaseloadCandidate": [r.banner.person_id for r in view.candidates],
            },
        )
    return view


#: Kept per process while the analytic store is unchanged (`web/store_memo.py`): the latest
#: run, the one before it and the run's level 3 people by risk; and the figures of the people
#: a caseload view shows (risk, level, change, last contact, hospital events: the last two are
#: scans of the whole `encounter` table).
_BASIS: StoreMemo[tuple[Run | None, Run | None, list[str]]] = StoreMemo(kept=8)
_FIGURES: StoreMemo[dict[str, Any]] = StoreMemo(kept=32)


def _basis(results: AnalyticResults) -> tuple[Run | None, Run | None, list[str]]:
    """The latest run, the run before it that placed people on the triangle, and the latest
    run's level 3 people, highest risk first (a Core20PLUS5 person's risk weighted up when the
    policy, `tiers/proportionate.toml`, is enabled: `service.candidates_in_order`)."""
    run = results.latest_run()
    if run is None:
        return None, None, []
    previous = results.previous_run(run.run_id, with_levels=True)
    # --- issue 14 (plan_inequalities): the Core20PLUS5 order of the candidates, when enabled
    policy = packaged_proportionate_policy()
    if policy.enabled and "tier" in results.tables:
        level3 = service.candidates_in_order(
            DuckDBEngine(results.con),
            run.run_id,
            policy,
            scored="risk_score" in results.tables,
        )
        return run, previous, level3
    return run, previous, results.level3(run.run_id)


def _figures(
    results: AnalyticResults,
    run: Run,
    previous: Run | None,
    since: dt.date,
    on_list: list[str],
    everyone: list[str],
) -> dict[str, Any]:
    """Everything the run says about the people shown, one set-based query per kind."""
    return {
        "risks": results.risks(run.run_id, everyone),
        "levels": results.levels(run.run_id, everyone),
        "changes": {}
        if previous is None
        else results.level_changes(run.run_id, previous.run_id, everyone),
        "contacts": results.last_contacts(on_list),
        "events": results.hospital_events(on_list, since),
    }


def _row(
    person: CaseloadPerson | service.Unassigned,
    patient_id: str | None,
    today: dt.date,
    figures: dict[str, Any],
    *,
    plan: str = "",
) -> Row:
    pid = patient_id or ""
    level = figures.get("levels", {}).get(pid)
    return Row(
        banner=_banner(person, today),
        level=None if level is None else level.level,
        level_reason=None if level is None else level.reason,
        risk=figures.get("risks", {}).get(pid),
        events=figures.get("events", {}).get(pid, ()),
        last_contact=figures.get("contacts", {}).get(pid),
        plan=plan,
        review_date=getattr(person, "review_date", None),
        change=figures.get("changes", {}).get(pid),
    )


def _rank(rows: list[Row]) -> list[Row]:
    """Anyone with a hospital event since the last run first (latest event first), then by
    risk, highest first (no score last), then by name."""

    def key(r: Row) -> tuple[Any, ...]:
        latest = max((e.started for e in r.events), default=None)
        risk = None if r.risk is None else r.risk.risk
        return (
            latest is None,
            -(latest.timestamp()) if latest is not None else 0.0,
            risk is None,
            -(risk or 0.0),
            r.banner.name,
        )

    return sorted(rows, key=key)


def _person_id(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() and len(text) < 12 else None


def take_on(services: Services, signed_in: PageSession, person_text: str) -> int:
    """Put the chosen candidate on the signed-in case manager's caseload; their person id.

    `AccessRefused` for a role without `caseload.write`; `CaseloadRefused` (audited, nothing
    written) for someone who is not a level 3 person of the latest run on nobody's caseload,
    or beyond the caseload's maximum.
    """
    guard = page_guard(signed_in, services)
    _authorise(guard, "create", "CaseloadAssignment")
    person_id = _person_id(person_text)
    run_id: str | None = None
    at_level3 = False
    if person_id is not None:
        with services.factory() as session:
            person = session.get(Person, person_id)
            patient_id = None if person is None else person.patient_id
        try:
            with AnalyticResults.open(services.settings) as results:
                run_id = results.latest_run_id()
                if run_id is not None and patient_id is not None:
                    at_level3 = bool(results.level3(run_id, [patient_id]))
        except (ResultsUnavailable, duckdb.Error):
            run_id = None
    try:
        if person_id is None:
            raise CaseloadRefused(
                "Choose someone to add to your caseload",
                field="person_id",
                outcome=AuditOutcome.invalid,
            )
        with transaction(services.factory) as session:
            assignment = service.take_on(
                session,
                case_manager_id=signed_in.user.user_id,
                person_id=person_id,
                at_level3=at_level3,
                capacity=services.settings.caseload_max,
                actor=signed_in.actor,
            )
            guard.audit(
                session,
                action="create",
                resource_type="CaseloadAssignment",
                resource_id=assignment.id,
                person_id=person_id,
                detail={"run": run_id, "capacity": services.settings.caseload_max},
            )
    except CaseloadRefused as exc:
        guard.audit_now(
            action="create",
            resource_type="CaseloadAssignment",
            outcome=exc.outcome,
            person_id=None if exc.cause == "no such person" else person_id,
            detail={"reason": exc.cause, "run": run_id},
        )
        raise
    return person_id


def release(services: Services, signed_in: PageSession, person_text: str, reason: str) -> None:
    """Take someone off the signed-in case manager's caseload, with a reason (audited)."""
    guard = page_guard(signed_in, services)
    _authorise(guard, "update", "CaseloadAssignment")
    person_id = _person_id(person_text)
    try:
        if person_id is None:
            raise CaseloadRefused(
                "Choose someone on your caseload to release",
                field="person_id",
                outcome=AuditOutcome.invalid,
            )
        with transaction(services.factory) as session:
            assignment = service.release(
                session,
                case_manager_id=signed_in.user.user_id,
                person_id=person_id,
                reason=reason,
            )
            guard.audit(
                session,
                action="update",
                resource_type="CaseloadAssignment",
                resource_id=assignment.id,
                person_id=person_id,
                detail={"released": True, "reason": RELEASE_REASONS[reason]},
            )
    except CaseloadRefused as exc:
        guard.audit_now(
            action="update",
            resource_type="CaseloadAssignment",
            outcome=exc.outcome,
            detail={"reason": exc.cause},
        )
        raise
