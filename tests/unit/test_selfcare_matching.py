"""Matching's scoring and exclusions, activation levels and tailoring, and the data files'
checks, without a store (issue 13). Matching against SQLite and PostgreSQL stores is
`tests/integration/test_selfcare_matching.py`."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from houseofcare.careplan.errors import InvalidChange
from houseofcare.selfcare.activation import (
    ActivationRulesError,
    load_activation_rules,
    packaged_activation_rules,
    parse_score,
)
from houseofcare.selfcare.matching import (
    Candidate,
    Locality,
    MatchingRulesError,
    PersonFacts,
    PersonNeed,
    goal_words,
    load_matching_rules,
    locality_of_lsoa,
    packaged_matching_rules,
    rank,
    unmet_needs,
)
from houseofcare.selfcare.preferences import Preferences

LUTON = Locality(name="Luton", code="E06000032", area="Bedfordshire", nearby=frozenset({"bedford"}))


def _service(sid: int, name: str, **changes: object) -> Candidate:
    base = Candidate(
        id=sid,
        name=name,
        organisation_name="Org",
        kind="voluntary",
        access="referral",
        needs=("social_loneliness",),
        conditions=(),
        locality="Luton",
        text=name.casefold(),
        accessibility=(),
        languages=(),
        capacity_per_month=None,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def _person(**changes: object) -> PersonFacts:
    base = PersonFacts(
        person_id=1,
        needs=(
            PersonNeed("social_loneliness", "Lives alone"),
            PersonNeed("mobility", "Stairs are hard"),
        ),
        goals=(),
        age=70,
        registers=frozenset({"COPD"}),
        locality=LUTON,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def _ids(suggestions: list) -> list[int]:  # type: ignore[type-arg]
    return [s.service_id for s in suggestions]


def test_more_needs_met_ranks_higher_and_says_which() -> None:
    both = _service(1, "Walk and talk", needs=("social_loneliness", "mobility"))
    one = _service(2, "Coffee morning")
    ranked = rank([one, both], _person(), {})
    assert _ids(ranked) == [1, 2]
    assert "Helps with loneliness, getting about" in ranked[0].reasons
    assert ranked[0].needs_met == ("social_loneliness", "mobility")
    assert ranked[0].score > ranked[1].score


def test_place_own_locality_before_everywhere_before_nearby() -> None:
    own = _service(1, "C own")
    anywhere = _service(2, "B anywhere", locality=None)
    near = _service(3, "A near", locality="Bedford")
    ranked = rank([near, anywhere, own], _person(), {})
    assert _ids(ranked) == [1, 2, 3]
    assert "In Luton, where the person lives" in ranked[0].reasons
    assert "Available wherever the person lives" in ranked[1].reasons
    assert "Nearby, in Bedford" in ranked[2].reasons


def test_a_service_elsewhere_is_excluded() -> None:
    far = _service(1, "Far", locality="Cornwall")
    assert rank([far], _person(), {}) == []
    # with no locality known for the person, place is not used and nothing is excluded for it
    assert _ids(rank([far], _person(locality=None), {})) == [1]


def test_a_service_for_a_condition_the_person_does_not_have_is_excluded() -> None:
    cardiac = _service(1, "Cardiac rehab", conditions=("CHD",), needs=("physical_health",))
    pulmonary = _service(2, "Pulmonary rehab", conditions=("COPD",), needs=("physical_health",))
    ranked = rank([cardiac, pulmonary], _person(), {})
    assert _ids(ranked) == [2]
    named = rank([pulmonary], _person(), {}, register_names={"COPD": "COPD (the register)"})
    assert "For people with COPD (the register)" in named[0].reasons


def test_a_full_service_is_kept_last_and_marked_full() -> None:
    full = _service(1, "A full best", needs=("social_loneliness", "mobility"), capacity_per_month=5)
    open_ = _service(2, "B open", capacity_per_month=10)
    unlimited = _service(3, "C unlimited")
    ranked = rank([full, open_, unlimited], _person(), {1: (5, 0), 2: (10, 3)})
    assert _ids(ranked) == [3, 2, 1]
    assert ranked[-1].full and "Full this month" in ranked[-1].cautions
    assert ranked[1].places_left == 3 and "3 places left this month" in ranked[1].reasons
    assert ranked[0].places_left is None and not ranked[0].full
    # a full service's need is unmet (only full services address it)
    unmet = unmet_needs(_person(), [s for s in ranked if s.service_id == 1])
    assert [(u.domain, u.only_full) for u in unmet] == [
        ("social_loneliness", True),
        ("mobility", True),
    ]


def test_needs_no_service_addresses_are_listed_unmet() -> None:
    ranked = rank([_service(1, "Coffee morning")], _person(), {})
    [unmet] = unmet_needs(_person(), ranked)
    assert (unmet.domain, unmet.words, unmet.only_full) == ("mobility", "Getting about", False)
    assert unmet.descriptions == ("Stairs are hard",)


def test_accessibility_and_language_rank_and_warn() -> None:
    person = _person(preferences=Preferences("pa", (), ("wheelchair access", "hearing loop")))
    fits = _service(
        1, "Z fits", accessibility=("wheelchair access", "hearing loop"), languages=("en", "pa")
    )
    lacks = _service(2, "A lacks")
    ranked = rank([lacks, fits], person, {})
    assert _ids(ranked) == [1, 2]
    assert "Has wheelchair access, hearing loop" in ranked[0].reasons
    assert "Offered in Punjabi" in ranked[0].reasons
    assert "Not offered in Punjabi" in ranked[1].cautions
    assert "Does not say it has wheelchair access, hearing loop" in ranked[1].cautions


def test_activation_tailoring_changes_the_order_not_the_set() -> None:
    course = _service(1, "Managing well course", kind="education")
    peer = _service(2, "Peer support group", kind="self_help", access="self_referral")
    low = rank([peer, course], _person(activation=1), {})
    high = rank([course, peer], _person(activation=4), {})
    assert _ids(low) == [1, 2]
    assert _ids(high) == [2, 1]
    assert set(_ids(low)) == set(_ids(high))  # never withholds (H-061)
    levels = packaged_activation_rules()
    assert levels.level(1).because in low[0].reasons
    assert levels.level(4).because in high[0].reasons
    # without an activation level the order is by name among equals
    assert _ids(rank([peer, course], _person(), {})) == [1, 2]


def test_goals_and_ways_add_their_reasons() -> None:
    person = _person(
        goals=("To walk to the shops again",), preferences=Preferences(None, ("group",), ())
    )
    walking = _service(1, "Z Walking group", text="walking group for the shops")
    other = _service(2, "A Craft club")
    ranked = rank([other, walking], person, {})
    assert _ids(ranked) == [1, 2]
    assert "Matches what matters to the person: “shops”, “walk”" in ranked[0].reasons
    assert "Offers in a group" in ranked[0].reasons
    assert goal_words(["I want to WALK to the shops"], packaged_matching_rules()) == {
        "walk",
        "shops",
    }


def test_activation_levels_at_the_cut_offs() -> None:
    rules = packaged_activation_rules()
    cases = {0: 1, 47.0: 1, 47.05: 2, 47.1: 2, 55.1: 2, 55.2: 3, 67.0: 3, 67.1: 4, 100: 4}
    assert {score: rules.level_of(score).level for score in cases} == cases
    assert parse_score(" 55.15 ") == 55.1 or parse_score(" 55.15 ") == 55.2
    for bad, words in (
        ("", "Enter the activation score"),
        ("abc", "as a number"),
        ("101", "from 0 to 100"),
        ("-1", "from 0 to 100"),
        ("nan", "from 0 to 100"),
    ):
        with pytest.raises(InvalidChange, match=words):
            parse_score(bad)


def test_the_data_files_are_checked_when_loaded(tmp_path: Path) -> None:
    assert packaged_matching_rules().weights.needs > 0
    bad = tmp_path / "matching.toml"
    bad.write_text("version = 1\n[weights]\nneeds = -1\n", encoding="utf-8")
    with pytest.raises(MatchingRulesError, match=r"matching\.toml: .*weights\.needs"):
        load_matching_rules(bad)
    levels = tmp_path / "activation.toml"
    levels.write_text(
        "version = 1\n"
        + "".join(
            f'[[levels]]\nlevel = {n}\nup_to = {50 - n}\nname = "x"\nwords = "x"\nbecause = "x"\n'
            for n in (1, 2, 3)
        )
        + '[[levels]]\nlevel = 4\nname = "x"\nwords = "x"\nbecause = "x"\n',
        encoding="utf-8",
    )
    with pytest.raises(ActivationRulesError, match="up_to must rise"):
        load_activation_rules(levels)


def test_locality_comes_from_the_lsoa_lookup() -> None:
    found = locality_of_lsoa("E01015736")
    assert found is not None and found.name == "Luton" and found.code == "E06000032"
    assert "luton" not in found.nearby and found.own == {"luton", "e06000032"}
    assert locality_of_lsoa("E99999999") is None and locality_of_lsoa(None) is None
