"""The model report: the figures a clinician and a statistician need before trusting the list.

For one index date (by default the model's validation date): AUROC with its 95% CI, average
precision, Brier score, calibration slope and intercept with a calibration plot, and PPV and
sensitivity when the top 0.5, 1, 3 and 5% are case-found — overall and by sex, age band, IMD
quintile and ethnic group — for the model, the two baselines and, on synthetic data, the oracle
(the generator's true risk). Published UK figures stand beside ours.

Subgroups are flagged at the *population's* top-k threshold, because that is how a list is
drawn up: a group the model under-serves shows up as lower sensitivity or PPV there. The report
may leave the identifiable zone, so every count in it is disclosure-controlled
(`commissioning/disclosure.py`), and a subgroup's rates are withheld when its people, admissions
or flagged people would be suppressed, so a rate cannot reveal a small count.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from jinja2 import Environment, FileSystemLoader, select_autoescape

from houseofcare.commissioning.disclosure import controlled_count, packaged_rule
from houseofcare.datafiles import read_toml
from houseofcare.engine import Engine
from houseofcare.progress import NullProgress, Progress
from houseofcare.risk import metrics
from houseofcare.risk.baselines import CAMBRIDGE, RULE, baseline_scores, community_matron_rule
from houseofcare.risk.model import ModelError, RiskModel, build_cohort, check_label_window

PUBLISHED_FILE = Path(__file__).with_name("published.toml")
TEMPLATES = Path(__file__).with_name("templates")
MODEL = "model"
ORACLE = "oracle"
SCORE_TITLES = {
    MODEL: "houseofcare model (LightGBM, calibrated)",
    RULE: "Community matron rule (2+ emergency admissions in 12 months)",
    CAMBRIDGE: "Cambridge Multimorbidity Score (recalibrated)",
    ORACLE: "Oracle: the generator's true risk",
}
GROUPS = {
    "sex": "sex",
    "age band": "age_band",
    "IMD quintile (1 = most deprived)": "imd_quintile",
    "ethnic group": "ethnic_group_name",
}
#: Targets of issue 4 on the synthetic population.
AUROC_GAP_TO_ORACLE = 0.02
PPV_RATIO_TO_RULE = 1.5
SLOPE_RANGE = (0.9, 1.1)


class EvaluationError(ValueError):
    """The evaluation cannot be made as asked; the message says why."""


def published_figures() -> list[dict[str, Any]]:
    return list(read_toml(PUBLISHED_FILE, EvaluationError, "published figures missing")["figure"])


def read_oracle(path: Path, index_date: dt.date, patient_ids: pa.Array) -> np.ndarray:
    """The oracle probability per person (NaN where the oracle has nobody), for `index_date`.

    `path` is the oracle Parquet file or the synthetic export folder holding `truth/`.
    """
    file = path / "truth" / "oracle_emergency_admission.parquet" if path.is_dir() else path
    if not file.is_file():
        raise EvaluationError(f"no oracle file at {file} (hoc synth writes DIR/truth/)")
    table = pq.read_table(file, columns=["patient_id", "index_date", "probability"])
    table = table.filter(pc.equal(table["index_date"], pa.scalar(index_date, pa.date32())))
    if table.num_rows == 0:
        dates = sorted({d.isoformat() for d in pq.read_table(file)["index_date"].to_pylist()})
        raise EvaluationError(
            f"{file}: no oracle for index date {index_date}; it has {', '.join(dates)}"
        )
    position = pc.index_in(patient_ids, value_set=table["patient_id"])
    found = pc.take(table["probability"], position)
    return pc.fill_null(pc.cast(found, pa.float64()), math.nan).to_numpy(zero_copy_only=False)


def _finite(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), 4)


def _metrics(y: np.ndarray, rank: np.ndarray, p: np.ndarray, flags: dict[str, np.ndarray]) -> dict:
    """Every figure for one score on one set of people; `flags` are the top-k selections."""
    auc, low, high = metrics.auroc_with_ci(y, rank)
    slope, intercept = metrics.calibration_slope_intercept(y, p)
    out: dict[str, Any] = {
        "auroc": _finite(auc),
        "auroc_ci": [_finite(low), _finite(high)],
        "average_precision": _finite(metrics.average_precision(y, rank)),
        "brier": _finite(metrics.brier(y, p)) if y.size else None,
        "calibration_slope": _finite(slope),
        "calibration_intercept": _finite(intercept),
        "mean_predicted": _finite(float(p.mean())) if p.size else None,
        "observed_rate": _finite(float(y.mean())) if y.size else None,
        "top": {},
    }
    for name, flagged in flags.items():
        ppv, sensitivity = metrics.ppv_sensitivity(y, flagged)
        out["top"][name] = {
            "flagged": controlled_count(int(flagged.sum())),
            "ppv": _finite(ppv) if flagged.sum() > packaged_rule().suppress_at_or_below else None,
            "sensitivity": _finite(sensitivity),
        }
    return out


def _score_report(
    y: np.ndarray,
    rank: np.ndarray,
    p: np.ndarray,
    groups: dict[str, np.ndarray],
    tiebreak: np.ndarray,
) -> dict[str, Any]:
    flags = {f"{100 * f:g}%": metrics.flag_top(rank, f, tiebreak) for f in metrics.TOP_FRACTIONS}
    report = _metrics(y, rank, p, flags)
    report["people"] = controlled_count(int(y.size))
    report["admitted"] = controlled_count(int(y.sum()))
    report["calibration_bins"] = [asdict(b) for b in metrics.calibration_bins(y, p)]
    report["calibration_svg"] = calibration_svg(report["calibration_bins"])
    report["by_group"] = {}
    for title, values in groups.items():
        rows = []
        for value in sorted({v for v in values.tolist()}, key=lambda v: (v is None, str(v))):
            mask = values == value
            people, admitted = int(mask.sum()), int(y[mask].sum())
            row: dict[str, Any] = {
                "group": "not known" if value is None else str(value),
                "people": controlled_count(people),
                "admitted": controlled_count(admitted),
            }
            if min(admitted, people - admitted) > packaged_rule().suppress_at_or_below:
                row.update(
                    _metrics(y[mask], rank[mask], p[mask], {k: f[mask] for k, f in flags.items()})
                )
            else:
                row["withheld"] = "too few people or admissions to report safely"
            rows.append(row)
        report["by_group"][title] = rows
    return report


def calibration_svg(bins: list[dict[str, float]], size: int = 220) -> str:
    """A small inline SVG: observed against predicted risk per decile, with the ideal line."""
    if not bins:
        return ""
    top = max(0.05, max(max(b["mean_predicted"], b["observed"]) for b in bins))
    top = min(1.0, math.ceil(top * 10) / 10)
    pad = 30
    scale = (size - 2 * pad) / top

    def xy(pred: float, obs: float) -> tuple[float, float]:
        return pad + pred * scale, size - pad - obs * scale

    points = " ".join(
        f"{x:.1f},{y:.1f}" for x, y in (xy(b["mean_predicted"], b["observed"]) for b in bins)
    )
    x0, y0 = xy(0, 0)
    x1, y1 = xy(top, top)
    dots = "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#005eb8"/>'
        for x, y in (xy(b["mean_predicted"], b["observed"]) for b in bins)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" role="img" '
        f'aria-label="Calibration plot: observed against predicted risk by decile">'
        f'<line x1="{x0}" y1="{y0}" x2="{x1:.1f}" y2="{y1:.1f}" stroke="#aeb7bd" '
        f'stroke-dasharray="4"/>'
        f'<line x1="{x0}" y1="{y0}" x2="{x1:.1f}" y2="{y0}" stroke="#425563"/>'
        f'<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1:.1f}" stroke="#425563"/>'
        f'<polyline points="{points}" fill="none" stroke="#005eb8"/>{dots}'
        f'<text x="{size / 2}" y="{size - 5}" font-size="10" text-anchor="middle">'
        f"predicted (0 to {top:g})</text>"
        f'<text x="10" y="{size / 2}" font-size="10" text-anchor="middle" '
        f'transform="rotate(-90 10 {size / 2})">observed</text></svg>'
    )


def _targets(scores: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Issue 4's targets, each with what was reached and whether it was met."""
    model = scores[MODEL]
    checks: list[dict[str, Any]] = []
    if ORACLE in scores:
        gap = (scores[ORACLE]["auroc"] or 0) - (scores[ORACLE]["model_auroc_same_people"] or 0)
        checks.append(
            {
                "target": f"AUROC within {AUROC_GAP_TO_ORACLE} of the oracle",
                "reached": f"model {scores[ORACLE]['model_auroc_same_people']}, oracle "
                f"{scores[ORACLE]['auroc']} (gap {gap:.3f})",
                "met": gap <= AUROC_GAP_TO_ORACLE,
            }
        )
    rule = scores[RULE]["rule"]
    ppv_model = model["top"]["1%"]["ppv"]
    if rule["ppv"] and ppv_model:
        ratio = ppv_model / rule["ppv"]
        checks.append(
            {
                "target": f"PPV in the top 1% at least {PPV_RATIO_TO_RULE}× the 2-admissions rule",
                "reached": f"{ppv_model:.3f} vs {rule['ppv']:.3f} ({ratio:.2f}×)",
                "met": ratio >= PPV_RATIO_TO_RULE,
            }
        )
    slopes = [("overall", model["calibration_slope"])] + [
        (f"IMD quintile {row['group']}", row.get("calibration_slope"))
        for row in model["by_group"]["IMD quintile (1 = most deprived)"]
    ]
    low, high = SLOPE_RANGE
    checks.append(
        {
            "target": f"calibration slope {low}-{high} overall and in every IMD quintile",
            "reached": ", ".join(f"{name} {s}" for name, s in slopes),
            "met": all(s is not None and low <= s <= high for _, s in slopes),
        }
    )
    return checks


def _equity_statement(model: dict[str, Any]) -> str:
    """Plain words on whether the most deprived are under-served, as issue 4 asks."""
    rows = {r["group"]: r for r in model["by_group"]["IMD quintile (1 = most deprived)"]}
    most, least = rows.get("1"), rows.get("5")
    if not most or "auroc" not in most:
        return "Too few people in the most deprived quintile to judge calibration there."
    parts = [
        f"In the most deprived quintile the calibration slope is {most['calibration_slope']} and "
        f"calibration-in-the-large {most['calibration_intercept']} (observed "
        f"{most['observed_rate']} vs predicted {most['mean_predicted']})"
    ]
    if least and "auroc" in least:
        parts.append(
            f"; in the least deprived, slope {least['calibration_slope']}, intercept "
            f"{least['calibration_intercept']}. Sensitivity in the population's top 5%: "
            f"{most['top']['5%']['sensitivity']} (most deprived) vs "
            f"{least['top']['5%']['sensitivity']} (least deprived)"
        )
    intercept = most["calibration_intercept"] or 0
    verdict = (
        ". The model under-predicts for the most deprived (positive intercept): they would be "
        "under-served; recalibrate before use."
        if intercept > 0.1
        else ". No sign that the model under-predicts risk for the most deprived."
    )
    return "".join(parts) + verdict


def evaluate_model(
    engine: Engine,
    *,
    model: RiskModel,
    index_date: dt.date | None = None,
    oracle: Path | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The whole report as a JSON-ready dict."""
    progress = progress or NullProgress()
    step = progress.task("evaluate admission-risk model", total=3)
    index_date = index_date or dt.date.fromisoformat(
        model.metadata["validation_window"]["index_date"]
    )
    check_label_window(engine, index_date)
    cohort = build_cohort(engine, index_date, with_label=True)
    if cohort.features != model.features:
        raise ModelError(f"model {model.version} was trained on other features; retrain it")
    assert cohort.y is not None
    y = cohort.y
    progress.advance(step)
    p = model.predict(cohort.x)
    admissions, cms = cohort.column("emergency_admission_12m"), cohort.column("cms_score")
    ranked: dict[str, tuple[np.ndarray, np.ndarray]] = {MODEL: (p, p)}
    ranked.update(baseline_scores(model.baselines, admissions, cms))
    tiebreak = np.random.default_rng(int(model.metadata["lightgbm_params"]["seed"])).random(y.size)
    groups = {
        title: np.asarray(cohort.people[column].to_pylist(), dtype=object)
        for title, column in GROUPS.items()
    }
    scores = {
        name: _score_report(y, rank, prob, groups, tiebreak)
        for name, (rank, prob) in ranked.items()
    }
    rule_flag = community_matron_rule(admissions)
    ppv, sensitivity = metrics.ppv_sensitivity(y, rule_flag)
    scores[RULE]["rule"] = {
        "flagged": controlled_count(int(rule_flag.sum())),
        "share_flagged": _finite(float(rule_flag.mean())),
        "ppv": _finite(ppv),
        "sensitivity": _finite(sensitivity),
    }
    progress.advance(step)
    if oracle is not None:
        truth = read_oracle(oracle, index_date, cohort.people["patient_id"])
        known = np.isfinite(truth)
        sub_groups = {t: g[known] for t, g in groups.items()}
        scores[ORACLE] = _score_report(
            y[known], truth[known], truth[known], sub_groups, tiebreak[known]
        )
        scores[ORACLE]["people_without_oracle"] = controlled_count(int((~known).sum()))
        scores[ORACLE]["model_auroc_same_people"] = _finite(
            metrics.auroc_with_ci(y[known], p[known])[0]
        )
    progress.advance(step)
    report: dict[str, Any] = {
        "title": "Emergency admission risk: model evaluation",
        "generated_at": dt.datetime.now(dt.UTC).replace(microsecond=0, tzinfo=None).isoformat(),
        "index_date": index_date.isoformat(),
        "label": "one or more emergency admissions in the 12 months from the index date",
        "model": {
            key: model.metadata[key]
            for key in (
                "version",
                "method",
                "trained_at",
                "training_window",
                "validation_window",
                "code_version",
                "data_digest",
                "calibration",
                "trees",
            )
        },
        "features": model.features,
        "people": controlled_count(int(y.size)),
        "admitted": controlled_count(int(y.sum())),
        "scores": scores,
        "score_titles": {k: SCORE_TITLES[k] for k in scores},
        "published": published_figures(),
        "disclosure": (
            f"Counts of 1-{packaged_rule().suppress_at_or_below} are suppressed and other "
            f"counts rounded to the nearest {packaged_rule().round_to}; a subgroup's rates are "
            "withheld when its counts would be suppressed."
        ),
    }
    report["targets"] = _targets(scores)
    report["equity"] = _equity_statement(scores[MODEL])
    return report


def write_report(report: dict[str, Any], out: Path) -> tuple[Path, Path]:
    """`report.json` and `report.html` in folder `out`."""
    out.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out / "report.json", out / "report.html"
    json_path.write_text(json.dumps(report, indent=2, default=str))
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html", "j2"])
    )
    env.filters["v"] = lambda value: "–" if value is None else value  # withheld or undefined
    html_path.write_text(env.get_template("report.html.j2").render(report=report))
    return html_path, json_path
