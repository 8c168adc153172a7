"""Demographics of one chunk of people: sex, birth date, ethnicity, practice, LSOA and IMD decile.

Ages follow England's age–sex pyramid (``data/age_sex_pyramid.csv``) at the as-of date, after
up-weighting each age by the deaths expected over the history window, so that the people still
alive at the as-of date match the pyramid while the export also holds those who died.
"""

from __future__ import annotations

from dataclasses import dataclass

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


def build_people(
    rng: np.random.Generator, index: np.ndarray, practices: Practices, timeline: Timeline
) -> People:
    pyr = inputs.pyramid()
    # Up-weight each age by its expected deaths over the window (ages at the window's midpoint).
    years = timeline.history_years
    survival = np.exp(-years * approximate_death_rate(pyr.ages - years / 2) * 1.2)
    weights = np.r_[pyr.male / survival, pyr.female / survival]
    cell = choose(rng, weights, index.size)
    male = cell < pyr.ages.size
    age_years = (cell % pyr.ages.size) + rng.random(index.size)
    birth_day = timeline.end - np.floor(age_years * DAYS_PER_YEAR).astype(np.int64)
    eth = inputs.ethnicity()
    practice = practices.practice_of(index)
    lsoa = assign_lsoa(rng, practices, practice)
    shape = inputs.admission_terms()["frailty_gamma_shape"]
    return People(
        index=index,
        male=male,
        birth_day=birth_day,
        ethnic=choose(rng, eth.probabilities, index.size),
        practice=practice,
        lsoa=lsoa,
        decile=inputs.lsoas().decile[lsoa].astype(np.int64),
        latent_health=rng.standard_normal(index.size),
        latent_control=rng.standard_normal(index.size),
        frailty=rng.gamma(shape, 1 / shape, index.size),
        death_day=np.full(index.size, 10_000_000, dtype=np.int64),
    )
