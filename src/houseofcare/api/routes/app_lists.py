"""JSON endpoints the pages need: the caseload, due reviews, the preparation summary, comments."""

from __future__ import annotations

from typing import Any

import duckdb
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from houseofcare.api.deps import Caller, CallerDep
from houseofcare.api.errors import NotFound
from houseofcare.api.inputs import CleanStr, ResourceId
from houseofcare.api.routes.common import audited_failures, found_or_404
from houseofcare.careplan import lists, plans
from houseofcare.careplan import preparation as prep
from houseofcare.careplan.people import teams_of_user
from houseofcare.careplan.policy import Action
from houseofcare.results import AnalyticResults, ResultsUnavailable
from houseofcare.settings import Settings
from houseofcare.store.database import transaction
from houseofcare.store.models import CarePlan, CareTeam, CareTeamMember, Person

router = APIRouter(prefix="/app", tags=["app"])


class TextIn(BaseModel):
    """A short text from the person or the professional."""

    model_config = ConfigDict(extra="forbid", strict=True)
    text: CleanStr = Field(min_length=1, max_length=5000)


def risk_levels(settings: Settings, patient_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Risk level and score per analytic patient id from the latest run, in two queries;
    empty when the analytic store, a run or the risk scores are not there yet. The caller
    has already kept only the people the reader may see."""
    if not patient_ids:
        return {}
    try:
        with AnalyticResults.open(settings) as results:
            run = results.latest_run()
            if run is None:
                return {}
            risks = results.risks(run.run_id, patient_ids)
            levels = results.levels(run.run_id, list(risks))
    except (ResultsUnavailable, duckdb.Error):
        return {}
    return {
        pid: {
            "risk": risk.risk,
            "level": None if (lv := levels.get(pid)) is None else str(lv.level),
        }
        for pid, risk in risks.items()
    }


@router.get("/caseload", summary="The people on my caseload, with their risk when available")
def my_caseload(caller: CallerDep) -> dict[str, Any]:
    with transaction(caller.services.factory) as session:
        caller.authorise(
            session, Action.caseload_read, None, audit_action="search", resource_type="Caseload"
        )
        entries = lists.caseload(
            session, caller.user.user_id, visible=caller.visible_people(Action.patient_read)
        )
        caller.audit_people(
            session, (e.person_id for e in entries), action="search", resource_type="Caseload"
        )
    risks = risk_levels(caller.services.settings, [e.patient_id for e in entries if e.patient_id])
    people = []
    for e in entries:
        risk = risks.get(e.patient_id or "", {})
        people.append(
            {
                "person_id": e.person_id,
                "nhs_number": e.nhs_number,
                "name": " ".join(p for p in (e.given_name, e.family_name) if p) or None,
                "assigned_at": e.assigned_at.isoformat(),
                "care_plan_id": e.care_plan_id,
                "care_plan_status": None
                if e.care_plan_status is None
                else e.care_plan_status.value,
                "review_date": None if e.review_date is None else e.review_date.isoformat(),
                "risk": risk.get("risk"),
                "risk_level": risk.get("level"),
            }
        )
    people.sort(key=lambda p: (p["risk"] is None, -(p["risk"] or 0.0)))
    return {"case_manager": caller.user.username, "count": len(people), "people": people}


@router.get("/due-reviews", summary="Care plans due for review, per care team I belong to")
def my_due_reviews(caller: CallerDep) -> dict[str, Any]:
    with transaction(caller.services.factory) as session:
        caller.authorise(
            session, Action.reviews_read, None, audit_action="search", resource_type="DueReview"
        )
        teams = []
        for team in teams_of_user(session, caller.user.user_id):
            due = lists.due_reviews(
                session, team.id, visible=caller.visible_people(Action.careplan_read)
            )
            caller.audit_people(
                session, (d.person_id for d in due), action="search", resource_type="DueReview"
            )
            teams.append(
                {
                    "care_team_id": team.id,
                    "name": team.name,
                    "due": [
                        {
                            "care_plan_id": d.care_plan_id,
                            "version": d.care_plan_version,
                            "person_id": d.person_id,
                            "nhs_number": d.nhs_number,
                            "name": " ".join(p for p in (d.given_name, d.family_name) if p) or None,
                            "review_date": None
                            if d.review_date is None
                            else d.review_date.isoformat(),
                            "days_overdue": d.days_overdue,
                        }
                        for d in due
                    ],
                }
            )
    return {"teams": teams}


@router.get("/care-teams/{team_id}/due-reviews", summary="One team's due reviews (members only)")
def team_due_reviews(team_id: ResourceId, caller: CallerDep) -> dict[str, Any]:
    with transaction(caller.services.factory) as session:
        caller.authorise(
            session, Action.reviews_read, None, audit_action="search", resource_type="DueReview"
        )
        team = found_or_404(
            caller, session, CareTeam, team_id, resource_type="CareTeam", audit_action="search"
        )
        member = session.scalar(
            select(CareTeamMember.id).where(
                CareTeamMember.care_team_id == team_id,
                CareTeamMember.user_id == caller.user.user_id,
            )
        )
        if member is None:
            raise caller.deny(
                f"you are not a member of care team {team_id}",
                action="search",
                resource_type="DueReview",
                resource_id=team_id,
            )
        due = lists.due_reviews(
            session, team.id, visible=caller.visible_people(Action.careplan_read)
        )
        caller.audit_people(
            session, (d.person_id for d in due), action="search", resource_type="DueReview"
        )
    return {
        "care_team_id": team.id,
        "name": team.name,
        "due": [
            {
                "care_plan_id": d.care_plan_id,
                "person_id": d.person_id,
                "nhs_number": d.nhs_number,
                "review_date": None if d.review_date is None else d.review_date.isoformat(),
                "days_overdue": d.days_overdue,
            }
            for d in due
        ],
    }


def _preparation_json(record: Any) -> dict[str, Any]:
    return {
        "preparation_id": record.id,
        "person_id": record.person_id,
        "run_id": record.run_id,
        "summary": record.summary,
        "prepared_at": record.prepared_at.isoformat(),
        "sent_on": None if record.sent_on is None else record.sent_on.isoformat(),
        "talk_about": record.talk_about,
    }


@router.get("/people/{person_id}/preparation", summary="The person's preparation summary")
def preparation_summary(person_id: ResourceId, caller: CallerDep) -> dict[str, Any]:
    """The latest prepared (sent) summary, or else the live summary from the latest run."""
    caller.require_identifiable(audit_action="read", resource_type="Preparation")
    with transaction(caller.services.factory) as session:
        person = found_or_404(
            caller, session, Person, person_id, resource_type="Preparation", audit_action="read"
        )
        caller.authorise(
            session,
            Action.preparation_read,
            person_id,
            audit_action="read",
            resource_type="Preparation",
        )
        stored = prep.latest_preparation(session, person_id)
        if stored is not None:
            result = _preparation_json(stored) | {"prepared": True}
        else:
            result = _live_summary(caller, person)
        caller.audit(session, action="read", resource_type="Preparation", person_id=person_id)
    return result


def _live_summary(caller: Caller, person: Person) -> dict[str, Any]:
    if person.patient_id is None:
        raise NotFound(f"Patient/{person.id} is not linked to an analytic record; no results yet")
    try:
        summary = prep.read_results_summary(caller.services.settings, person.patient_id)
    except prep.NoAnalyticRun as exc:
        raise NotFound(f"no results summary for Patient/{person.id}: {exc}") from None
    return {
        "preparation_id": None,
        "person_id": person.id,
        "run_id": summary.run_id,
        "summary": summary.to_json(),
        "prepared": False,
        "talk_about": None,
    }


@router.post(
    "/people/{person_id}/preparation/talk-about",
    summary="Write 'what I want to talk about' before the conversation",
)
def talk_about(person_id: ResourceId, body: TextIn, caller: CallerDep) -> dict[str, Any]:
    caller.require_identifiable(audit_action="update", resource_type="Preparation")
    with (
        audited_failures(caller, action="update", resource_type="Preparation", person_id=person_id),
        transaction(caller.services.factory) as session,
    ):
        found_or_404(
            caller,
            session,
            Person,
            person_id,
            resource_type="Preparation",
            audit_action="update",
        )
        caller.authorise(
            session,
            Action.preparation_comment,
            person_id,
            audit_action="update",
            resource_type="Preparation",
        )
        record = prep.latest_preparation(session, person_id)
        if record is None:
            record = prep.prepare(
                session, person_id, caller.actor, settings=caller.services.settings
            )
        record = prep.add_talking_points(session, record.id, body.text, caller.actor)
        caller.audit(
            session,
            action="update",
            resource_type="Preparation",
            resource_id=record.id,
            person_id=person_id,
        )
        result = _preparation_json(record)
    return result


@router.post("/careplans/{plan_id}/comments", status_code=201, summary="Comment on a care plan")
def comment(plan_id: ResourceId, body: TextIn, caller: CallerDep) -> dict[str, Any]:
    """The person (or a professional caring for them) comments on the plan; comments are
    only ever added and appear as the plan's notes."""
    caller.require_identifiable(audit_action="comment", resource_type="CarePlan")
    with (
        audited_failures(caller, action="comment", resource_type="CarePlan", resource_id=plan_id),
        transaction(caller.services.factory) as session,
    ):
        plan = found_or_404(
            caller, session, CarePlan, plan_id, resource_type="CarePlan", audit_action="comment"
        )
        caller.authorise(
            session,
            Action.careplan_comment,
            plan.person_id,
            audit_action="comment",
            resource_type="CarePlan",
            resource_id=plan_id,
        )
        note = plans.add_comment(session, plan_id, body.text, caller.actor)
        caller.audit(
            session,
            action="comment",
            resource_type="CarePlan",
            resource_id=plan_id,
            person_id=plan.person_id,
        )
        result = {"comment_id": note.id, "care_plan_id": plan_id, "text": note.text}
    return result
