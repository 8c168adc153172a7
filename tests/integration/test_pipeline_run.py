"""`hoc run` on the DuckDB store writes exactly what the engine seam computes, in one transaction.

The spec cases (tests/spec) pin the analytics on every engine through the seam; this checks the
other half on the embedded store: the pipeline stores those same rows, tagged with its run, and
a run that fails part-way leaves nothing behind.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from houseofcare import pipeline
from houseofcare.engine import DuckDBEngine
from houseofcare.pipeline import run_pipeline
from houseofcare.population.indicators import (
    compute_indicators,
    packaged_indicator_rules,
    recall_list,
)
from houseofcare.population.multimorbidity import (
    compute_multimorbidity,
    packaged_multimorbidity_rules,
)
from houseofcare.population.registers import compute_registers
from houseofcare.population.rules import packaged_register_rules
from houseofcare.settings import Settings
from houseofcare.store.analytic import connect
from houseofcare.terminology.codelist import packaged_codelists

AS_OF = dt.date(2026, 3, 31)
SCT = "http://snomed.info/sct"
DIABETES = "44054006"
HYPERTENSION = "38341003"
HBA1C = "999791000000106"


def _store(tmp_path: Path) -> tuple[Settings, duckdb.DuckDBPyConnection]:
    settings = Settings(data_dir=tmp_path)
    con = connect(settings)
    people = [("good", "1950-01-01"), ("high", "1960-05-05"), ("never", "1975-09-09")]
    for patient, born in people:
        con.execute(
            "INSERT INTO patient (patient_id, gender, birth_date, practice_id) "
            "VALUES (?, 'female', ?, 'P1')",
            [patient, born],
        )
        for code in (DIABETES, HYPERTENSION):
            con.execute(
                "INSERT INTO condition (condition_id, patient_id, code_system, code, onset_date) "
                "VALUES (?, ?, ?, ?, DATE '2015-01-01')",
                [f"c-{patient}-{code}", patient, SCT, code],
            )
    for patient, value in (("good", 50.0), ("high", 80.0)):
        con.execute(
            "INSERT INTO observation (observation_id, patient_id, status, code_system, code, "
            "effective_date, value_number) VALUES (?, ?, 'final', ?, ?, DATE '2026-01-10', ?)",
            [f"o-{patient}", patient, SCT, HBA1C, value],
        )
    return settings, con


def test_the_run_stores_the_rows_the_engine_seam_computes(tmp_path: Path) -> None:
    settings, con = _store(tmp_path)
    run_id = run_pipeline(settings=settings, as_of=AS_OF, con=con).run_id
    engine = DuckDBEngine(con)

    registers = compute_registers(engine, packaged_register_rules(), packaged_codelists(), AS_OF)
    engine.materialise("check_register", registers.sql)
    scores = compute_multimorbidity(
        engine, packaged_multimorbidity_rules(), AS_OF, "check_register"
    )
    gaps = compute_indicators(
        engine, packaged_indicator_rules(), packaged_codelists(), AS_OF, "check_register"
    )
    expected = {
        "register": engine.rows("SELECT * FROM check_register"),
        "multimorbidity": scores.rows(),
        "care_gap": gaps.rows(),
    }
    for table, rows in expected.items():
        stored = engine.rows(f"SELECT * EXCLUDE (run_id) FROM {table} WHERE run_id = '{run_id}'")
        assert rows, table
        assert sorted(stored, key=repr) == sorted(rows, key=repr), table
    assert {row[1] for row in expected["register"]} == {"DM", "HYP"}
    overdue = recall_list(engine, run_id, indicator="DM_HBA1C_58").rows()
    assert [row[1] for row in overdue] == ["never", "high"]


def test_a_run_that_fails_part_way_stores_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, con = _store(tmp_path)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("care gaps failed")

    monkeypatch.setattr(pipeline, "compute_indicators", broken)
    with pytest.raises(RuntimeError, match="care gaps failed"):
        run_pipeline(settings=settings, as_of=AS_OF, con=con)
    for table in ("run", "register", "multimorbidity", "care_gap"):
        assert con.execute(f"SELECT count(*) FROM {table}").fetchall() == [(0,)], table
