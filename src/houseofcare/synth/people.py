"""Demographics of one chunk of people: sex, birth date, ethnicity, practice, LSOA and IMD decile.

Each person's LSOA (so IMD decile) is drawn first, then their age and sex from that decile's
pyramid (``inputs.decile_pyramids``: England's pyramid, ``data/age_sex_pyramid.csv``, tilted to
each decile's published age shares, ``data/age_by_deprivation.csv``), so people in deprived areas
are younger as England's are. Each age is up-weighted by the deaths expected over the history
window (deprivation included), so that the people still alive at the as-of date match the
decile's pyramid while the export also holds those who died.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from houseofcare.synth import inputs
from houseofcare.synth.events import choose
from houseofcare.synth.practices import Practices, assign_lsoa
from houseofcare.synth.timeline import DAYS_PER_YEAR, Timeline


@dataclass
class People:
    """Columns for one chunk of people (row i is global person ``index[i]``)."""

    index: np.ndarray
    male: np.ndarray
    birth_day: np.ndarray  # int64 days since epoch
    ethnic: np.ndarray  # index into inputs.ethnicity().codes
    practice: np.ndarray
    lsoa: np.ndarray  # index into inputs.lsoas()
    decile: np.ndarray  # IMD 2019 overall decile of the LSOA, 1 = most deprived
    latent_health: np.ndarray  # shared propensity for long-term conditions (standard normal)
    latent_control: np.ndarray  # how well conditions are controlled (standard normal; high = poor)
    frailty: np.ndarray  # gamma multiplier of hospital use (mean 1)
    death_day: np.ndarray  # int64; timeline.NEVER when alive at the as-of date

    @property
    def size(self) -> int:
        return int(self.index.size)

    def age_at(self, day: np.ndarray | int) -> np.ndarray:
        return (np.asarray(day) - self.birth_day) / DAYS_PER_YEAR

    @property
    def deprivation(self) -> np.ndarray:
        """0 in the least deprived decile (10) to 1 in the most deprived (1)."""
        return (10 - self.decile) / 9.0


def approximate_death_rate(age: np.ndarray) -> np.ndarray:
    terms = inputs.mortality_terms()
    return np.exp(np.maximum(terms["intercept"] + terms["age_per_year"] * age, terms["floor"]))


@cache
def age_sex_cdf(history_years: float) -> np.ndarray:
    """(10, 200) cumulative weights over (sex, single year of age) per decile: males 0-99 then
    females 0-99, each age up-weighted by its expected deaths over the window (at the window's
    midpoint age, with the hazard model's deprivation term)."""
    pyr = inputs.decile_pyramids()
    deprivation = (10 - np.arange(1, 11)) / 9.0
    extra = np.exp(inputs.mortality_terms()["deprivation_most_vs_least"] * deprivation)
    ages = np.arange(pyr.male.shape[1])
    rate = approximate_death_rate(ages - history_years / 2)
    survival = np.exp(-history_years * rate[None, :] * 1.2 * extra[:, None])
    weights = np.c_[pyr.male / survival, pyr.female / survival]
    cdf = np.cumsum(weights, axis=1)
    return cdf / cdf[:, -1:]


def build_people(
    rng: np.random.Generator, index: np.ndarray, practices: Practices, timeline: Timeline
) -> People:
    practice = practices.practice_of(index)
    lsoa = assign_lsoa(rng, practices, practice)
    decile = inputs.lsoas().decile[lsoa].astype(np.int64)
    cdf = age_sex_cdf(timeline.history_years)
    u = rng.random(index.size)
    cell = np.empty(index.size, dtype=np.int64)
    for d in range(1, 11):
        rows = decile == d
        cell[rows] = np.searchsorted(cdf[d - 1], u[rows], side="right")
    n_ages = cdf.shape[1] // 2
    cell = cell.clip(0, cdf.shape[1] - 1)
    male = cell < n_ages
    age_years = (cell % n_ages) + rng.random(index.size)
    birth_day = timeline.end - np.floor(age_years * DAYS_PER_YEAR).astype(np.int64)
    eth = inputs.ethnicity()
    shape = inputs.admission_terms()["frailty_gamma_shape"]
    return People(
        index=index,
        male=male,
        birth_day=birth_day,
        ethnic=choose(rng, eth.probabilities, index.size),
        practice=practice,
        lsoa=lsoa,
        decile=decile,
        latent_health=rng.standard_normal(index.size),
        latent_control=rng.standard_normal(index.size),
        frailty=rng.gamma(shape, 1 / shape, index.size),
        death_day=np.full(index.size, 10_000_000, dtype=np.int64),
    )
