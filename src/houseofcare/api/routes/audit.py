"""FHIR AuditEvent: who saw or changed whose record (administrators only; read-only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from houseofcare.api.deps import CallerDep
from houseofcare.api.fhir import openapi
from houseofcare.api.fhir.http import (
    bundle,
    fhir_response,
    id_parameter,
    refuse_unknown_parameters,
    search_count,
)
from houseofcare.api.inputs import ResourceId
from houseofcare.api.routes.common import found_or_404
from houseofcare.careplan.policy import Action
from houseofcare.store.audit import audit_events
from houseofcare.store.database import transaction
from houseofcare.store.models import AuditEvent

router = APIRouter(prefix="/fhir", tags=["FHIR AuditEvent"])
RT = "AuditEvent"
#: Our actions as FHIR AuditEvent.action codes (C create, R read, U update, E execute).
ACTION_CODE = {
    "create": "C",
    "update": "U",
    "read": "R",
    "vread": "R",
    "search": "E",
    "history": "R",
}
OUTCOME_CODE = {
    "success": "0",
    "denied": "4",
    "not_found": "4",
    "invalid": "4",
    "conflict": "4",
    "error": "8",
}


def audit_resource(event: AuditEvent) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": str(event.id),
        "type": {
            "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
            "code": "rest",
            "display": "RESTful Operation",
        },
        "subtype": [{"code": event.action}],
        "action": ACTION_CODE.get(event.action, "E"),
        "recorded": event.occurred_at.isoformat(),
        "outcome": OUTCOME_CODE.get(event.outcome.value, "8"),
        "outcomeDesc": event.outcome.value,
        "agent": [
            {
                "who": {
                    "identifier": {
                        "system": "https://houseofcare.org.uk/fhir/Id/user",
                        "value": str(event.user_id) if event.user_id is not None else "",
                    },
                    "display": event.username or "unknown",
                },
                "role": [{"text": event.role or "none"}],
                "requestor": True,
            }
        ],
        "source": {"observer": {"display": "houseofcare"}},
    }
    entity: dict[str, Any] = {"type": {"code": event.resource_type}}
    if event.resource_id is not None:
        entity["what"] = {"reference": f"{event.resource_type}/{event.resource_id}"}
    if event.detail:
        entity["description"] = str(event.detail)[:1000]
    resource["entity"] = [entity]
    if event.person_id is not None:
        resource["entity"].append(
            {
                "what": {"reference": f"Patient/{event.person_id}"},
                "role": {"code": "1", "display": "Patient"},
            }
        )
    return resource


@router.get("/AuditEvent/{event_id}", summary="Read one audit event (admin)")
def read_audit_event(event_id: ResourceId, caller: CallerDep) -> Response:
    with transaction(caller.services.factory) as session:
        caller.authorise(
            session,
            Action.audit_read,
            None,
            audit_action="read",
            resource_type=RT,
            resource_id=event_id,
        )
        event = found_or_404(
            caller, session, AuditEvent, event_id, resource_type=RT, audit_action="read"
        )
        resource = audit_resource(event)
        caller.audit(session, action="read", resource_type=RT, resource_id=event_id)
    return fhir_response(resource)


@router.get(
    "/AuditEvent",
    summary="Search the audit trail, newest first (admin)",
    openapi_extra=openapi.AUDIT_SEARCH,
)
def search_audit_events(request: Request, caller: CallerDep) -> Response:
    """`patient=Patient/<id>`, `agent=<user id>`, `entity-type=CarePlan`, `_count`."""
    refuse_unknown_parameters(request, {"patient", "agent", "entity-type"})
    count = search_count(request, default=100, maximum=1000)
    params = request.query_params
    filters: dict[str, Any] = {}
    for name, key, kind in (("patient", "person_id", "Patient"), ("agent", "user_id", None)):
        if name in params:
            filters[key] = id_parameter(request, name, kind)
    if "entity-type" in params:
        filters["resource_type"] = params["entity-type"]
    with transaction(caller.services.factory) as session:
        caller.authorise(session, Action.audit_read, None, audit_action="search", resource_type=RT)
        events = audit_events(session, limit=count, **filters)
        resources = [audit_resource(e) for e in events]
        caller.audit(session, action="search", resource_type=RT, detail={"filters": filters})
    entries = ((f"/fhir/AuditEvent/{r['id']}", r) for r in resources)
    return fhir_response(bundle(request, "searchset", entries))
