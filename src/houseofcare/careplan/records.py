"""The care-plan domain's records: a plan, its goals, actions, needs, participants and
comments, and consent to share, as small frozen values.

These are what the services hand to every way in: the FHIR API translates them to and from
FHIR JSON (`api/fhir/mapping.py`), the pages render them. They hold what the store keeps and
nothing about HTTP or FHIR, so a page and an API answer show the same plan. The builders at
the end make a record from stored columns (a row read through the ORM, a PostgreSQL JSON row
or a version's snapshot) without touching the database, so every read path answers the same
record.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from houseofcare.store.models import (
    ActionStatus,
    CarePlanStatus,
    GoalStatus,
    NeedDomain,
    NeedStatus,
    OrganisationType,
    ParticipantRole,
    Performer,
)


@dataclass(frozen=True)
class Participant:
    role: ParticipantRole
    name: str
    user_id: int | None = None


@dataclass(frozen=True)
class ActionContent:
    """Who does what by when; `id` is None for a new action."""

    performer: Performer
    description: str
    status: ActionStatus
    performer_name: str | None = None
    performer_user_id: int | None = None
    due_date: dt.date | None = None
    goal_id: int | None = None
    id: int | None = None


@dataclass(frozen=True)
class NeedContent:
    domain: NeedDomain
    description: str
    status: NeedStatus = NeedStatus.active
    id: int | None = None


@dataclass(frozen=True)
class CarePlanContent:
    """What a client may write in a care plan."""

    person_id: int
    status: CarePlanStatus
    title: str
    description: str | None = None
    care_team_id: int | None = None
    lead_user_id: int | None = None
    period_start: dt.date | None = None
    period_end: dt.date | None = None
    review_date: dt.date | None = None
    agreed_with_person: bool = False
    participants: tuple[Participant, ...] = ()
    actions: tuple[ActionContent, ...] = ()
    needs: tuple[NeedContent, ...] = ()
    #: The NHS number the client gave beside the reference (checked against the person).
    nhs_number: str | None = None


@dataclass(frozen=True)
class Comment:
    author: str
    text: str
    time: dt.datetime


@dataclass(frozen=True)
class CarePlanRecord:
    """A stored care plan at one version, as the API shows it."""

    id: int
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    content: CarePlanContent
    goal_ids: tuple[int, ...] = ()
    comments: tuple[Comment, ...] = ()
    conversation_at: dt.datetime | None = None
    agreed_at: dt.datetime | None = None
    last_reviewed_at: dt.datetime | None = None
    lead_name: str | None = None


@dataclass(frozen=True)
class GoalContent:
    person_id: int
    what_matters_to_me: str
    status: GoalStatus
    #: The plan the goal belongs to; None on input means the person's current plan.
    care_plan_id: int | None = None
    target_measure: str | None = None
    target_value: float | None = None
    target_unit: str | None = None
    target_due: dt.date | None = None
    start_date: dt.date | None = None
    status_date: dt.date | None = None
    nhs_number: str | None = None


@dataclass(frozen=True)
class GoalRecord:
    id: int
    version: int
    updated_at: dt.datetime
    content: GoalContent


@dataclass(frozen=True)
class ConsentContent:
    person_id: int
    organisation_type: OrganisationType
    given_at: dt.datetime
    withdrawn_at: dt.datetime | None = None
    nhs_number: str | None = None


@dataclass(frozen=True)
class ConsentRecord:
    id: int
    content: ConsentContent
    #: Consent changes once at most (withdrawal): version 1 while given, 2 once withdrawn.
    version: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "version", 1 if self.content.withdrawn_at is None else 2)


# --- Records from stored columns ---------------------------------------------------------------

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
    PostgreSQL read (`pg_read`), so both answer the same record."""
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
