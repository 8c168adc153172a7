"""FHIR ServiceRequest (issue 13): a referral from a care-plan action to a service.

Read, search (patient, status = FHIR status, business-status = our referral status,
performer = the receiving Organization), create from the plan (`POST`), and the moves of the
referral flow as an operation, `POST /fhir/ServiceRequest/{id}/$transition` with a FHIR
`Parameters` body (`businessStatus`, and `note` for a reason or outcome) and `If-Match`:
a referral's status is not edited as a whole resource (a `PUT` could skip a move the flow
forbids), it is moved. Thin over `selfcare/referrals.py`, which decides and audits.

The mapping (docs/fhir-profile.md): status active (sent, accepted, attended) / revoked
(declined, or withdrawn before an answer) / completed (closed after an answer, did not
attend); intent order; subject Patient; requester the referrer (Practitioner display and
their Organization); performer the HealthcareService (and its Organization); basedOn the
CarePlan; supportingInfo the plan's action (`CarePlan/{id}#activity-{action}` as text);
reasonCode the need domain; note what matters to the person, the decline reason and the
outcome; the extension `business-status` (R5's businessStatus, as an R4 extension) our
referral status. A receiver without the person's consent gets the subject as a display
only ("not shared"), no reason, no plan.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final, Literal

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from houseofcare.api.deps import CallerDep
from houseofcare.api.errors import InvalidResource
from houseofcare.api.fhir.datatypes import (
    HOC,
    NHS_NUMBER_SYSTEM,
    Annotation,
    CodeableConcept,
    Extension,
    FhirId,
    Meta,
    Reference,
    ShortText,
    Strict,
    Text,
    reference_id,
)
from houseofcare.api.fhir.http import (
    bundle,
    fhir_response,
    id_parameter,
    if_match_version,
    patient_parameter,
    refuse_unknown_parameters,
    search_count,
)
from houseofcare.api.fhir.refusals import service_error
from houseofcare.api.inputs import ResourceId
from houseofcare.api.routes.common import audited_failures, read_audited_body
from houseofcare.careplan.errors import CarePlanError
from houseofcare.careplan.policy import Action
from houseofcare.selfcare import referrals
from houseofcare.selfcare.referrals import ReferralView
from houseofcare.store.models import ReferralStatus

router = APIRouter(prefix="/fhir", tags=["FHIR ServiceRequest"])
RT: Final = "ServiceRequest"
NEED_DOMAIN_SYSTEM: Final = f"{HOC}/CodeSystem/need-domain"
BUSINESS_STATUS_URL: Final = f"{HOC}/StructureDefinition/business-status"
BUSINESS_STATUS_SYSTEM: Final = f"{HOC}/CodeSystem/referral-status"
ACTION_URL: Final = f"{HOC}/StructureDefinition/care-plan-action"

#: Our referral status → FHIR ServiceRequest.status.
FHIR_STATUS: Final[dict[ReferralStatus, str]] = {
    ReferralStatus.sent: "active",
    ReferralStatus.accepted: "active",
    ReferralStatus.attended: "active",
    ReferralStatus.declined: "revoked",
    ReferralStatus.did_not_attend: "completed",
    ReferralStatus.closed: "completed",
}
FIELDS: Final = {
    "service_id": "ServiceRequest.performer",
    "need_domain": "ServiceRequest.reasonCode",
    "care_plan": "ServiceRequest.basedOn",
    "action_id": f"ServiceRequest.extension('{ACTION_URL}')",
    "reason": "Parameters.parameter('note')",
    "status": "Parameters.parameter('businessStatus')",
}


def _fhir_status(view: ReferralView) -> str:
    if view.status is ReferralStatus.closed and not view.accepted_at:
        return "revoked"  # withdrawn before the service answered, or closed after a decline
    return FHIR_STATUS[view.status]


def servicerequest_to_fhir(view: ReferralView) -> dict[str, Any]:
    """One referral as a FHIR R4 ServiceRequest (as far as the reader may see the person)."""
    resource: dict[str, Any] = {
        "resourceType": RT,
        "id": str(view.id),
        "meta": {"versionId": str(view.version), "lastUpdated": view.updated_at.isoformat()},
        "extension": [
            {
                "url": BUSINESS_STATUS_URL,
                "valueCodeableConcept": {
                    "coding": [{"system": BUSINESS_STATUS_SYSTEM, "code": view.status.value}],
                    "text": view.status_words,
                },
            }
        ],
        "identifier": [{"system": f"{HOC}/Id/referral", "value": view.reference}],
        "status": _fhir_status(view),
        "intent": "order",
        "authoredOn": view.sent_at.isoformat(),
        "performer": [
            {"reference": f"HealthcareService/{view.service_id}", "display": view.service_name},
            *(
                [
                    {
                        "reference": f"Organization/{view.service_organisation_id}",
                        "display": view.organisation_name,
                    }
                ]
                if view.service_organisation_id is not None
                else []
            ),
        ],
    }
    if view.referrer_name or view.referrer_organisation:
        resource["requester"] = {
            "display": ", ".join(x for x in (view.referrer_name, view.referrer_organisation) if x)
        }
    notes = []
    person = view.person
    if person is None:
        resource["subject"] = {
            "display": "Not shared: the person has not consented to share with this organisation"
        }
    else:
        resource["subject"] = {
            "reference": f"Patient/{person.person_id}",
            "identifier": {"system": NHS_NUMBER_SYSTEM, "value": person.nhs_number},
            "display": person.name,
        }
        if person.need_domain:
            resource["reasonCode"] = [
                {"coding": [{"system": NEED_DOMAIN_SYSTEM, "code": person.need_domain}]}
            ]
        if person.reason:
            notes.append({"text": person.reason})
    if view.care_plan_id is not None:
        resource["basedOn"] = [{"reference": f"CarePlan/{view.care_plan_id}"}]
    if view.action_id is not None:
        resource["extension"].append({"url": ACTION_URL, "valueString": str(view.action_id)})
    if view.decline_reason:
        notes.append({"text": f"Declined: {view.decline_reason}"})
    if view.outcome:
        notes.append({"text": f"Outcome: {view.outcome}"})
    if notes:
        resource["note"] = notes
    return resource


class ServiceRequestResource(Strict):
    """A new referral: subject, performer (the HealthcareService), basedOn (the active
    CarePlan, optional), reasonCode (the need domain), note (what matters to the person),
    and optionally the plan's action it comes from (extension care-plan-action)."""

    resourceType: Literal["ServiceRequest"]
    id: FhirId | None = None
    meta: Meta | None = None
    extension: list[Extension] | None = None
    status: Literal["active", "draft"] = "active"
    intent: Literal["order"]
    subject: Reference
    performer: list[Reference]
    basedOn: list[Reference] | None = None
    reasonCode: list[CodeableConcept] | None = None
    note: list[Annotation] | None = None


class Parameter(Strict):
    name: ShortText
    valueCode: ShortText | None = None
    valueString: Text | None = None


class ParametersResource(Strict):
    """The `$transition` body: businessStatus (the referral status to move to) and note."""

    resourceType: Literal["Parameters"]
    parameter: list[Parameter]


@contextmanager
def _audited_once() -> Iterator[None]:
    """A refusal the referral service has audited already (stale, full, a move not in the
    flow) goes back as its FHIR error without a second audit event."""
    try:
        yield
    except CarePlanError as exc:
        if not getattr(exc, "audited", False):
            raise
        error = service_error(exc, FIELDS, RT)
        error.audited = True
        raise error from None


def _view_response(view: ReferralView, *, status: int = 200) -> Response:
    location = f"/fhir/ServiceRequest/{view.id}" if status == 201 else None
    return fhir_response(
        servicerequest_to_fhir(view), status=status, version=view.version, location=location
    )


@router.get("/ServiceRequest/{referral_id}", summary="Read a referral")
def read_servicerequest(referral_id: ResourceId, caller: CallerDep) -> Response:
    caller.require_identifiable(audit_action="read", resource_type=RT)
    with audited_failures(caller, action="read", resource_type=RT, resource_id=referral_id):
        view = referrals.get_referral(caller, referral_id)
    return _view_response(view)


@router.get("/ServiceRequest", summary="Search referrals by patient, status and performer")
def search_servicerequests(request: Request, caller: CallerDep) -> Response:
    caller.require_identifiable(audit_action="search", resource_type=RT)
    refuse_unknown_parameters(
        request, {"patient", "subject", "status", "business-status", "performer"}
    )
    count = search_count(request)
    person_id = patient_parameter(request)
    organisation_id = id_parameter(request, "performer", "Organization")
    raw_status = request.query_params.get("business-status")
    fhir_status = request.query_params.get("status")
    if raw_status is not None and raw_status not in {s.value for s in ReferralStatus}:
        raise InvalidResource([("business-status", f"{raw_status!r} is not a referral status")])
    if fhir_status is not None and fhir_status not in set(FHIR_STATUS.values()):
        raise InvalidResource([("status", f"{fhir_status!r} is not a ServiceRequest status")])
    with audited_failures(caller, action="search", resource_type=RT):
        if person_id is not None:
            with caller.factory() as session:
                caller.authorise(
                    session,
                    Action.referral_read,
                    person_id,
                    audit_action="search",
                    resource_type=RT,
                )
        views = referrals.search(
            caller,
            person_id=person_id,
            status=None if raw_status is None else ReferralStatus(raw_status),
            organisation_id=organisation_id,
            limit=count if fhir_status is None else 500,
        )
    if fhir_status is not None:
        views = [v for v in views if _fhir_status(v) == fhir_status][:count]
    result = bundle(
        request,
        "searchset",
        ((f"/fhir/ServiceRequest/{v.id}", servicerequest_to_fhir(v)) for v in views),
    )
    return fhir_response(result)


def _create(caller: Any, body: ServiceRequestResource) -> ReferralView:
    problems: list[tuple[str, str]] = []
    person = reference_id(body.subject, "Patient")
    if person is None or not person.isdigit():
        problems.append(("ServiceRequest.subject.reference", "must be Patient/<id>"))
    service = next(
        (s for s in (reference_id(p, "HealthcareService") for p in body.performer) if s), None
    )
    if service is None or not service.isdigit():
        problems.append(("ServiceRequest.performer", "name the service as HealthcareService/<id>"))
    domain = None
    for concept in body.reasonCode or []:
        for coding in concept.coding or []:
            if coding.system == NEED_DOMAIN_SYSTEM:
                domain = coding.code
    action = None
    for extension in body.extension or []:
        if extension.url == ACTION_URL:
            action = extension.valueString
            if action is None or not action.isdigit():
                problems.append((f"ServiceRequest.extension('{ACTION_URL}')", "an action id"))
        else:
            problems.append(("ServiceRequest.extension", f"unknown extension {extension.url}"))
    reason = "\n".join(n.text for n in body.note or []) or None
    if problems:
        raise InvalidResource(problems)
    assert person is not None and service is not None
    view = referrals.send(
        caller,
        person_id=int(person),
        service_id=int(service),
        reason=reason,
        need_domain=domain,
        action_id=None if action is None else int(action),
    )
    plan = next((reference_id(b, "CarePlan") for b in body.basedOn or []), None)
    if plan is not None and view.care_plan_id is not None and plan != str(view.care_plan_id):
        # the referral was sent from the active plan; say so rather than pretend otherwise
        raise InvalidResource(
            [("ServiceRequest.basedOn", f"the active care plan is CarePlan/{view.care_plan_id}")],
            status=422,
        )
    return view


@router.post(
    "/ServiceRequest", summary="Send a referral from the person's care plan", status_code=201
)
async def create_servicerequest(request: Request, caller: CallerDep) -> Response:
    await run_in_threadpool(caller.require_identifiable, audit_action="create", resource_type=RT)
    body = await read_audited_body(
        request, caller, ServiceRequestResource, resource_type=RT, action="create", resource_id=None
    )

    def work() -> ReferralView:
        with (
            audited_failures(caller, action="create", resource_type=RT, fields=FIELDS),
            _audited_once(),
        ):
            return _create(caller, body)

    view = await run_in_threadpool(work)
    return _view_response(view, status=201)


@router.post(
    "/ServiceRequest/{referral_id}/$transition",
    summary="Move a referral (accept, decline, attended, did not attend, close, withdraw)",
)
async def transition_servicerequest(
    referral_id: ResourceId, request: Request, caller: CallerDep
) -> Response:
    await run_in_threadpool(caller.require_identifiable, audit_action="update", resource_type=RT)
    expected = if_match_version(request, RT)
    body = await read_audited_body(
        request,
        caller,
        ParametersResource,
        resource_type=RT,
        action="update",
        resource_id=referral_id,
    )
    values = {p.name: p.valueCode or p.valueString for p in body.parameter}
    unknown = sorted(set(values) - {"businessStatus", "note"})
    if unknown or not values.get("businessStatus"):
        raise InvalidResource(
            [
                (
                    "Parameters.parameter",
                    "give businessStatus (and note); unknown: " + ", ".join(unknown),
                )
            ]
        )

    def work() -> ReferralView:
        with (
            audited_failures(
                caller, action="update", resource_type=RT, resource_id=referral_id, fields=FIELDS
            ),
            _audited_once(),
        ):
            return referrals.move(
                caller,
                referral_id,
                values["businessStatus"] or "",
                expected_version=expected,
                note=values.get("note"),
            )

    view = await run_in_threadpool(work)
    return _view_response(view)
