"""The one holistic care plan: create it, change it, agree it, review it — never overwrite it.

Every change to a plan, a goal or an action writes a new version row (who, when, the diff and
a full snapshot), and every change to a goal, action, need or the participants also advances
the plan's own version, so a plan's version names everything in it. Changes to a plan, goal
or action that carry an `expected_version` are compare-and-set (see `versioning`): a stale
one raises `StaleVersion` and writes nothing.

Services flush but do not commit: the caller commits the unit of work (with its audit event)
or rolls it back on any error raised here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from houseofcare.careplan.access import care_team_problem
from houseofcare.careplan.actor import Actor
from houseofcare.careplan.errors import ActivePlanExists, InvalidChange, NotFound
from houseofcare.careplan.inputs import (
    ActionChanges,
    ActionInput,
    CarePlanChanges,
    GoalChanges,
    GoalInput,
    NeedChanges,
    NeedInput,
    ParticipantInput,
    given,
    parse,
)
from houseofcare.careplan.people import get_person
from houseofcare.careplan.versioning import (
    bump_version,
    columns_of,
    compare_and_set,
    diff,
    reload,
)
from houseofcare.store.models import (
    Action,
    ActionVersion,
    CarePlan,
    CarePlanComment,
    CarePlanParticipant,
    CarePlanStatus,
    CarePlanVersion,
    CareTeam,
    ChangeKind,
    Goal,
    GoalVersion,
    Need,
    Person,
    User,
)
from houseofcare.store.types import utcnow

#: A plan in one of these states can no longer be changed (start a new plan instead).
CLOSED_STATUSES = frozenset(
    {CarePlanStatus.completed, CarePlanStatus.revoked, CarePlanStatus.entered_in_error}
)

# --- Reading -----------------------------------------------------------------------------------


def get_care_plan(session: Session, plan_id: int) -> CarePlan:
    """The plan, or `NotFound`."""
    plan = session.get(CarePlan, plan_id)
    if plan is None:
        raise NotFound("CarePlan", plan_id)
    return plan


def active_care_plan(session: Session, person_id: int) -> CarePlan | None:
    """The person's active care plan (there is at most one), or None."""
    return session.scalar(
        select(CarePlan).where(
            CarePlan.person_id == person_id, CarePlan.status == CarePlanStatus.active
        )
    )


def find_care_plans(
    session: Session,
    *,
    person_id: int | None = None,
    status: CarePlanStatus | str | None = None,
    person_ids: Iterable[int] | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Sequence[CarePlan]:
    """Plans matching every filter given, oldest first (FHIR CarePlan search)."""
    query = select(CarePlan).order_by(CarePlan.id).limit(limit).offset(offset)
    if person_id is not None:
        query = query.where(CarePlan.person_id == person_id)
    if person_ids is not None:
        query = query.where(CarePlan.person_id.in_(list(person_ids)))
    if status is not None:
        query = query.where(CarePlan.status == _plan_status(status))
    return session.scalars(query).all()


def care_plan_history(session: Session, plan_id: int) -> Sequence[CarePlanVersion]:
    """Every version of the plan, oldest first (FHIR `_history`)."""
    get_care_plan(session, plan_id)
    return session.scalars(
        select(CarePlanVersion)
        .where(CarePlanVersion.care_plan_id == plan_id)
        .order_by(CarePlanVersion.version)
    ).all()


def care_plan_version(session: Session, plan_id: int, version: int) -> CarePlanVersion:
    """One version of the plan (FHIR vread), or `NotFound`."""
    row = session.scalar(
        select(CarePlanVersion).where(
            CarePlanVersion.care_plan_id == plan_id, CarePlanVersion.version == version
        )
    )
    if row is None:
        raise NotFound("CarePlan version", f"{plan_id}/_history/{version}")
    return row


def get_goal(session: Session, goal_id: int) -> Goal:
    goal = session.get(Goal, goal_id)
    if goal is None:
        raise NotFound("Goal", goal_id)
    return goal


def find_goals(
    session: Session,
    *,
    care_plan_id: int | None = None,
    person_id: int | None = None,
    status: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Sequence[Goal]:
    """Goals matching every filter given, oldest first (FHIR Goal search)."""
    query = select(Goal).order_by(Goal.id).limit(limit).offset(offset)
    if care_plan_id is not None:
        query = query.where(Goal.care_plan_id == care_plan_id)
    if person_id is not None:
        query = query.join(CarePlan, CarePlan.id == Goal.care_plan_id).where(
            CarePlan.person_id == person_id
        )
    if status is not None:
        query = query.where(Goal.status == status)
    return session.scalars(query).all()


def goal_history(session: Session, goal_id: int) -> Sequence[GoalVersion]:
    get_goal(session, goal_id)
    return session.scalars(
        select(GoalVersion).where(GoalVersion.goal_id == goal_id).order_by(GoalVersion.version)
    ).all()


def goal_version(session: Session, goal_id: int, version: int) -> GoalVersion:
    row = session.scalar(
        select(GoalVersion).where(GoalVersion.goal_id == goal_id, GoalVersion.version == version)
    )
    if row is None:
        raise NotFound("Goal version", f"{goal_id}/_history/{version}")
    return row


def get_action(session: Session, action_id: int) -> Action:
    action = session.get(Action, action_id)
    if action is None:
        raise NotFound("Action", action_id)
    return action


def action_history(session: Session, action_id: int) -> Sequence[ActionVersion]:
    get_action(session, action_id)
    return session.scalars(
        select(ActionVersion)
        .where(ActionVersion.action_id == action_id)
        .order_by(ActionVersion.version)
    ).all()


def get_need(session: Session, need_id: int) -> Need:
    need = session.get(Need, need_id)
    if need is None:
        raise NotFound("Need", need_id)
    return need


#: The parts of a plan kept in each version's snapshot, and their models.
PLAN_PARTS: dict[str, type[CarePlanParticipant] | type[Goal] | type[Action] | type[Need]] = {
    "participants": CarePlanParticipant,
    "goals": Goal,
    "actions": Action,
    "needs": Need,
}


def plan_part(session: Session, plan: CarePlan, key: str) -> list[dict[str, Any]]:
    """One kind of part of the plan (`PLAN_PARTS` key) as JSON rows, in id order.

    The rows read are also set as the plan's loaded collection (`plan.needs` …), so code
    that looks at the parts next (the API's update) does not read them again.
    """
    model = PLAN_PARTS[key]
    rows = session.scalars(
        select(model)
        .where(model.care_plan_id == plan.id)
        .order_by(model.id)
        .execution_options(populate_existing=True)
    ).all()
    set_committed_value(plan, key, list(rows))
    return [columns_of(row, exclude=frozenset({"care_plan_id"})) for row in rows]


def plan_snapshot(session: Session, plan: CarePlan) -> dict[str, Any]:
    """The whole plan as JSON: its fields, participants, goals, actions and needs."""
    return {**columns_of(plan), **{key: plan_part(session, plan, key) for key in PLAN_PARTS}}


# --- Creating and changing the plan ------------------------------------------------------------


def create_care_plan(
    session: Session,
    person_id: int,
    actor: Actor,
    *,
    title: str = "My care plan",
    status: CarePlanStatus | str = CarePlanStatus.active,
    description: str | None = None,
    care_team_id: int | None = None,
    lead_user_id: int | None = None,
    period_start: dt.date | None = None,
    review_date: dt.date | None = None,
) -> CarePlan:
    """Start the person's care plan (version 1).

    Refuses a second active plan for the same person with `ActivePlanExists`: the house of
    care has one plan per person, however many conditions. The database's partial unique
    index enforces the same rule against concurrent creators.
    """
    get_person(session, person_id)
    plan_status = _plan_status(status)
    if not title.strip():
        raise InvalidChange("title", "must not be empty")
    if len(title.strip()) > 200:
        raise InvalidChange("title", "must be at most 200 characters")
    if plan_status is CarePlanStatus.active:
        _refuse_second_active(session, person_id, None)
    _check_references(session, {"care_team_id": care_team_id, "lead_user_id": lead_user_id})
    _check_care_team(session, care_team_id, person_id, actor)
    now = utcnow()
    plan = CarePlan(
        person_id=person_id,
        status=plan_status,
        title=title.strip(),
        description=description,
        care_team_id=care_team_id,
        lead_user_id=lead_user_id,
        period_start=period_start or now.date(),
        review_date=review_date,
        agreed_with_person=False,
        version=1,
        created_at=now,
        created_by_id=actor.user_id,
        updated_at=now,
    )
    session.add(plan)
    _flush_plan(session, person_id)
    snapshot = {**columns_of(plan), **{key: [] for key in PLAN_PARTS}}  # no parts yet
    _write_plan_version(session, plan, ChangeKind.created, diff({}, snapshot), snapshot, actor)
    return plan


def update_care_plan(
    session: Session,
    plan_id: int,
    expected_version: int,
    changes: CarePlanChanges | Mapping[str, Any],
    actor: Actor,
) -> CarePlan:
    """Change the plan's own fields if it is still at `expected_version`; a new version.

    Raises `StaleVersion` (nothing written) when someone else changed it first,
    `InvalidChange` naming a bad or unknown field, `ActivePlanExists` when making it active
    would give the person two active plans.
    """
    plan = get_care_plan(session, plan_id)
    values = checked_plan_changes(changes)
    _check_references(session, values)
    _check_care_team(session, values.get("care_team_id"), plan.person_id, actor)
    if values.get("status") is CarePlanStatus.active:
        _refuse_second_active(session, plan.person_id, plan.id)
    return _change_plan(session, plan, expected_version, values, ChangeKind.updated, actor)


def checked_plan_changes(changes: CarePlanChanges | Mapping[str, Any]) -> dict[str, Any]:
    """The changes to a plan's own fields as they will be written (parsed: text stripped,
    codes as enums), or `InvalidChange` naming a bad or unknown field. What needs the store
    (references exist, one active plan per person) is checked by `update_care_plan`."""
    values = given(parse(CarePlanChanges, changes))
    if "status" in values and values["status"] is None:
        raise InvalidChange("status", "must not be empty")
    if "title" in values and not values["title"]:
        raise InvalidChange("title", "must not be empty")
    return values


def set_review_date(
    session: Session,
    plan_id: int,
    expected_version: int,
    review_date: dt.date,
    actor: Actor,
) -> CarePlan:
    """Set when the plan is next reviewed (puts it on the team's due-review list then)."""
    if not isinstance(review_date, dt.date):
        raise InvalidChange("review_date", "must be a date")
    plan = get_care_plan(session, plan_id)
    return _change_plan(
        session, plan, expected_version, {"review_date": review_date}, ChangeKind.review_date, actor
    )


def record_conversation(
    session: Session,
    plan_id: int,
    expected_version: int,
    actor: Actor,
    *,
    participants: Sequence[ParticipantInput | Mapping[str, Any]],
    agreed_with_person: bool,
    review_date: dt.date | None = None,
    at: dt.datetime | None = None,
) -> CarePlan:
    """Record the care-planning conversation: who took part, whether the person agreed the
    plan, and (optionally) the review date; a new version.

    The participant list replaces the previous one (which stays in the earlier version).
    """
    plan = get_care_plan(session, plan_id)
    people = [parse(ParticipantInput, p) for p in participants]
    if not people:
        raise InvalidChange("participants", "at least one person must have taken part")
    for index, participant in enumerate(people):
        if participant.user_id is not None and session.get(User, participant.user_id) is None:
            raise InvalidChange(
                f"participants.{index}.user_id", f"user {participant.user_id} does not exist"
            )
    if not isinstance(agreed_with_person, bool):
        raise InvalidChange("agreed_with_person", "must be true or false")
    when = at or utcnow()
    values: dict[str, Any] = {
        "conversation_at": when,
        "agreed_with_person": agreed_with_person,
        "agreed_at": when if agreed_with_person else None,
    }
    if review_date is not None:
        values["review_date"] = review_date

    def replace_participants() -> None:
        plan.participants.clear()  # delete-orphan: the old rows go, the old version keeps them
        session.flush()
        for participant in people:
            plan.participants.append(CarePlanParticipant(**participant.model_dump()))

    return _change_plan(
        session,
        plan,
        expected_version,
        values,
        ChangeKind.conversation,
        actor,
        also=replace_participants,
        also_changes=("participants",),
        extra={"participants": [p.model_dump(mode="json") for p in people]},
    )


def review_care_plan(
    session: Session,
    plan_id: int,
    expected_version: int,
    actor: Actor,
    *,
    next_review_date: dt.date,
    note: str | None = None,
) -> CarePlan:
    """Review the plan: stamps the review and the next review date as a new version.

    A review never overwrites: the plan as it was before stays readable as the previous
    version, and goals and actions are changed with their own services.
    """
    if not isinstance(next_review_date, dt.date):
        raise InvalidChange("next_review_date", "must be a date")
    plan = get_care_plan(session, plan_id)
    now = utcnow()
    if next_review_date <= now.date():
        raise InvalidChange("next_review_date", "must be after today")
    extra = {"review_note": note} if note else None
    return _change_plan(
        session,
        plan,
        expected_version,
        {"last_reviewed_at": now, "review_date": next_review_date},
        ChangeKind.reviewed,
        actor,
        extra=extra,
    )


def add_comment(session: Session, plan_id: int, text: str, actor: Actor) -> CarePlanComment:
    """A comment on the plan (e.g. the person's own); comments are only ever added."""
    get_care_plan(session, plan_id)
    if actor.user_id is None:
        raise InvalidChange("author", "a comment needs a signed-in author")
    if not text or not text.strip():
        raise InvalidChange("text", "must not be empty")
    comment = CarePlanComment(care_plan_id=plan_id, author_id=actor.user_id, text=text.strip())
    session.add(comment)
    session.flush()
    return comment


def comments_on(session: Session, plan_id: int) -> Sequence[CarePlanComment]:
    return session.scalars(
        select(CarePlanComment)
        .where(CarePlanComment.care_plan_id == plan_id)
        .order_by(CarePlanComment.id)
    ).all()


# --- Goals, actions, needs ---------------------------------------------------------------------


def add_goal(
    session: Session,
    plan_id: int,
    goal: GoalInput | Mapping[str, Any],
    actor: Actor,
    *,
    expected_plan_version: int | None = None,
) -> Goal:
    """Add a goal in the person's own words (version 1); the plan gets a new version."""
    plan = _open_plan(session, plan_id)
    data = parse(GoalInput, goal)
    bump_version(session, CarePlan, plan.id, expected_plan_version)
    now = utcnow()
    record = Goal(
        care_plan_id=plan.id,
        version=1,
        created_at=now,
        updated_at=now,
        created_by_id=actor.user_id,
        status_date=now.date(),
        **data.model_dump(),
    )
    if record.start_date is None:
        record.start_date = now.date()
    session.add(record)
    session.flush()
    snapshot = columns_of(record)
    session.add(
        GoalVersion(
            goal_id=record.id,
            **_version_fields(1, ChangeKind.created, diff({}, snapshot), snapshot, actor),
        )
    )
    _record_child_change(session, plan, ChangeKind.goal, {"goal_added": record.id}, actor)
    return record


def update_goal(
    session: Session,
    goal_id: int,
    expected_version: int,
    changes: GoalChanges | Mapping[str, Any],
    actor: Actor,
) -> Goal:
    """Change a goal if it is still at `expected_version` (else `StaleVersion`)."""
    record = get_goal(session, goal_id)
    values = given(parse(GoalChanges, changes))
    _refuse_nulls(values, ("what_matters_to_me", "status"))
    plan = _open_plan(session, record.care_plan_id)
    if "status" in values and "status_date" not in values:
        values = {**values, "status_date": utcnow().date()}
    new_version = bump_version(session, Goal, goal_id, expected_version)
    changed, after = _apply_versioned_change(session, record, values)
    session.add(
        GoalVersion(
            goal_id=goal_id,
            **_version_fields(new_version, ChangeKind.updated, changed, after, actor),
        )
    )
    _plan_follows_child(
        session, plan, ChangeKind.goal, "goal", goal_id, new_version, changed, actor
    )
    return record


def add_action(
    session: Session,
    plan_id: int,
    action: ActionInput | Mapping[str, Any],
    actor: Actor,
    *,
    expected_plan_version: int | None = None,
) -> Action:
    """Add an action: who does what by when (version 1); the plan gets a new version."""
    plan = _open_plan(session, plan_id)
    data = parse(ActionInput, action)
    _check_action(session, plan.id, data.model_dump(), creating=True)
    bump_version(session, CarePlan, plan.id, expected_plan_version)
    now = utcnow()
    record = Action(
        care_plan_id=plan.id,
        version=1,
        created_at=now,
        updated_at=now,
        created_by_id=actor.user_id,
        **data.model_dump(),
    )
    session.add(record)
    session.flush()
    snapshot = columns_of(record)
    session.add(
        ActionVersion(
            action_id=record.id,
            **_version_fields(1, ChangeKind.created, diff({}, snapshot), snapshot, actor),
        )
    )
    _record_child_change(session, plan, ChangeKind.action, {"action_added": record.id}, actor)
    return record


def update_action(
    session: Session,
    action_id: int,
    expected_version: int,
    changes: ActionChanges | Mapping[str, Any],
    actor: Actor,
) -> Action:
    """Change an action if it is still at `expected_version` (else `StaleVersion`)."""
    record = get_action(session, action_id)
    values = given(parse(ActionChanges, changes))
    _refuse_nulls(values, ("performer", "description", "status"))
    plan = _open_plan(session, record.care_plan_id)
    merged = {
        "performer": record.performer,
        "performer_name": record.performer_name,
        "performer_user_id": record.performer_user_id,
        "goal_id": record.goal_id,
        **values,
    }
    _check_action(session, plan.id, merged, creating=False)
    new_version = bump_version(session, Action, action_id, expected_version)
    changed, after = _apply_versioned_change(session, record, values)
    session.add(
        ActionVersion(
            action_id=action_id,
            **_version_fields(new_version, ChangeKind.updated, changed, after, actor),
        )
    )
    _plan_follows_child(
        session, plan, ChangeKind.action, "action", action_id, new_version, changed, actor
    )
    return record


def add_need(
    session: Session,
    plan_id: int,
    need: NeedInput | Mapping[str, Any],
    actor: Actor,
    *,
    expected_plan_version: int | None = None,
) -> Need:
    """Record a need in one domain of the person's life; the plan gets a new version."""
    plan = _open_plan(session, plan_id)
    data = parse(NeedInput, need)
    bump_version(session, CarePlan, plan.id, expected_plan_version)
    now = utcnow()
    record = Need(
        care_plan_id=plan.id,
        created_at=now,
        updated_at=now,
        created_by_id=actor.user_id,
        **data.model_dump(),
    )
    session.add(record)
    session.flush()
    _record_child_change(session, plan, ChangeKind.need, {"need_added": columns_of(record)}, actor)
    return record


def update_need(
    session: Session,
    need_id: int,
    changes: NeedChanges | Mapping[str, Any],
    actor: Actor,
    *,
    expected_plan_version: int | None = None,
) -> Need:
    """Change a need; its history is in the plan's versions (needs have no own version)."""
    record = get_need(session, need_id)
    values = given(parse(NeedChanges, changes))
    _refuse_nulls(values, ("domain", "description", "status"))
    plan = _open_plan(session, record.care_plan_id)
    bump_version(session, CarePlan, plan.id, expected_plan_version)
    reload(session, record)
    before = columns_of(record)
    for key, value in values.items():
        setattr(record, key, value)
    record.updated_at = utcnow()
    session.flush()
    changed = diff(before, columns_of(record))
    _record_child_change(
        session, plan, ChangeKind.need, {"need": {"id": need_id, "changes": changed}}, actor
    )
    return record


# --- Internals ---------------------------------------------------------------------------------


def _plan_status(value: CarePlanStatus | str) -> CarePlanStatus:
    try:
        return CarePlanStatus(value)
    except ValueError:
        allowed = ", ".join(s.value for s in CarePlanStatus)
        raise InvalidChange("status", f"{value!r} is not one of {allowed}") from None


def _refuse_second_active(session: Session, person_id: int, plan_id: int | None) -> None:
    existing = active_care_plan(session, person_id)
    if existing is not None and existing.id != plan_id:
        raise ActivePlanExists(person_id, existing.id)


def _flush_plan(session: Session, person_id: int) -> None:
    """Flush; the partial unique index firing means a concurrent active plan won the race."""
    try:
        session.flush()
    except IntegrityError as exc:
        if "one_active_per_person" in str(exc.orig) or "care_plan.person_id" in str(exc.orig):
            raise ActivePlanExists(person_id, None) from None
        raise


def _refuse_nulls(values: Mapping[str, Any], required: Iterable[str]) -> None:
    for key in required:
        if key in values and values[key] is None:
            raise InvalidChange(key, "must not be empty")


def _check_references(session: Session, values: Mapping[str, Any]) -> None:
    team = values.get("care_team_id")
    if team is not None and session.get(CareTeam, team) is None:
        raise InvalidChange("care_team_id", f"care team {team} does not exist")
    lead = values.get("lead_user_id")
    if lead is not None and session.get(User, lead) is None:
        raise InvalidChange("lead_user_id", f"user {lead} does not exist")


def _check_care_team(
    session: Session, care_team_id: int | None, person_id: int, actor: Actor
) -> None:
    """A person's plan goes only to a team that cares for them (`access.care_team_problem`):
    the team decides whose lists show the person. houseofcare itself (seeding) is trusted."""
    if care_team_id is None or actor.user_id is None:
        return
    problem = care_team_problem(session, care_team_id, person_id, actor.organisation_id)
    if problem is not None:
        raise InvalidChange("care_team_id", problem)


def _check_action(
    session: Session, plan_id: int, values: Mapping[str, Any], *, creating: bool
) -> None:
    performer = values.get("performer")
    if (
        performer is not None
        and performer != "person"
        and not values.get("performer_name")
        and values.get("performer_user_id") is None
    ):
        raise InvalidChange(
            "performer_name", f"name the {performer} who does this (or give performer_user_id)"
        )
    user_id = values.get("performer_user_id")
    if user_id is not None and session.get(User, user_id) is None:
        raise InvalidChange("performer_user_id", f"user {user_id} does not exist")
    goal_id = values.get("goal_id")
    if goal_id is not None:
        goal = session.get(Goal, goal_id)
        if goal is None or goal.care_plan_id != plan_id:
            raise InvalidChange("goal_id", f"goal {goal_id} is not a goal of care plan {plan_id}")


def _open_plan(session: Session, plan_id: int) -> CarePlan:
    plan = get_care_plan(session, plan_id)
    if plan.status in CLOSED_STATUSES:
        raise InvalidChange(
            "status", f"care plan {plan_id} is {plan.status.value}; it can no longer be changed"
        )
    return plan


def _apply_versioned_change(
    session: Session, record: Goal | Action, values: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Apply `values` to a goal or action whose version was just bumped: (what changed, the
    row after)."""
    reload(session, record)
    before = columns_of(record)
    for key, value in values.items():
        setattr(record, key, value)
    session.flush()
    after = columns_of(record)
    return diff(before, after), after


def _plan_follows_child(
    session: Session,
    plan: CarePlan,
    change: ChangeKind,
    key: str,
    child_id: int,
    version: int,
    changed: Mapping[str, Any],
    actor: Actor,
) -> None:
    """A goal or action changed: the plan moves on a version and records what changed."""
    bump_version(session, CarePlan, plan.id, None)
    _record_child_change(
        session,
        plan,
        change,
        {key: {"id": child_id, "version": version, "changes": changed}},
        actor,
    )


def _version_fields(
    version: int,
    change: ChangeKind,
    changes: Mapping[str, Any],
    snapshot: Mapping[str, Any],
    actor: Actor,
) -> dict[str, Any]:
    return {
        "version": version,
        "change": change,
        "changed_at": utcnow(),
        "changed_by_id": actor.user_id,
        "changed_by_role": None if actor.role is None else actor.role.value,
        "changes": dict(changes),
        "snapshot": dict(snapshot),
    }


def _write_plan_version(
    session: Session,
    plan: CarePlan,
    change: ChangeKind,
    changes: Mapping[str, Any],
    snapshot: Mapping[str, Any],
    actor: Actor,
    *,
    parts_changed: bool = True,
) -> None:
    session.add(
        CarePlanVersion(
            care_plan_id=plan.id,
            **_version_fields(plan.version, change, changes, snapshot, actor),
        )
    )
    session.flush()
    if parts_changed:
        # children were written by id; make `plan.goals` etc. load afresh on next use
        session.expire(plan, list(PLAN_PARTS))


def _change_plan(
    session: Session,
    plan: CarePlan,
    expected_version: int,
    values: Mapping[str, Any],
    change: ChangeKind,
    actor: Actor,
    *,
    also: Any = None,
    also_changes: Sequence[str] = (),
    extra: Mapping[str, Any] | None = None,
) -> CarePlan:
    """Compare-and-set the plan's version, apply `values` (and `also()`, which changes the
    parts named in `also_changes`), write the version.

    The plan is snapshotted once, under the row lock; the version after the change is that
    snapshot with the plan's new columns and only the parts `also()` changed read again, so
    a change of the plan's own fields costs no second read of its parts.
    """
    if plan.status in CLOSED_STATUSES and values.get("status") is None:
        raise InvalidChange(
            "status", f"care plan {plan.id} is {plan.status.value}; it can no longer be changed"
        )
    compare_and_set(session, plan, expected_version)
    before = plan_snapshot(session, plan)
    for key, value in values.items():
        setattr(plan, key, value)
    if also is not None:
        also()
    _flush_plan(session, plan.person_id)
    after = {**before, **columns_of(plan)}
    for key in also_changes:
        after[key] = plan_part(session, plan, key)
    changed: dict[str, Any] = diff(before, after)
    if extra:
        changed.update(extra)
    _write_plan_version(
        session, plan, change, changed, after, actor, parts_changed=bool(also_changes)
    )
    return plan


def _record_child_change(
    session: Session,
    plan: CarePlan,
    change: ChangeKind,
    changes: Mapping[str, Any],
    actor: Actor,
) -> None:
    """After a goal, action or need changed (its plan's version already bumped)."""
    reload(session, plan)
    _write_plan_version(session, plan, change, changes, plan_snapshot(session, plan), actor)


def people_with_plans(session: Session, person_ids: Iterable[int]) -> dict[int, CarePlan]:
    """Each given person's active plan, by person id (people without one are left out)."""
    ids = list(person_ids)
    if not ids:
        return {}
    plans = session.scalars(
        select(CarePlan).where(
            CarePlan.person_id.in_(ids), CarePlan.status == CarePlanStatus.active
        )
    ).all()
    return {plan.person_id: plan for plan in plans}


def count_care_plans(session: Session, *, status: CarePlanStatus | None = None) -> int:
    query = select(func.count()).select_from(CarePlan)
    if status is not None:
        query = query.where(CarePlan.status == status)
    return session.scalar(query) or 0


def person_of_plan(session: Session, plan_id: int) -> Person:
    """The person a plan belongs to (for access checks and audit)."""
    return get_care_plan(session, plan_id).person
