"""The FHIR R4 resources houseofcare accepts in a request body (CarePlan, Goal, Consent).

What the server writes in a response has exactly these shapes too, so a client can read a
resource, change it and send it back. Elements the server manages (`meta`, `created`, the
`goal` list and `note` of a CarePlan) are accepted for that reason and then ignored; every
other element is either stored or refused.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import Field

from houseofcare.api.fhir.datatypes import (
    Annotation,
    CodeableConcept,
    DateTime,
    DateTimePeriod,
    Extension,
    FhirId,
    Meta,
    Period,
    Quantity,
    Reference,
    ShortText,
    Strict,
    Text,
)
from houseofcare.store.models import ActionStatus, CarePlanStatus, GoalStatus

CarePlanStatusCode = Literal[tuple(s.value for s in CarePlanStatus)]  # type: ignore[valid-type]
GoalStatusCode = Literal[tuple(s.value for s in GoalStatus)]  # type: ignore[valid-type]
ActionStatusCode = Literal[tuple(s.value for s in ActionStatus)]  # type: ignore[valid-type]


class ActivityDetail(Strict):
    kind: Literal["Task"] = "Task"
    status: ActionStatusCode
    description: Text
    scheduledPeriod: Period | None = None
    performer: list[Reference] | None = None
    goal: list[Reference] | None = None


class Activity(Strict):
    #: The action's id, so an update changes that action rather than adding a new one.
    id: FhirId | None = None
    detail: ActivityDetail


class CarePlanResource(Strict):
    """The person's one holistic care plan (UK Core CarePlan shape)."""

    resourceType: Literal["CarePlan"]
    id: FhirId | None = None
    meta: Meta | None = None
    extension: list[Extension] | None = None
    status: CarePlanStatusCode
    intent: Literal["plan"]
    #: As long as the store's column (care_plan.title, 200 characters).
    title: Annotated[ShortText, Field(max_length=200)]
    description: Text | None = None
    subject: Reference
    period: Period | None = None
    created: DateTime | None = None
    author: Reference | None = None
    contributor: list[Reference] | None = None
    careTeam: list[Reference] | None = None
    goal: list[Reference] | None = None
    activity: list[Activity] | None = None
    note: list[Annotation] | None = None


class GoalTarget(Strict):
    measure: CodeableConcept | None = None
    detailQuantity: Quantity | None = None
    dueDate: dt.date | None = None


class GoalResource(Strict):
    """A goal in the person's own words ("what matters to me"), with a target if there is one."""

    resourceType: Literal["Goal"]
    id: FhirId | None = None
    meta: Meta | None = None
    extension: list[Extension] | None = None
    lifecycleStatus: GoalStatusCode
    description: CodeableConcept
    subject: Reference
    startDate: dt.date | None = None
    statusDate: dt.date | None = None
    target: list[GoalTarget] | None = None


class ConsentActor(Strict):
    role: CodeableConcept
    reference: Reference


class ConsentProvision(Strict):
    type: Literal["permit"]
    period: DateTimePeriod | None = None
    actor: list[ConsentActor]


class ConsentResource(Strict):
    """The person's consent to share their care plan with one type of organisation."""

    resourceType: Literal["Consent"]
    id: FhirId | None = None
    meta: Meta | None = None
    status: Literal["active", "inactive"]
    scope: CodeableConcept
    category: list[CodeableConcept]
    patient: Reference
    dateTime: DateTime | None = None
    provision: ConsentProvision
