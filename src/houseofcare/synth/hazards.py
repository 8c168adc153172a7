"""Emergency admission and death hazards, and the oracle probability that follows from them.

The emergency admission rate for a person in a yearly window uses their state at the window's
start (or at birth, for a baby born during it)::

    log rate = intercept + age terms + female + Σ condition terms
               + multimorbidity · max(conditions − 1, 0) + deprivation term + log(frailty)

with the frailty a gamma-distributed multiplier of mean 1 fixed per person, so that past use
predicts future use, times a yearly *episode* multiplier (gamma, mean 1, drawn afresh for each
person and window), so that a bad year passes: people with many admissions one year have fewer
the next (regression to the mean, as Roland et al., BMJ 2005, found for the very high intensity
users case management targets). Deaths follow a Gompertz hazard with condition and deprivation
terms, also taken at the window's start. Both are constant within a window; the oracle is the
probability given everything known at the index date, so it averages over the episode
multiplier of the coming year (Gauss–Laguerre quadrature), which keeps it exact.
"""

from __future__ import annotations

import math

import numpy as np

from houseofcare.synth import inputs
from houseofcare.synth.conditions import Diagnoses
from houseofcare.synth.people import People
from houseofcare.synth.timeline import DAYS_PER_YEAR


def admission_rate(people: People, dx: Diagnoses, day: np.ndarray) -> np.ndarray:
    """Expected emergency admissions per year at ``day``'s state, frailty included."""
    t = inputs.admission_terms()
    age = np.clip(people.age_at(day), 0, None)
    log_rate = (
        t["intercept"]
        + t["age_under_5"] * (age < 5)
        + t["age_adult"] * (age >= 18)
        + t["age_per_year_over_45"] * np.clip(age - 45, 0, None)
        + t["female"] * (~people.male)
        + t["deprivation_most_vs_least"] * people.deprivation
    )
    count = np.zeros(people.size)
    for spec in inputs.conditions():
        on = dx.active(spec.key, day)
        log_rate = log_rate + spec.admission_log_rr * on
        count = count + on
    log_rate = log_rate + t["multimorbidity_per_condition_over_1"] * np.clip(count - 1, 0, None)
    return np.exp(log_rate) * people.frailty


def death_rate(people: People, dx: Diagnoses, day: np.ndarray) -> np.ndarray:
    """Deaths per person-year at ``day``'s state (Gompertz in age, with conditions)."""
    t = inputs.mortality_terms()
    age = np.clip(people.age_at(day), 0, None)
    log_rate = np.maximum(t["intercept"] + t["age_per_year"] * age, t["floor"])
    log_rate = log_rate + t["per_condition"] * dx.count(day) + t["female"] * (~people.male)
    return np.exp(log_rate + t["deprivation_most_vs_least"] * people.deprivation)


def probability_of_admission(rate: np.ndarray, death: np.ndarray, years: float) -> np.ndarray:
    """P(≥1 emergency admission within ``years``) with constant admission and death hazards.

    Exposure ends at death: with admission rate λ and death rate μ over a window of length L,
    P(no admission) = μ/(μ+λ)·(1 − e^{−(μ+λ)L}) + e^{−(μ+λ)L}, the survival-weighted average of
    e^{−λ·min(T, L)} over the death time T.
    """
    total = rate + death
    tail = np.exp(-total * years)
    safe = np.where(total > 0, total, 1.0)
    none = np.where(total > 0, death / safe * (1 - tail) + tail, 1.0)
    return 1 - none


def episode_multipliers(rng: np.random.Generator, size: int) -> np.ndarray:
    """One year's episode multiplier per person: gamma with mean 1."""
    shape = inputs.admission_terms()["episode_gamma_shape"]
    return rng.gamma(shape, 1 / shape, size)


#: Gauss–Laguerre nodes and weights for averaging over the episode multiplier.
_LAGUERRE_NODES, _LAGUERRE_WEIGHTS = np.polynomial.laguerre.laggauss(48)


def expected_probability_of_admission(
    rate: np.ndarray, death: np.ndarray, years: float
) -> np.ndarray:
    """P(≥1 emergency admission within ``years``) averaged over next year's episode multiplier.

    With the multiplier E ~ Gamma(k, 1/k), E = X/k for X ~ Gamma(k, 1), and
    E[f(X/k)] = ∫ f(x/k) x^{k-1} e^{-x} dx / Γ(k) ≈ Σ w_i f(x_i/k) x_i^{k-1} / Γ(k).
    """
    shape = inputs.admission_terms()["episode_gamma_shape"]
    factors = _LAGUERRE_NODES ** (shape - 1) / math.gamma(shape)
    total = np.zeros(np.shape(rate))
    for node, weight, factor in zip(_LAGUERRE_NODES, _LAGUERRE_WEIGHTS, factors, strict=True):
        total += weight * factor * probability_of_admission(rate * node / shape, death, years)
    return total


def window_years(start: int, end: int) -> float:
    return (end - start) / DAYS_PER_YEAR
