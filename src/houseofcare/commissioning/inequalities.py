"""Health-inequality statistics as OHID's Fingertips computes them (PHEindicatormethods 2.1.0).

The commissioning plan puts inequalities at its centre, so its figures must mean what a
public health analyst expects them to mean: the same confidence intervals (Wilson for
proportions, Byar or exact Poisson for counts and rates), the same directly age-standardised
rates (European Standard Population 2013, Dobson limits) and the same slope and relative
indices of inequality (cumulative-rank midpoints, weighted least squares through a √a
transform, simulated limits). `shared/reference/inequalities-methods.md` gives the formulas
and the package's worked examples; the unit tests check every function against them.

These functions take counts that are already aggregates (per band, per quantile). They never
see a person; disclosure control of what they are computed from is the caller's, through
`commissioning.measures`.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import IntEnum
from functools import cache
from importlib.resources import files
from typing import Final

import numpy as np
from scipy.special import gammaincinv

#: z for a two-sided 95% interval, to the precision the package hard-codes.
Z95: Final = 1.959964

#: Byar's method is used for counts of at least this; below it, exact Poisson (`phe_rate`).
BYAR_FROM: Final = 10

#: A DSR on fewer events than this is not reported (`calculate_dsr`).
DSR_MIN_EVENTS: Final = 10

#: Simulations for SII/RII limits: the package's default for published figures.
SII_REPETITIONS: Final = 100_000


def z_for(confidence: float) -> float:
    """z for a two-sided interval at `confidence` (0.95 → 1.959964)."""
    from scipy.stats import norm

    return float(norm.ppf(1 - (1 - confidence) / 2))


def _z(confidence: float) -> float:
    return Z95 if confidence == 0.95 else z_for(confidence)


# --- Counts, rates and proportions ------------------------------------------------------------


def wilson(x: float, n: float, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score limits of the proportion x/n."""
    if n <= 0:
        raise ValueError("a proportion needs a denominator above zero")
    if confidence >= 1:
        return 0.0, 1.0
    z = _z(confidence)
    root = z * math.sqrt(z * z + 4 * x * (1 - x / n))
    below = 2 * (n + z * z)
    return (2 * x + z * z - root) / below, (2 * x + z * z + root) / below


def byar(count: float, confidence: float = 0.95) -> tuple[float | None, float]:
    """Byar's limits of a Poisson count (a negative lower limit is no limit: None)."""
    z = _z(confidence)
    lower = 0.0 if count == 0 else count * (1 - 1 / (9 * count) - z / (3 * math.sqrt(count))) ** 3
    upper = (count + 1) * (1 - 1 / (9 * (count + 1)) + z / (3 * math.sqrt(count + 1))) ** 3
    return (lower if lower >= 0 else None), upper


def exact_poisson(count: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact Poisson limits of a count: χ²(α/2; 2O)/2 and χ²(1−α/2; 2O+2)/2."""
    alpha = 1 - confidence
    # χ²(p; k)/2 is the inverse regularised lower incomplete gamma at (k/2, p)
    lower = 0.0 if count == 0 else float(gammaincinv(count, alpha / 2))
    upper = float(gammaincinv(count + 1, 1 - alpha / 2))
    return lower, upper


@dataclass(frozen=True)
class Estimate:
    """A value with its confidence limits (None where the method gives none)."""

    value: float | None
    lower: float | None
    upper: float | None


def crude_rate(
    count: int, denominator: float, multiplier: float = 100_000, confidence: float = 0.95
) -> Estimate:
    """Count per `multiplier` of the denominator, with Byar's limits from 10 events and exact
    Poisson ones below (as `phe_rate` does)."""
    if denominator <= 0:
        return Estimate(None, None, None)
    scale = multiplier / denominator
    if count >= BYAR_FROM:
        lower, upper = byar(count, confidence)
    else:
        lower, upper = exact_poisson(count, confidence)
    return Estimate(count * scale, None if lower is None else lower * scale, upper * scale)


def proportion(count: int, denominator: float, confidence: float = 0.95) -> Estimate:
    """count/denominator with Wilson limits."""
    if denominator <= 0:
        return Estimate(None, None, None)
    lower, upper = wilson(count, denominator, confidence)
    return Estimate(count / denominator, lower, upper)


# --- Directly age-standardised rates -----------------------------------------------------------


@dataclass(frozen=True)
class StandardBand:
    band: str
    lower_age: int
    weight: float


@cache
def esp2013() -> tuple[StandardBand, ...]:
    """The European Standard Population 2013 in 19 five-year bands (data/esp2013.csv)."""
    text = (files("houseofcare.commissioning") / "data" / "esp2013.csv").read_text()
    rows = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    return tuple(StandardBand(r["band"], int(r["lower_age"]), float(r["weight"])) for r in rows)


def esp_band(age: int) -> str:
    """The ESP 2013 band an age in whole years falls in."""
    bands = esp2013()
    for this, following in zip(bands, (*bands[1:], None), strict=True):
        if following is None or age < following.lower_age:
            return this.band
    raise AssertionError("unreachable")


def dsr(
    events: Mapping[str, int],
    population: Mapping[str, float],
    *,
    multiplier: float = 100_000,
    confidence: float = 0.95,
    standard: Sequence[StandardBand] | None = None,
) -> Estimate:
    """The directly standardised rate per `multiplier` with Dobson's limits (Byar's for the
    total count); None under 10 events in all. Every band of the standard needs a population
    above zero (a band with none has no rate to weight)."""
    bands = standard or esp2013()
    total = sum(int(events.get(b.band, 0)) for b in bands)
    if total < DSR_MIN_EVENTS:
        return Estimate(None, None, None)
    weights = sum(b.weight for b in bands)
    rate = 0.0
    variance = 0.0
    for b in bands:
        n = float(population.get(b.band, 0))
        if n <= 0:
            raise ValueError(f"band {b.band} has no population to standardise with")
        x = int(events.get(b.band, 0))
        rate += b.weight * x / n
        variance += x * (b.weight / n) ** 2
    value = multiplier * rate / weights
    variance /= weights**2
    spread = multiplier * math.sqrt(variance / total)
    lower, upper = byar(total, confidence)
    return Estimate(
        value,
        None if lower is None else value + spread * (lower - total),
        value + spread * (upper - total),
    )


# --- Slope and relative index of inequality ----------------------------------------------------


class ValueType(IntEnum):
    """What a quantile's value is: the package's `value_type`."""

    other = 0
    rate = 1
    proportion = 2


@dataclass(frozen=True)
class Quantile:
    """One deprivation quantile's figures; the list is ordered most deprived first."""

    population: float
    value: float
    lower: float | None = None
    upper: float | None = None
    se: float | None = None


@dataclass(frozen=True)
class Inequality:
    """SII (fitted difference from the most to the least deprived end) and RII (their
    ratio), with simulated limits; `intercept` is the fitted value at the most deprived end."""

    sii: float
    rii: float
    intercept: float
    sii_lower: float | None = None
    sii_upper: float | None = None
    rii_lower: float | None = None
    rii_upper: float | None = None


def _forward(values: np.ndarray, kind: ValueType) -> np.ndarray:
    if kind is ValueType.rate:
        return np.log(values)
    if kind is ValueType.proportion:
        return np.log(values / (1 - values))
    return values


def _back(values: np.ndarray | float, kind: ValueType) -> np.ndarray | float:
    if kind is ValueType.rate:
        return np.exp(values)
    if kind is ValueType.proportion:
        return np.exp(values) / (1 + np.exp(values))
    return values


def sii(
    quantiles: Sequence[Quantile],
    *,
    value_type: ValueType = ValueType.other,
    transform: bool = False,
    confidence: float | None = 0.95,
    repetitions: int = SII_REPETITIONS,
    seed: int = 1,
) -> Inequality:
    """SII and RII across quantiles ordered from most (first) to least deprived (last).

    `transform` regresses log rates or logit proportions (recommended for them) and gives
    the results back on the indicator's scale. Limits are simulated (`repetitions` draws,
    seeded, so the same figures give the same limits); `confidence=None` skips them.
    """
    k = len(quantiles)
    if not 5 <= k <= 100:
        raise ValueError(f"SII needs 5 to 100 quantiles, not {k}")
    if transform and value_type is ValueType.other:
        raise ValueError("only rates and proportions can be transformed")
    population = np.array([q.population for q in quantiles], dtype=float)
    if (population <= 0).any():
        raise ValueError("every quantile needs a population above zero")
    a = population / population.sum()
    x = np.cumsum(a) - a / 2
    sqrt_a = np.sqrt(a)
    design = np.vstack([sqrt_a, x * sqrt_a])  # 2 × k, the package's m
    solve = np.linalg.solve(design @ design.T, design)  # (m mᵀ)⁻¹ m
    values = np.array([q.value for q in quantiles], dtype=float)
    scaled = _forward(values, value_type)
    fitted_on = scaled if transform else values
    b0, b1 = solve @ (fitted_on * sqrt_a)
    if transform:
        low_end, high_end = _back(b0, value_type), _back(b0 + b1, value_type)
        result = Inequality(
            sii=float(high_end - low_end), rii=float(high_end / low_end), intercept=float(low_end)
        )
    else:
        result = Inequality(sii=float(b1), rii=float((b0 + b1) / b0), intercept=float(b0))
    if confidence is None:
        return result
    se = np.array([_standard_error(q, value_type) for q in quantiles])
    rng = np.random.default_rng(seed)
    draws = rng.normal(scaled[:, None], se[:, None], size=(k, repetitions))
    if not transform:
        draws = np.asarray(_back(draws, value_type))
    betas = solve @ (draws * sqrt_a[:, None])
    slopes = np.sort(betas[1])
    ratios = np.sort((betas[0] + betas[1]) / betas[0])
    low_at = round(repetitions * (1 - confidence) / 2) - 1
    high_at = round(repetitions * (1 - (1 - confidence) / 2)) - 1
    low, high = float(slopes[low_at]), float(slopes[high_at])
    if not transform:
        return replace(
            result,
            sii_lower=low,
            sii_upper=high,
            rii_lower=float(ratios[low_at]),
            rii_upper=float(ratios[high_at]),
        )
    half = b0 + b1 / 2

    def ends(limit: float) -> tuple[float, float]:
        return float(_back(half - limit / 2, value_type)), float(
            _back(half + limit / 2, value_type)
        )

    (low_start, low_end), (high_start, high_end) = ends(low), ends(high)
    return replace(
        result,
        sii_lower=low_end - low_start,
        sii_upper=high_end - high_start,
        rii_lower=low_end / low_start,
        rii_upper=high_end / high_start,
    )


def _standard_error(q: Quantile, kind: ValueType) -> float:
    """The quantile's standard error, from its 95% limits on the scale it is drawn on."""
    if q.se is not None:
        return q.se
    if q.lower is None or q.upper is None:
        raise ValueError("each quantile needs its standard error or its 95% limits")
    low, high = _forward(np.array([q.lower, q.upper]), kind)
    return float((high - low) / (2 * Z95))
