"""The referral flow (selfcare/referral_flow.toml): every move, by every role, allowed or not.

The expected moves are written out here (not read from the data file), so an edit of the
file that opens or closes a move fails this test; each role's side comes from the access
policy with the relationship that role has to a person it works with.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from houseofcare.careplan.actor import Actor
from houseofcare.careplan.policy import Relationship, packaged_policy
from houseofcare.selfcare.referrals import (
    FlowError,
    ForbiddenMove,
    Side,
    check_move,
    load_flow,
    moves_in_words,
    packaged_flow,
    sides_for,
)
from houseofcare.store.models import ActionStatus, ReferralStatus, Role, UnmetNeedReason

S = ReferralStatus
R, V = Side.referrer, Side.receiver
#: (from, to) → who may make it.
EXPECTED: dict[tuple[ReferralStatus, ReferralStatus], frozenset[Side]] = {
    (S.sent, S.accepted): frozenset({V}),
    (S.sent, S.declined): frozenset({V}),
    (S.sent, S.closed): frozenset({R}),
    (S.accepted, S.attended): frozenset({V}),
    (S.accepted, S.did_not_attend): frozenset({V}),
    (S.attended, S.closed): frozenset({R, V}),
    (S.did_not_attend, S.closed): frozenset({R, V}),
    (S.declined, S.closed): frozenset({R}),
}
#: Each role with the relationship it has to a person it works with, and its sides then.
ROLES: dict[Role, tuple[frozenset[Relationship], bool, frozenset[Side]]] = {
    Role.gp: (frozenset({Relationship.practice}), False, frozenset({R})),
    Role.nurse: (frozenset({Relationship.practice}), False, frozenset({R})),
    Role.case_manager: (frozenset({Relationship.caseload}), False, frozenset({R})),
    Role.link_worker: (frozenset({Relationship.caseload}), False, frozenset({R})),
    Role.voluntary_sector: (
        frozenset({Relationship.referred, Relationship.consent}),
        True,
        frozenset({V}),
    ),
    Role.social_worker: (frozenset({Relationship.consent}), False, frozenset()),
    Role.patient: (frozenset({Relationship.self}), False, frozenset()),
    Role.commissioner: (frozenset(), False, frozenset()),
    Role.admin: (frozenset(), False, frozenset()),
}
CASES = [
    pytest.param(role, a, b, id=f"{role.value}-{a.value}-{b.value}")
    for role in Role
    for a in ReferralStatus
    for b in ReferralStatus
    if a is not b
]


def test_every_role_is_cased() -> None:
    assert set(ROLES) == set(Role)


@pytest.mark.parametrize(("role", "from_status", "to"), CASES)
def test_each_move_for_each_role(role: Role, from_status: S, to: S) -> None:
    have, own, expected_sides = ROLES[role]
    actor = Actor(user_id=1, username="u", role=role, organisation_id=1)
    sides = sides_for(packaged_policy(), actor, have, own_service=own)
    assert sides == expected_sides
    allowed = bool(EXPECTED.get((from_status, to), frozenset()) & sides)
    if allowed:
        assert check_move(packaged_flow(), from_status, to, sides).to is to
    else:
        with pytest.raises(ForbiddenMove):
            check_move(packaged_flow(), from_status, to, sides)


def test_a_receiver_of_another_organisation_has_no_side() -> None:
    actor = Actor(user_id=1, username="u", role=Role.voluntary_sector, organisation_id=2)
    have = frozenset({Relationship.referred, Relationship.consent})
    assert sides_for(packaged_policy(), actor, have, own_service=False) == frozenset()
    # without `referred` (no referral to its organisation) there is no side either
    assert sides_for(packaged_policy(), actor, frozenset(), own_service=True) == frozenset()


def test_the_flow_has_exactly_the_expected_moves_and_their_effects() -> None:
    flow = packaged_flow()
    assert {(m.from_status, m.to): m.by for m in flow.move} == EXPECTED
    decline = flow.find(S.sent, S.declined)
    assert decline is not None and decline.reason
    assert decline.unmet_need is UnmetNeedReason.declined
    assert decline.action_status is ActionStatus.cancelled
    accept = flow.find(S.sent, S.accepted)
    assert accept is not None and accept.capacity and not accept.reason
    assert accept.action_status is ActionStatus.in_progress
    assert flow.find(S.accepted, S.attended).action_status is ActionStatus.completed  # type: ignore[union-attr]
    assert flow.find(S.accepted, S.did_not_attend).action_status is ActionStatus.stopped  # type: ignore[union-attr]
    withdraw = flow.find(S.sent, S.closed)
    assert withdraw is not None and withdraw.reason and withdraw.by == {R}
    assert len(moves_in_words()) == len(EXPECTED)


def test_a_forbidden_move_says_what_it_can_become() -> None:
    with pytest.raises(ForbiddenMove, match=r"cannot become attended \(it can become: "):
        check_move(packaged_flow(), S.sent, S.attended, {V})
    with pytest.raises(ForbiddenMove, match="only the receiver"):
        check_move(packaged_flow(), S.sent, S.accepted, {R})
    with pytest.raises(ForbiddenMove, match="none"):
        check_move(packaged_flow(), S.closed, S.sent, {R, V})


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            'version = 1\n[[move]]\nfrom = "sent"\nto = "gone"\nby = ["receiver"]\nwords = "x"\n',
            "to",
        ),
        (
            'version = 1\n[[move]]\nfrom = "sent"\nto = "accepted"\nby = ["boss"]\nwords = "x"\n',
            "by",
        ),
        ('version = 1\n[[move]]\nfrom = "sent"\nto = "accepted"\nby = []\nwords = "x"\n', "by"),
        (
            'version = 1\n[[move]]\nfrom = "sent"\nto = "accepted"\nby = ["receiver"]\n'
            'words = "x"\n',
            "statuses no move reaches",
        ),
        ('version = 1\n[[move]]\nfrom = "sent"\nto = "accepted"\nwho = 1\n', "who"),
    ],
)
def test_a_bad_flow_file_is_refused_naming_the_file_and_field(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "flow.toml"
    path.write_text(text)
    with pytest.raises(FlowError, match=str(path)) as raised:
        load_flow(path)
    assert problem in str(raised.value)


def test_a_move_listed_twice_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "flow.toml"
    move = '[[move]]\nfrom = "sent"\nto = "accepted"\nby = ["receiver"]\nwords = "x"\n'
    path.write_text("version = 1\n" + move + move)
    with pytest.raises(FlowError, match="listed twice"):
        load_flow(path)
