"""A case manager's caseload: who is on it, who could be, and taking people on and off it.

Case management (level 3 of the Long Term Conditions Model) only works when every person at
level 3 has a named case manager and no case manager holds more people than they can know
well (a community matron: about 50-80). So taking someone on is refused beyond the configured
maximum, and only a level 3 person of the latest run who is on nobody's caseload can be taken
on: a caseload is for case management, not a way to reach any record (hazard H-048).

The level comes from the analytic store (the caller reads it through `houseofcare.results`);
this module holds the operational rules and writes. Access (`caseload.write`) and the audit
are the caller's, through `careplan.guard.Guard`.

The candidates (level 3 people on nobody's caseload) are shown highest risk first; with the
Core20PLUS5 policy on (`tiers/proportionate.toml`, `enabled = true`), `candidates_in_order`
weights a favoured person's risk by the policy's `caseload.risk_weight`, so they come up the
list and nobody leaves it (hazard H-080).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from sqlalchemy import ColumnElement, exists, func, select, update
from sqlalchemy.orm import Session

from houseofcare.careplan.actor import Actor
from houseofcare.careplan.errors import CarePlanError
from houseofcare.careplan.people import assign_to_caseload, end_caseload_assignment
from houseofcare.engine import Engine, sql_literal
from houseofcare.store.database import among
from houseofcare.store.models import (
    AuditOutcome,
    CarePlan,
    CarePlanStatus,
    CaseloadAssignment,
    Person,
    Role,
    User,
)
from houseofcare.tiers.proportionate import ProportionatePolicy

#: Why someone leaves a caseload, as the case manager chooses it (kept in the audit event).
RELEASE_REASONS: Final[dict[str, str]] = {
    "stepped-down": "Needs are now met at level 2 or level 1 (stepped down)",
    "transferred": "Transferred to another case manager or team",
    "moved-away": "Moved away or registered elsewhere",
    "declined": "Declined case management",
    "died": "Died",
}

#: Which plan a caseload shows when a person has several: the live one first.
_PLAN_ORDER: Final = (
    CarePlanStatus.active,
    CarePlanStatus.on_hold,
    CarePlanStatus.draft,
    CarePlanStatus.completed,
    CarePlanStatus.revoked,
)


class CaseloadRefused(CarePlanError):
    """Taking someone on, or releasing them, was refused; `reason` is shown to the user and
    `cause` (more exact, possibly about someone they may not see) goes only to the audit."""

    def __init__(
        self, reason: str, *, field: str, outcome: AuditOutcome, cause: str | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field
        self.outcome = outcome
        self.cause = cause or reason


@dataclass(frozen=True)
class CaseloadPerson:
    """Someone on the caseload, with their care plan's status and next review."""

    person_id: int
    nhs_number: str
    patient_id: str | None
    given_name: str | None
    family_name: str | None
    birth_date: dt.date | None
    assigned_at: dt.datetime
    care_plan_status: CarePlanStatus | None
    review_date: dt.date | None


@dataclass(frozen=True)
class Unassigned:
    """A person of the network on nobody's caseload (a candidate once the run says level 3)."""

    person_id: int
    nhs_number: str
    patient_id: str
    given_name: str | None
    family_name: str | None
    birth_date: dt.date | None


def _open() -> ColumnElement[bool]:
    return CaseloadAssignment.ended_at.is_(None)


def on_caseload(
    session: Session, case_manager_id: int, *, visible: ColumnElement[bool]
) -> list[CaseloadPerson]:
    """The people on the caseload (that the reader may see: `visible`, a filter on `person`),
    each with the status and review date of their live plan (active, else on hold, else a
    draft), in two queries."""
    rows = session.execute(
        select(
            CaseloadAssignment.assigned_at,
            Person.id,
            Person.nhs_number,
            Person.patient_id,
            Person.given_name,
            Person.family_name,
            Person.birth_date,
        )
        .join(Person, Person.id == CaseloadAssignment.person_id)
        .where(CaseloadAssignment.case_manager_id == case_manager_id, _open(), visible)
        .order_by(CaseloadAssignment.assigned_at, CaseloadAssignment.id)
    ).all()
    ids = [row.id for row in rows]
    plans: dict[int, tuple[int, int, CarePlanStatus, dt.date | None]] = {}
    if ids:
        for person_id, plan_id, status, review in session.execute(
            select(CarePlan.person_id, CarePlan.id, CarePlan.status, CarePlan.review_date).where(
                CarePlan.person_id.in_(ids), CarePlan.status.in_(_PLAN_ORDER)
            )
        ):
            key = (_PLAN_ORDER.index(status), -plan_id)
            held = plans.get(person_id)
            if held is None or key < held[:2]:
                plans[person_id] = (*key, status, review)
    return [
        CaseloadPerson(
            person_id=row.id,
            nhs_number=row.nhs_number,
            patient_id=row.patient_id,
            given_name=row.given_name,
            family_name=row.family_name,
            birth_date=row.birth_date,
            assigned_at=row.assigned_at,
            care_plan_status=plans[row.id][2] if row.id in plans else None,
            review_date=plans[row.id][3] if row.id in plans else None,
        )
        for row in rows
    ]


# --- issue 13: referrals: a social prescribing link worker's caseload is kept in the same
# table; being referred to a link worker does not take a person off the case managers' list
def _held_by_case_manager() -> ColumnElement[bool]:
    return CaseloadAssignment.case_manager_id.in_(
        select(User.id).where(User.role == Role.case_manager)
    )


def _unassigned_filter() -> list[ColumnElement[bool]]:
    """A person of the network (registered at a practice, linked to the analytic record) who
    is on no case manager's caseload."""
    held = exists().where(
        CaseloadAssignment.person_id == Person.id, _open(), _held_by_case_manager()
    )
    return [Person.patient_id.is_not(None), Person.practice_id.is_not(None), ~held]


def unassigned_among(
    session: Session, patient_ids: Iterable[str], *, shown: slice | None = None
) -> tuple[int, list[Unassigned]]:
    """How many of `patient_ids` (analytic ids: the run's level 3 people, in the order to
    show them) are people of the network on nobody's caseload, and those of them in the
    `shown` part of that order (None: all), in brief. Asked this way round because level 3
    is a few percent of the network: the run's list is short, the network's is not. Two
    queries: the ids of them all (to count and rank), then names for only the few shown."""
    ids = list(dict.fromkeys(patient_ids))
    if not ids:
        return 0, []
    free = dict(
        session.execute(
            select(Person.patient_id, Person.id).where(
                among(session, Person.patient_id, ids), *_unassigned_filter()
            )
        ).all()
    )
    ranked = [free[p] for p in ids if p in free]
    wanted = ranked if shown is None else ranked[shown]
    if not wanted:
        return len(ranked), []
    rows = {
        row.id: row
        for row in session.execute(
            select(
                Person.id,
                Person.nhs_number,
                Person.patient_id,
                Person.given_name,
                Person.family_name,
                Person.birth_date,
            ).where(Person.id.in_(wanted))
        )
    }
    return len(ranked), [
        Unassigned(
            person_id=row.id,
            nhs_number=row.nhs_number,
            patient_id=str(row.patient_id),
            given_name=row.given_name,
            family_name=row.family_name,
            birth_date=row.birth_date,
        )
        for row in (rows[i] for i in wanted)
    ]


def candidates_in_order(
    engine: Engine,
    run_id: str,
    favour: ProportionatePolicy | None = None,
    *,
    scored: bool = True,
) -> list[str]:
    """The run's level 3 people in the order a case manager sees them as candidates (then
    `unassigned_among` keeps those on nobody's caseload): highest risk first, by patient id
    where the run has no risk (`scored`: the store has `risk_score`). With `favour` (the
    Core20PLUS5 policy), a favoured person's risk is weighted by `caseload.risk_weight` for
    the order only; everyone stays on the list, and the risk shown is the real one."""
    run = sql_literal(run_id)
    risk = "s.risk" if scored else "CAST(NULL AS DOUBLE)"
    scores = (
        f" LEFT JOIN (SELECT patient_id, max(risk) AS risk FROM risk_score WHERE run_id = {run}"
        " GROUP BY patient_id) s ON s.patient_id = t.patient_id"
        if scored
        else ""
    )
    joins = ""
    order = risk
    if favour is not None:
        from houseofcare.commissioning.population import LOOKUP_TABLES, lsoa_lookup

        lsoa_table = LOOKUP_TABLES[0]
        engine.register(lsoa_table, lsoa_lookup())
        joins = " LEFT JOIN patient p ON p.patient_id = t.patient_id" + favour.favoured_joins(
            "p", run_id, lsoa_table
        )
        order = favour.weighted_risk_sql("p", risk)
    rows = engine.rows(
        f"""SELECT t.patient_id FROM tier t{scores}{joins}
            WHERE t.run_id = {run} AND t.level = 3
            ORDER BY {order} DESC NULLS LAST, t.patient_id"""
    )
    return [str(r[0]) for r in rows]


def caseload_size(session: Session, case_manager_id: int) -> int:
    """How many people the case manager holds now."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(CaseloadAssignment)
            .where(CaseloadAssignment.case_manager_id == case_manager_id, _open())
        )
        or 0
    )


def holder(session: Session, person_id: int) -> int | None:
    """The case manager whose caseload the person is on (None: nobody's)."""
    return session.scalar(
        select(CaseloadAssignment.case_manager_id).where(
            CaseloadAssignment.person_id == person_id, _open(), _held_by_case_manager()
        )
    )


NOT_A_CANDIDATE: Final = (
    "This person cannot be added: only level 3 (case management) people of the latest run "
    "who are on nobody's caseload can be. Someone may have taken them on since the page was "
    "shown."
)


def take_on(
    session: Session,
    *,
    case_manager_id: int,
    person_id: int,
    at_level3: bool,
    capacity: int,
    actor: Actor,
) -> CaseloadAssignment:
    """Put a level 3 person on the case manager's caseload, within `capacity` people.

    `at_level3`: the latest run placed the person at level 3 (the caller read it). Refused
    (`CaseloadRefused`, nothing written) for anyone else, for someone on another caseload,
    and beyond capacity. Two assignments at once cannot both pass the capacity check: the
    first statement writes the case manager's own row (changing nothing), which locks that
    row on PostgreSQL and takes the database's write lock on SQLite (which has no row
    locks), so the second waits and then counts the first.
    """
    session.execute(update(User).where(User.id == case_manager_id).values(id=User.id))
    person = session.get(Person, person_id)
    current = holder(session, person_id)
    if current == case_manager_id:
        raise CaseloadRefused(
            "This person is already on your caseload.",
            field="person_id",
            outcome=AuditOutcome.conflict,
        )
    cause = (
        "no such person"
        if person is None
        else "not linked to an analytic record"
        if person.patient_id is None
        else "on another case manager's caseload"
        if current is not None
        else None
        if at_level3
        else "not at level 3 in the latest run"
    )
    if cause is not None:
        raise CaseloadRefused(
            NOT_A_CANDIDATE, field="person_id", outcome=AuditOutcome.denied, cause=cause
        )
    size = caseload_size(session, case_manager_id)
    if size >= capacity:
        raise CaseloadRefused(
            f"Your caseload is full: you hold {size} people and the most is {capacity}. "
            "Release someone, or ask for this person to go to another case manager.",
            field="person_id",
            outcome=AuditOutcome.conflict,
        )
    return assign_to_caseload(
        session, case_manager_id=case_manager_id, person_id=person_id, actor=actor
    )


def release(
    session: Session, *, case_manager_id: int, person_id: int, reason: str
) -> CaseloadAssignment:
    """Take a person off the case manager's own caseload, for one of `RELEASE_REASONS`
    (`CaseloadRefused` otherwise; nothing written). The assignment stays as history."""
    if reason not in RELEASE_REASONS:
        raise CaseloadRefused(
            "Choose why this person is leaving your caseload",
            field="reason",
            outcome=AuditOutcome.invalid,
        )
    assignment = session.scalar(
        select(CaseloadAssignment).where(
            CaseloadAssignment.case_manager_id == case_manager_id,
            CaseloadAssignment.person_id == person_id,
            _open(),
        )
    )
    if assignment is None:
        raise CaseloadRefused(
            "Choose someone on your caseload to release",
            field="person_id",
            outcome=AuditOutcome.invalid,
            cause="not on this case manager's caseload",
        )
    return end_caseload_assignment(session, assignment.id)
