"""FHIR Consent: the person's consent to share their plan with a type of organisation.

Giving consent is a create; withdrawing it is an update that ends the provision period (and
needs If-Match: version 1 while given, 2 once withdrawn). A withdrawn consent is never
reopened: give a new one.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from houseofcare.api.deps import Caller, CallerDep
from houseofcare.api.errors import InvalidResource
from houseofcare.api.fhir import openapi
from houseofcare.api.fhir.http import (
    bundle,
    fhir_response,
    if_match_version,
    patient_parameter,
    refuse_unknown_parameters,
    stale,
)
from houseofcare.api.fhir.mapping import consent_from_fhir, consent_to_fhir
from houseofcare.api.fhir.resources import ConsentResource
from houseofcare.api.inputs import ResourceId
from houseofcare.api.routes.common import (
    audited_failures,
    check_person_reference,
    found_or_404,
    read_audited_body,
)
from houseofcare.careplan import consent as consent_service
from houseofcare.careplan.policy import Action
from houseofcare.careplan.reading import consent_record
from houseofcare.store.database import transaction
from houseofcare.store.models import ConsentToShare
from houseofcare.store.types import utcnow

router = APIRouter(prefix="/fhir", tags=["FHIR Consent"])
RT = "Consent"
FIELDS = {
    "organisation_type": "Consent.provision.actor[0].reference.identifier.value",
    "withdrawn_at": "Consent.provision.period.end",
}


@router.get("/Consent/{consent_id}", summary="Read a consent")
def read_consent(consent_id: ResourceId, caller: CallerDep) -> Response:
    caller.require_identifiable(audit_action="read", resource_type=RT)
    with transaction(caller.services.factory) as session:
        consent = found_or_404(
            caller, session, ConsentToShare, consent_id, resource_type=RT, audit_action="read"
        )
        caller.authorise(
            session,
            Action.consent_read,
            consent.person_id,
            audit_action="read",
            resource_type=RT,
            resource_id=consent_id,
        )
        record = consent_record(session, consent)
        caller.audit(
            session,
            action="read",
            resource_type=RT,
            resource_id=consent_id,
            person_id=consent.person_id,
        )
    return fhir_response(consent_to_fhir(record), version=record.version)


@router.get(
    "/Consent",
    summary="A person's consents (patient is required)",
    openapi_extra=openapi.CONSENT_SEARCH,
)
def search_consents(request: Request, caller: CallerDep) -> Response:
    caller.require_identifiable(audit_action="search", resource_type=RT)
    refuse_unknown_parameters(request, {"patient", "subject"})
    person_id = patient_parameter(request)
    if person_id is None:
        raise InvalidResource([("patient", "required: whose consents (patient=Patient/<id>)")])
    with transaction(caller.services.factory) as session:
        caller.authorise(
            session, Action.consent_read, person_id, audit_action="search", resource_type=RT
        )
        records = [
            consent_record(session, c) for c in consent_service.consents_of(session, person_id)
        ]
        caller.audit(session, action="search", resource_type=RT, person_id=person_id)
    entries = ((f"/fhir/Consent/{r.id}", consent_to_fhir(r)) for r in records)
    return fhir_response(bundle(request, "searchset", entries))


def _write(
    caller: Caller, resource: ConsentResource, consent_id: int | None, expected: int | None
) -> Response:
    action_name = "create" if consent_id is None else "update"
    with audited_failures(
        caller, action=action_name, resource_type=RT, resource_id=consent_id, fields=FIELDS
    ) as failure:
        content = consent_from_fhir(resource, now=utcnow())
        with transaction(caller.services.factory) as session:
            # access first, on the STORED consent's person for an update (never the body's),
            # so nothing about anybody else's record is answered before the decision
            if consent_id is None:
                person_id = content.person_id
            else:
                stored = found_or_404(
                    caller,
                    session,
                    ConsentToShare,
                    consent_id,
                    resource_type=RT,
                    audit_action=action_name,
                )
                person_id = stored.person_id
            caller.authorise(
                session,
                Action.consent_write,
                person_id,
                audit_action=action_name,
                resource_type=RT,
                resource_id=consent_id,
            )
            failure.person_id = person_id
            if content.person_id != person_id:
                # never look the body's other person up: that would answer about them
                raise InvalidResource(
                    [("Consent.patient.reference", "a consent cannot move to another person")],
                    status=422,
                )
            check_person_reference(
                caller,
                session,
                person_id,
                content.nhs_number,
                field="Consent.patient",
                resource_type=RT,
                audit_action=action_name,
            )
            if consent_id is None:
                if content.withdrawn_at is not None:
                    raise InvalidResource(
                        [("Consent.status", "give a consent as active; withdraw it by update")]
                    )
                consent = consent_service.give_consent(
                    session,
                    content.person_id,
                    content.organisation_type,
                    caller.actor,
                    given_at=content.given_at,
                )
            else:
                consent = stored
                current = consent_record(session, consent)
                if expected != current.version:
                    raise stale(RT, consent_id, expected or 0, current.version)
                _check_unchanged(consent, content)
                if content.withdrawn_at is None:
                    raise InvalidResource(
                        [("Consent.provision.period.end", "only withdrawal can be changed")]
                    )
                consent = consent_service.withdraw_consent(
                    session, consent_id, caller.actor, withdrawn_at=content.withdrawn_at
                )
            record = consent_record(session, consent)
            caller.audit(
                session,
                action=action_name,
                resource_type=RT,
                resource_id=consent.id,
                person_id=person_id,
            )
    return fhir_response(
        consent_to_fhir(record),
        status=201 if consent_id is None else 200,
        version=record.version,
        location=f"/fhir/Consent/{record.id}",
    )


def _check_unchanged(consent: ConsentToShare, content) -> None:  # type: ignore[no-untyped-def]
    problems = []
    if content.person_id != consent.person_id:
        problems.append(("Consent.patient.reference", "a consent cannot move to another person"))
    if content.organisation_type != consent.organisation_type:
        problems.append(
            (FIELDS["organisation_type"], "give a new consent for another organisation type")
        )
    if content.given_at != consent.given_at:
        problems.append(("Consent.provision.period.start", "when it was given cannot change"))
    if problems:
        raise InvalidResource(problems, status=422)


@router.post(
    "/Consent",
    status_code=201,
    summary="Record consent to share",
    openapi_extra=openapi.body(ConsentResource),
)
async def create_consent(request: Request, caller: CallerDep) -> Response:
    caller.require_identifiable(audit_action="create", resource_type=RT)
    resource = await read_audited_body(
        request, caller, ConsentResource, resource_type=RT, action="create", resource_id=None
    )
    return await run_in_threadpool(_write, caller, resource, None, None)


@router.put(
    "/Consent/{consent_id}",
    summary="Withdraw consent (If-Match required)",
    openapi_extra=openapi.body(ConsentResource, if_match=True),
)
async def update_consent(consent_id: ResourceId, request: Request, caller: CallerDep) -> Response:
    caller.require_identifiable(audit_action="update", resource_type=RT)
    expected = if_match_version(request, RT)
    resource = await read_audited_body(
        request, caller, ConsentResource, resource_type=RT, action="update", resource_id=consent_id
    )
    return await run_in_threadpool(_write, caller, resource, consent_id, expected)
