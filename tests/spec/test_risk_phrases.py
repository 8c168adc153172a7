"""A person's risk factors in words, on every engine: the phrase query rounds each value to its
phrase's decimals with a constant scale (Spark's round() takes no other), so the words are the
same on DuckDB and Spark."""

from __future__ import annotations

import pyarrow as pa

from houseofcare.engine import Engine
from houseofcare.population.rules import packaged_register_rules
from houseofcare.risk.explain import factor_phrases, packaged_phrases
from houseofcare.risk.features import model_features, packaged_feature_spec

FEATURES = model_features(packaged_feature_spec(), [r.id for r in packaged_register_rules()])

#: person → (feature, value, the words), one factor each.
CASES = {
    "admissions": ("emergency_admission_12m", 2.0, "2 emergency admissions in the last 12 months"),
    "one": ("emergency_admission_12m", 1.0, "1 emergency admission in the last 12 months"),
    "bed_days": (
        "emergency_bed_days_12m",
        10.4,
        "10 days in hospital after emergency admission in the last 12 months",
    ),
    "cms": ("cms_score", 1.25, "Cambridge multimorbidity score 1.25"),
    "cms_whole": ("cms_score", 3.0, "Cambridge multimorbidity score 3.0"),
    "cms_rounded": ("cms_score", 2.3456, "Cambridge multimorbidity score 2.35"),
    "register": ("register_hf", 1.0, "on the heart failure register"),
    "missing": ("latest_hba1c", None, "no HbA1c in the last 2 years"),
    "valued": ("ethnic_group", 3.0, "Black or Black British ethnic group"),
}


def test_each_factor_reads_the_same_on_every_engine(engine: Engine) -> None:
    engine.register(
        "factors",
        pa.table(
            {
                "patient_id": list(CASES),
                "rank": pa.array([1] * len(CASES), pa.int64()),
                "feature": [feature for feature, _, _ in CASES.values()],
                "value": pa.array([value for _, value, _ in CASES.values()], pa.float64()),
            }
        ),
    )
    query = factor_phrases(
        engine, "factors", packaged_phrases(), FEATURES, packaged_register_rules()
    )
    words = {pid: (first, second, third) for pid, first, second, third in query.rows()}
    assert words == {pid: (expected, None, None) for pid, (_, _, expected) in CASES.items()}
