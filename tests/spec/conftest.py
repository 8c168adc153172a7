"""Spec cases: small readable records, written once, run on every analytic engine.

The `engine` fixture is each engine in turn (DuckDB, then Spark in local mode) holding the
contract's clinical tables, empty; a case adds a few rows with `Record` and states the expected
result per patient. `Record` keeps the rows per table and hands the whole table to the engine as
Arrow after each row, so the same case feeds DuckDB and Spark the same way. Spark starts once
per test process (session scope: start-up takes ~8-10 s).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
import pytest

from houseofcare.analytic_tables import CLINICAL_TABLES
from houseofcare.engine import DuckDBEngine, Engine, SparkEngine, spark_session, sql_literal
from houseofcare.population.indicators import (
    CARE_GAP_COLUMNS,
    compute_indicators,
    packaged_indicator_rules,
)
from houseofcare.population.registers import compute_registers
from houseofcare.population.rules import packaged_register_rules
from houseofcare.spark_session import SMALL_DATA_CONFIG
from houseofcare.store.analytic import arrow_schema
from houseofcare.terminology.codelist import packaged_codelists

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

SNOMED = "http://snomed.info/sct"
ENGINES = ("duckdb", "spark")
SPARK_TEST_CONFIG = SMALL_DATA_CONFIG


def _typed(kind: str, value: Any) -> Any:
    """ISO strings for DATE/TIMESTAMP columns as Python values, so cases can write '2015-01-01'."""
    if isinstance(value, str) and kind == "DATE":
        return dt.date.fromisoformat(value)
    if isinstance(value, str) and kind == "TIMESTAMP":
        return dt.datetime.fromisoformat(value)
    return value


class Record:
    """A tiny clinical record builder: `rec.patient("p1", birth_date="1950-01-01")` etc."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.rows: dict[str, list[dict[str, Any]]] = {name: [] for name in CLINICAL_TABLES}

    def _insert(self, table: str, **values: Any) -> None:
        columns = CLINICAL_TABLES[table]
        unknown = set(values) - {name for name, _ in columns}
        assert not unknown, f"unknown columns for {table}: {unknown}"
        self.rows[table].append({name: _typed(kind, values.get(name)) for name, kind in columns})
        self.engine.register(
            table, pa.Table.from_pylist(self.rows[table], schema=arrow_schema(table))
        )

    def patient(self, patient_id: str, **values: Any) -> None:
        values.setdefault("birth_date", "1950-06-15")
        values.setdefault("gender", "female")
        values.setdefault("practice_id", "P1")
        self._insert("patient", patient_id=patient_id, **values)

    def condition(self, patient_id: str, code: str, date: str, **values: Any) -> None:
        values.setdefault("code_system", SNOMED)
        values.setdefault("condition_id", f"c-{patient_id}-{code}-{date}")
        self._insert("condition", patient_id=patient_id, code=code, onset_date=date, **values)

    def medication(self, patient_id: str, code: str, date: str, **values: Any) -> None:
        values.setdefault("code_system", SNOMED)
        values.setdefault("medication_request_id", f"m-{patient_id}-{code}-{date}")
        values.setdefault("status", "active")
        self._insert("medication", patient_id=patient_id, code=code, authored_on=date, **values)

    def procedure(self, patient_id: str, code: str, date: str, **values: Any) -> None:
        values.setdefault("code_system", SNOMED)
        values.setdefault("procedure_id", f"pr-{patient_id}-{code}-{date}")
        values.setdefault("status", "completed")
        self._insert("procedure", patient_id=patient_id, code=code, performed_date=date, **values)

    def observation(
        self, patient_id: str, code: str, date: str, value: float | None = None, **values: Any
    ) -> None:
        values.setdefault("code_system", SNOMED)
        values.setdefault("observation_id", f"o-{patient_id}-{code}-{date}")
        values.setdefault("status", "final")
        self._insert(
            "observation",
            patient_id=patient_id,
            code=code,
            effective_date=date,
            value_number=value,
            **values,
        )


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """One local Spark session per test process, made only when a Spark case runs.

    Tuned for records of a few rows, where Spark's fixed costs dominate: no adaptive
    re-planning, no code generation, no broadcast jobs, one shuffle partition, quick JIT.
    """
    session = spark_session(**SPARK_TEST_CONFIG)
    yield session
    session.stop()


def _clear_spark(session: SparkSession) -> None:
    """Drop the previous case's views (`SHOW VIEWS`: catalog.listTables fails without codegen)."""
    for view in session.sql("SHOW VIEWS").collect():
        if view.isTemporary:
            session.catalog.dropTempView(view.viewName)
    session.catalog.clearCache()


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """Each engine in turn, with every clinical table present and empty."""
    chosen: Engine
    if request.param == "duckdb":
        con = duckdb.connect(":memory:")
        chosen = DuckDBEngine(con)
    else:
        session: SparkSession = request.getfixturevalue("spark")
        _clear_spark(session)
        chosen = SparkEngine(session)
    for table in CLINICAL_TABLES:
        chosen.register(table, arrow_schema(table).empty_table())
    yield chosen
    if isinstance(chosen, DuckDBEngine):
        chosen.con.close()
    else:
        _clear_spark(chosen.spark)


@pytest.fixture
def record(engine: Engine) -> Record:
    return Record(engine)


def store_run(engine: Engine, as_of: dt.date, run_id: str = "spec-run") -> str:
    """A run's stored tables (`run`, `register`, `care_gap`) as `hoc run` writes them.

    Built through the engine seam alone, so the cases on stored runs (recall lists,
    achievement, prevalence) run on every engine; tests/integration/test_pipeline_run.py checks
    that `hoc run` on DuckDB stores exactly these rows.
    """
    run = sql_literal(run_id)
    registers = compute_registers(engine, packaged_register_rules(), packaged_codelists(), as_of)
    engine.materialise("spec_register", registers.sql)
    engine.materialise("register", f"SELECT {run} AS run_id, * FROM spec_register")
    gaps = compute_indicators(
        engine, packaged_indicator_rules(), packaged_codelists(), as_of, "spec_register"
    )
    engine.materialise(
        "care_gap", f"SELECT {run} AS run_id, {CARE_GAP_COLUMNS} FROM ({gaps.sql}) AS g"
    )
    engine.register(
        "run",
        pa.table({"run_id": [run_id], "as_of": pa.array([as_of], pa.date32())}),
    )
    return run_id
