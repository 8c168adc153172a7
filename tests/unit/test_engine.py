"""The engine seam's pure pieces: literals, transpiling every analytic query, the DuckDB side.

The Spark side is proven by the spec cases (tests/spec), which run on both engines.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlglot
from sqlglot import exp

from houseofcare.engine import DuckDBEngine, Query, spark_sql, sql_literal
from houseofcare.population.indicators import indicator_sql, packaged_indicator_rules
from houseofcare.population.multimorbidity import (
    multimorbidity_sql,
    packaged_multimorbidity_rules,
)
from houseofcare.population.registers import REGISTER_SQL

AS_OF = dt.date(2026, 3, 31)


def analytic_queries() -> dict[str, str]:
    """The level-2 queries as compiled from the packaged rules."""
    return {
        "registers": REGISTER_SQL.replace(":as_of", f"'{AS_OF}'"),
        "multimorbidity": multimorbidity_sql(packaged_multimorbidity_rules(), AS_OF),
        "indicators": indicator_sql(packaged_indicator_rules(), "run_register").replace(
            ":as_of", f"'{AS_OF}'"
        ),
    }


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        (None, "NULL"),
        ("O'Brien", "'O''Brien'"),
        ("x'; DROP TABLE patient; --", "'x''; DROP TABLE patient; --'"),
        (dt.date(2026, 3, 31), "DATE '2026-03-31'"),
        (12, "12"),
        (2.5, "CAST(2.5 AS DOUBLE)"),
    ],
)
def test_parameters_become_literals_both_dialects_read_alike(value: object, literal: str) -> None:
    assert sql_literal(value) == literal  # type: ignore[arg-type]
    assert spark_sql(f"SELECT {literal} AS v").startswith("SELECT")


@pytest.mark.parametrize("value", [True, dt.datetime(2026, 3, 31, 12, 0)])
def test_booleans_and_timestamps_are_refused_as_parameters(value: object) -> None:
    with pytest.raises(TypeError):
        sql_literal(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["registers", "multimorbidity", "indicators"])
def test_every_analytic_query_transpiles_to_spark_sql(name: str) -> None:
    spark = spark_sql(analytic_queries()[name])
    tree = sqlglot.parse_one(spark, read="spark")
    assert tree.find(exp.Select) is not None
    # DuckDB's `x::TYPE` casts and `$name` parameters have no Spark spelling (a `$` ending a
    # regular expression, as in the code-system URI patterns, is fine)
    assert "::" not in spark
    assert re.search(r"\$[A-Za-z_]", spark) is None


@pytest.mark.parametrize("name", ["registers", "multimorbidity", "indicators"])
def test_no_decimal_literal_in_an_analytic_query(name: str) -> None:
    """`36.0` is DOUBLE-like on DuckDB but DECIMAL on Spark: results would change type."""
    tree = sqlglot.parse_one(analytic_queries()[name], read="duckdb")
    decimals = [lit.this for lit in tree.find_all(exp.Literal) if lit.is_number and "." in lit.this]
    assert decimals == []


def test_a_statement_list_is_refused() -> None:
    with pytest.raises(ValueError, match="one SQL statement"):
        spark_sql("SELECT 1; SELECT 2")


def test_duckdb_engine_registers_materialises_and_reads_parquet(tmp_path: Path) -> None:
    engine = DuckDBEngine(duckdb.connect(":memory:"))
    engine.register("code", pa.table({"code": ["a", "b", "c"], "weight": [1.0, 2.0, 3.0]}))
    engine.materialise("heavy", "SELECT * FROM code WHERE weight >= 2")
    engine.register("code", pa.table({"code": ["z"], "weight": [9.0]}))
    # a materialised result keeps its rows when its source changes; a view would not
    assert sorted(engine.rows("SELECT code FROM heavy")) == [("b",), ("c",)]
    query = Query(engine, "SELECT code, weight FROM heavy").where("weight > 2")
    assert query.rows() == [("c", 3.0)]
    assert query.columns == ["code", "weight"]
    assert query.arrow().to_pylist() == [{"code": "c", "weight": 3.0}]

    path = tmp_path / "patient.parquet"
    pq.write_table(pa.table({"patient_id": ["p1", "p2"]}), path)
    engine.read_parquet("patient", path)
    assert engine.rows("SELECT count(*) FROM patient") == [(2,)]
