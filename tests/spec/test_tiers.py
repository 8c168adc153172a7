"""Placing people on the triangle, on every engine: each level with the reason a clinician
reads, the capacity cap, ties at the top-N% cut, no model, and both ways of combining risk and
admissions. The run's rows (`tiers.assign.RUN_INPUTS`) are small tables written per case, the
admissions are encounters in the record; reasons are compared whole, so the text is the same
on DuckDB and Spark to the character.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa

from houseofcare.engine import Engine
from houseofcare.run_results import run_schema
from houseofcare.tiers.assign import RUN_INPUTS, tier_query
from houseofcare.tiers.policy import Capacity, Level1, Level2, Level3, TieringPolicy
from tests.spec.conftest import Record

AS_OF = dt.date(2026, 3, 31)

#: The run's tables as `hoc run` stores them, without their run_id column.
RUN_SCHEMAS = {
    f"run_{table}": run_schema(table)
    for table in ("multimorbidity", "register", "care_gap", "risk_score")
}
assert set(RUN_SCHEMAS) == set(RUN_INPUTS)


class Run:
    """One run's rows for the triangle, written a person at a time like `Record`'s."""

    def __init__(self, record: Record) -> None:
        self.record = record
        self.rows: dict[str, list[dict[str, Any]]] = {name: [] for name in RUN_SCHEMAS}

    def person(self, patient_id: str, ltcs: int, risk: float | None = None) -> None:
        self.record.patient(patient_id)
        self.rows["run_multimorbidity"].append(
            {"patient_id": patient_id, "ltc_count": ltcs, "cms_score": 0.0}
        )
        if risk is not None:
            self.rows["run_risk_score"].append(
                {"patient_id": patient_id, "risk": risk, "model_version": "v"}
            )

    def register(self, patient_id: str, register: str) -> None:
        self.rows["run_register"].append({"patient_id": patient_id, "register": register})

    def gap(self, patient_id: str, indicator: str, value: str | None) -> None:
        """A care gap not met: with the reading that failed it (`value`), or overdue (None)."""
        self.rows["run_care_gap"].append(
            {
                "patient_id": patient_id,
                "indicator": indicator,
                "outcome": "not met",
                "evidence_code": None if value is None else "x",
                "evidence_date": None if value is None else dt.date(2026, 1, 1),
                "evidence_value": value,
                "overdue_since": dt.date(2026, 1, 1) if value is None else None,
            }
        )

    def admissions(
        self, patient_id: str, n: int, first: str = "2025-06-01", status: str = "finished"
    ) -> None:
        """`n` emergency admissions on consecutive days from `first`."""
        start = dt.datetime.fromisoformat(first)
        for i in range(n):
            day = start + dt.timedelta(days=i)
            self.record._insert(
                "encounter",
                encounter_id=f"e-{patient_id}-{first}-{i}",
                patient_id=patient_id,
                status=status,
                class_code="IMP",
                priority_code="EM",
                type_code="183452005",
                period_start=day,
                period_end=day + dt.timedelta(days=2),
            )

    def tiers(
        self, engine: Engine, policy: TieringPolicy, *, has_risk: bool = True
    ) -> dict[str, tuple[int, str]]:
        """patient_id → (level, reason), as the engine places them."""
        for name, schema in RUN_SCHEMAS.items():
            engine.register(name, pa.Table.from_pylist(self.rows[name], schema=schema))
        query = tier_query(
            engine,
            as_of=AS_OF,
            people=len(self.rows["run_multimorbidity"]),
            has_risk=has_risk,
            policy=policy,
        )
        return {pid: (int(level), reason) for pid, level, reason in query.rows()}


def policy(places: int | None = None, combine: str = "or", top: float = 5) -> TieringPolicy:
    return TieringPolicy(
        version="t",
        level3=Level3(top_percent=top, min_emergency_admissions_12m=3, combine=combine),
        capacity=Capacity(caseload=1, case_managers=places),
        level2=Level2(
            complex_registers=("HF", "PC"), min_ltcs=3, uncontrolled_indicators=("DM_HBA1C_58",)
        ),
        level1=Level1(min_ltcs=1),
    )


def test_each_level_with_its_reason(engine: Engine, record: Record) -> None:
    run = Run(record)
    run.person("high_risk", 2, 0.62)
    run.person("frequent", 1, 0.10)
    run.admissions("frequent", 3)
    run.person("both", 3, 0.55)
    run.admissions("both", 4, first="2026-01-01")
    run.person("complex", 1, 0.05)
    run.register("complex", "PC")
    run.register("complex", "HF")
    run.register("complex", "DM")
    run.person("several", 3, 0.05)
    run.person("uncontrolled", 1, 0.05)
    run.gap("uncontrolled", "DM_HBA1C_58", "80")
    run.person("overdue_only", 1, 0.05)
    run.gap("overdue_only", "DM_HBA1C_58", None)
    run.person("one", 1, 0.01)
    run.person("none", 0, 0.01)
    # 40 people: the top 5% by risk are the first two (high_risk, both)
    for i in range(31):
        run.person(f"filler{i:02d}", 0, 0.001)
    placed = run.tiers(engine, policy())
    fillers = {pid for pid in placed if pid.startswith("filler")}
    assert {pid: placed[pid] for pid in placed.keys() - fillers} == {
        "high_risk": (3, "predicted admission risk 62% (top 5.0% of the population)"),
        "frequent": (3, "3 emergency admissions in the last 12 months"),
        "both": (
            3,
            "predicted admission risk 55% (top 5.0% of the population) and "
            "4 emergency admissions in the last 12 months",
        ),
        "complex": (2, "complex need (HF, PC register)"),
        "several": (2, "3 long-term conditions"),
        "uncontrolled": (2, "uncontrolled (DM_HBA1C_58)"),
        "overdue_only": (1, "1 long-term condition: supported self care"),
        "one": (1, "1 long-term condition: supported self care"),
        "none": (0, "no long-term condition recorded: prevention"),
    }
    assert {placed[pid] for pid in fillers} == {(0, "no long-term condition recorded: prevention")}


def test_admissions_count_only_emergencies_in_the_12_months_before(
    engine: Engine, record: Record
) -> None:
    run = Run(record)
    run.person("window", 1)
    run.admissions("window", 2, first="2025-04-01")  # on and after the year's first day
    run.admissions("window", 1, first="2026-03-30")
    run.person("outside", 1)
    run.admissions("outside", 2, first="2025-03-30")  # 30 and 31 March 2025: a year too early
    run.admissions("outside", 1, first="2026-03-31")  # on the as-of date: not yet
    run.admissions("outside", 1, first="2025-10-01")
    run.person("cancelled", 1)
    run.admissions("cancelled", 3, status="cancelled")
    placed = run.tiers(engine, policy(), has_risk=False)
    assert placed == {
        "window": (3, "3 emergency admissions in the last 12 months"),
        "outside": (1, "1 long-term condition: supported self care"),
        "cancelled": (1, "1 long-term condition: supported self care"),
    }


def test_capacity_keeps_the_highest_risk_and_says_who_was_left_out(
    engine: Engine, record: Record
) -> None:
    run = Run(record)
    run.person("a", 2, 0.70)
    run.person("b", 1, 0.50)
    run.person("c", 3, 0.40)
    run.person("d", 1, 0.30)
    placed = run.tiers(engine, policy(places=2, top=100))
    assert placed == {
        "a": (3, "predicted admission risk 70% (top 100.0% of the population)"),
        "b": (3, "predicted admission risk 50% (top 100.0% of the population)"),
        "c": (
            2,
            "3 long-term conditions; level 3 candidate beyond case-management capacity (2 places)",
        ),
        "d": (
            1,
            "1 long-term condition: supported self care; "
            "level 3 candidate beyond case-management capacity (2 places)",
        ),
    }


def test_top_percent_takes_exactly_that_many_even_when_risks_tie(
    engine: Engine, record: Record
) -> None:
    run = Run(record)
    for i in range(20):
        run.person(f"p{i:02d}", 1, 0.3 if i < 6 else 0.01)
    placed = run.tiers(engine, policy(top=10))  # 10% of 20 = 2, although 6 share the top risk
    assert sorted(pid for pid, (level, _) in placed.items() if level == 3) == ["p00", "p01"]


def test_without_a_model_level_3_comes_from_admissions_alone(
    engine: Engine, record: Record
) -> None:
    run = Run(record)
    run.person("risky", 1, 0.9)
    run.person("frequent", 1, 0.1)
    run.admissions("frequent", 4)
    placed = run.tiers(engine, policy(), has_risk=False)
    assert placed == {
        "risky": (1, "1 long-term condition: supported self care"),
        "frequent": (3, "4 emergency admissions in the last 12 months"),
    }


def test_and_needs_both_risk_and_admissions(engine: Engine, record: Record) -> None:
    run = Run(record)
    run.person("both", 1, 0.9)
    run.admissions("both", 3)
    run.person("risk_only", 1, 0.8)
    run.person("admissions_only", 2, 0.01)
    run.admissions("admissions_only", 5)
    placed = run.tiers(engine, policy(combine="and", top=50))
    assert placed == {
        "both": (
            3,
            "predicted admission risk 90% (top 50.0% of the population) and "
            "3 emergency admissions in the last 12 months",
        ),
        "risk_only": (1, "1 long-term condition: supported self care"),
        "admissions_only": (1, "2 long-term conditions: supported self care"),
    }
