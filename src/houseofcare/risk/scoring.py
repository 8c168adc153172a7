"""Scoring everyone at a run's as-of date: risk, percentile and the three factors that raised it.

`hoc run` scores a run when a trained model exists, so a run's `risk_score` rows are exactly as
reproducible as its registers: same records, same as-of date, same model version (recorded on
every row). The output is identifiable (one row per person) and stays in the analytic store for
the practice and case managers.

The model runs where the rows are, through the engine seam's `map_batches`: in this process on
DuckDB, inside Spark's Python workers on Spark, so a region's people never pass through the
driver. Only the top of the risk distribution is explained (SHAP contributions cost about ten
times a prediction); the cut-off is the risk of the k-th highest person, a value from the data,
so both engines explain exactly the same people.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from houseofcare.engine import Engine, Query, sql_literal
from houseofcare.population.rules import packaged_register_rules
from houseofcare.risk.explain import factor_phrases, packaged_phrases, top_factor_rows
from houseofcare.risk.features import compute_features, model_features, packaged_feature_spec
from houseofcare.risk.model import ModelError, RiskModel, feature_matrix
from houseofcare.run_results import result_ddl

RISK_SCORE_DDL = result_ddl("risk_score")

PREDICTION_SCHEMA = pa.schema([("patient_id", pa.string()), ("risk", pa.float64())])
FACTOR_SCHEMA = pa.schema(
    [
        ("patient_id", pa.string()),
        ("rank", pa.int64()),
        ("feature", pa.string()),
        ("value", pa.float64()),
        ("contribution", pa.float64()),
    ]
)


def person_ids(batch: pa.RecordBatch) -> pa.Array:
    """The batch's patient ids as plain strings (Spark may hand over large strings)."""
    return pc.cast(batch.column("patient_id"), pa.string())


@dataclass(frozen=True)
class Predict:
    """The calibrated model over a batch of feature rows: patient_id, risk.

    A picklable object rather than a closure, because Spark ships it to its Python workers.
    """

    model: RiskModel
    features: Sequence[str]
    num_threads: int

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        x = feature_matrix(pa.Table.from_batches([batch]), list(self.features))
        risk = self.model.predict(x, self.num_threads) if batch.num_rows else np.empty(0)
        return pa.RecordBatch.from_arrays(
            [person_ids(batch), pa.array(risk, pa.float64())], schema=PREDICTION_SCHEMA
        )


@dataclass(frozen=True)
class Explain:
    """Each person's up-to-three factors that raised their risk most (SHAP), as long rows."""

    model: RiskModel
    features: Sequence[str]
    num_threads: int

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        x = feature_matrix(pa.Table.from_batches([batch]), list(self.features))
        contributions = (
            self.model.contributions(x, self.num_threads)
            if batch.num_rows
            else np.zeros((0, len(self.features) + 1))
        )
        rows = top_factor_rows(person_ids(batch), contributions, x, self.features)
        return pa.RecordBatch.from_arrays(
            [rows[name].combine_chunks() for name in FACTOR_SCHEMA.names], schema=FACTOR_SCHEMA
        )


def explained_from(engine: Engine, top_percent: float) -> str:
    """The condition on `risk_prediction` that picks the people to explain: the top
    `top_percent` per cent by risk, people tied with the last one included."""
    ((people,),) = engine.rows("SELECT count(*) FROM risk_prediction")
    if people == 0 or top_percent >= 100:
        return "TRUE"
    k = max(1, math.ceil(people * top_percent / 100))
    ((cut,),) = engine.rows(
        f"SELECT risk FROM risk_prediction ORDER BY risk DESC, patient_id LIMIT 1 OFFSET {k - 1}"
    )
    # the value exactly as it came, not as a decimal literal (a DECIMAL on Spark)
    return f"p.risk >= CAST({sql_literal(repr(float(cut)))} AS DOUBLE)"


#: Everyone scored (`risk_prediction`), with their percentile and factors in words
#: (`risk_factor_phrases`): the score's last step, on either engine.
SCORED_SQL = """
SELECT s.patient_id, s.risk,
       round(100 * percent_rank() OVER (ORDER BY s.risk), 2) AS percentile,
       f.factor_1, f.factor_2, f.factor_3, :model_version AS model_version
FROM risk_prediction s
LEFT JOIN risk_factor_phrases f ON f.patient_id = s.patient_id
"""


def score_query(
    engine: Engine,
    model: RiskModel,
    as_of: dt.date,
    *,
    num_threads: int,
    registers: tuple[str, str],
) -> Query:
    """patient_id, risk, percentile (0-100, share of people with lower risk), factor_1..3,
    model_version, for everyone alive at the end of `as_of` (the run's population).

    A run's results read everything recorded up to and including its as-of date, so the
    features' index date is the day after it (features read what was recorded strictly
    before their index date): then the features' registers and scores are the run's own,
    `registers` (its register table and multimorbidity table at `as_of`), not computed again.
    """
    features = model_features(packaged_feature_spec(), [r.id for r in packaged_register_rules()])
    if features != model.features:
        raise ModelError(
            f"model {model.version} was trained on different features from the ones the code "
            "now computes; retrain it with `hoc model train`"
        )
    index_date = as_of + dt.timedelta(days=1)
    engine.materialise(
        "risk_features",
        compute_features(engine, index_date, with_label=False, day_before=registers).sql,
    )
    columns = ", ".join(["patient_id", *features])
    engine.map_batches(
        "risk_prediction",
        f"SELECT {columns} FROM risk_features",
        Predict(model, features, num_threads),
        PREDICTION_SCHEMA,
    )
    explained = explained_from(engine, float(model.metadata.get("explain_top_percent", 100)))
    engine.map_batches(
        "risk_factor_rows",
        f"SELECT {', '.join('f.' + c for c in ['patient_id', *features])} FROM risk_features f "
        f"JOIN risk_prediction p ON p.patient_id = f.patient_id WHERE {explained}",
        Explain(model, features, num_threads),
        FACTOR_SCHEMA,
    )
    phrases = factor_phrases(
        engine, "risk_factor_rows", packaged_phrases(), features, packaged_register_rules()
    )
    engine.materialise("risk_factor_phrases", phrases.sql)
    return Query(engine, SCORED_SQL.replace(":model_version", sql_literal(model.version)))
