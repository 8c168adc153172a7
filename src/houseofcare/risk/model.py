"""The admission-risk model: LightGBM on a temporal split, calibrated, saved as an artefact.

With the record running up to date A (`hoc model train --as-of A`):

- **train** on features at T = A − 24 months, labels = emergency admission in [T, T + 12 months);
  `holdout_fraction` of those people are held out for early stopping and the calibrator;
- **validate** on features at V = A − 12 months, labels in [V, A): later people-time the model
  never saw, so drift between the years shows up in the validation figures.

On the synthetic population, V is the generator's first oracle date (as-of − 12 months), whose
outcome window is exactly the last generated year, so the model can be scored against the true
risk. The artefact is a folder `data_dir/models/<version>/` with `model.txt` (LightGBM's own
text format), `calibrator.json` and `metadata.json` (training window, features, code version,
data digest, validation metrics, baseline parameters). Training is deterministic: fixed seed,
`deterministic=True`, rows sorted by patient id, threads from the settings.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from houseofcare import __version__
from houseofcare.datafiles import read_toml, validation_problems
from houseofcare.engine import Engine
from houseofcare.population.registers import _months_before
from houseofcare.population.rules import packaged_register_rules
from houseofcare.progress import NullProgress, Progress
from houseofcare.risk import metrics
from houseofcare.risk.baselines import Baselines, fit_baselines
from houseofcare.risk.calibration import Calibrator, calibrator_from_json, fit_calibrator
from houseofcare.risk.features import (
    CATEGORICAL_FEATURES,
    compute_features,
    features_digest,
    model_features,
    packaged_feature_spec,
)
from houseofcare.settings import Settings

if TYPE_CHECKING:
    import lightgbm

MODEL_FILE = Path(__file__).with_name("model.toml")
METHOD = "houseofcare emergency admission risk (LightGBM, calibrated)"


class ModelError(ValueError):
    """Training or loading cannot go ahead; the message says why and what to do."""


class TrainingConfig(BaseModel):
    """`model.toml`: seed, hold-out share, calibration method and LightGBM parameters."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int
    holdout_fraction: float = Field(gt=0, lt=0.5)
    calibration: str = Field(pattern="^(platt|isotonic)$")
    num_boost_round: int = Field(ge=1, le=10_000)
    early_stopping_rounds: int = Field(ge=1)
    explain_top_percent: float = Field(gt=0, le=100)
    lightgbm: dict[str, Any]


def load_training_config(path: Path = MODEL_FILE) -> TrainingConfig:
    raw = read_toml(path, ModelError, "model settings file not found")
    try:
        return TrainingConfig.model_validate(raw)
    except ValidationError as exc:
        raise ModelError(f"{path}: {validation_problems(exc)}") from None


def models_dir(settings: Settings) -> Path:
    return settings.data_dir / "models"


def threads(settings: Settings) -> int:
    return settings.threads or os.cpu_count() or 1


def training_dates(as_of: dt.date) -> tuple[dt.date, dt.date]:
    """(training index date, validation index date) for a record running up to `as_of`."""
    return _months_before(as_of, 24), _months_before(as_of, 12)


@dataclass
class Cohort:
    """One index date's people: who they are, their features as a matrix, and the label."""

    index_date: dt.date
    people: pa.Table  # patient_id and the reporting columns
    x: np.ndarray  # float32, one column per model feature
    y: np.ndarray | None
    features: list[str]

    def column(self, name: str) -> np.ndarray:
        return self.x[:, self.features.index(name)].astype(np.float64)


def feature_matrix(table: pa.Table, features: list[str]) -> np.ndarray:
    """The model's columns as float32, nulls as NaN (LightGBM's missing value)."""
    columns = [
        pc.cast(table[name], pa.float64()).to_numpy(zero_copy_only=False) for name in features
    ]
    return np.column_stack(columns).astype(np.float32) if columns else np.empty((0, 0))


def build_cohort(engine: Engine, index_date: dt.date, *, with_label: bool) -> Cohort:
    """Features (and label) at one index date, sorted by patient id for determinism."""
    features = model_features(packaged_feature_spec(), [r.id for r in packaged_register_rules()])
    table = compute_features(engine, index_date, with_label=with_label).arrow()
    table = table.sort_by("patient_id")
    people = table.select(
        ["patient_id", "practice_id", "sex", "age_band", "imd_quintile", "ethnic_group_name"]
    )
    y = table["label"].to_numpy().astype(np.int64) if with_label else None
    return Cohort(index_date, people, feature_matrix(table, features), y, features)


def record_end(engine: Engine) -> dt.date | None:
    """The last day any encounter starts on: how far the record runs."""
    ((last,),) = engine.rows("SELECT CAST(max(period_start) AS DATE) FROM encounter")
    return last


def check_label_window(engine: Engine, index_date: dt.date) -> None:
    """Refuse to train or validate on a window the record does not cover (labels would be 0)."""
    end = record_end(engine)
    needed = _months_before(index_date, -12) - dt.timedelta(days=31)
    if end is None or end < needed:
        raise ModelError(
            f"labels for index date {index_date} need the record to run to "
            f"{_months_before(index_date, -12)}, but the last encounter is on {end}; "
            "choose an earlier --as-of (the date the record runs up to)"
        )


def check_lookback(engine: Engine, index_date: dt.date, lookback_months: int) -> None:
    """Refuse to train where the record does not reach back over the features' look-back.

    A training date whose look-back starts before the record would count less use of care than
    the validation and scoring dates do for the same people, and the model would learn the
    wrong weights for it (a `hoc synth` record with too few `--history-years`, for example).
    """
    ((first,),) = engine.rows("SELECT CAST(min(period_start) AS DATE) FROM encounter")
    needed = _months_before(index_date, lookback_months)
    if first is not None and first > needed + dt.timedelta(days=31):
        raise ModelError(
            f"features at the training date {index_date} look back {lookback_months} months to "
            f"{needed}, but the record starts on {first}; give a record that runs from "
            f"{needed} (`hoc synth --history-years` of at least "
            f"{(lookback_months + 24 + 11) // 12}) or a later --as-of"
        )


@dataclass
class RiskModel:
    """A trained, calibrated model as loaded from its artefact folder."""

    version: str
    booster: lightgbm.Booster
    calibrator: Calibrator
    metadata: dict[str, Any]
    path: Path = field(default=Path("."))

    @property
    def features(self) -> list[str]:
        return list(self.metadata["features"])

    def raw(self, x: np.ndarray, num_threads: int = 1) -> np.ndarray:
        return np.asarray(self.booster.predict(x, raw_score=True, num_threads=num_threads))

    def predict(self, x: np.ndarray, num_threads: int = 1) -> np.ndarray:
        """Calibrated probability of one or more emergency admissions in the next 12 months."""
        return np.clip(self.calibrator(self.raw(x, num_threads)), 0.0, 1.0)

    def contributions(self, x: np.ndarray, num_threads: int = 1) -> np.ndarray:
        """SHAP values on the log-odds scale: one column per feature, then the bias."""
        return np.asarray(self.booster.predict(x, pred_contrib=True, num_threads=num_threads))

    @property
    def baselines(self) -> Baselines:
        return Baselines.from_json(self.metadata["baselines"])


def _code_version() -> str:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    return f"houseofcare {__version__} (git {commit}; features {features_digest()})"


def _data_digest(*cohorts: Cohort) -> str:
    digest = hashlib.sha256()
    for cohort in cohorts:
        digest.update(cohort.index_date.isoformat().encode())
        digest.update(np.ascontiguousarray(cohort.x).tobytes())
        if cohort.y is not None:
            digest.update(cohort.y.tobytes())
        for pid in cohort.people["patient_id"].to_pylist()[:: max(1, cohort.x.shape[0] // 1000)]:
            digest.update(str(pid).encode())
    return digest.hexdigest()


def summary_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    auc, low, high = metrics.auroc_with_ci(y, p)
    slope, intercept = metrics.calibration_slope_intercept(y, p)
    tiebreak = np.random.default_rng(0).random(p.size)
    ppv_1, sens_1 = metrics.ppv_sensitivity(y, metrics.flag_top(p, 0.01, tiebreak))
    return {
        "auroc": auc,
        "auroc_ci_low": low,
        "auroc_ci_high": high,
        "average_precision": metrics.average_precision(y, p),
        "brier": metrics.brier(y, p),
        "calibration_slope": slope,
        "calibration_intercept": intercept,
        "ppv_top_1pct": ppv_1,
        "sensitivity_top_1pct": sens_1,
        "event_rate": float(y.mean()),
        "mean_predicted": float(p.mean()),
    }


@dataclass(frozen=True)
class TrainingResult:
    model: RiskModel
    seconds: float
    training_people: int
    validation_people: int


def train_model(
    engine: Engine,
    *,
    settings: Settings,
    as_of: dt.date,
    progress: Progress | None = None,
    config: TrainingConfig | None = None,
) -> TrainingResult:
    """Train on A − 24 months, validate on A − 12 months, calibrate, and save the artefact."""
    import lightgbm as lgb

    progress = progress or NullProgress()
    config = config or load_training_config()
    began = time.perf_counter()
    train_date, valid_date = training_dates(as_of)
    check_label_window(engine, valid_date)
    check_lookback(engine, train_date, packaged_feature_spec().lookback_months)
    step = progress.task("train admission-risk model", total=4)
    train = build_cohort(engine, train_date, with_label=True)
    valid = build_cohort(engine, valid_date, with_label=True)
    progress.advance(step)
    assert train.y is not None and valid.y is not None
    if train.y.sum() < 20 or valid.y.sum() < 20:
        raise ModelError(
            f"too few emergency admissions to train ({int(train.y.sum())} at {train_date}, "
            f"{int(valid.y.sum())} at {valid_date}); a population of a few thousand is the least"
        )
    held_out = np.random.default_rng(config.seed).random(train.x.shape[0]) < config.holdout_fraction
    params = {
        **config.lightgbm,
        "seed": config.seed,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": threads(settings),
        "verbose": -1,
    }
    categorical = [f for f in CATEGORICAL_FEATURES if f in train.features]
    fit_set = lgb.Dataset(
        train.x[~held_out],
        label=train.y[~held_out],
        feature_name=train.features,
        categorical_feature=categorical,
        free_raw_data=True,
    )
    stop_set = lgb.Dataset(train.x[held_out], label=train.y[held_out], reference=fit_set)
    booster = lgb.train(
        params,
        fit_set,
        num_boost_round=config.num_boost_round,
        valid_sets=[stop_set],
        callbacks=[lgb.early_stopping(config.early_stopping_rounds, verbose=False)],
    )
    progress.advance(step)
    raw_held_out = np.asarray(
        booster.predict(train.x[held_out], raw_score=True, num_iteration=booster.best_iteration)
    )
    calibrator = fit_calibrator(config.calibration, raw_held_out, train.y[held_out])  # type: ignore[arg-type]
    baselines = fit_baselines(
        train.column("emergency_admission_12m"), train.column("cms_score"), train.y
    )
    # keep only the trees early stopping chose, so every later prediction uses the same model
    booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=booster.best_iteration))
    progress.advance(step)
    trained_at = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    data_digest = _data_digest(train, valid)
    version = f"{trained_at:%Y%m%dT%H%M%S}-{data_digest[:8]}"
    p_valid = np.clip(calibrator(np.asarray(booster.predict(valid.x, raw_score=True))), 0, 1)
    metadata = {
        "version": version,
        "method": METHOD,
        "trained_at": trained_at.isoformat(),
        "record_as_of": as_of.isoformat(),
        "training_window": {
            "index_date": train_date.isoformat(),
            "features_from": _months_before(
                train_date, packaged_feature_spec().lookback_months
            ).isoformat(),
            "label_from": train_date.isoformat(),
            "label_to_exclusive": valid_date.isoformat(),
            "people": int(train.x.shape[0]),
            "fitted_people": int((~held_out).sum()),
            "held_out_people": int(held_out.sum()),
            "event_rate": float(train.y.mean()),
        },
        "validation_window": {
            "index_date": valid_date.isoformat(),
            "label_from": valid_date.isoformat(),
            "label_to_exclusive": _months_before(valid_date, -12).isoformat(),
            "people": int(valid.x.shape[0]),
        },
        "features": train.features,
        "categorical_features": categorical,
        "trees": booster.num_trees(),
        "lightgbm_params": params,
        "calibration": config.calibration,
        "explain_top_percent": config.explain_top_percent,
        "code_version": _code_version(),
        "data_digest": data_digest,
        "validation_metrics": summary_metrics(valid.y, p_valid),
        "baselines": baselines.to_json(),
    }
    path = save_artefact(settings, version, booster, calibrator, metadata)
    progress.advance(step)
    model = RiskModel(path.name, booster, calibrator, {**metadata, "version": path.name}, path)
    return TrainingResult(
        model=model,
        seconds=time.perf_counter() - began,
        training_people=int(train.x.shape[0]),
        validation_people=int(valid.x.shape[0]),
    )


def save_artefact(
    settings: Settings,
    version: str,
    booster: lightgbm.Booster,
    calibrator: Calibrator,
    metadata: dict[str, Any],
) -> Path:
    """Write the folder under a temporary name, then rename: a half-written model never loads."""
    root = models_dir(settings)
    root.mkdir(parents=True, exist_ok=True)
    final = root / version
    for suffix in range(2, 100):  # two trainings in the same second on the same data
        if not final.exists():
            break
        final = root / f"{version}-{suffix}"
    metadata = {**metadata, "version": final.name}
    work = root / f".{version}.partial-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    booster.save_model(str(work / "model.txt"))
    (work / "calibrator.json").write_text(json.dumps(calibrator.to_json(), indent=2))
    (work / "metadata.json").write_text(json.dumps(metadata, indent=2, default=str))
    os.replace(work, final)
    return final


def list_models(settings: Settings) -> list[str]:
    """Complete model versions, oldest first (versions start with their training time)."""
    root = models_dir(settings)
    if not root.is_dir():
        return []
    return sorted(
        p.name
        for p in root.iterdir()
        if not p.name.startswith(".") and (p / "metadata.json").is_file()
    )


def load_model(settings: Settings, version: str | None = None) -> RiskModel | None:
    """The named model, or the latest when `version` is None; None when there is none."""
    import lightgbm as lgb

    versions = list_models(settings)
    if version is None:
        if not versions:
            return None
        version = versions[-1]
    elif version not in versions:
        raise ModelError(
            f"no model {version!r} in {models_dir(settings)}; "
            f"available: {', '.join(versions) or 'none (run `hoc model train`)'}"
        )
    path = models_dir(settings) / version
    metadata = json.loads((path / "metadata.json").read_text())
    booster = lgb.Booster(model_file=str(path / "model.txt"))
    calibrator = calibrator_from_json(json.loads((path / "calibrator.json").read_text()))
    return RiskModel(version, booster, calibrator, metadata, path)
