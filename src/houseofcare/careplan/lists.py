"""Work lists: plans due for review per care team, and a case manager's caseload."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.orm import Session

from houseofcare.careplan.errors import NotFound
from houseofcare.store.models import (
    CarePlan,
    CarePlanStatus,
    CareTeam,
    CaseloadAssignment,
    Person,
    User,
)


@dataclass(frozen=True)
class DueReview:
    """An active plan whose review date has come (or has no review date set at all)."""

    care_plan_id: int
    care_plan_version: int
    person_id: int
    nhs_number: str
    given_name: str | None
    family_name: str | None
    review_date: dt.date | None
    #: Days past the review date on the list's date (None: no review date was ever set).
    days_overdue: int | None


@dataclass(frozen=True)
class CaseloadEntry:
    """One person on a case manager's caseload, with their active plan if they have one."""

    person_id: int
    nhs_number: str
    patient_id: str | None
    given_name: str | None
    family_name: str | None
    assigned_at: dt.datetime
    care_plan_id: int | None
    care_plan_status: CarePlanStatus | None
    review_date: dt.date | None


def due_reviews(
    session: Session,
    care_team_id: int,
    *,
    visible: ColumnElement[bool],
    on: dt.date | None = None,
    include_unscheduled: bool = True,
) -> list[DueReview]:
    """The team's active plans due for review on `on` (default today), most overdue first.

    Plans with no review date come first when `include_unscheduled`: a plan nobody has
    scheduled a review for is the easiest to forget. `visible` is the reader's filter on
    `person` (`careplan.access.visible_people`): a team's list shows only people its reader
    may open, whoever put the plan on the team.
    """
    if session.get(CareTeam, care_team_id) is None:
        raise NotFound("CareTeam", care_team_id)
    day = on or dt.date.today()
    due = CarePlan.review_date <= day
    if include_unscheduled:
        due = due | CarePlan.review_date.is_(None)
    rows = session.execute(
        select(CarePlan, Person)
        .join(Person, Person.id == CarePlan.person_id)
        .where(
            CarePlan.care_team_id == care_team_id,
            CarePlan.status == CarePlanStatus.active,
            due,
            visible,
        )
        .order_by(CarePlan.review_date.is_not(None), CarePlan.review_date, CarePlan.id)
    ).all()
    return [
        DueReview(
            care_plan_id=plan.id,
            care_plan_version=plan.version,
            person_id=person.id,
            nhs_number=person.nhs_number,
            given_name=person.given_name,
            family_name=person.family_name,
            review_date=plan.review_date,
            days_overdue=None if plan.review_date is None else (day - plan.review_date).days,
        )
        for plan, person in rows
    ]


def caseload(
    session: Session, case_manager_id: int, *, visible: ColumnElement[bool]
) -> list[CaseloadEntry]:
    """The people currently on a case manager's caseload, longest-assigned first, that the
    reader may see (`visible`, a filter on `person` from `careplan.access.visible_people`)."""
    if session.get(User, case_manager_id) is None:
        raise NotFound("User", case_manager_id)
    rows = session.execute(
        select(CaseloadAssignment, Person, CarePlan)
        .join(Person, Person.id == CaseloadAssignment.person_id)
        .outerjoin(
            CarePlan,
            and_(CarePlan.person_id == Person.id, CarePlan.status == CarePlanStatus.active),
        )
        .where(
            CaseloadAssignment.case_manager_id == case_manager_id,
            CaseloadAssignment.ended_at.is_(None),
            visible,
        )
        .order_by(CaseloadAssignment.assigned_at, CaseloadAssignment.id)
    ).all()
    return [
        CaseloadEntry(
            person_id=person.id,
            nhs_number=person.nhs_number,
            patient_id=person.patient_id,
            given_name=person.given_name,
            family_name=person.family_name,
            assigned_at=assignment.assigned_at,
            care_plan_id=None if plan is None else plan.id,
            care_plan_status=None if plan is None else plan.status,
            review_date=None if plan is None else plan.review_date,
        )
        for assignment, person, plan in rows
    ]


def caseload_person_ids(session: Session, case_manager_id: int) -> Sequence[int]:
    """Just the ids, for access checks."""
    return session.scalars(
        select(CaseloadAssignment.person_id).where(
            CaseloadAssignment.case_manager_id == case_manager_id,
            CaseloadAssignment.ended_at.is_(None),
        )
    ).all()


def practice_due_reviews(
    session: Session,
    practice_id: int,
    *,
    visible: ColumnElement[bool],
    on: dt.date | None = None,
    limit: int = 50,
) -> tuple[list[DueReview], bool]:
    """The active plans of people registered at the practice that are due for review on `on`
    (default today), most overdue first (plans never given a review date first, as in
    `due_reviews`), whichever team holds them: the first `limit`, and whether there are more.

    The practice team's worklist: `visible` is the reader's filter on `person`, so only
    people they may open are listed. (No count of them all: on a large practice counting
    costs as much again as the list.)
    """
    day = on or dt.date.today()
    columns = (
        # columns, not entities: a plan entity would load its goals, actions and needs too
        CarePlan.id,
        CarePlan.version,
        CarePlan.review_date,
        Person.id,
        Person.nhs_number,
        Person.given_name,
        Person.family_name,
    )
    of_practice = (
        Person.practice_id == practice_id,
        CarePlan.status == CarePlanStatus.active,
        visible,
    )
    # Two ordered reads, each a walk of `ix_care_plan_active_review` that stops once enough
    # of the practice's plans are found: the plans never given a review date, then those
    # due, earliest first (one ORDER BY with NULLs first cannot use the ascending index).
    never = session.execute(
        select(*columns)
        .join(Person, Person.id == CarePlan.person_id)
        .where(*of_practice, CarePlan.review_date.is_(None))
        .order_by(CarePlan.id)
        .limit(limit + 1)
    ).all()
    rows = list(never)
    if len(rows) <= limit:
        rows += session.execute(
            select(*columns)
            .join(Person, Person.id == CarePlan.person_id)
            .where(*of_practice, CarePlan.review_date <= day)
            .order_by(CarePlan.review_date, CarePlan.id)
            .limit(limit + 1 - len(rows))
        ).all()
    due = [
        DueReview(
            care_plan_id=plan_id,
            care_plan_version=version,
            person_id=person_id,
            nhs_number=nhs_number,
            given_name=given,
            family_name=family,
            review_date=review,
            days_overdue=None if review is None else (day - review).days,
        )
        for plan_id, version, review, person_id, nhs_number, given, family in rows[:limit]
    ]
    return due, len(rows) > limit
