"""Each role's home page words: complete for every action, relationship and role, and true
to the access policy."""

from __future__ import annotations

from houseofcare.careplan.policy import Action, Relationship, packaged_policy
from houseofcare.store.models import Role
from houseofcare.web.home import ACTION_WORDS, ROLE_INTRO, ROLE_TOOLS, WHOM_WORDS, permissions
from houseofcare.web.security import csrf_ok, csrf_token, pre_session_binding, session_binding


def test_every_action_relationship_and_role_has_words() -> None:
    assert set(ACTION_WORDS) == set(Action)
    assert set(WHOM_WORDS) == set(Relationship)
    assert set(ROLE_INTRO) == set(Role) == set(ROLE_TOOLS)


def test_the_home_page_promises_exactly_what_the_policy_grants() -> None:
    policy = packaged_policy()
    assert permissions(policy, Role.commissioner) == []
    admin = permissions(policy, Role.admin)
    assert [p.what for p in admin] == [ACTION_WORDS[Action.audit_read]]
    patient = {p.what: p.whom for p in permissions(policy, Role.patient)}
    assert patient[ACTION_WORDS[Action.careplan_read]] == (
        "you or people who gave you proxy access as their carer"  # issue 12: proxy
    )
    assert patient[ACTION_WORDS[Action.proxy_write]] == "you"  # only the person gives it
    assert ACTION_WORDS[Action.careplan_write] not in patient
    matron = {p.what: p.whom for p in permissions(policy, Role.case_manager)}
    assert matron[ACTION_WORDS[Action.patient_read]] == "people on your caseload"
    for role in Role:
        shown = {p.what for p in permissions(policy, role)}
        granted = {ACTION_WORDS[a] for a in Action if policy.granted(role, a)}
        assert shown == (granted if policy.identifiable(role) else set()), role


def test_a_csrf_token_fits_only_its_own_session() -> None:
    key = b"k" * 32
    mine, theirs = session_binding("token-a"), session_binding("token-b")
    token = csrf_token(key, mine)
    assert csrf_ok(key, mine, token)
    assert not csrf_ok(key, theirs, token)
    assert not csrf_ok(b"other" * 8, mine, token)
    assert not csrf_ok(key, mine, None)
    assert not csrf_ok(key, None, token)
    assert not csrf_ok(key, mine, token + "\udcff")
    assert not csrf_ok(key, pre_session_binding("token-a"), token)
