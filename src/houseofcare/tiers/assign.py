"""Placing everyone on the triangle for one pipeline run: one set-based query over its results.

Inputs are the run's own rows — `multimorbidity` (everyone living, with their LTC count),
`register`, `care_gap`, and `risk_score` when a model scored the run — plus emergency admissions
in the 12 months before the as-of date. Level 3 candidates are ranked by risk (then admissions)
and only the first `capacity` of them are placed at level 3; the others keep the level they
would otherwise have and their reason says they were beyond capacity, so nobody silently
disappears from the list. Each row's `reason` is what a clinician reviewing the list reads.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Final

import duckdb

from houseofcare.engine import DuckDBEngine, Engine, Query, sql_literal
from houseofcare.population.registers import _months_before
from houseofcare.risk.features import encounter_kinds_table, packaged_feature_spec
from houseofcare.run_results import result_ddl
from houseofcare.tiers.policy import TieringPolicy, packaged_policy

TIER_DDL = result_ddl("tier")


def _in_list(values: tuple[str, ...]) -> str:
    return ", ".join(sql_literal(v) for v in values) if values else "NULL"


#: The run's own rows that the triangle reads, as the pipeline names them on any engine: the
#: tables of `hoc run` without their run_id column, holding this run's rows only.
RUN_INPUTS: Final = ("run_multimorbidity", "run_register", "run_care_gap", "run_risk_score")


def tier_sql(policy: TieringPolicy, as_of: dt.date, *, people: int, has_risk: bool) -> str:
    """patient_id, level, reason for everyone living at the run's as-of date (`RUN_INPUTS`)."""
    l3, l2, l1 = policy.level3, policy.level2, policy.level1
    year_ago = _months_before(as_of, 12)
    # exactly the top N% by risk (ties broken by patient id), so a coarse score with many
    # tied values cannot empty or flood the list
    top_n = math.ceil(people * l3.top_percent / 100) if l3.top_percent is not None else 0
    by_risk = (
        f"coalesce(r.risk_rank <= {top_n}, FALSE)"
        if has_risk and l3.top_percent is not None
        else "FALSE"
    )
    by_use = (
        f"coalesce(u.admissions, 0) >= {l3.min_emergency_admissions_12m}"
        if l3.min_emergency_admissions_12m is not None
        else "FALSE"
    )
    joined = f" {l3.combine.upper()} "
    tests = [
        t
        for t, used in (
            (by_risk, l3.top_percent is not None and has_risk),
            (by_use, l3.min_emergency_admissions_12m is not None),
        )
        if used
    ]
    candidate = f"({joined.join(tests)})" if tests else "FALSE"
    if l3.require_ltc:
        candidate = f"({candidate} AND m.ltc_count >= {l1.min_ltcs})"
    places = policy.capacity.places(people)
    within = "TRUE" if places is None else f"c.rank <= {places}"
    risk_column = "r.risk" if has_risk else "CAST(NULL AS DOUBLE)"
    risk_join = (
        "LEFT JOIN risk_ranked r ON r.patient_id = m.patient_id"
        if has_risk
        else "LEFT JOIN (SELECT CAST(NULL AS VARCHAR) AS patient_id, "
        "CAST(NULL AS BIGINT) AS risk_rank) r ON r.patient_id = m.patient_id"
    )
    risk_ranked = (
        """risk_ranked AS (
    SELECT patient_id, risk, row_number() OVER (ORDER BY risk DESC, patient_id) AS risk_rank
    FROM run_risk_score
),
"""
        if has_risk
        else ""
    )
    return f"""
WITH {risk_ranked}admissions AS (
    SELECT e.patient_id, count(*) AS admissions
    FROM encounter e
    JOIN risk_encounter_kind k ON k.class_code = e.class_code
     AND (k.priority_code IS NULL OR k.priority_code = e.priority_code)
     AND (k.type_code IS NULL OR k.type_code = e.type_code)
    WHERE k.kind = 'emergency_admission'
      AND e.period_start >= TIMESTAMP '{year_ago.isoformat()} 00:00:00'
      AND e.period_start < TIMESTAMP '{as_of.isoformat()} 00:00:00'
      AND coalesce(e.status, '') NOT IN ('entered-in-error', 'cancelled')
    GROUP BY e.patient_id
),
complex AS (
    SELECT patient_id, string_agg(register, ', ' ORDER BY register) AS registers
    FROM run_register
    WHERE register IN ({_in_list(l2.complex_registers)})
    GROUP BY patient_id
),
uncontrolled AS (
    SELECT patient_id, string_agg(DISTINCT indicator, ', ' ORDER BY indicator) AS indicators
    FROM run_care_gap
    WHERE outcome = 'not met' AND evidence_value IS NOT NULL
      AND indicator IN ({_in_list(l2.uncontrolled_indicators)})
    GROUP BY patient_id
),
person AS (
    SELECT m.patient_id, m.ltc_count, {risk_column} AS risk,
           coalesce(u.admissions, 0) AS admissions,
           {by_risk} AS by_risk, {by_use} AS by_use, {candidate} AS candidate,
           cx.registers AS complex_registers, un.indicators AS uncontrolled
    FROM run_multimorbidity m
    {risk_join}
    LEFT JOIN admissions u ON u.patient_id = m.patient_id
    LEFT JOIN complex cx ON cx.patient_id = m.patient_id
    LEFT JOIN uncontrolled un ON un.patient_id = m.patient_id
),
ranked AS (
    SELECT p.*, row_number() OVER (
        ORDER BY p.candidate DESC, p.risk DESC NULLS LAST, p.admissions DESC, p.patient_id
    ) AS rank
    FROM person p
),
placed AS (
    SELECT c.*,
           c.candidate AND {within} AS level3,
           c.complex_registers IS NOT NULL OR c.ltc_count >= {l2.min_ltcs}
               OR c.uncontrolled IS NOT NULL AS level2
    FROM ranked c
)
SELECT patient_id,
       CASE WHEN level3 THEN 3 WHEN level2 THEN 2 WHEN ltc_count >= {l1.min_ltcs} THEN 1 ELSE 0
            END AS level,
       concat_ws('; ',
           CASE WHEN level3 THEN concat_ws(' and ',
               CASE WHEN by_risk THEN 'predicted admission risk ' ||
                    CAST(CAST(round(100 * risk) AS BIGINT) AS VARCHAR) ||
                    '% (top {l3.top_percent}% of the population)' END,
               CASE WHEN by_use THEN CAST(admissions AS VARCHAR) ||
                    ' emergency admissions in the last 12 months' END) END,
           CASE WHEN NOT level3 AND level2 THEN concat_ws('; ',
               CASE WHEN complex_registers IS NOT NULL
                    THEN 'complex need (' || complex_registers || ' register)' END,
               CASE WHEN ltc_count >= {l2.min_ltcs}
                    THEN CAST(ltc_count AS VARCHAR) || ' long-term conditions' END,
               CASE WHEN uncontrolled IS NOT NULL
                    THEN 'uncontrolled (' || uncontrolled || ')' END) END,
           CASE WHEN NOT level3 AND NOT level2 AND ltc_count >= {l1.min_ltcs}
                THEN CAST(ltc_count AS VARCHAR) || ' long-term condition' ||
                     CASE WHEN ltc_count = 1 THEN '' ELSE 's' END || ': supported self care' END,
           CASE WHEN NOT level3 AND NOT level2 AND ltc_count < {l1.min_ltcs}
                THEN 'no long-term condition recorded: prevention' END,
           CASE WHEN candidate AND NOT level3
                THEN 'level 3 candidate beyond case-management capacity ({places} places)'
                END
       ) AS reason
FROM placed
"""


def tier_query(
    engine: Engine,
    *,
    as_of: dt.date,
    people: int,
    has_risk: bool,
    policy: TieringPolicy | None = None,
) -> Query:
    policy = policy or packaged_policy()
    engine.register("risk_encounter_kind", encounter_kinds_table(packaged_feature_spec()))
    return Query(engine, tier_sql(policy, as_of, people=people, has_risk=has_risk))


def write_tiers(
    con: duckdb.DuckDBPyConnection,
    *,
    run_id: str,
    as_of: dt.date,
    has_risk: bool,
    policy: TieringPolicy | None = None,
) -> dict[int, int]:
    """Place everyone of the run on the triangle (table `tier`); people per level."""
    con.execute(TIER_DDL)
    ((people,),) = con.execute(
        "SELECT count(*) FROM multimorbidity WHERE run_id = ?", [run_id]
    ).fetchall()
    run = sql_literal(run_id)
    for name in RUN_INPUTS:
        stored = name.removeprefix("run_")
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW {name} AS "
            f"SELECT * EXCLUDE (run_id) FROM {stored} WHERE run_id = {run}"
        )
    query = tier_query(
        DuckDBEngine(con),
        as_of=as_of,
        people=people,
        has_risk=has_risk,
        policy=policy,
    )
    con.execute(
        f"INSERT INTO tier SELECT ?, patient_id, level, reason FROM ({query.sql}) t", [run_id]
    )
    return dict(
        con.execute(
            "SELECT level, count(*) FROM tier WHERE run_id = ? GROUP BY level ORDER BY level",
            [run_id],
        ).fetchall()
    )
