"""What a caller may set on a plan, goal, action or need: checked before anything is written.

Unknown fields and wrong types are refused with the field named (`InvalidChange`), so a typo
in an API body or a form never silently drops part of what the person agreed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from houseofcare.careplan.errors import InvalidChange
from houseofcare.store.models import (
    ActionStatus,
    CarePlanStatus,
    GoalStatus,
    NeedDomain,
    NeedStatus,
    ParticipantRole,
    Performer,
)


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CarePlanChanges(_Input):
    """Fields of a care plan a caller may change (only those given are changed)."""

    status: CarePlanStatus | None = None
    title: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = None
    care_team_id: int | None = None
    lead_user_id: int | None = None
    period_start: dt.date | None = None
    period_end: dt.date | None = None
    review_date: dt.date | None = None


class GoalInput(_Input):
    """A new goal: what matters to the person, in their own words."""

    what_matters_to_me: str = Field(min_length=1)
    target_measure: str | None = Field(default=None, max_length=100)
    target_value: float | None = None
    target_unit: str | None = Field(default=None, max_length=32)
    target_due: dt.date | None = None
    status: GoalStatus = GoalStatus.active
    start_date: dt.date | None = None


class GoalChanges(_Input):
    what_matters_to_me: str | None = Field(default=None, min_length=1)
    target_measure: str | None = Field(default=None, max_length=100)
    target_value: float | None = None
    target_unit: str | None = Field(default=None, max_length=32)
    target_due: dt.date | None = None
    status: GoalStatus | None = None
    start_date: dt.date | None = None
    status_date: dt.date | None = None


class ActionInput(_Input):
    """A new action: who does what by when (a named carer, professional or service)."""

    performer: Performer
    description: str = Field(min_length=1)
    performer_name: str | None = Field(default=None, max_length=200)
    performer_user_id: int | None = None
    due_date: dt.date | None = None
    goal_id: int | None = None
    status: ActionStatus = ActionStatus.not_started


class ActionChanges(_Input):
    performer: Performer | None = None
    description: str | None = Field(default=None, min_length=1)
    performer_name: str | None = Field(default=None, max_length=200)
    performer_user_id: int | None = None
    due_date: dt.date | None = None
    goal_id: int | None = None
    status: ActionStatus | None = None


class NeedInput(_Input):
    domain: NeedDomain
    description: str = Field(min_length=1)
    status: NeedStatus = NeedStatus.active


class NeedChanges(_Input):
    domain: NeedDomain | None = None
    description: str | None = Field(default=None, min_length=1)
    status: NeedStatus | None = None


class ParticipantInput(_Input):
    """Someone who took part in the conversation (a user, or a named carer or other)."""

    role: ParticipantRole
    name: str = Field(min_length=1, max_length=200)
    user_id: int | None = None


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], value: M | Mapping[str, Any]) -> M:
    """`value` as a `model`, or `InvalidChange` naming the first bad field."""
    if isinstance(value, model):
        return value
    if not isinstance(value, Mapping):
        raise InvalidChange(model.__name__, f"expected an object, got {type(value).__name__}")
    try:
        return model.model_validate(dict(value))
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or model.__name__
        message = "unknown field" if first["type"] == "extra_forbidden" else first["msg"]
        raise InvalidChange(field, message) from None


def given(changes: BaseModel) -> dict[str, Any]:
    """Only the fields the caller actually set (so None can mean 'clear this')."""
    return {name: getattr(changes, name) for name in changes.model_fields_set}
