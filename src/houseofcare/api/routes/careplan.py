"""FHIR CarePlan: create, read, update (If-Match), search by patient/status, history."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from houseofcare.api.deps import Caller, CallerDep
from houseofcare.api.errors import InvalidResource, NotFound
from houseofcare.api.fhir import openapi
from houseofcare.api.fhir.http import (
    bundle,
    fhir_response,
    if_match_version,
    patient_parameter,
    refuse_unknown_parameters,
    search_count,
)
from houseofcare.api.fhir.mapping import careplan_from_fhir, careplan_to_fhir
from houseofcare.api.fhir.refusals import CAREPLAN_FIELDS
from houseofcare.api.fhir.resources import CarePlanResource
from houseofcare.api.inputs import ResourceId, VersionId
from houseofcare.api.routes.common import (
    audited_failures,
    check_person_reference,
    found_or_404,
    invalid,
    read_audited_body,
)
from houseofcare.careplan import reading
from houseofcare.careplan.errors import CarePlanError
from houseofcare.careplan.partners import is_partner, shared_record
from houseofcare.careplan.policy import Action
from houseofcare.careplan.reconcile import create_plan, update_plan
from houseofcare.careplan.records import (
    CarePlanContent,
    CarePlanRecord,
)
from houseofcare.store.database import transaction
from houseofcare.store.models import CarePlan, CarePlanStatus

router = APIRouter(prefix="/fhir", tags=["FHIR CarePlan"])
RT = "CarePlan"


@router.get("/CarePlan/{plan_id}", summary="Read a care plan")
def read_careplan(plan_id: ResourceId, caller: CallerDep) -> Response:
    caller.require_identifiable(audit_action="read", resource_type=RT)
    reader = caller.services.plan_reader
    partner = is_partner(caller.services.policy, caller.actor.role)
    if reader is not None and not partner:
        # PostgreSQL: access check, audit row and plan in one statement (pg_read); a
        # missing plan or a refusal comes back None and is answered and audited below
        fast = reader.read(caller.actor, plan_id)
        if fast is not None:
            return fhir_response(careplan_to_fhir(fast), version=fast.version)
    with transaction(caller.services.factory) as session:
        head = reading.plan_head(session, plan_id)
        if head is None:
            found_or_404(caller, session, CarePlan, plan_id, resource_type=RT, audit_action="read")
        assert head is not None
        caller.authorise(
            session,
            Action.careplan_read,
            head["person_id"],
            audit_action="read",
            resource_type=RT,
            resource_id=plan_id,
        )
        record = reading.careplan_record_from_head(session, head)
        if partner:  # what the person's consent shares, no more (H-054)
            record = shared_record(session, record, caller.actor)
        caller.audit(
            session,
            action="read",
            resource_type=RT,
            resource_id=plan_id,
            person_id=head["person_id"],
        )
    return fhir_response(careplan_to_fhir(record), version=record.version)


@router.get(
    "/CarePlan",
    summary="Search care plans by patient and/or status",
    openapi_extra=openapi.CAREPLAN_SEARCH,
)
def search_careplans(request: Request, caller: CallerDep) -> Response:
    caller.require_identifiable(audit_action="search", resource_type=RT)
    refuse_unknown_parameters(request, {"patient", "subject", "status"})
    count = search_count(request)
    person_id = patient_parameter(request)
    status = request.query_params.get("status")
    if status is not None and status not in {s.value for s in CarePlanStatus}:
        raise InvalidResource([("status", f"{status!r} is not a CarePlan status")])
    with transaction(caller.services.factory) as session:
        if person_id is not None:
            caller.authorise(
                session, Action.careplan_read, person_id, audit_action="search", resource_type=RT
            )
        elif not caller.services.policy.granted(caller.actor.role, Action.careplan_read):
            caller.authorise(
                session, Action.careplan_read, None, audit_action="search", resource_type=RT
            )
        records = reading.find_plans(
            session,
            visible=caller.visible_people(Action.careplan_read),
            person_id=person_id,
            status=None if status is None else CarePlanStatus(status),
            limit=count,
        )
        if is_partner(caller.services.policy, caller.actor.role):
            records = [shared_record(session, r, caller.actor) for r in records]
        caller.audit_people(
            session, (r.content.person_id for r in records), action="search", resource_type=RT
        )
    result = bundle(
        request, "searchset", ((f"/fhir/CarePlan/{r.id}", careplan_to_fhir(r)) for r in records)
    )
    return fhir_response(result)


def _write(
    caller: Caller, resource: CarePlanResource, plan_id: int | None, expected: int | None
) -> Response:
    action_name = "create" if plan_id is None else "update"
    services = caller.services
    with audited_failures(
        caller, action=action_name, resource_type=RT, resource_id=plan_id, fields=CAREPLAN_FIELDS
    ) as failure:
        content = careplan_from_fhir(resource)
        updater = services.plan_updater
        if updater is not None and plan_id is not None:
            # PostgreSQL, a change to the plan's own fields: checked, written, versioned and
            # audited in two round trips (pg_update); None (nothing written) for
            # anything else, which the services below answer and audit
            assert expected is not None
            fast = updater.update(caller.actor, plan_id, expected, content)
            if fast is not None:
                return _written(fast, created=False)
        with transaction(services.factory) as session:
            if plan_id is not None:
                plan = found_or_404(
                    caller, session, CarePlan, plan_id, resource_type=RT, audit_action="update"
                )
                person_id = plan.person_id
            else:
                person_id = content.person_id
            # access first, then anything that looks at the record (the subject's NHS
            # number), so a refused user learns nothing about whose number is whose
            caller.authorise(
                session,
                Action.careplan_write,
                person_id,
                audit_action=action_name,
                resource_type=RT,
                resource_id=plan_id,
            )
            failure.person_id = person_id
            if content.person_id == person_id:
                # a body naming another person is refused below without looking them up
                _check_subject(caller, session, content, action_name)
            if plan_id is not None:
                assert expected is not None
                plan = update_plan(session, plan_id, expected, content, caller.actor)
            else:
                plan = create_plan(session, content, caller.actor)
            record = reading.careplan_record(session, plan)
            caller.audit(
                session,
                action=action_name,
                resource_type=RT,
                resource_id=plan.id,
                person_id=person_id,
                detail={"version": record.version},
            )
    return _written(record, created=plan_id is None)


def _written(record: CarePlanRecord, *, created: bool) -> Response:
    return fhir_response(
        careplan_to_fhir(record),
        status=201 if created else 200,
        version=record.version,
        location=f"/fhir/CarePlan/{record.id}/_history/{record.version}",
    )


def _check_subject(caller: Caller, session: Session, content: CarePlanContent, action: str) -> None:
    check_person_reference(
        caller,
        session,
        content.person_id,
        content.nhs_number,
        field="CarePlan.subject",
        resource_type=RT,
        audit_action=action,
    )


@router.post(
    "/CarePlan",
    status_code=201,
    summary="Create a care plan",
    openapi_extra=openapi.body(CarePlanResource),
)
async def create_careplan(request: Request, caller: CallerDep) -> Response:
    caller.require_identifiable(audit_action="create", resource_type=RT)
    resource = await read_audited_body(
        request, caller, CarePlanResource, resource_type=RT, action="create", resource_id=None
    )
    if resource.id is not None:
        await run_in_threadpool(
            invalid,
            caller,
            "create",
            RT,
            None,
            [("CarePlan.id", "the server assigns the id; leave it out")],
        )
    return await run_in_threadpool(_write, caller, resource, None, None)


@router.put(
    "/CarePlan/{plan_id}",
    summary="Update a care plan (If-Match required)",
    openapi_extra=openapi.body(CarePlanResource, if_match=True),
)
async def update_careplan(plan_id: ResourceId, request: Request, caller: CallerDep) -> Response:
    caller.require_identifiable(audit_action="update", resource_type=RT)
    expected = if_match_version(request, RT)
    resource = await read_audited_body(
        request, caller, CarePlanResource, resource_type=RT, action="update", resource_id=plan_id
    )
    if resource.id is not None and resource.id != str(plan_id):
        await run_in_threadpool(
            invalid,
            caller,
            "update",
            RT,
            None,
            [
                (
                    "CarePlan.id",
                    f"the body is CarePlan/{resource.id} but the URL is CarePlan/{plan_id}",
                )
            ],
        )
    return await run_in_threadpool(_write, caller, resource, plan_id, expected)


@router.get("/CarePlan/{plan_id}/_history", summary="Every version of a care plan")
def careplan_history(plan_id: ResourceId, request: Request, caller: CallerDep) -> Response:
    caller.require_identifiable(audit_action="history", resource_type=RT)
    with transaction(caller.services.factory) as session:
        plan = found_or_404(
            caller, session, CarePlan, plan_id, resource_type=RT, audit_action="history"
        )
        caller.authorise(
            session,
            Action.careplan_read,
            plan.person_id,
            audit_action="history",
            resource_type=RT,
            resource_id=plan_id,
        )
        records = reading.plan_versions(session, plan_id, plan.person_id)
        if is_partner(caller.services.policy, caller.actor.role):
            records = [shared_record(session, r, caller.actor, with_notes=False) for r in records]
        caller.audit(
            session,
            action="history",
            resource_type=RT,
            resource_id=plan_id,
            person_id=plan.person_id,
        )
    entries = (
        (f"/fhir/CarePlan/{plan_id}/_history/{r.version}", careplan_to_fhir(r)) for r in records
    )
    return fhir_response(bundle(request, "history", entries))


@router.get("/CarePlan/{plan_id}/_history/{version}", summary="One version of a care plan")
def careplan_vread(plan_id: ResourceId, version: VersionId, caller: CallerDep) -> Response:
    caller.require_identifiable(audit_action="vread", resource_type=RT)
    with transaction(caller.services.factory) as session:
        plan = found_or_404(
            caller, session, CarePlan, plan_id, resource_type=RT, audit_action="vread"
        )
        caller.authorise(
            session,
            Action.careplan_read,
            plan.person_id,
            audit_action="vread",
            resource_type=RT,
            resource_id=plan_id,
        )
        try:
            record = reading.plan_at_version(session, plan_id, version, plan.person_id)
        except CarePlanError:
            raise NotFound(f"CarePlan/{plan_id} has no version {version}") from None
        if is_partner(caller.services.policy, caller.actor.role):
            record = shared_record(session, record, caller.actor, with_notes=False)
        caller.audit(
            session,
            action="vread",
            resource_type=RT,
            resource_id=plan_id,
            person_id=plan.person_id,
            detail={"version": version},
        )
    return fhir_response(careplan_to_fhir(record), version=record.version)
