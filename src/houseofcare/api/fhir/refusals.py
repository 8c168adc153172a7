"""The care-plan services' refusals as FHIR OperationOutcomes, naming where the client wrote
the field.

The services name a field in the domain's terms (`title`, `needs`, `action.id`); a FHIR client
wrote it at a FHIRPath (`CarePlan.title`, `CarePlan.extension('need')`,
`CarePlan.activity.id`). This is the one place that maps one to the other, and each kind of
refusal to its HTTP status, so the routes stay thin and the services know nothing of FHIR.
"""

from __future__ import annotations

from typing import Final

from houseofcare.api.errors import ApiError, InvalidResource
from houseofcare.api.fhir.http import stale
from houseofcare.careplan.errors import (
    ActivePlanExists,
    CarePlanError,
    InvalidChange,
    InvalidContent,
    NotFound,
    StaleVersion,
)

#: Service field names → where the client wrote them in FHIR.
CAREPLAN_FIELDS: Final = {
    "title": "CarePlan.title",
    "status": "CarePlan.status",
    "description": "CarePlan.description",
    "care_team_id": "CarePlan.careTeam[0].reference",
    "lead_user_id": "CarePlan.author.identifier",
    "period_start": "CarePlan.period.start",
    "period_end": "CarePlan.period.end",
    "review_date": f"CarePlan.extension('{'review-date'}')",
    "participants": "CarePlan.contributor",
    "agreed_with_person": "CarePlan.extension('agreed-with-person')",
    "performer_name": "CarePlan.activity.detail.performer.display",
    "performer_user_id": "CarePlan.activity.detail.performer.identifier",
    "goal_id": "CarePlan.activity.detail.goal.reference",
    "description_action": "CarePlan.activity.detail.description",
}
GOAL_FIELDS: Final = {
    "what_matters_to_me": "Goal.description.text",
    "status": "Goal.lifecycleStatus",
    "target_measure": "Goal.target[0].measure.text",
    "target_unit": "Goal.target[0].detailQuantity.unit",
}

#: Where a whole plan or goal does not fit the stored one (`careplan.errors.InvalidContent`,
#: from `careplan.reconcile`), by the domain's name for the part.
CONTENT_FIELDS: Final = {
    "CarePlan": {
        "person_id": "CarePlan.subject.reference",
        "action.id": "CarePlan.activity.id",
        "actions": "CarePlan.activity",
        "need.id": "CarePlan.extension('need').id",
        "needs": "CarePlan.extension('need')",
    },
    "Goal": {"care_plan_id": "Goal.extension('care-plan')"},
}


def service_error(exc: CarePlanError, fields: dict[str, str], resource: str) -> ApiError:
    """A refusal from the care-plan services as an OperationOutcome naming the FHIR field.

    A whole resource that does not fit the stored one is 422 (400 when it contradicts
    itself); a stale version is 412 with the current version as the ETag, as an `If-Match`
    that no longer matches is answered everywhere.
    """
    if isinstance(exc, InvalidContent):
        where = CONTENT_FIELDS.get(resource, {}).get(exc.field, f"{resource}.{exc.field}")
        message = str(exc).split(": ", 1)[-1]
        return InvalidResource([(where, message)], status=400 if exc.malformed else 422)
    if isinstance(exc, InvalidChange):
        head = exc.field.split(".")[0]
        where = fields.get(head, f"{resource}.{exc.field}")
        message = str(exc).split(": ", 1)[-1]
        return InvalidResource([(where, message)], status=422)
    if isinstance(exc, StaleVersion):
        return stale(resource, exc.id, exc.expected, exc.current)
    if isinstance(exc, ActivePlanExists):
        return ApiError(409, str(exc), expression=[f"{resource}.status"])
    if isinstance(exc, NotFound):
        return ApiError(404, str(exc))
    return ApiError(409, str(exc))
