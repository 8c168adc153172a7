"""Calibrators that turn the model's raw log-odds into probabilities a clinician can read.

A risk of 30% should mean that about 30 in 100 such people are admitted. Gradient boosting
ranks well but can be over- or under-confident, so the raw output is recalibrated on people
held out of fitting: Platt scaling (a logistic regression on the log-odds; two numbers, keeps
the ranking) or isotonic regression (a monotone step function; flexible, needs more data).
Calibrators are saved as JSON, not pickles, so an artefact can be read and checked by anyone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

from houseofcare.risk.metrics import FloatArray, IntArray, fit_logistic

Method = Literal["platt", "isotonic"]


class Calibrator(Protocol):
    method: str

    def __call__(self, raw: FloatArray) -> FloatArray: ...

    def to_json(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Platt:
    intercept: float
    slope: float
    method: str = "platt"

    def __call__(self, raw: FloatArray) -> FloatArray:
        return 1 / (1 + np.exp(-(self.intercept + self.slope * raw)))

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "intercept": self.intercept, "slope": self.slope}


@dataclass(frozen=True)
class Isotonic:
    x: tuple[float, ...]
    y: tuple[float, ...]
    method: str = "isotonic"

    def __call__(self, raw: FloatArray) -> FloatArray:
        return np.interp(raw, np.asarray(self.x), np.asarray(self.y))

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "x": list(self.x), "y": list(self.y)}


def fit_calibrator(method: Method, raw: FloatArray, y: IntArray) -> Calibrator:
    """Fit on held-out people's raw log-odds and outcomes."""
    if method == "platt":
        intercept, slope = fit_logistic(raw, y)
        return Platt(intercept, slope)
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, y)
    return Isotonic(tuple(map(float, iso.X_thresholds_)), tuple(map(float, iso.y_thresholds_)))


def calibrator_from_json(data: dict[str, Any]) -> Calibrator:
    """The calibrator saved with a model; an unknown method is an error naming it."""
    method = data.get("method")
    if method == "platt":
        return Platt(float(data["intercept"]), float(data["slope"]))
    if method == "isotonic":
        return Isotonic(tuple(map(float, data["x"])), tuple(map(float, data["y"])))
    raise ValueError(f"calibrator.json: unknown method {method!r} (expected platt or isotonic)")
