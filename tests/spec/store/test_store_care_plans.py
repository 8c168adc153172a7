"""The one care plan per person, its versions and the Year of Care steps, on every store."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from houseofcare.careplan import ActivePlanExists, InvalidChange, NotFound, StaleVersion
from houseofcare.careplan.lists import due_reviews
from houseofcare.careplan.plans import (
    active_care_plan,
    add_action,
    add_comment,
    add_goal,
    add_need,
    care_plan_history,
    care_plan_version,
    create_care_plan,
    find_care_plans,
    find_goals,
    get_care_plan,
    goal_history,
    record_conversation,
    review_care_plan,
    set_review_date,
    update_action,
    update_care_plan,
    update_goal,
    update_need,
)
from houseofcare.careplan.policy import Action
from houseofcare.store.models import CarePlan, CarePlanVersion, Role

from .conftest import Store

TODAY = dt.date.today()


def _plan(store: Store, **values: object) -> tuple[int, int]:
    """A new person with an active plan: (person id, plan id)."""
    person_id = store.new_person_id()
    with store.transaction() as session:
        plan = create_care_plan(session, person_id, store.actor(), **values)  # type: ignore[arg-type]
        return person_id, plan.id


def _count_versions(store: Store, plan_id: int) -> int:
    with store.session() as session:
        return session.scalar(
            select(func.count())
            .select_from(CarePlanVersion)
            .where(CarePlanVersion.care_plan_id == plan_id)
        )


def test_a_new_plan_is_version_1_with_its_first_version_row(store: Store) -> None:
    person_id, plan_id = _plan(store, title="About me")
    with store.session() as session:
        plan = get_care_plan(session, plan_id)
        assert (plan.version, plan.status.value, plan.person_id) == (1, "active", person_id)
        assert plan.created_at.tzinfo is not None and plan.created_at.utcoffset() == dt.timedelta(0)
        (first,) = care_plan_history(session, plan_id)
        assert (first.version, first.change.value) == (1, "created")
        assert first.changed_by_id == store.users[Role.nurse].id
        assert first.changed_by_role == "nurse"
        assert first.snapshot["title"] == "About me"
        assert first.changes["title"] == [None, "About me"]


def test_a_second_active_plan_for_the_same_person_is_refused(store: Store) -> None:
    person_id, plan_id = _plan(store)
    with store.session() as session, pytest.raises(ActivePlanExists) as refused:
        create_care_plan(session, person_id, store.actor())
    assert refused.value.plan_id == plan_id
    assert "already has an active care plan" in str(refused.value)
    with store.session() as session:
        assert len(find_care_plans(session, person_id=person_id)) == 1


def test_the_database_itself_refuses_a_second_active_plan(store: Store) -> None:
    """Even SQL that bypasses the services cannot give a person two active plans."""
    person_id, _ = _plan(store)
    now = dt.datetime.now(dt.UTC)
    with store.session() as session, pytest.raises(IntegrityError):
        session.add(
            CarePlan(
                person_id=person_id,
                status="active",
                title="sneaky second plan",
                version=1,
                created_at=now,
                updated_at=now,
            )
        )
        session.flush()


def test_draft_and_completed_plans_do_not_count_against_the_one_active_plan(store: Store) -> None:
    person_id, plan_id = _plan(store)
    with store.transaction() as session:
        draft = create_care_plan(session, person_id, store.actor(), status="draft")
        assert draft.status.value == "draft"
        update_care_plan(session, plan_id, 1, {"status": "completed"}, store.actor())
    with store.transaction() as session:
        update_care_plan(session, draft.id, 1, {"status": "active"}, store.actor())
    with store.session() as session:
        active = active_care_plan(session, person_id)
        assert active is not None and active.id == draft.id


def test_activating_a_draft_beside_an_active_plan_is_refused(store: Store) -> None:
    person_id, _ = _plan(store)
    with store.transaction() as session:
        draft = create_care_plan(session, person_id, store.actor(), status="draft")
    with store.session() as session, pytest.raises(ActivePlanExists):
        update_care_plan(session, draft.id, 1, {"status": "active"}, store.actor())


def test_an_update_makes_a_new_version_with_who_when_and_the_diff(store: Store) -> None:
    _, plan_id = _plan(store, title="Old title")
    with store.transaction() as session:
        plan = update_care_plan(
            session, plan_id, 1, {"title": "New title", "description": "Me"}, store.actor(Role.gp)
        )
        assert plan.version == 2
    with store.session() as session:
        first, second = care_plan_history(session, plan_id)
        assert second.version == 2 and second.change.value == "updated"
        assert second.changes["title"] == ["Old title", "New title"]
        assert second.changes["description"] == [None, "Me"]
        assert second.changed_by_role == "gp"
        assert first.snapshot["title"] == "Old title"  # the old version stays readable
        assert care_plan_version(session, plan_id, 2).snapshot["title"] == "New title"
        with pytest.raises(NotFound):
            care_plan_version(session, plan_id, 3)


def test_a_stale_version_is_refused_and_writes_nothing(store: Store) -> None:
    _, plan_id = _plan(store, title="Mine")
    with store.transaction() as session:
        update_care_plan(session, plan_id, 1, {"title": "First writer"}, store.actor())
    with store.session() as session, pytest.raises(StaleVersion) as stale:
        update_care_plan(session, plan_id, 1, {"title": "Second writer"}, store.actor())
    assert (stale.value.expected, stale.value.current) == (1, 2)
    assert "version 2, not 1" in str(stale.value)
    with store.session() as session:
        plan = get_care_plan(session, plan_id)
        assert (plan.version, plan.title) == (2, "First writer")
    assert _count_versions(store, plan_id) == 2


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"colour": "blue"}, "colour"),
        ({"status": "finished"}, "status"),
        ({"review_date": "next tuesday"}, "review_date"),
        ({"title": ""}, "title"),
        ({"care_team_id": 999_999}, "care_team_id"),
    ],
)
def test_bad_changes_name_the_field_and_write_nothing(
    store: Store, changes: dict[str, object], field: str
) -> None:
    _, plan_id = _plan(store, title="Kept")
    with store.session() as session, pytest.raises(InvalidChange) as bad:
        update_care_plan(session, plan_id, 1, changes, store.actor())
    assert bad.value.field == field
    with store.session() as session:
        assert get_care_plan(session, plan_id).version == 1
    assert _count_versions(store, plan_id) == 1


def test_a_plan_for_a_missing_person_is_refused(store: Store) -> None:
    with store.session() as session, pytest.raises(NotFound, match="Person 987654"):
        create_care_plan(session, 987654, store.actor())


def test_goals_are_versioned_and_advance_the_plan_version(store: Store) -> None:
    _, plan_id = _plan(store)
    with store.transaction() as session:
        goal = add_goal(
            session,
            plan_id,
            {
                "what_matters_to_me": "Play with my grandchildren in the park",
                "target_measure": "HbA1c",
                "target_value": 53,
                "target_unit": "mmol/mol",
                "target_due": TODAY + dt.timedelta(days=180),
            },
            store.actor(),
        )
        assert goal.version == 1
        assert get_care_plan(session, plan_id).version == 2
    with store.transaction() as session:
        updated = update_goal(session, goal.id, 1, {"status": "completed"}, store.actor())
        assert updated.version == 2 and updated.status_date == TODAY
    with store.session() as session, pytest.raises(StaleVersion):
        update_goal(session, goal.id, 1, {"target_value": 48}, store.actor())
    with store.session() as session:
        history = goal_history(session, goal.id)
        assert [v.version for v in history] == [1, 2]
        assert history[1].changes["status"] == ["active", "completed"]
        assert history[0].snapshot["what_matters_to_me"] == "Play with my grandchildren in the park"
        plan = get_care_plan(session, plan_id)
        assert plan.version == 3
        last = care_plan_version(session, plan_id, 3)
        assert last.change.value == "goal"
        assert last.snapshot["goals"][0]["status"] == "completed"
        assert [g.id for g in find_goals(session, care_plan_id=plan_id)] == [goal.id]


def test_a_goal_needs_the_persons_own_words(store: Store) -> None:
    _, plan_id = _plan(store)
    with store.session() as session, pytest.raises(InvalidChange) as bad:
        add_goal(session, plan_id, {"target_value": 5}, store.actor())
    assert bad.value.field == "what_matters_to_me"


def test_actions_say_who_does_what_by_when(store: Store) -> None:
    _, plan_id = _plan(store)
    with store.transaction() as session:
        goal = add_goal(session, plan_id, {"what_matters_to_me": "Sleep well"}, store.actor())
        action = add_action(
            session,
            plan_id,
            {
                "performer": "carer",
                "performer_name": "My daughter, Sam",
                "description": "Drive me to the pharmacy on Fridays",
                "due_date": TODAY + dt.timedelta(days=7),
                "goal_id": goal.id,
            },
            store.actor(),
        )
        assert (action.version, action.status.value) == (1, "not-started")
    with store.transaction() as session:
        changed = update_action(session, action.id, 1, {"status": "completed"}, store.actor())
        assert changed.version == 2
    with store.session() as session, pytest.raises(StaleVersion):
        update_action(session, action.id, 1, {"status": "cancelled"}, store.actor())


@pytest.mark.parametrize(
    ("action", "field"),
    [
        ({"performer": "carer", "description": "Help"}, "performer_name"),
        ({"performer": "neighbour", "description": "Help"}, "performer"),
        ({"performer": "person"}, "description"),
        ({"performer": "person", "description": "x", "when": "soon"}, "when"),
    ],
)
def test_a_bad_action_names_the_field(store: Store, action: dict[str, str], field: str) -> None:
    _, plan_id = _plan(store)
    with store.session() as session, pytest.raises(InvalidChange) as bad:
        add_action(session, plan_id, action, store.actor())
    assert bad.value.field == field


def test_an_action_cannot_serve_another_plans_goal(store: Store) -> None:
    _, plan_a = _plan(store)
    _, plan_b = _plan(store)
    with store.transaction() as session:
        goal = add_goal(session, plan_a, {"what_matters_to_me": "Garden again"}, store.actor())
    with store.session() as session, pytest.raises(InvalidChange) as bad:
        add_action(
            session,
            plan_b,
            {"performer": "person", "description": "Dig", "goal_id": goal.id},
            store.actor(),
        )
    assert bad.value.field == "goal_id"


def test_needs_are_in_the_house_of_care_domains(store: Store) -> None:
    _, plan_id = _plan(store)
    with store.transaction() as session:
        need = add_need(
            session,
            plan_id,
            {"domain": "social_housing", "description": "Damp flat"},
            store.actor(),
        )
        update_need(session, need.id, {"status": "resolved"}, store.actor())
    with store.session() as session:
        plan = get_care_plan(session, plan_id)
        assert plan.version == 3
        assert care_plan_version(session, plan_id, 2).snapshot["needs"][0]["status"] == "active"
        assert care_plan_version(session, plan_id, 3).snapshot["needs"][0]["status"] == "resolved"
        with pytest.raises(InvalidChange) as bad:
            add_need(session, plan_id, {"domain": "spiritual", "description": "x"}, store.actor())
        assert bad.value.field == "domain"


def test_the_conversation_records_who_took_part_and_agreement(store: Store) -> None:
    _, plan_id = _plan(store)
    nurse = store.users[Role.nurse]
    with store.transaction() as session:
        plan = record_conversation(
            session,
            plan_id,
            1,
            store.actor(),
            participants=[
                {"role": "person", "name": "Ada"},
                {"role": "carer", "name": "Ben"},
                {"role": "professional", "name": "Nurse", "user_id": nurse.id},
            ],
            agreed_with_person=True,
            review_date=TODAY + dt.timedelta(days=365),
        )
        assert plan.agreed_with_person and plan.agreed_at is not None
        assert [p.role.value for p in plan.participants] == ["person", "carer", "professional"]
    with store.transaction() as session:
        record_conversation(
            session,
            plan_id,
            2,
            store.actor(),
            participants=[{"role": "person", "name": "Ada"}],
            agreed_with_person=False,
        )
    with store.session() as session:
        plan = get_care_plan(session, plan_id)
        assert (plan.version, plan.agreed_with_person) == (3, False)
        assert [p.name for p in plan.participants] == ["Ada"]
        earlier = care_plan_version(session, plan_id, 2).snapshot
        assert [p["name"] for p in earlier["participants"]] == ["Ada", "Ben", "Nurse"]
        assert earlier["agreed_with_person"] is True
        with pytest.raises(InvalidChange) as bad:
            record_conversation(
                session, plan_id, 3, store.actor(), participants=[], agreed_with_person=True
            )
        assert bad.value.field == "participants"


def test_a_review_is_a_new_version_and_never_overwrites(store: Store) -> None:
    _, plan_id = _plan(store, review_date=TODAY - dt.timedelta(days=3))
    with store.transaction() as session:
        plan = review_care_plan(
            session,
            plan_id,
            1,
            store.actor(),
            next_review_date=TODAY + dt.timedelta(days=180),
            note="Walking further; keep going",
        )
        assert plan.version == 2 and plan.last_reviewed_at is not None
    with store.session() as session:
        first, second = care_plan_history(session, plan_id)
        assert first.snapshot["review_date"] == (TODAY - dt.timedelta(days=3)).isoformat()
        assert second.change.value == "reviewed"
        assert second.changes["review_note"] == "Walking further; keep going"
        with pytest.raises(InvalidChange) as bad:
            review_care_plan(session, plan_id, 2, store.actor(), next_review_date=TODAY)
        assert bad.value.field == "next_review_date"


def test_due_reviews_per_team_most_overdue_first(store: Store) -> None:
    team, other = store.team, store.other_team
    assert team is not None and other is not None
    _, overdue = _plan(store, care_team_id=team.id, review_date=TODAY - dt.timedelta(days=40))
    _, due_today = _plan(store, care_team_id=team.id, review_date=TODAY)
    _, later = _plan(store, care_team_id=team.id, review_date=TODAY + dt.timedelta(days=30))
    _, unscheduled = _plan(store, care_team_id=team.id)
    _, elsewhere = _plan(store, care_team_id=other.id, review_date=TODAY - dt.timedelta(days=1))
    with store.transaction() as session:
        set_review_date(session, later, 1, TODAY + dt.timedelta(days=60), store.actor())
    nurse = store.visible(Role.nurse, Action.careplan_read)
    with store.session() as session:
        listed = [r.care_plan_id for r in due_reviews(session, team.id, visible=nurse, on=TODAY)]
        mine = [p for p in listed if p in {overdue, due_today, later, unscheduled, elsewhere}]
        assert mine == [unscheduled, overdue, due_today]
        row = next(
            r
            for r in due_reviews(session, team.id, visible=nurse, on=TODAY)
            if r.care_plan_id == overdue
        )
        assert row.days_overdue == 40
        scheduled_only = due_reviews(
            session, team.id, visible=nurse, on=TODAY, include_unscheduled=False
        )
        assert unscheduled not in [r.care_plan_id for r in scheduled_only]
        assert elsewhere in [
            r.care_plan_id for r in due_reviews(session, other.id, visible=nurse, on=TODAY)
        ]


def test_a_closed_plan_can_no_longer_be_changed(store: Store) -> None:
    _, plan_id = _plan(store)
    with store.transaction() as session:
        update_care_plan(session, plan_id, 1, {"status": "completed"}, store.actor())
    with store.session() as session:
        with pytest.raises(InvalidChange, match="completed"):
            add_goal(session, plan_id, {"what_matters_to_me": "x"}, store.actor())
        with pytest.raises(InvalidChange, match="completed"):
            update_care_plan(session, plan_id, 2, {"title": "changed"}, store.actor())


def test_the_person_can_comment_on_their_plan(store: Store) -> None:
    _, plan_id = _plan(store)
    with store.transaction() as session:
        comment = add_comment(
            session, plan_id, "  I'd like the group on Tuesdays  ", store.actor(Role.patient)
        )
        assert comment.text == "I'd like the group on Tuesdays"
        with pytest.raises(InvalidChange):
            add_comment(session, plan_id, "   ", store.actor(Role.patient))


def test_version_rows_cannot_be_rewritten(store: Store) -> None:
    """History is append-only in the database: UPDATE and DELETE on it fail."""
    _, plan_id = _plan(store)
    for statement in (
        "UPDATE care_plan_version SET change = 'updated' WHERE care_plan_id = :id",
        "DELETE FROM care_plan_version WHERE care_plan_id = :id",
    ):
        with store.session() as session, pytest.raises(Exception, match="append-only"):
            session.execute(text(statement), {"id": plan_id})
            session.flush()
    assert _count_versions(store, plan_id) == 1
