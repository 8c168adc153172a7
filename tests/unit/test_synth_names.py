"""Names of synthetic people: deterministic by seed, drawn as the data files weight them, by sex,
birth year and ethnic category, for a whole chunk at once."""

from __future__ import annotations

import time
from collections import Counter

import numpy as np
import pytest

from houseofcare.synth import inputs
from houseofcare.synth.names import (
    FAMILY_RANK_EXPONENT,
    GIVEN_RANK_EXPONENT,
    draw_names,
    name_data,
    nearest,
    read_commented,
)

CODES = tuple(inputs.ethnicity().codes)


def _draw(seed: int, n: int, *, code: str = "A", male: bool = False, year: int = 1954):
    return draw_names(
        np.random.default_rng(seed),
        ethnic=np.full(n, CODES.index(code)),
        male=np.full(n, male),
        birth_year=np.full(n, year),
        ethnic_codes=CODES,
    )


def _rows(file: str, **match: str) -> list[dict[str, str]]:
    return [r for r in read_commented(file) if all(r[k] == v for k, v in match.items())]


def test_the_same_seed_gives_the_same_names_and_another_seed_differs() -> None:
    rng_people = np.random.default_rng(0)
    n = 2_000
    ethnic = rng_people.integers(0, len(CODES), n)
    male = rng_people.random(n) < 0.5
    years = rng_people.integers(1926, 2026, n)

    def draw(seed: int):
        return draw_names(
            np.random.default_rng(seed),
            ethnic=ethnic,
            male=male,
            birth_year=years,
            ethnic_codes=CODES,
        )

    a, b, c = draw(1), draw(1), draw(2)
    assert np.array_equal(a.given, b.given) and np.array_equal(a.family, b.family)
    assert not np.array_equal(a.given, c.given)


def test_given_names_follow_the_ons_weights_of_the_birth_year() -> None:
    """Women born in 1954 take the ONS 1954 girls' list, weighted rank ** -0.8."""
    names = _draw(3, 40_000, year=1954)
    drawn = Counter(names.given_names[i] for i in names.given)
    listed = _rows("given_names.csv", pool="england", sex="female", year="1954")
    assert set(drawn) <= {r["name"] for r in listed}
    weights = {r["name"]: float(r["rank"]) ** -GIVEN_RANK_EXPONENT for r in listed}
    total = sum(weights.values())
    for name in ("Susan", "Linda", "Janet", "Elizabeth"):
        expected = weights[name] / total
        assert drawn[name] / 40_000 == pytest.approx(expected, rel=0.1), name


def test_years_with_counts_use_the_counts() -> None:
    names = _draw(4, 40_000, male=True, year=2020)
    drawn = Counter(names.given_names[i] for i in names.given)
    listed = _rows("given_names.csv", pool="england", sex="male", year="2020")
    counts = {r["name"]: float(r["count"]) for r in listed}
    assert drawn["Oliver"] / 40_000 == pytest.approx(
        counts["Oliver"] / sum(counts.values()), rel=0.1
    )


def test_family_names_follow_their_weights() -> None:
    names = _draw(5, 40_000)
    drawn = Counter(names.family_names[i] for i in names.family)
    listed = _rows("family_names.csv", pool="england")
    weights = {r["name"]: float(r["rank"]) ** -FAMILY_RANK_EXPONENT for r in listed}
    assert drawn["Smith"] / 40_000 == pytest.approx(
        weights["Smith"] / sum(weights.values()), rel=0.1
    )
    assert drawn["Smith"] / 40_000 < 0.05  # a demo list is not all Smiths


def test_given_names_suit_the_sex() -> None:
    women, men = _draw(6, 5_000, code="Z"), _draw(6, 5_000, code="Z", male=True)
    female_names = {r["name"] for r in read_commented("given_names.csv") if r["sex"] == "female"}
    male_names = {r["name"] for r in read_commented("given_names.csv") if r["sex"] == "male"}
    assert {women.given_names[i] for i in women.given} <= female_names
    assert {men.given_names[i] for i in men.given} <= male_names
    # names kept for one sex only go to that sex
    assert "Kowalska" not in {men.family_names[i] for i in men.family}
    assert "Kowalski" not in {women.family_names[i] for i in women.family}


def test_pools_follow_the_ethnic_category() -> None:
    """Bangladeshi people take Bangladeshi family names; White British people the England list."""
    bangladeshi = _draw(7, 3_000, code="K")
    pool = {r["name"] for r in _rows("family_names.csv", pool="bangladeshi")}
    assert {bangladeshi.family_names[i] for i in bangladeshi.family} <= pool
    british = _draw(7, 3_000, code="A")
    pool = {r["name"] for r in _rows("family_names.csv", pool="england")}
    assert {british.family_names[i] for i in british.family} <= pool
    # a category drawing from two pools by share: White Irish given names are half Irish pool
    irish = _draw(8, 20_000, code="B", year=1964)
    pool = _rows("given_names.csv", pool="irish", sex="female")
    england_1964 = {
        r["name"] for r in _rows("given_names.csv", pool="england", sex="female", year="1964")
    }
    weights = {r["name"]: float(r["rank"]) ** -GIVEN_RANK_EXPONENT for r in pool}
    only_irish = set(weights) - england_1964
    expected = 0.5 * sum(weights[n] for n in only_irish) / sum(weights.values())
    share = np.mean([irish.given_names[i] in only_irish for i in irish.given])
    assert share == pytest.approx(expected, rel=0.1)


def test_every_category_the_synth_uses_has_pools_adding_up_to_one() -> None:
    data = name_data(CODES)
    for part, cumulative in data.cumulative.items():
        assert np.allclose(cumulative[:, -1], 1.0), part


def test_birth_years_go_to_the_nearest_list() -> None:
    years = np.array([1904, 1914, 2000, 2005])
    assert nearest(years, np.array([1900, 1908, 1910, 1990, 2003, 2026])).tolist() == [
        0, 0, 1, 2, 3, 3,
    ]  # fmt: skip


def test_a_million_people_are_named_in_a_few_array_operations() -> None:
    """Vectorised: no Python loop per person (a loop would take tens of seconds)."""
    n = 1_000_000
    rng = np.random.default_rng(9)
    ethnic, male = rng.integers(0, len(CODES), n), rng.random(n) < 0.5
    years = rng.integers(1926, 2026, n)
    name_data(CODES)  # loading the files once is not the draw
    began = time.perf_counter()
    names = draw_names(rng, ethnic=ethnic, male=male, birth_year=years, ethnic_codes=CODES)
    assert time.perf_counter() - began < 10
    assert names.given.shape == names.family.shape == (n,)
