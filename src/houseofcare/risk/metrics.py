"""Discrimination, calibration and case-finding yield of a risk score: the figures in the report.

All of them are vectorised NumPy over whole columns (one array per score), never loops over
people. The confidence interval for AUROC is DeLong's (DeLong, DeLong & Clarke-Pearson,
Biometrics 1988), computed with midranks (Sun & Xu, IEEE Signal Process Lett 2014), so it needs
no bootstrap and is exact for ties. Calibration slope and intercept follow Van Calster et al.
(J Clin Epidemiol 2016): the slope is the coefficient of logit(p) in a logistic regression of
the outcome on it; the intercept is calibration-in-the-large, the intercept with logit(p) as an
offset. A slope below 1 means the predictions are too extreme (over-confident).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Case-finding depths the report gives PPV and sensitivity for (share of the population).
TOP_FRACTIONS = (0.005, 0.01, 0.03, 0.05)
EPS = 1e-9


def auroc_with_ci(
    y: IntArray, score: FloatArray, level: float = 0.95
) -> tuple[float, float, float]:
    """AUROC and its DeLong confidence interval; NaNs when one class is absent."""
    from scipy.stats import rankdata

    positives, negatives = score[y == 1], score[y == 0]
    m, n = positives.size, negatives.size
    if m == 0 or n == 0:
        return math.nan, math.nan, math.nan
    every = rankdata(np.concatenate([positives, negatives]))
    within_pos = rankdata(positives)
    within_neg = rankdata(negatives)
    v10 = (every[:m] - within_pos) / n
    v01 = 1.0 - (every[m:] - within_neg) / m
    auc = float(v10.mean())
    var = (v10.var(ddof=1) / m if m > 1 else 0.0) + (v01.var(ddof=1) / n if n > 1 else 0.0)
    z = _normal_quantile(0.5 + level / 2)
    half = z * math.sqrt(max(var, 0.0))
    return auc, max(0.0, auc - half), min(1.0, auc + half)


def _normal_quantile(p: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(p))


def average_precision(y: IntArray, score: FloatArray) -> float:
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(y, score)) if y.any() else math.nan


def brier(y: IntArray, p: FloatArray) -> float:
    return float(np.mean((p - y) ** 2))


def logit(p: FloatArray) -> FloatArray:
    q = np.clip(p, EPS, 1 - EPS)
    return np.log(q / (1 - q))


def fit_logistic(
    x: FloatArray, y: IntArray, *, offset: FloatArray | None = None, slope: bool = True
) -> tuple[float, float]:
    """(intercept, slope) of a one-variable logistic regression by Newton-Raphson.

    With `slope=False` only the intercept is fitted (slope reported as 1.0), with `offset` added
    to the linear predictor: calibration-in-the-large.
    """
    off = np.zeros_like(x) if offset is None else offset
    design = np.column_stack([np.ones_like(x), x]) if slope else np.ones((x.size, 1))
    beta = np.zeros(design.shape[1])
    for _ in range(50):
        eta = design @ beta + off
        p = 1 / (1 + np.exp(-eta))
        w = p * (1 - p)
        gradient = design.T @ (y - p)
        hessian = design.T @ (design * w[:, None]) + 1e-9 * np.eye(design.shape[1])
        step = np.linalg.solve(hessian, gradient)
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            break
    return (float(beta[0]), float(beta[1])) if slope else (float(beta[0]), 1.0)


def calibration_slope_intercept(y: IntArray, p: FloatArray) -> tuple[float, float]:
    """(slope, calibration-in-the-large intercept); both ideal at (1, 0)."""
    if not y.any() or y.all():
        return math.nan, math.nan
    lp = logit(p)
    _, slope = fit_logistic(lp, y)
    intercept, _ = fit_logistic(np.zeros_like(lp), y, offset=lp, slope=False)
    return slope, intercept


@dataclass(frozen=True)
class CalibrationBin:
    mean_predicted: float
    observed: float
    people: int


def calibration_bins(y: IntArray, p: FloatArray, bins: int = 10) -> list[CalibrationBin]:
    """Observed against mean predicted risk in equal-sized groups ordered by predicted risk."""
    if p.size == 0:
        return []
    order = np.argsort(p, kind="stable")
    groups = np.array_split(order, min(bins, p.size))
    return [
        CalibrationBin(float(p[g].mean()), float(y[g].mean()), int(g.size))
        for g in groups
        if g.size
    ]


def flag_top(score: FloatArray, fraction: float, tiebreak: FloatArray) -> NDArray[np.bool_]:
    """The ceil(fraction × n) highest scores; ties are broken by `tiebreak` (a fixed random key),
    so a coarse score such as an admission count is not favoured by the order of the rows."""
    n = score.size
    k = min(n, math.ceil(fraction * n))
    order = np.lexsort((tiebreak, -score))
    flagged = np.zeros(n, dtype=bool)
    flagged[order[:k]] = True
    return flagged


def ppv_sensitivity(y: IntArray, flagged: NDArray[np.bool_]) -> tuple[float, float]:
    """PPV (share of flagged people admitted) and sensitivity (share of admitted people flagged)."""
    hits = int(y[flagged].sum())
    ppv = hits / int(flagged.sum()) if flagged.any() else math.nan
    sensitivity = hits / int(y.sum()) if y.any() else math.nan
    return ppv, sensitivity
