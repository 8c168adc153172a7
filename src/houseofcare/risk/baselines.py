"""The scores the model must beat, made comparable with it.

- **The community matron rule**: two or more emergency admissions in the last 12 months, the
  utilisation rule the 2005 LTC model used for case finding (Department of Health, *Supporting
  people with long term conditions*, 2005). As a ranking it is the admission count; as a
  probability, the admission rate observed at the training date among people with that count.
- **The Cambridge Multimorbidity Score** (general outcome; Payne et al., CMAJ 2020;192:E107),
  already computed by the population rules: its published C-statistic for unplanned admission
  is 0.738. As a probability, a logistic recalibration fitted at the training date.

Both get the same treatment as the model: fitted on the training date, evaluated at the later
one, so no baseline is handicapped by being uncalibrated.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from houseofcare.risk.metrics import FloatArray, IntArray, fit_logistic

RULE_MIN_ADMISSIONS = 2
#: Counts at or above this share one observed rate (few people have more).
RULE_COUNT_CAP = 5
RULE = "two_admissions_rule"
CAMBRIDGE = "cambridge_score"


@dataclass(frozen=True)
class Baselines:
    """The baselines' fitted parameters, saved in the model's metadata."""

    #: observed admission rate for 0, 1, …, RULE_COUNT_CAP (or more) admissions in 12 months
    rule_rates: tuple[float, ...]
    cms_intercept: float
    cms_slope: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Baselines:
        return cls(tuple(data["rule_rates"]), data["cms_intercept"], data["cms_slope"])


def _capped(admissions: FloatArray) -> IntArray:
    return np.clip(np.nan_to_num(admissions), 0, RULE_COUNT_CAP).astype(np.int64)


def community_matron_rule(admissions_12m: FloatArray) -> np.ndarray:
    """True for people with two or more emergency admissions in the last 12 months."""
    return np.nan_to_num(admissions_12m) >= RULE_MIN_ADMISSIONS


def fit_baselines(admissions_12m: FloatArray, cms: FloatArray, y: IntArray) -> Baselines:
    """Fit both baselines' probabilities on the training date's people."""
    level = _capped(admissions_12m)
    people = np.bincount(level, minlength=RULE_COUNT_CAP + 1)
    events = np.bincount(level, weights=y, minlength=RULE_COUNT_CAP + 1)
    overall = float(y.mean()) if y.size else 0.0
    # a count nobody had takes the rate of the count below it (or the overall rate)
    rates: list[float] = []
    for count, total in zip(people, events, strict=True):
        rates.append(float(total / count) if count else (rates[-1] if rates else overall))
    intercept, slope = fit_logistic(np.nan_to_num(cms), y)
    return Baselines(tuple(rates), intercept, slope)


def baseline_scores(
    baselines: Baselines, admissions_12m: FloatArray, cms: FloatArray
) -> dict[str, tuple[FloatArray, FloatArray]]:
    """Per baseline: (ranking score, probability)."""
    counts = np.nan_to_num(admissions_12m).astype(np.float64)
    rule_p = np.asarray(baselines.rule_rates)[_capped(admissions_12m)]
    cms_values = np.nan_to_num(cms).astype(np.float64)
    cms_p = 1 / (1 + np.exp(-(baselines.cms_intercept + baselines.cms_slope * cms_values)))
    return {RULE: (counts, rule_p), CAMBRIDGE: (cms_values, cms_p)}
