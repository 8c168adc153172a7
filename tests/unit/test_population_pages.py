"""The population and help pages' pieces without the web stack: the aggregate action in the
access policy, the triangle's geometry and the help file's checks (issue 12)."""

from __future__ import annotations

from pathlib import Path

import pytest

from houseofcare.careplan.access import decide
from houseofcare.careplan.actor import Actor
from houseofcare.careplan.policy import (
    AGGREGATE_ACTIONS,
    LIST_ACTIONS,
    POLICY_FILE,
    Action,
    PolicyError,
    Relationship,
    load_policy,
    packaged_policy,
)
from houseofcare.commissioning.disclosure import controlled_count
from houseofcare.commissioning.population import LEVELS, Share, lsoa_lookup
from houseofcare.store.models import Role
from houseofcare.web.help import HELP_FILE, HelpError, load_help, packaged_help
from houseofcare.web.triangle import triangle_drawing


def _actor(role: Role) -> Actor:
    return Actor(
        user_id=1,
        username="x",
        role=role,
        organisation_id=None,
        organisation_type=None,
        person_id=None,
    )


def test_population_read_is_aggregate_and_the_commissioners_only_grant() -> None:
    policy = packaged_policy()
    assert Action.population_read in AGGREGATE_ACTIONS <= LIST_ACTIONS
    assert not policy.identifiable(Role.commissioner)
    assert {a for a in Action if policy.granted(Role.commissioner, a)} == {Action.population_read}
    allowed = {
        role for role in Role if decide(policy, _actor(role), Action.population_read, None).allowed
    }
    assert allowed == {Role.commissioner, Role.gp}
    # never about one person, whatever the relationships
    everything = frozenset(Relationship)
    assert not decide(policy, _actor(Role.commissioner), Action.population_read, everything).allowed
    # and the commissioner still may not do anything identifiable
    for action in set(Action) - AGGREGATE_ACTIONS:
        assert not decide(policy, _actor(Role.commissioner), action, None).allowed
        assert not decide(policy, _actor(Role.commissioner), action, everything).allowed


def test_a_role_without_identifiable_data_holds_only_aggregate_grants(tmp_path: Path) -> None:
    text = POLICY_FILE.read_text().replace(
        "[roles.commissioner.grants]\n", '[roles.commissioner.grants]\n"caregap.read" = ["any"]\n'
    )
    path = tmp_path / "policy.toml"
    path.write_text(text)
    with pytest.raises(PolicyError, match=r"identifiable = false may hold no grant.*caregap\.read"):
        load_policy(path)
    bad = POLICY_FILE.read_text().replace(
        '"population.read" = ["any"]  # issue 12: population pages\n\n[roles.nurse]',
        '"population.read" = ["practice"]\n\n[roles.nurse]',
    )
    path.write_text(bad)
    with pytest.raises(PolicyError, match="list action can only be granted to 'any'"):
        load_policy(path)


def test_the_triangle_is_drawn_as_a_triangle_with_every_level() -> None:
    shares = (
        Share(LEVELS[3], None, None),
        Share(LEVELS[2], 20, 33.3),
        Share(LEVELS[1], 1500, 25.0),
        Share(LEVELS[0], 25, 41.7),
    )
    drawing = triangle_drawing(shares)
    assert [b.level for b in drawing.bands] == [3, 2, 1, 0]
    apex = drawing.bands[0].points.split()
    # the top band comes to a point: its two upper corners are the same
    assert apex[0] == apex[1]
    widths = []
    for band in drawing.bands[:3]:
        xs = [float(p.split(",")[0]) for p in band.points.split()]
        widths.append(max(xs) - min(xs))
    assert widths == sorted(widths)  # wider towards the base
    assert drawing.bands[0].figures == "fewer than 8 people (not shown)"
    assert drawing.bands[2].figures == "1,500 people (25.0%)"
    assert "Level 0: prevention, 25 people (41.7%)" in drawing.summary


def test_the_disclosure_rule_in_words_and_numbers() -> None:
    assert [controlled_count(n) for n in (0, 1, 7, 8, 12, 13, 22)] == [
        0,
        None,
        None,
        10,
        10,
        15,
        20,
    ]


def test_the_lsoa_lookup_is_england_with_imd_and_authority() -> None:
    table = lsoa_lookup()
    assert table.num_rows == 32_844
    assert set(table.column("imd_decile").to_pylist()) == set(range(1, 11))
    assert len(set(table.column("lsoa_code").to_pylist())) == table.num_rows


def test_the_help_file_covers_every_role_and_names_declared_pages(tmp_path: Path) -> None:
    data = packaged_help()
    assert set(data.roles) == set(Role)
    assert {p.key for p in data.page} >= {"home", "population", "help", "person"}
    population = next(p for p in data.page if p.key == "population")
    assert set(population.roles) == {Role.gp, Role.commissioner}
    path = tmp_path / "help.toml"
    path.write_text(HELP_FILE.read_text().replace('path = "/population"', 'path = "/nowhere"'))
    with pytest.raises(HelpError, match="/nowhere is not a declared page"):
        load_help(path)
    path.write_text(HELP_FILE.read_text().split("[roles.admin]")[0])
    with pytest.raises(HelpError, match="missing: admin"):
        load_help(path)
