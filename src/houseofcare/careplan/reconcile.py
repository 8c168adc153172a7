"""Reconciling a whole plan or goal with the stored one, through the services, all or nothing.

A client that edits a plan as a whole (a FHIR `PUT`, a page's form) sends all of it; the
services change one thing at a time (the plan's fields, the conversation, each need and
action), each as a new version. So an update first takes the plan at the version the client
read (`lock_at_version`: a compare-and-set that changes nothing, so a stale version is refused
before any work), then applies only what differs, in one transaction: either every step is
written or none is. Refusals are the services' errors (`careplan.errors`), naming the part in
the domain's terms; each way in says where its client wrote it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from houseofcare.careplan import plans
from houseofcare.careplan.actor import Actor
from houseofcare.careplan.errors import InvalidContent, NotFound, StaleVersion
from houseofcare.careplan.records import ActionContent, CarePlanContent, GoalContent, NeedContent
from houseofcare.careplan.versioning import reload
from houseofcare.store.models import CarePlan, Goal


def lock_at_version(
    session: Session, model: type[CarePlan] | type[Goal], ident: int, expected: int
) -> None:
    """Hold the row if it is still at `expected`, else `StaleVersion` (or `NotFound`);
    changes nothing.

    `UPDATE … SET version = version WHERE id = :id AND version = :expected` takes the row
    lock on PostgreSQL (re-checking the condition against a concurrent winner's commit) and
    the write lock on SQLite, so no other writer can slip in between this check and the work.
    """
    held = session.execute(
        update(model)
        .where(model.id == ident, model.version == expected)
        .values(version=model.version)
        .returning(model.id),
        execution_options={"synchronize_session": False},
    ).first()
    if held is None:
        current = session.scalar(select(model.version).where(model.id == ident))
        name = model.__name__
        if current is None:
            raise NotFound(name, ident)
        raise StaleVersion(name, ident, expected, current)


def _plan_fields(content: CarePlanContent) -> dict[str, Any]:
    return {
        "status": content.status,
        "title": content.title,
        "description": content.description,
        "care_team_id": content.care_team_id,
        "lead_user_id": content.lead_user_id,
        "period_start": content.period_start,
        "period_end": content.period_end,
        "review_date": content.review_date,
    }


def _action_fields(action: ActionContent) -> dict[str, Any]:
    return {
        "performer": action.performer,
        "description": action.description,
        "status": action.status,
        "performer_name": action.performer_name,
        "performer_user_id": action.performer_user_id,
        "due_date": action.due_date,
        "goal_id": action.goal_id,
    }


def _need_fields(need: NeedContent) -> dict[str, Any]:
    return {"domain": need.domain, "description": need.description, "status": need.status}


def create_plan(session: Session, content: CarePlanContent, actor: Actor) -> CarePlan:
    """A new plan with everything the body gave (goals are added as Goal resources)."""
    if any(a.id is not None for a in content.actions):
        raise InvalidContent("action.id", "a new plan has no existing actions", malformed=True)
    if any(n.id is not None for n in content.needs):
        raise InvalidContent("need.id", "a new plan has no needs yet", malformed=True)
    plan = plans.create_care_plan(
        session,
        content.person_id,
        actor,
        title=content.title,
        status=content.status,
        description=content.description,
        care_team_id=content.care_team_id,
        lead_user_id=content.lead_user_id,
        period_start=content.period_start,
        review_date=content.review_date,
    )
    if content.period_start is None:
        # the service starts a plan today when no start is given; keep that, not a change
        content = replace(content, period_start=plan.period_start)
    _apply(session, plan, content, actor)
    return plan


def update_plan(
    session: Session, plan_id: int, expected: int, content: CarePlanContent, actor: Actor
) -> CarePlan:
    """Bring the plan to `content` if it is still at `expected`; one version per change."""
    lock_at_version(session, CarePlan, plan_id, expected)
    plan = plans.get_care_plan(session, plan_id)
    if sa_inspect(plan).dict.get("version") != expected:
        # read at another version than the one now locked: read it again (a copy read at
        # `expected` is the row, as every change advances the version)
        reload(session, plan)
    if content.person_id != plan.person_id:
        raise InvalidContent(
            "person_id",
            f"this plan belongs to Patient/{plan.person_id}; a plan cannot be moved "
            "to another person",
        )
    _apply(session, plan, content, actor)
    return plan


def plan_field_changes(current: Mapping[str, Any], content: CarePlanContent) -> dict[str, Any]:
    """The plan's own fields (`_plan_fields`) the body gives other values than `current`."""
    return {k: v for k, v in _plan_fields(content).items() if current[k] != v}


def parts_unchanged(
    content: CarePlanContent,
    *,
    participants: list[tuple[Any, str, int | None]],
    agreed_with_person: bool,
    needs: Mapping[int, Mapping[str, Any]],
    actions: Mapping[int, Mapping[str, Any]],
) -> bool:
    """True when `_apply` would leave every part of the plan as it is: the same participants
    (role, name, user) and agreement, and every need and action sent back unchanged by id
    (none added, none left out). `needs` and `actions` map id → the stored fields."""
    people = [(p.role, p.name, p.user_id) for p in content.participants]
    if people != participants or content.agreed_with_person != agreed_with_person:
        return False
    sent_needs = [(n.id, _need_fields(n)) for n in content.needs]
    sent_actions = [(a.id, _action_fields(a)) for a in content.actions]
    for sent, stored in ((sent_needs, needs), (sent_actions, actions)):
        if {ident for ident, _ in sent} != set(stored):  # one added (id None), unknown or left out
            return False
        for ident, wanted in sent:
            row = stored[ident]  # type: ignore[index]
            if any(row[k] != v for k, v in wanted.items()):
                return False
    return True


def _apply(session: Session, plan: CarePlan, content: CarePlanContent, actor: Actor) -> None:
    changes = plan_field_changes({k: getattr(plan, k) for k in _plan_fields(content)}, content)
    if changes:
        plans.update_care_plan(session, plan.id, plan.version, changes, actor)
    people = [(p.role, p.name, p.user_id) for p in content.participants]
    had = [(p.role, p.name, p.user_id) for p in plan.participants]
    if people != had or content.agreed_with_person != plan.agreed_with_person:
        plans.record_conversation(
            session,
            plan.id,
            plan.version,
            actor,
            participants=[{"role": r, "name": n, "user_id": u} for r, n, u in people],
            agreed_with_person=content.agreed_with_person,
        )
    existing_needs = {n.id: n for n in plan.needs}
    for need in content.needs:
        if need.id is None:
            plans.add_need(session, plan.id, _need_fields(need), actor)
        elif need.id not in existing_needs:
            raise InvalidContent("need.id", f"need {need.id} is not on this plan")
        else:
            stored = existing_needs[need.id]
            wanted = _need_fields(need)
            changed = {k: v for k, v in wanted.items() if getattr(stored, k) != v}
            if changed:
                plans.update_need(session, need.id, changed, actor)
    kept_needs = {n.id for n in content.needs if n.id is not None}
    if set(existing_needs) - kept_needs:
        missing = sorted(set(existing_needs) - kept_needs)
        raise InvalidContent(
            "needs",
            f"need(s) {missing} left out: a need is never deleted; "
            "send it with status 'resolved' instead",
        )
    existing_actions = {a.id: a for a in plan.actions}
    for action in content.actions:
        if action.id is None:
            plans.add_action(session, plan.id, _action_fields(action), actor)
        elif action.id not in existing_actions:
            raise InvalidContent("action.id", f"action {action.id} is not on this plan")
        else:
            stored = existing_actions[action.id]
            wanted = _action_fields(action)
            changed = {k: v for k, v in wanted.items() if getattr(stored, k) != v}
            if changed:
                plans.update_action(session, action.id, stored.version, changed, actor)
    kept_actions = {a.id for a in content.actions if a.id is not None}
    if set(existing_actions) - kept_actions:
        missing = sorted(set(existing_actions) - kept_actions)
        raise InvalidContent(
            "actions",
            f"action(s) {missing} left out: an action is never deleted; send it with "
            "status 'cancelled' or 'entered-in-error' instead",
        )
    session.flush()


def _goal_fields(content: GoalContent) -> dict[str, Any]:
    return {
        "what_matters_to_me": content.what_matters_to_me,
        "status": content.status,
        "target_measure": content.target_measure,
        "target_value": content.target_value,
        "target_unit": content.target_unit,
        "target_due": content.target_due,
        "start_date": content.start_date,
    }


def create_goal(session: Session, plan_id: int, content: GoalContent, actor: Actor) -> Goal:
    fields = _goal_fields(content)
    if fields["start_date"] is None:
        del fields["start_date"]
    return plans.add_goal(session, plan_id, fields, actor)


def update_goal(
    session: Session, goal: Goal, expected: int, content: GoalContent, actor: Actor
) -> Goal:
    """Change the goal if it is still at `expected` (compare-and-set in the service)."""
    lock_at_version(session, Goal, goal.id, expected)
    reload(session, goal)
    if content.care_plan_id is not None and content.care_plan_id != goal.care_plan_id:
        raise InvalidContent("care_plan_id", "a goal cannot be moved to another plan")
    wanted = _goal_fields(content) | {"status_date": content.status_date}
    changed = {k: v for k, v in wanted.items() if getattr(goal, k) != v}
    if content.status_date is None:
        changed.pop("status_date", None)
    if changed:
        plans.update_goal(session, goal.id, goal.version, changed, actor)
        reload(session, goal)
    return goal
