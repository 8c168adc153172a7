"""The one access decision, on SQLite and PostgreSQL: one person's relationships and the
filter a list uses come from the same predicates, so they can never disagree."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from houseofcare.careplan.access import (
    care_team_problem,
    decide,
    relationships_to,
    visible_people,
)
from houseofcare.careplan.consent import give_consent
from houseofcare.careplan.people import assign_to_caseload, create_care_team
from houseofcare.careplan.policy import Action, Relationship, packaged_policy
from houseofcare.store.models import OrganisationType, Person, Role

from .conftest import Store


def _people(store: Store) -> dict[str, int]:
    """A small cast: each person related to a different user in a different way."""
    other_practice = store.orgs[OrganisationType.acute_trust].id  # not the users' practice
    manager = store.users[Role.case_manager]
    with store.transaction() as session:
        at_practice = store.person(session).id
        elsewhere = store.person(session, practice_id=other_practice).id
        on_caseload = store.person(session, practice_id=other_practice).id
        consented = store.person(session, practice_id=other_practice).id
        assign_to_caseload(session, case_manager_id=manager.id, person_id=on_caseload)
        give_consent(session, consented, OrganisationType.local_authority_social_care)
    return {
        "at_practice": at_practice,
        "elsewhere": elsewhere,
        "on_caseload": on_caseload,
        "consented": consented,
    }


def test_relationships_are_read_from_the_store(store: Store) -> None:
    people = _people(store)
    with store.session() as session:

        def rel(role: Role, who: str) -> frozenset[Relationship]:
            return relationships_to(session, store.access_actor(role), people[who])

        assert rel(Role.gp, "at_practice") == {Relationship.practice}
        assert rel(Role.gp, "elsewhere") == frozenset()
        assert rel(Role.case_manager, "on_caseload") == {Relationship.caseload}
        assert rel(Role.case_manager, "at_practice") == frozenset()
        assert rel(Role.social_worker, "consented") == {Relationship.consent}
        assert rel(Role.voluntary_sector, "consented") == frozenset()
        assert relationships_to(session, store.access_actor(Role.gp), 2_000_000_000) == set()


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("action", [Action.patient_read, Action.careplan_read, Action.risk_read])
def test_a_list_shows_exactly_the_people_a_read_allows(
    store: Store, role: Role, action: Action
) -> None:
    _people(store)
    policy = packaged_policy()
    actor = store.access_actor(role)
    with store.session() as session:
        everyone = session.scalars(select(Person.id)).all()
        listed = set(
            session.scalars(select(Person.id).where(visible_people(policy, actor, action))).all()
        )
        allowed = {
            pid
            for pid in everyone
            if decide(policy, actor, action, relationships_to(session, actor, pid)).allowed
        }
    assert listed == allowed
    if role in (Role.commissioner, Role.admin):
        assert listed == set()


def test_a_care_team_must_care_for_the_person(store: Store) -> None:
    people = _people(store)
    practice = store.orgs[OrganisationType.practice].id
    trust = store.orgs[OrganisationType.community_trust].id
    with store.transaction() as session:
        practice_team = create_care_team(session, name="Practice team", organisation_id=practice)
        trust_team = create_care_team(session, name="Trust team", organisation_id=trust)
        assert care_team_problem(session, practice_team.id, people["at_practice"], None) is None
        # a team of the writer's own organisation may hold any plan the writer may write
        assert care_team_problem(session, trust_team.id, people["on_caseload"], trust) is None
        refused = care_team_problem(session, practice_team.id, people["elsewhere"], trust)
        assert refused is not None and "neither the person's practice" in refused
        assert "does not exist" in (care_team_problem(session, 2**30, people["elsewhere"], 1) or "")
