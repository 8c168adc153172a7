"""FHIR Goal: what matters to the person, in their words; create, read, update, search, history."""

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
from houseofcare.api.fhir.mapping import goal_from_fhir, goal_to_fhir
from houseofcare.api.fhir.refusals import GOAL_FIELDS
from houseofcare.api.fhir.resources import GoalResource
from houseofcare.api.inputs import ResourceId, VersionId
from houseofcare.api.routes.common import (
    audited_failures,
    check_person_reference,
    found_or_404,
    read_audited_body,
)
from houseofcare.careplan import plans, reading
from houseofcare.careplan.errors import CarePlanError
from houseofcare.careplan.policy import Action
from houseofcare.careplan.reconcile import create_goal, update_goal
from houseofcare.careplan.records import GoalContent
from houseofcare.store.database import transaction
from houseofcare.store.models import CarePlan, Goal, GoalStatus

router = APIRouter(prefix="/fhir", tags=["FHIR Goal"])
RT = "Goal"


@router.get("/Goal/{goal_id}", summary="Read a goal")
def read_goal(goal_id: ResourceId, caller: CallerDep) -> Response:
    caller.require_identifiable(audit_action="read", resource_type=RT)
    with transaction(caller.services.factory) as session:
        goal = found_or_404(caller, session, Goal, goal_id, resource_type=RT, audit_action="read")
        person_id = reading.person_of_plan(session, goal.care_plan_id)
        caller.authorise(
            session,
            Action.goal_read,
            person_id,
            audit_action="read",
            resource_type=RT,
            resource_id=goal_id,
        )
        record = reading.goal_record(session, goal)
        caller.audit(
            session, action="read", resource_type=RT, resource_id=goal_id, person_id=person_id
        )
    return fhir_response(goal_to_fhir(record), version=record.version)


@router.get(
    "/Goal",
    summary="Search goals by patient and/or lifecycle status",
    openapi_extra=openapi.GOAL_SEARCH,
)
def search_goals(request: Request, caller: CallerDep) -> Response:
    caller.require_identifiable(audit_action="search", resource_type=RT)
    refuse_unknown_parameters(request, {"patient", "subject", "lifecycle-status"})
    count = search_count(request)
    person_id = patient_parameter(request)
    status = request.query_params.get("lifecycle-status")
    if status is not None and status not in {s.value for s in GoalStatus}:
        raise InvalidResource([("lifecycle-status", f"{status!r} is not a Goal status")])
    with transaction(caller.services.factory) as session:
        if person_id is not None or not caller.services.policy.granted(
            caller.actor.role, Action.goal_read
        ):
            caller.authorise(
                session, Action.goal_read, person_id, audit_action="search", resource_type=RT
            )
        records = reading.find_goals(
            session,
            visible=caller.visible_people(Action.goal_read),
            person_id=person_id,
            status=None if status is None else GoalStatus(status),
            limit=count,
        )
        caller.audit_people(
            session, (r.content.person_id for r in records), action="search", resource_type=RT
        )
    entries = ((f"/fhir/Goal/{r.id}", goal_to_fhir(r)) for r in records)
    return fhir_response(bundle(request, "searchset", entries))


def _write(
    caller: Caller, resource: GoalResource, goal_id: int | None, expected: int | None
) -> Response:
    action_name = "create" if goal_id is None else "update"
    with audited_failures(
        caller, action=action_name, resource_type=RT, resource_id=goal_id, fields=GOAL_FIELDS
    ) as failure:
        content = goal_from_fhir(resource)
        with transaction(caller.services.factory) as session:
            # access first (on the stored goal's person, or the body's subject for a new
            # goal), then anything that looks at the record
            if goal_id is not None:
                goal = found_or_404(
                    caller, session, Goal, goal_id, resource_type=RT, audit_action=action_name
                )
                plan_id = goal.care_plan_id
                person_id = reading.person_of_plan(session, plan_id)
            else:
                person_id = content.person_id
            caller.authorise(
                session,
                Action.goal_write,
                person_id,
                audit_action=action_name,
                resource_type=RT,
                resource_id=goal_id,
            )
            failure.person_id = person_id
            if goal_id is None:
                plan_id = _plan_for(session, content)
                if reading.person_of_plan(session, plan_id) != person_id:
                    raise InvalidResource(
                        [
                            (
                                "Goal.extension('care-plan')",
                                f"CarePlan/{plan_id} is not a plan of Patient/{person_id}",
                            )
                        ],
                        status=422,
                    )
            if person_id != content.person_id:
                # never look the body's other person up: that would answer about them
                raise InvalidResource(
                    [
                        (
                            "Goal.subject.reference",
                            f"CarePlan/{plan_id} belongs to Patient/{person_id}, "
                            f"not Patient/{content.person_id}",
                        )
                    ],
                    status=422,
                )
            check_person_reference(
                caller,
                session,
                person_id,
                content.nhs_number,
                field="Goal.subject",
                resource_type=RT,
                audit_action=action_name,
            )
            if goal_id is None:
                goal = create_goal(session, plan_id, content, caller.actor)
            else:
                assert expected is not None
                goal = update_goal(session, goal, expected, content, caller.actor)
            record = reading.goal_record(session, goal)
            caller.audit(
                session,
                action=action_name,
                resource_type=RT,
                resource_id=goal.id,
                person_id=person_id,
                detail={"version": record.version},
            )
    return fhir_response(
        goal_to_fhir(record),
        status=201 if goal_id is None else 200,
        version=record.version,
        location=f"/fhir/Goal/{record.id}/_history/{record.version}",
    )


def _plan_for(session: Session, content: GoalContent) -> int:
    """The plan a new goal joins: the one named, else the person's active plan."""
    if content.care_plan_id is not None:
        if session.get(CarePlan, content.care_plan_id) is None:
            raise InvalidResource(
                [
                    (
                        "Goal.extension('care-plan')",
                        f"CarePlan/{content.care_plan_id} does not exist",
                    )
                ],
                status=422,
            )
        return content.care_plan_id
    active = plans.active_care_plan(session, content.person_id)
    if active is None:
        raise InvalidResource(
            [
                (
                    "Goal.extension('care-plan')",
                    f"Patient/{content.person_id} has no active care plan; name the plan",
                )
            ],
            status=422,
        )
    return active.id


@router.post(
    "/Goal",
    status_code=201,
    summary="Create a goal on a care plan",
    openapi_extra=openapi.body(GoalResource),
)
async def create_goal_route(request: Request, caller: CallerDep) -> Response:
    caller.require_identifiable(audit_action="create", resource_type=RT)
    resource = await read_audited_body(
        request, caller, GoalResource, resource_type=RT, action="create", resource_id=None
    )
    return await run_in_threadpool(_write, caller, resource, None, None)


@router.put(
    "/Goal/{goal_id}",
    summary="Update a goal (If-Match required)",
    openapi_extra=openapi.body(GoalResource, if_match=True),
)
async def update_goal_route(goal_id: ResourceId, request: Request, caller: CallerDep) -> Response:
    caller.require_identifiable(audit_action="update", resource_type=RT)
    expected = if_match_version(request, RT)
    resource = await read_audited_body(
        request, caller, GoalResource, resource_type=RT, action="update", resource_id=goal_id
    )
    if resource.id is not None and resource.id != str(goal_id):
        raise InvalidResource(
            [("Goal.id", f"the body is Goal/{resource.id} but the URL is Goal/{goal_id}")]
        )
    return await run_in_threadpool(_write, caller, resource, goal_id, expected)


@router.get("/Goal/{goal_id}/_history", summary="Every version of a goal")
def goal_history(goal_id: ResourceId, request: Request, caller: CallerDep) -> Response:
    return _history(goal_id, None, request, caller)


@router.get("/Goal/{goal_id}/_history/{version}", summary="One version of a goal")
def goal_vread(
    goal_id: ResourceId, version: VersionId, request: Request, caller: CallerDep
) -> Response:
    return _history(goal_id, version, request, caller)


def _history(goal_id: int, version: int | None, request: Request, caller: Caller) -> Response:
    action = "history" if version is None else "vread"
    caller.require_identifiable(audit_action=action, resource_type=RT)
    with transaction(caller.services.factory) as session:
        goal = found_or_404(caller, session, Goal, goal_id, resource_type=RT, audit_action=action)
        person_id = reading.person_of_plan(session, goal.care_plan_id)
        caller.authorise(
            session,
            Action.goal_read,
            person_id,
            audit_action=action,
            resource_type=RT,
            resource_id=goal_id,
        )
        assert person_id is not None  # the goal exists, so its plan and person do
        try:
            records = reading.goal_versions(session, goal_id, person_id, version=version)
        except CarePlanError:
            raise NotFound(f"Goal/{goal_id} has no version {version}") from None
        caller.audit(
            session, action=action, resource_type=RT, resource_id=goal_id, person_id=person_id
        )
    if version is not None:
        return fhir_response(goal_to_fhir(records[0]), version=records[0].version)
    entries = ((f"/fhir/Goal/{goal_id}/_history/{r.version}", goal_to_fhir(r)) for r in records)
    return fhir_response(bundle(request, "history", entries))
