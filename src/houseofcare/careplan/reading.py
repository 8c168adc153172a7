"""Reading a plan, goal or consent from the operational store as its domain record.

The current version of a plan is read from its rows; an older one from the snapshot the
care-plan services wrote with that version, so a plan's history shows it exactly as it was
then. On PostgreSQL the whole plan is one query (`pg_read.PLAN_WITH_PARTS`, the fast read's
statement without its check and audit); elsewhere its head, parts and comments are three.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, String, cast, literal, select, union_all
from sqlalchemy.orm import Session

from houseofcare.careplan import plans
from houseofcare.careplan.pg_read import HEAD, PARTS, PLAN_WITH_PARTS, record_from_row
from houseofcare.careplan.records import (
    PLAN_COLUMNS,
    CarePlanRecord,
    ConsentContent,
    ConsentRecord,
    GoalRecord,
    careplan_record_from_parts,
    careplan_record_from_snapshot,
    goal_record_from_columns,
)
from houseofcare.store.models import (
    Action,
    CarePlan,
    CarePlanComment,
    CarePlanParticipant,
    CarePlanStatus,
    ConsentToShare,
    Goal,
    GoalStatus,
    Need,
    Person,
    User,
)


def _columns(row: Any, *names: str) -> dict[str, Any]:
    return {name: getattr(row, name) for name in names}


def careplan_record(session: Session, plan: CarePlan) -> CarePlanRecord:
    """The plan as it is now, with its comments, the person's NHS number and the lead's name."""
    session.flush()
    if session.get_bind().dialect.name == "postgresql":
        # one query (the same as the one-statement read, without its check and audit)
        row = session.connection().exec_driver_sql(PLAN_WITH_PARTS, {"plan_id": plan.id}).one()
        head = len(HEAD)
        return record_from_row(row[:head], row[head : head + PARTS])
    head = plan_head(session, plan.id)
    assert head is not None
    return careplan_record_from_head(session, head)


def plan_head(session: Session, plan_id: int) -> dict[str, Any] | None:
    """The plan's own columns, the person's NHS number and the lead's name, in one query;
    None if there is no such plan. Cheap enough to run before the access check."""
    table = CarePlan.__table__
    lead = User.__table__.alias("lead")
    row = session.execute(
        select(*(table.c[name] for name in PLAN_COLUMNS), Person.nhs_number, lead.c.display_name)
        .join(Person, Person.id == table.c.person_id)
        .outerjoin(lead, lead.c.id == table.c.lead_user_id)
        .where(table.c.id == plan_id)
    ).first()
    if row is None:
        return None
    head = dict(zip(PLAN_COLUMNS, row[: len(PLAN_COLUMNS)], strict=True))
    head["nhs_number"], head["lead_name"] = row[-2], row[-1]
    return head


def careplan_record_from_head(session: Session, head: dict[str, Any]) -> CarePlanRecord:
    """The whole plan from its head: its parts in one query, its comments in another."""
    plan_id = head["id"]
    p, g, a, n = (m.__table__ for m in (CarePlanParticipant, Goal, Action, Need))

    def text_(column: Any) -> Any:
        # plain text throughout: a UNION takes its result types from the first SELECT
        return cast(column, String)

    nothing = literal(None, String)
    parts = union_all(
        select(
            literal("p"),
            text_(p.c.id),
            text_(p.c.role),
            text_(p.c.name),
            text_(p.c.user_id),
            nothing,
            nothing,
            nothing,
            nothing,
        ).where(p.c.care_plan_id == plan_id),
        select(
            literal("g"),
            text_(g.c.id),
            nothing,
            nothing,
            nothing,
            nothing,
            nothing,
            nothing,
            nothing,
        ).where(g.c.care_plan_id == plan_id),
        select(
            literal("a"),
            text_(a.c.id),
            text_(a.c.performer),
            text_(a.c.description),
            text_(a.c.status),
            text_(a.c.performer_name),
            text_(a.c.performer_user_id),
            text_(a.c.due_date),
            text_(a.c.goal_id),
        ).where(a.c.care_plan_id == plan_id),
        select(
            literal("n"),
            text_(n.c.id),
            text_(n.c.domain),
            text_(n.c.description),
            text_(n.c.status),
            nothing,
            nothing,
            nothing,
            nothing,
        ).where(n.c.care_plan_id == plan_id),
    )
    rows = sorted(session.execute(parts).all(), key=lambda r: (r[0], int(r[1])))

    def int_(value: Any) -> int | None:
        return None if value is None else int(value)

    comment_rows = session.execute(
        select(CarePlanComment.text, CarePlanComment.created_at, User.display_name)
        .join(User, User.id == CarePlanComment.author_id)
        .where(CarePlanComment.care_plan_id == plan_id)
        .order_by(CarePlanComment.id)
    ).all()
    return careplan_record_from_parts(
        head,
        participants=[
            {"role": r[2], "name": r[3], "user_id": int_(r[4])} for r in rows if r[0] == "p"
        ],
        goal_ids=[int(r[1]) for r in rows if r[0] == "g"],
        actions=[
            {
                "id": int(r[1]),
                "performer": r[2],
                "description": r[3],
                "status": r[4],
                "performer_name": r[5],
                "performer_user_id": int_(r[6]),
                "due_date": None if r[7] is None else r[7][:10],
                "goal_id": int_(r[8]),
            }
            for r in rows
            if r[0] == "a"
        ],
        needs=[
            {"id": int(r[1]), "domain": r[2], "description": r[3], "status": r[4]}
            for r in rows
            if r[0] == "n"
        ],
        comments=[tuple(row) for row in comment_rows],
    )


_GOAL = [
    "id",
    "care_plan_id",
    "what_matters_to_me",
    "status",
    "target_measure",
    "target_value",
    "target_unit",
    "target_due",
    "start_date",
    "status_date",
    "version",
    "updated_at",
]


def goal_record(session: Session, goal: Goal) -> GoalRecord:
    person_id, nhs_number = session.execute(
        select(Person.id, Person.nhs_number)
        .join(CarePlan, CarePlan.person_id == Person.id)
        .where(CarePlan.id == goal.care_plan_id)
    ).one()
    return goal_record_from_columns(
        _columns(goal, *_GOAL), person_id=person_id, nhs_number=nhs_number
    )


def consent_record(session: Session, consent: ConsentToShare) -> ConsentRecord:
    nhs_number = session.scalar(select(Person.nhs_number).where(Person.id == consent.person_id))
    return ConsentRecord(
        id=consent.id,
        content=ConsentContent(
            person_id=consent.person_id,
            organisation_type=consent.organisation_type,
            given_at=consent.given_at,
            withdrawn_at=consent.withdrawn_at,
            nhs_number=nhs_number,
        ),
    )


# --- Searches and history (what a FHIR search or a page's list shows) -------------------------


def person_of_plan(session: Session, plan_id: int) -> int | None:
    """The person a plan belongs to (None: no such plan): what access is decided on."""
    return session.scalar(select(CarePlan.person_id).where(CarePlan.id == plan_id))


def _nhs_number(session: Session, person_id: int | None) -> str | None:
    return session.scalar(select(Person.nhs_number).where(Person.id == person_id))


def find_plans(
    session: Session,
    *,
    visible: ColumnElement[bool],
    person_id: int | None = None,
    status: CarePlanStatus | None = None,
    limit: int,
) -> list[CarePlanRecord]:
    """Plans in id order, of the people `visible` lets the reader see.

    `visible` is required: the filter on `person` from the one access decision
    (`careplan.access.visible_people`), so a search never lists someone a read would refuse.
    """
    query = (
        select(CarePlan)
        .join(Person, Person.id == CarePlan.person_id)
        .where(visible)
        .order_by(CarePlan.id)
        .limit(limit)
    )
    if person_id is not None:
        query = query.where(CarePlan.person_id == person_id)
    if status is not None:
        query = query.where(CarePlan.status == status)
    return [careplan_record(session, plan) for plan in session.scalars(query).all()]


def plan_versions(session: Session, plan_id: int, person_id: int) -> list[CarePlanRecord]:
    """Every version of the plan as it was then, newest first."""
    nhs = _nhs_number(session, person_id)
    versions = plans.care_plan_history(session, plan_id)
    return [careplan_record_from_snapshot(v.snapshot, nhs_number=nhs) for v in reversed(versions)]


def plan_at_version(session: Session, plan_id: int, version: int, person_id: int) -> CarePlanRecord:
    """The plan as it was at `version` (`NotFound` if it never had that version)."""
    nhs = _nhs_number(session, person_id)
    row = plans.care_plan_version(session, plan_id, version)
    return careplan_record_from_snapshot(row.snapshot, nhs_number=nhs)


def find_goals(
    session: Session,
    *,
    visible: ColumnElement[bool],
    person_id: int | None = None,
    status: GoalStatus | None = None,
    limit: int,
) -> list[GoalRecord]:
    """Goals in id order, of the people `visible` lets the reader see (required, as for
    `find_plans`)."""
    query = (
        select(Goal)
        .join(CarePlan, CarePlan.id == Goal.care_plan_id)
        .join(Person, Person.id == CarePlan.person_id)
        .where(visible)
        .order_by(Goal.id)
        .limit(limit)
    )
    if person_id is not None:
        query = query.where(CarePlan.person_id == person_id)
    if status is not None:
        query = query.where(Goal.status == status)
    return [goal_record(session, goal) for goal in session.scalars(query).all()]


def goal_versions(
    session: Session, goal_id: int, person_id: int, *, version: int | None = None
) -> list[GoalRecord]:
    """Every version of the goal, newest first; or only `version` (`NotFound` if the goal
    never had it)."""
    nhs = _nhs_number(session, person_id)
    rows = (
        plans.goal_history(session, goal_id)
        if version is None
        else [plans.goal_version(session, goal_id, version)]
    )
    return [
        goal_record_from_columns(row.snapshot, person_id=person_id, nhs_number=nhs)
        for row in reversed(rows)
    ]
