"""The risk and triangle queries keep to SQL that DuckDB and Spark mean the same way.

Like tests/unit/test_engine.py for the level-2 queries: each query transpiles to Spark SQL and
has no decimal literal (`36.0` is DECIMAL on Spark). The feature query's results on both
engines are compared by the spec cases in tests/spec/test_features.py.
"""

from __future__ import annotations

import datetime as dt

import pytest
import sqlglot
from sqlglot import exp

from houseofcare.engine import spark_sql
from houseofcare.population.rules import packaged_register_rules
from houseofcare.risk.explain import PHRASE_SQL
from houseofcare.risk.features import feature_sql, packaged_feature_spec
from houseofcare.tiers.assign import tier_sql
from houseofcare.tiers.policy import packaged_policy

D = dt.date(2025, 3, 31)


def queries() -> dict[str, str]:
    registers = [r.id for r in packaged_register_rules()]
    features = feature_sql(
        packaged_feature_spec(),
        registers,
        D,
        register_table="risk_register",
        scores_table="risk_scores",
        with_label=True,
    )
    return {
        "features": features,
        "phrases": PHRASE_SQL.replace("{factors}", "risk_factor_rows"),
        "tiers": tier_sql(packaged_policy(), D, people=100_000, has_risk=True),
        "tiers without a model": tier_sql(packaged_policy(), D, people=10, has_risk=False),
    }


@pytest.mark.parametrize("name", list(queries()))
def test_query_transpiles_to_spark_sql(name: str) -> None:
    spark = spark_sql(queries()[name])
    assert sqlglot.parse_one(spark, read="spark").find(exp.Select) is not None
    assert "::" not in spark


@pytest.mark.parametrize("name", list(queries()))
def test_query_has_no_decimal_literal(name: str) -> None:
    tree = sqlglot.parse_one(queries()[name], read="duckdb")
    decimals = [lit.this for lit in tree.find_all(exp.Literal) if lit.is_number and "." in lit.this]
    assert decimals == []
