"""The access policy file: its schema, and the decisions made from it (no web stack)."""

from __future__ import annotations

from pathlib import Path

import pytest

from houseofcare.careplan.access import decide
from houseofcare.careplan.actor import Actor
from houseofcare.careplan.policy import (
    POLICY_FILE,
    Action,
    PolicyError,
    Relationship,
    Role,
    load_policy,
    packaged_policy,
)

P, C, S, SELF = (
    Relationship.practice,
    Relationship.caseload,
    Relationship.consent,
    Relationship.self,
)


def actor(role: Role, *, org: int | None = None, org_type: str | None = None, **kw: int) -> Actor:
    return Actor(
        user_id=kw.get("user_id", 99),
        username="x",
        role=role,
        organisation_id=org,
        organisation_type=org_type,
        person_id=kw.get("person_id"),
    )


def test_the_packaged_policy_loads_and_names_every_role() -> None:
    policy = packaged_policy()
    assert set(policy.rules.roles) == set(Role)


@pytest.mark.parametrize(
    ("who", "action", "have", "allowed"),
    [
        (actor(Role.gp), Action.careplan_write, {P}, True),
        (actor(Role.gp), Action.careplan_read, set(), False),
        (actor(Role.nurse), Action.careplan_read, {C}, True),
        (actor(Role.case_manager), Action.goal_write, {C}, True),
        (actor(Role.case_manager), Action.careplan_read, {P}, False),
        (actor(Role.social_worker), Action.careplan_read, {S}, True),
        (actor(Role.social_worker), Action.careplan_write, {S}, False),
        (actor(Role.voluntary_sector), Action.careplan_read, set(), False),
        (actor(Role.commissioner), Action.patient_read, {P, C}, False),
        (actor(Role.patient), Action.careplan_comment, {SELF}, True),
        (actor(Role.patient), Action.careplan_write, {SELF}, False),
        (actor(Role.patient), Action.careplan_read, set(), False),
        (actor(Role.admin), Action.careplan_read, {P}, False),
        (actor(Role.admin), Action.caregap_read, {P}, False),
        (actor(Role.case_manager), Action.risk_read, {C}, True),
        (actor(Role.gp), Action.caregap_read, {P}, True),
    ],
)
def test_decisions_follow_the_policy(
    who: Actor, action: Action, have: set[Relationship], allowed: bool
) -> None:
    decision = decide(packaged_policy(), who, action, frozenset(have))
    assert decision.allowed is allowed, decision.reason
    assert decision.reason


def test_list_actions_need_no_person_and_only_some_roles_have_them() -> None:
    policy = packaged_policy()
    assert decide(policy, actor(Role.admin), Action.audit_read, None).allowed
    assert not decide(policy, actor(Role.gp), Action.audit_read, None).allowed
    assert decide(policy, actor(Role.case_manager), Action.caseload_read, None).allowed
    assert not decide(policy, actor(Role.commissioner), Action.caseload_read, None).allowed


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(text)
    return path


def test_a_commissioner_grant_is_refused_at_load(tmp_path: Path) -> None:
    text = POLICY_FILE.read_text().replace(
        "[roles.commissioner.grants]\n", '[roles.commissioner.grants]\n"patient.read" = ["any"]\n'
    )
    with pytest.raises(PolicyError, match="identifiable = false may hold no grant"):
        load_policy(_write(tmp_path, text))


def test_unknown_action_and_relationship_are_named(tmp_path: Path) -> None:
    text = POLICY_FILE.read_text().replace(
        '"reviews.read" = ["any"]', '"reviews.raed" = ["any"]', 1
    )
    with pytest.raises(PolicyError, match=r"roles\.gp\.grants\.reviews\.raed"):
        load_policy(_write(tmp_path, text))
    text = POLICY_FILE.read_text().replace(
        '"patient.read" = ["practice", "caseload"]', '"patient.read" = ["neighbour"]', 1
    )
    with pytest.raises(PolicyError, match=r"neighbour|practice"):
        load_policy(_write(tmp_path, text))


def test_any_person_grant_on_a_record_is_refused(tmp_path: Path) -> None:
    text = POLICY_FILE.read_text().replace(
        '"audit.read" = ["any"]', '"audit.read" = ["any"]\n"careplan.read" = ["any"]'
    )
    with pytest.raises(PolicyError, match=r"careplan\.read: 'any' would disclose"):
        load_policy(_write(tmp_path, text))


def test_a_missing_role_and_a_missing_file_are_errors(tmp_path: Path) -> None:
    text = POLICY_FILE.read_text().split("[roles.admin]")[0]
    with pytest.raises(PolicyError, match="missing: admin"):
        load_policy(_write(tmp_path, text))
    with pytest.raises(PolicyError, match="no access policy file"):
        load_policy(tmp_path / "absent.toml")
