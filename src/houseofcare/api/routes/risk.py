"""FHIR RiskAssessment: the person's admission risk from the latest analytic run (read-only)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from houseofcare.api.deps import CallerDep
from houseofcare.api.errors import NotFound
from houseofcare.api.fhir.http import fhir_response
from houseofcare.api.inputs import ResourceId
from houseofcare.api.risk import RiskUnavailable, read_person_risk, risk_assessment
from houseofcare.api.routes.common import found_or_404
from houseofcare.careplan.policy import Action
from houseofcare.store.database import transaction
from houseofcare.store.models import AuditOutcome, Person

router = APIRouter(prefix="/fhir", tags=["FHIR RiskAssessment"])
RT = "RiskAssessment"


@router.get(
    "/RiskAssessment/{person_id}",
    summary="A person's current risk assessment (its id is the person's id)",
)
async def read_risk(person_id: ResourceId, caller: CallerDep) -> Response:
    return await run_in_threadpool(_read, person_id, caller)


def _read(person_id: int, caller: CallerDep) -> Response:
    caller.require_identifiable(audit_action="read", resource_type=RT)
    with transaction(caller.services.factory) as session:
        person = found_or_404(
            caller, session, Person, person_id, resource_type=RT, audit_action="read"
        )
        caller.authorise(
            session,
            Action.risk_read,
            person_id,
            audit_action="read",
            resource_type=RT,
            resource_id=person_id,
        )
        try:
            risk = read_person_risk(caller.services.settings, person.patient_id)
        except RiskUnavailable as exc:
            caller.audit(
                session,
                action="read",
                resource_type=RT,
                resource_id=person_id,
                person_id=person_id,
                outcome=AuditOutcome.not_found,
                detail={"reason": str(exc)},
            )
            session.commit()
            raise NotFound(f"no risk assessment for Patient/{person_id}: {exc}") from None
        resource = risk_assessment(person_id, person.nhs_number, risk)
        caller.audit(
            session, action="read", resource_type=RT, resource_id=person_id, person_id=person_id
        )
    return fhir_response(resource)
