"""FHIR Patient (UK Core shaped): read, and search by NHS number."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select
from starlette.responses import Response

from houseofcare.api.deps import CallerDep
from houseofcare.api.errors import Forbidden, InvalidResource
from houseofcare.api.fhir import openapi
from houseofcare.api.fhir.datatypes import NHS_NUMBER_SYSTEM, ODS_SYSTEM
from houseofcare.api.fhir.http import bundle, fhir_response, refuse_unknown_parameters
from houseofcare.api.inputs import ResourceId
from houseofcare.api.routes.common import found_or_404
from houseofcare.careplan.policy import Action
from houseofcare.nhs_number import InvalidNHSNumber, normalise_nhs_number
from houseofcare.store.database import transaction
from houseofcare.store.models import AuditOutcome, Organisation, Person

router = APIRouter(prefix="/fhir", tags=["FHIR Patient"])
RT = "Patient"


def patient_resource(person: Person, practice: Organisation | None) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": str(person.id),
        "identifier": [{"system": NHS_NUMBER_SYSTEM, "value": person.nhs_number}],
    }
    name = {
        k: v
        for k, v in (
            ("family", person.family_name),
            ("given", [person.given_name] if person.given_name else None),
        )
        if v
    }
    if name:
        resource["name"] = [{"use": "official", **name}]
    if person.gender:
        resource["gender"] = person.gender
    if person.birth_date:
        resource["birthDate"] = person.birth_date.isoformat()
    if practice is not None:
        resource["generalPractitioner"] = [
            {
                "reference": f"Organization/{practice.id}",
                "identifier": {"system": ODS_SYSTEM, "value": practice.ods_code},
                "display": practice.name,
            }
        ]
    return resource


@router.get("/Patient/{person_id}", summary="Read a person's demographic record")
def read_patient(person_id: ResourceId, caller: CallerDep) -> Response:
    caller.require_identifiable(audit_action="read", resource_type=RT)
    with transaction(caller.services.factory) as session:
        person = found_or_404(
            caller, session, Person, person_id, resource_type=RT, audit_action="read"
        )
        caller.authorise(
            session,
            Action.patient_read,
            person_id,
            audit_action="read",
            resource_type=RT,
            resource_id=person_id,
        )
        resource = patient_resource(person, person.practice)
        caller.audit(
            session, action="read", resource_type=RT, resource_id=person_id, person_id=person_id
        )
    return fhir_response(resource)


@router.get("/Patient", summary="Find a person by NHS number", openapi_extra=openapi.PATIENT_SEARCH)
def search_patients(request: Request, caller: CallerDep) -> Response:
    """`identifier=https://fhir.nhs.uk/Id/nhs-number|9434765919` (the system may be left out).

    Someone the user may not see is not returned (and the refusal is audited), so a search
    never discloses who is known here.
    """
    caller.require_identifiable(audit_action="search", resource_type=RT)
    refuse_unknown_parameters(request, {"identifier"})
    raw = request.query_params.get("identifier")
    if not raw:
        raise InvalidResource([("identifier", f"required: {NHS_NUMBER_SYSTEM}|<NHS number>")])
    system, bar, value = raw.rpartition("|")
    if bar and system != NHS_NUMBER_SYSTEM:
        raise InvalidResource([("identifier", f"the system must be {NHS_NUMBER_SYSTEM}")])
    try:
        number = normalise_nhs_number(value)
    except InvalidNHSNumber as exc:
        raise InvalidResource([("identifier", str(exc))]) from None
    matches: list[dict[str, Any]] = []
    with transaction(caller.services.factory) as session:
        person = session.scalar(select(Person).where(Person.nhs_number == number))
        if person is None:
            caller.audit(session, action="search", resource_type=RT, outcome=AuditOutcome.not_found)
        else:
            try:
                caller.authorise(
                    session, Action.patient_read, person.id, audit_action="search", resource_type=RT
                )
            except Forbidden:
                person = None
            if person is not None:
                matches.append(patient_resource(person, person.practice))
                caller.audit(session, action="search", resource_type=RT, person_id=person.id)
    entries = ((f"/fhir/Patient/{m['id']}", m) for m in matches)
    return fhir_response(bundle(request, "searchset", entries))
