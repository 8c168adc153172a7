"""Explanations: the top three factors, and their phrasing in plain words."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from houseofcare.engine import DuckDBEngine
from houseofcare.population.rules import packaged_register_rules
from houseofcare.risk.explain import (
    PhraseError,
    factor_phrases,
    load_phrases,
    packaged_phrases,
    phrase_tables,
    top_factor_rows,
)
from houseofcare.risk.features import model_features, packaged_feature_spec

FEATURES = model_features(packaged_feature_spec(), [r.id for r in packaged_register_rules()])


def phrase(feature: str, value: float | None) -> str:
    con = duckdb.connect(":memory:")
    engine = DuckDBEngine(con)
    engine.register(
        "factors",
        pa.table(
            {
                "patient_id": ["p"],
                "rank": pa.array([1], pa.int64()),
                "feature": [feature],
                "value": pa.array([value], pa.float64()),
            }
        ),
    )
    query = factor_phrases(
        engine, "factors", packaged_phrases(), FEATURES, packaged_register_rules()
    )
    ((pid, first, second, third),) = engine.rows(query.sql)
    assert (pid, second, third) == ("p", None, None)
    return first


@pytest.mark.parametrize(
    ("feature", "value", "expected"),
    [
        ("emergency_admission_12m", 2, "2 emergency admissions in the last 12 months"),
        ("emergency_admission_12m", 1, "1 emergency admission in the last 12 months"),
        ("ae_attendance_3m", 0, "0 A&E attendances in the last 3 months"),
        (
            "emergency_bed_days_12m",
            10.4,
            "10 days in hospital after emergency admission in the last 12 months",
        ),
        ("age", 87, "aged 87"),
        ("cms_score", 2.5, "Cambridge multimorbidity score 2.5"),
        ("register_hf", 1, "on the heart failure register"),
        ("register_copd", 0, "not on the chronic obstructive pulmonary disease register"),
        ("frailty_level", 2, "moderate frailty"),
        ("latest_hba1c", None, "no HbA1c in the last 2 years"),
        ("days_since_emergency_admission", None, "no emergency admission in the last 3 years"),
        ("ethnic_group", 3, "Black or Black British ethnic group"),
        ("polypharmacy", 1, "10 or more different medicines in the last 12 months"),
    ],
)
def test_phrases_read_as_plain_english(feature: str, value: float | None, expected: str) -> None:
    assert phrase(feature, value) == expected


def test_every_model_feature_has_a_phrase() -> None:
    tables = phrase_tables(packaged_phrases(), FEATURES, packaged_register_rules())
    assert sorted(tables["risk_phrase"]["feature"].to_pylist()) == sorted(FEATURES)


def test_a_feature_without_a_phrase_is_an_error() -> None:
    with pytest.raises(PhraseError, match=r"no phrase for feature.*brand_new_feature"):
        phrase_tables(
            packaged_phrases(), [*FEATURES, "brand_new_feature"], packaged_register_rules()
        )


def test_a_non_numeric_value_key_names_the_file_and_feature(tmp_path: Path) -> None:
    path = tmp_path / "phrases.toml"
    path.write_text(
        'register_template = "on {name}"\nregister_absent = "not {name}"\n'
        '[feature.age]\ntemplate = "aged {value}"\nvalues = { old = "old" }\n'
    )
    with pytest.raises(PhraseError, match=r"phrases.toml: feature.age.values: key 'old'"):
        load_phrases(path)


def test_top_factors_are_the_three_largest_positive_contributions() -> None:
    features = ["a", "b", "c", "d"]
    contributions = np.array(
        [
            [0.1, 0.5, -0.2, 0.3, -2.0],  # b, d, a
            [-0.1, -0.5, 0.2, -0.3, -2.0],  # only c raises the risk
        ]
    )
    x = np.array([[1, 2, 3, 4], [5, 6, 7, 8]], dtype=np.float32)
    rows = top_factor_rows(pa.array(["p", "q"]), contributions, x, features).to_pylist()
    assert [(r["patient_id"], r["rank"], r["feature"], r["value"]) for r in rows] == [
        ("p", 1, "b", 2.0),
        ("p", 2, "d", 4.0),
        ("p", 3, "a", 1.0),
        ("q", 1, "c", 7.0),
    ]
