"""Placing people on the triangle: levels, reasons and the capacity cap on tiny run tables."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import duckdb
import pytest

from houseofcare.store.analytic import ensure_schema
from houseofcare.tiers.assign import write_tiers
from houseofcare.tiers.policy import Capacity, Level1, Level2, Level3, TieringPolicy

AS_OF = dt.date(2026, 3, 31)
RUN = "r1"


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect(":memory:")
    ensure_schema(con)
    con.execute(
        "CREATE TABLE multimorbidity (run_id VARCHAR, patient_id VARCHAR, "
        "ltc_count BIGINT, cms_score DOUBLE, efi_deficits BIGINT, efi_score DOUBLE, "
        "frailty_category VARCHAR)"
    )
    con.execute(
        "CREATE TABLE register (run_id VARCHAR, patient_id VARCHAR, register VARCHAR, "
        "first_recorded DATE, latest_recorded DATE)"
    )
    con.execute(
        "CREATE TABLE care_gap (run_id VARCHAR, patient_id VARCHAR, indicator VARCHAR, "
        "outcome VARCHAR, evidence_code VARCHAR, evidence_date DATE, "
        "evidence_value VARCHAR, overdue_since DATE)"
    )
    con.execute(
        "CREATE TABLE risk_score (run_id VARCHAR, patient_id VARCHAR, risk DOUBLE, "
        "percentile DOUBLE, factor_1 VARCHAR, factor_2 VARCHAR, factor_3 VARCHAR, "
        "model_version VARCHAR)"
    )
    yield con
    con.close()


def person(con: duckdb.DuckDBPyConnection, pid: str, ltcs: int, risk: float, pct: float) -> None:
    con.execute(
        "INSERT INTO multimorbidity VALUES (?, ?, ?, 0, NULL, NULL, NULL)", [RUN, pid, ltcs]
    )
    con.execute(
        "INSERT INTO risk_score VALUES (?, ?, ?, ?, NULL, NULL, NULL, 'v')", [RUN, pid, risk, pct]
    )


def admissions(con: duckdb.DuckDBPyConnection, pid: str, n: int) -> None:
    for i in range(n):
        con.execute(
            "INSERT INTO encounter (encounter_id, patient_id, status, class_code, priority_code, "
            "type_code, period_start) VALUES (?, ?, 'finished', 'IMP', 'EM', '183452005', ?)",
            [f"{pid}-{i}", pid, dt.datetime(2025, 6, 1 + i)],
        )


def policy(places: int | None = None, combine: str = "or", top: float = 5) -> TieringPolicy:
    return TieringPolicy(
        version="t",
        level3=Level3(top_percent=top, min_emergency_admissions_12m=3, combine=combine),
        capacity=Capacity(caseload=1, case_managers=places),
        level2=Level2(
            complex_registers=("HF",), min_ltcs=3, uncontrolled_indicators=("DM_HBA1C_58",)
        ),
        level1=Level1(min_ltcs=1),
    )


def tiers(con: duckdb.DuckDBPyConnection, p: TieringPolicy, has_risk: bool = True) -> dict:
    write_tiers(con, run_id=RUN, as_of=AS_OF, has_risk=has_risk, policy=p)
    return {
        pid: (level, reason)
        for pid, level, reason in con.execute(
            "SELECT patient_id, level, reason FROM tier WHERE run_id = ?", [RUN]
        ).fetchall()
    }


def test_each_level_with_its_reason(con: duckdb.DuckDBPyConnection) -> None:
    person(con, "high_risk", 2, 0.62, 99.0)
    person(con, "frequent", 1, 0.10, 60.0)
    admissions(con, "frequent", 3)
    person(con, "complex", 1, 0.05, 50.0)
    con.execute("INSERT INTO register VALUES (?, 'complex', 'HF', NULL, NULL)", [RUN])
    person(con, "several", 3, 0.05, 50.0)
    person(con, "uncontrolled", 1, 0.05, 50.0)
    con.execute(
        "INSERT INTO care_gap VALUES (?, 'uncontrolled', 'DM_HBA1C_58', 'not met', "
        "'x', DATE '2026-01-01', '80', NULL)",
        [RUN],
    )
    person(con, "overdue_only", 1, 0.05, 50.0)
    con.execute(
        "INSERT INTO care_gap VALUES (?, 'overdue_only', 'DM_HBA1C_58', 'not met', "
        "NULL, NULL, NULL, DATE '2026-01-01')",
        [RUN],
    )
    person(con, "one", 1, 0.01, 10.0)
    person(con, "none", 0, 0.01, 10.0)
    result = tiers(con, policy())
    assert {pid: level for pid, (level, _) in result.items()} == {
        "high_risk": 3,
        "frequent": 3,
        "complex": 2,
        "several": 2,
        "uncontrolled": 2,
        "overdue_only": 1,
        "one": 1,
        "none": 0,
    }
    assert "predicted admission risk 62%" in result["high_risk"][1]
    assert "3 emergency admissions in the last 12 months" in result["frequent"][1]
    assert "complex need (HF register)" in result["complex"][1]
    assert "3 long-term conditions" in result["several"][1]
    assert "uncontrolled (DM_HBA1C_58)" in result["uncontrolled"][1]
    assert result["one"][1] == "1 long-term condition: supported self care"
    assert result["none"][1] == "no long-term condition recorded: prevention"


def test_capacity_keeps_the_highest_risk_and_says_who_was_left_out(
    con: duckdb.DuckDBPyConnection,
) -> None:
    person(con, "a", 2, 0.70, 99.9)
    person(con, "b", 1, 0.50, 99.5)
    person(con, "c", 3, 0.40, 99.0)
    result = tiers(con, policy(places=2, top=100))
    assert (result["a"][0], result["b"][0]) == (3, 3)
    assert result["c"][0] == 2
    assert "beyond case-management capacity (2 places)" in result["c"][1]


def test_top_percent_takes_exactly_that_many_even_when_risks_tie(
    con: duckdb.DuckDBPyConnection,
) -> None:
    for i in range(40):
        person(con, f"p{i:02d}", 1, 0.3 if i < 10 else 0.01, 0.0)
    result = tiers(con, policy(top=5))  # 5% of 40 = 2 people, although 10 share the top risk
    assert sorted(pid for pid, (level, _) in result.items() if level == 3) == ["p00", "p01"]


def test_without_a_model_level_3_comes_from_admissions_alone(
    con: duckdb.DuckDBPyConnection,
) -> None:
    person(con, "risky", 1, 0.9, 99.9)
    person(con, "frequent", 1, 0.1, 10.0)
    admissions(con, "frequent", 4)
    result = tiers(con, policy(), has_risk=False)
    assert result["risky"][0] == 1
    assert result["frequent"][0] == 3


def test_and_needs_both_risk_and_admissions(con: duckdb.DuckDBPyConnection) -> None:
    person(con, "both", 1, 0.9, 99.9)
    admissions(con, "both", 3)
    person(con, "risk_only", 1, 0.8, 99.8)
    result = tiers(con, policy(combine="and", top=100))
    assert (result["both"][0], result["risk_only"][0]) == (3, 1)
