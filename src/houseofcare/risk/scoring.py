"""Scoring everyone at a run's as-of date: risk, percentile and the three factors that raised it.

`hoc run` calls `write_risk_scores` inside its transaction when a trained model exists, so a
run's `risk_score` rows are exactly as reproducible as its registers: same store, same as-of
date, same model version (recorded on every row). The output is identifiable — one row per
person — and stays in the analytic store for the practice and case managers.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pyarrow as pa

from houseofcare.engine import DuckDBEngine, Engine, Query
from houseofcare.population.rules import packaged_register_rules
from houseofcare.risk.explain import factor_phrases, packaged_phrases, top_factor_rows
from houseofcare.risk.model import ModelError, RiskModel, build_cohort, load_model, threads
from houseofcare.settings import Settings

RISK_SCORE_DDL = """CREATE TABLE IF NOT EXISTS risk_score (
    run_id VARCHAR, patient_id VARCHAR, risk DOUBLE, percentile DOUBLE,
    factor_1 VARCHAR, factor_2 VARCHAR, factor_3 VARCHAR, model_version VARCHAR)"""

#: People explained per LightGBM call: bounds the SHAP matrix's memory at a million people.
EXPLAIN_CHUNK = 200_000


def explained_people(risk: np.ndarray, top_percent: float) -> np.ndarray:
    """Row numbers of the people whose risk is in the top `top_percent` per cent (ties kept)."""
    if risk.size == 0 or top_percent >= 100:
        return np.arange(risk.size)
    cut = np.quantile(risk, 1 - top_percent / 100)
    return np.flatnonzero(risk >= cut)


#: Everyone scored (`risk_prediction`), with their percentile and factors in words
#: (`risk_factor_phrases`): the score's last step, on either engine.
SCORED_SQL = """
SELECT s.patient_id, s.risk,
       round(100 * percent_rank() OVER (ORDER BY s.risk), 2) AS percentile,
       f.factor_1, f.factor_2, f.factor_3
FROM risk_prediction s
LEFT JOIN risk_factor_phrases f ON f.patient_id = s.patient_id
"""


def score_query(engine: Engine, model: RiskModel, as_of: dt.date, *, num_threads: int) -> Query:
    """patient_id, risk, percentile (0-100, share of people with lower risk), factor_1..3."""
    cohort = build_cohort(engine, as_of, with_label=False)
    if cohort.features != model.features:
        raise ModelError(
            f"model {model.version} was trained on different features from the ones the code "
            "now computes; retrain it with `hoc model train`"
        )
    risk = model.predict(cohort.x, num_threads) if cohort.x.shape[0] else np.empty(0)
    ids = cohort.people["patient_id"]
    explained = explained_people(risk, float(model.metadata.get("explain_top_percent", 100)))
    x, explained_ids = cohort.x[explained], ids.take(pa.array(explained))
    parts = [
        top_factor_rows(
            explained_ids[start : start + EXPLAIN_CHUNK],
            model.contributions(x[start : start + EXPLAIN_CHUNK], num_threads),
            x[start : start + EXPLAIN_CHUNK],
            cohort.features,
        )
        for start in range(0, x.shape[0], EXPLAIN_CHUNK)
    ]
    if not parts:
        parts = [
            top_factor_rows(
                explained_ids, np.zeros((0, len(cohort.features) + 1)), x, cohort.features
            )
        ]
    factors = pa.concat_tables(parts)
    engine.register("risk_factor_rows", factors)
    engine.register("risk_prediction", pa.table({"patient_id": ids, "risk": pa.array(risk)}))
    phrases = factor_phrases(
        engine, "risk_factor_rows", packaged_phrases(), cohort.features, packaged_register_rules()
    )
    engine.materialise("risk_factor_phrases", phrases.sql)
    return Query(engine, SCORED_SQL)


def write_risk_scores(
    con: duckdb.DuckDBPyConnection, *, settings: Settings, run_id: str, as_of: dt.date
) -> str | None:
    """Score everyone at `as_of` with the latest model into `risk_score`; the model version, or
    None when no model has been trained (the run then places people on tiers without risk)."""
    con.execute(RISK_SCORE_DDL)
    model = load_model(settings)
    if model is None:
        return None
    engine = DuckDBEngine(con)
    query = score_query(engine, model, as_of, num_threads=threads(settings))
    con.execute(
        "INSERT INTO risk_score SELECT ?, patient_id, risk, percentile, factor_1, factor_2, "
        f"factor_3, ? FROM ({query.sql}) AS scored",
        [run_id, model.version],
    )
    return model.version
