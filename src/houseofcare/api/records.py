"""Stored rows (and version snapshots) as the API's domain records, ready for FHIR.

The current version of a plan is read from its rows; an older one from the snapshot the
care-plan services wrote with that version, so `_history/{n}` shows the plan exactly as it
was then.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import String, cast, literal, select, union_all
from sqlalchemy.orm import Session

from houseofcare.api.fhir.mapping import (
    ActionContent,
    CarePlanContent,
    CarePlanRecord,
    Comment,
    ConsentContent,
    ConsentRecord,
    GoalContent,
    GoalRecord,
    NeedContent,
    Participant,
)
from houseofcare.store.models import (
    Action,
    ActionStatus,
    CarePlan,
    CarePlanComment,
    CarePlanParticipant,
    CarePlanStatus,
    ConsentToShare,
    Goal,
    GoalStatus,
    Need,
    NeedDomain,
    NeedStatus,
    ParticipantRole,
    Performer,
    Person,
    User,
)


def _date(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(value)


def _moment(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)
    return moment.astimezone(dt.UTC) if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _plan_record(
    plan: Mapping[str, Any],
    *,
    nhs_number: str | None,
    comments: tuple[Comment, ...],
    lead_name: str | None,
) -> CarePlanRecord:
    """From a plan snapshot (or a row turned into the same shape)."""
    content = CarePlanContent(
        person_id=plan["person_id"],
        status=CarePlanStatus(plan["status"]),
        title=plan["title"],
        description=plan["description"],
        care_team_id=plan["care_team_id"],
        lead_user_id=plan["lead_user_id"],
        period_start=_date(plan["period_start"]),
        period_end=_date(plan["period_end"]),
        review_date=_date(plan["review_date"]),
        agreed_with_person=bool(plan["agreed_with_person"]),
        participants=tuple(
            Participant(role=ParticipantRole(p["role"]), name=p["name"], user_id=p["user_id"])
            for p in plan["participants"]
        ),
        actions=tuple(
            ActionContent(
                performer=Performer(a["performer"]),
                description=a["description"],
                status=ActionStatus(a["status"]),
                performer_name=a["performer_name"],
                performer_user_id=a["performer_user_id"],
                due_date=_date(a["due_date"]),
                goal_id=a["goal_id"],
                id=a["id"],
            )
            for a in plan["actions"]
        ),
        needs=tuple(
            NeedContent(
                domain=NeedDomain(n["domain"]),
                description=n["description"],
                status=NeedStatus(n["status"]),
                id=n["id"],
            )
            for n in plan["needs"]
        ),
        nhs_number=nhs_number,
    )
    return CarePlanRecord(
        id=plan["id"],
        version=plan["version"],
        created_at=_moment(plan["created_at"]),  # type: ignore[arg-type]
        updated_at=_moment(plan["updated_at"]),  # type: ignore[arg-type]
        content=content,
        goal_ids=tuple(g["id"] for g in plan["goals"]),
        comments=comments,
        conversation_at=_moment(plan["conversation_at"]),
        agreed_at=_moment(plan["agreed_at"]),
        last_reviewed_at=_moment(plan["last_reviewed_at"]),
        lead_name=lead_name,
    )


def _columns(row: Any, *names: str) -> dict[str, Any]:
    return {name: getattr(row, name) for name in names}


#: The care_plan columns a record is built from, in the order every plan query selects them.
PLAN_COLUMNS = [
    "id",
    "person_id",
    "status",
    "title",
    "description",
    "care_team_id",
    "lead_user_id",
    "period_start",
    "period_end",
    "review_date",
    "agreed_with_person",
    "version",
    "created_at",
    "updated_at",
    "conversation_at",
    "agreed_at",
    "last_reviewed_at",
]
_ACTION = "id performer description status performer_name performer_user_id due_date goal_id"


def careplan_record(session: Session, plan: CarePlan) -> CarePlanRecord:
    """The plan as it is now, with its comments, the person's NHS number and the lead's name."""
    session.flush()
    if session.get_bind().dialect.name == "postgresql":
        # one query (the same as the one-statement read, without its check and audit)
        from houseofcare.api.plan_reads import HEAD, PARTS, PLAN_WITH_PARTS, record_from_row

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


def careplan_record_from_parts(
    head: Mapping[str, Any],
    *,
    participants: list[dict[str, Any]],
    goal_ids: list[int],
    actions: list[dict[str, Any]],
    needs: list[dict[str, Any]],
    comments: list[tuple[Any, ...]],
) -> CarePlanRecord:
    """The whole plan from its head (`plan_head`'s columns) and its parts, each in id order;
    comments as (text, time, author's name). Shared by the ORM read and the one-statement
    PostgreSQL read (`plan_reads`), so both answer the same record."""
    snapshot = dict(head)
    snapshot["participants"] = participants
    snapshot["goals"] = [{"id": ident} for ident in goal_ids]
    snapshot["actions"] = actions
    snapshot["needs"] = needs
    return _plan_record(
        snapshot,
        nhs_number=head["nhs_number"],
        comments=tuple(
            Comment(author=name, text=text, time=_moment(at))  # type: ignore[arg-type]
            for text, at, name in comments
        ),
        lead_name=head["lead_name"],
    )


def careplan_record_from_snapshot(
    snapshot: Mapping[str, Any], *, nhs_number: str | None
) -> CarePlanRecord:
    """The plan as it was at a stored version (comments are not versioned)."""
    return _plan_record(snapshot, nhs_number=nhs_number, comments=(), lead_name=None)


def goal_record_from_columns(
    goal: Mapping[str, Any], *, person_id: int, nhs_number: str | None
) -> GoalRecord:
    content = GoalContent(
        person_id=person_id,
        what_matters_to_me=goal["what_matters_to_me"],
        status=GoalStatus(goal["status"]),
        care_plan_id=goal["care_plan_id"],
        target_measure=goal["target_measure"],
        target_value=goal["target_value"],
        target_unit=goal["target_unit"],
        target_due=_date(goal["target_due"]),
        start_date=_date(goal["start_date"]),
        status_date=_date(goal["status_date"]),
        nhs_number=nhs_number,
    )
    return GoalRecord(
        id=goal["id"],
        version=goal["version"],
        updated_at=_moment(goal["updated_at"]),  # type: ignore[arg-type]
        content=content,
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
