"""Spec cases: small readable records, written once, run on every analytic engine.

Each engine fixture gives a connection holding the contract's clinical tables; a case inserts
a few rows and states the expected result per patient. DuckDB is the engine today; Spark joins
the `engine` parameter list when it lands, and every case then runs on both.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import duckdb
import pytest

from houseofcare.analytic_tables import CLINICAL_TABLES
from houseofcare.store.analytic import ensure_schema

SNOMED = "http://snomed.info/sct"


class Record:
    """A tiny clinical record builder: `rec.patient("p1", birth_date="1950-01-01")` etc."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def _insert(self, table: str, **values: Any) -> None:
        columns = [name for name, _ in CLINICAL_TABLES[table]]
        unknown = set(values) - set(columns)
        assert not unknown, f"unknown columns for {table}: {unknown}"
        row = [values.get(name) for name in columns]
        placeholders = ", ".join("?" for _ in columns)
        self.con.execute(f'INSERT INTO "{table}" VALUES ({placeholders})', row)

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


@pytest.fixture(params=["duckdb"])
def engine(request: pytest.FixtureRequest) -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect(":memory:")
    ensure_schema(con)
    yield con
    con.close()


@pytest.fixture
def record(engine: duckdb.DuckDBPyConnection) -> Record:
    return Record(engine)
