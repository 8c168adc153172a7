"""Baselines and the report's metrics on small arrays whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from houseofcare.risk import metrics
from houseofcare.risk.baselines import (
    CAMBRIDGE,
    RULE,
    baseline_scores,
    community_matron_rule,
    fit_baselines,
)
from houseofcare.risk.calibration import calibrator_from_json, fit_calibrator


def test_community_matron_rule_is_two_or_more_admissions() -> None:
    flagged = community_matron_rule(np.array([0, 1, 2, 3, np.nan]))
    assert flagged.tolist() == [False, False, True, True, False]


def test_rule_probability_is_the_observed_rate_per_admission_count() -> None:
    admissions = np.array([0, 0, 0, 0, 1, 1, 2, 2, 7, 9], dtype=float)
    y = np.array([0, 0, 0, 1, 0, 1, 1, 1, 1, 1])
    baselines = fit_baselines(admissions, np.zeros(10), y)
    assert baselines.rule_rates[:3] == (0.25, 0.5, 1.0)
    assert baselines.rule_rates[3] == 1.0  # nobody had 3: the rate of the count below
    assert baselines.rule_rates[5] == 1.0  # 5 or more
    rank, p = baseline_scores(baselines, np.array([0.0, 1.0, 12.0]), np.zeros(3))[RULE]
    assert rank.tolist() == [0.0, 1.0, 12.0]
    assert p.tolist() == [0.25, 0.5, 1.0]


def test_cambridge_score_probability_rises_with_the_score() -> None:
    rng = np.random.default_rng(1)
    cms = rng.exponential(1.0, 5000)
    y = (rng.random(5000) < 1 / (1 + np.exp(-(-3 + 0.8 * cms)))).astype(int)
    baselines = fit_baselines(np.zeros(5000), cms, y)
    assert baselines.cms_slope == pytest.approx(0.8, abs=0.15)
    _, p = baseline_scores(baselines, np.zeros(3), np.array([0.0, 1.0, 3.0]))[CAMBRIDGE]
    assert p[0] < p[1] < p[2]


def test_auroc_of_perfect_reversed_and_tied_scores() -> None:
    y = np.array([0, 0, 1, 1])
    assert metrics.auroc_with_ci(y, np.array([0.1, 0.2, 0.8, 0.9]))[0] == 1.0
    assert metrics.auroc_with_ci(y, np.array([0.9, 0.8, 0.2, 0.1]))[0] == 0.0
    assert metrics.auroc_with_ci(y, np.full(4, 0.5))[0] == 0.5


def test_delong_interval_covers_the_estimate_and_narrows_with_more_people() -> None:
    rng = np.random.default_rng(2)
    widths = []
    for n in (500, 20_000):
        y = (rng.random(n) < 0.2).astype(int)
        score = y + rng.normal(0, 1, n)
        auc, low, high = metrics.auroc_with_ci(y, score)
        assert low < auc < high
        assert auc == pytest.approx(0.76, abs=0.05)  # Φ(1/√2) for unit separation
        widths.append(high - low)
    assert widths[1] < widths[0] / 4


def test_a_calibrated_score_has_slope_one_and_intercept_zero() -> None:
    rng = np.random.default_rng(3)
    p = rng.beta(1, 12, 200_000)
    y = (rng.random(p.size) < p).astype(int)
    slope, intercept = metrics.calibration_slope_intercept(y, p)
    assert slope == pytest.approx(1.0, abs=0.05)
    assert intercept == pytest.approx(0.0, abs=0.03)
    over = 1 / (1 + np.exp(-2 * metrics.logit(p)))  # twice as extreme: over-confident
    assert metrics.calibration_slope_intercept(y, over)[0] < 0.6


def test_top_fraction_flags_exactly_that_many_and_ppv_and_sensitivity_follow() -> None:
    score = np.array([5.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    y = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 1])
    flagged = metrics.flag_top(score, 0.3, np.arange(10) / 10)
    assert flagged.sum() == 3
    assert flagged[0] and flagged[1] and flagged[2]  # ties broken by the tiebreak key
    ppv, sensitivity = metrics.ppv_sensitivity(y, flagged)
    assert (ppv, sensitivity) == (pytest.approx(2 / 3), pytest.approx(2 / 3))


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_calibrators_round_trip_through_json(method: str) -> None:
    rng = np.random.default_rng(4)
    raw = rng.normal(-2.5, 1.0, 5000)
    y = (rng.random(5000) < 1 / (1 + np.exp(-raw))).astype(int)
    calibrator = fit_calibrator(method, raw, y)  # type: ignore[arg-type]
    again = calibrator_from_json(calibrator.to_json())
    probe = np.array([-4.0, -2.0, 0.0])
    assert np.allclose(calibrator(probe), again(probe))
    assert np.all(np.diff(again(probe)) >= 0)
