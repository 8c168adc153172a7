"""The plan's frames (`plan_people`, `plan_needs`, `plan_goals`, `plan_referrals`,
`plan_unmet`; see `PlanContext`) registered on the engine, cut to the plan's area.

Two stores meet here. The analytic store gives everyone registered and alive at the run's
date (`inequality.frame_sql`: registers, level, care gaps, emergency admissions) with the
risk score; the operational store gives what people wrote while caring: care plans, needs,
goals, referrals and unmet need. The operational rows are few (only people with a plan), so
they are read in five set-based SELECTs through the SQLAlchemy session (SQLite or
PostgreSQL alike), handed to the engine as Arrow tables and joined to the population in SQL
there; no Python object is made per person of the population.

A care plan counts only when its person is linked to the analytic record (`Person.patient_id`)
and is in the run's population: a plan of someone not yet linked is in no frame (hazard
H-071; docs/commissioning.md, "Where the figures come from").
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

import pyarrow as pa
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from houseofcare.commissioning.goal_themes import theme_sql
from houseofcare.commissioning.inequality import frame_sql
from houseofcare.commissioning.plan_model import Area, PlanContext
from houseofcare.commissioning.population import lsoa_lookup
from houseofcare.engine import Engine
from houseofcare.sql_text import sql_literal
from houseofcare.store.models import (
    CarePlan,
    CarePlanStatus,
    Goal,
    GoalStatus,
    Need,
    Person,
    Referral,
    ReferralEvent,
    ReferralStatus,
    Service,
    UnmetNeed,
)

#: The operational rows as the engine receives them (name → Arrow schema), before the cut.
OPERATIONAL: Final[dict[str, pa.Schema]] = {
    "plan_op_plans": pa.schema(
        [
            ("patient_id", pa.string()),
            ("last_reviewed_at", pa.timestamp("us")),
            ("agreed_at", pa.timestamp("us")),
        ]
    ),
    "plan_op_needs": pa.schema(
        [("patient_id", pa.string()), ("domain", pa.string()), ("status", pa.string())]
    ),
    "plan_op_goals": pa.schema(
        [
            ("patient_id", pa.string()),
            ("target_measure", pa.string()),
            ("what_matters_to_me", pa.string()),
            ("status", pa.string()),
        ]
    ),
    "plan_op_referrals": pa.schema(
        [
            ("patient_id", pa.string()),
            ("referral_id", pa.int64()),
            ("need_domain", pa.string()),
            ("service_kind", pa.string()),
            ("status", pa.string()),
            ("accepted", pa.bool_()),
            ("attended", pa.bool_()),
            ("declined", pa.bool_()),
        ]
    ),
    "plan_op_unmet": pa.schema(
        [
            ("patient_id", pa.string()),
            ("need_domain", pa.string()),
            ("reason", pa.string()),
            ("locality", pa.string()),
        ]
    ),
}
#: Everyone of the run before the area's cut (`plan_people` is this, cut).
POPULATION: Final = "plan_population"


def register_plan_frames(ctx: PlanContext, store: Session | None) -> None:
    """Register the five frames for `ctx` on `ctx.engine` (`store` None: no operational
    store, so the operational frames are empty and nobody has a plan)."""
    engine = ctx.engine
    for name, table in operational_tables(store).items():
        engine.register(name, table)
    register_practice_localities(engine)
    engine.materialise(POPULATION, population_sql(engine, ctx.run_id, ctx.as_of))
    engine.view("plan_people", f"SELECT * FROM {POPULATION} WHERE {area_condition(ctx.area)}")
    engine.materialise(
        "plan_needs",
        "SELECT n.patient_id, n.domain, n.status FROM plan_op_needs n "
        "JOIN plan_people p ON p.patient_id = n.patient_id",
    )
    engine.materialise(
        "plan_goals",
        f"SELECT g.patient_id, {theme_sql('g.target_measure', 'g.what_matters_to_me')} AS theme, "
        "g.status FROM plan_op_goals g JOIN plan_people p ON p.patient_id = g.patient_id",
    )
    engine.materialise(
        "plan_referrals",
        "SELECT r.patient_id, r.referral_id, r.need_domain, r.service_kind, r.status, "
        "r.accepted, r.attended, r.declined FROM plan_op_referrals r "
        "JOIN plan_people p ON p.patient_id = r.patient_id",
    )
    engine.materialise("plan_unmet", unmet_sql(ctx.area))


def area_condition(area: Area, alias: str = "") -> str:
    """SQL that is true for a row of the population frame in `area` (`alias`: its table)."""
    prefix = f"{alias}." if alias else ""
    if area.kind == "all":
        return "1 = 1"
    if area.code is None:
        raise ValueError(f"a {area.kind} area needs a code")
    column = "locality" if area.kind == "locality" else "practice_id"
    return f"{prefix}{column} = {sql_literal(area.code)}"


def population_sql(engine: Engine, run_id: str, as_of: dt.date) -> str:
    """Everyone of the run with the risk score, Core20 and their care-plan columns."""
    year_before = sql_literal(as_of - dt.timedelta(days=365))
    day = sql_literal(as_of)
    risk_join = (
        f"LEFT JOIN risk_score s ON s.run_id = {sql_literal(run_id)} "
        "AND s.patient_id = f.patient_id"
    )
    risk = "s.risk" if _has_table(engine, "risk_score") else "CAST(NULL AS DOUBLE)"
    reviewed = " OR ".join(
        f"(CAST({c} AS DATE) > {year_before} AND CAST({c} AS DATE) <= {day})"
        for c in ("pl.last_reviewed_at", "pl.agreed_at")
    )
    return f"""
SELECT f.*, {risk} AS risk,
       CASE WHEN f.imd_decile <= 2 THEN TRUE ELSE FALSE END AS core20,
       CASE WHEN pl.patient_id IS NULL THEN FALSE ELSE TRUE END AS has_plan,
       CASE WHEN {reviewed} THEN TRUE ELSE FALSE END AS plan_reviewed,
       coalesce(r.referrals, 0) AS referrals,
       coalesce(u.unmet, 0) AS unmet
FROM {frame_sql(run_id, as_of)} f
{risk_join if risk == "s.risk" else ""}
LEFT JOIN plan_op_plans pl ON pl.patient_id = f.patient_id
LEFT JOIN (SELECT patient_id, count(*) AS referrals FROM plan_op_referrals
           GROUP BY patient_id) r ON r.patient_id = f.patient_id
LEFT JOIN (SELECT patient_id, count(*) AS unmet FROM plan_op_unmet
           WHERE patient_id IS NOT NULL GROUP BY patient_id) u ON u.patient_id = f.patient_id
"""


def unmet_sql(area: Area) -> str:
    """Unmet need in the area: a linked person's by where they are registered, an unlinked
    one's (or one recorded without a person) by the locality recorded with it."""
    where = {
        "all": "1 = 1",
        "locality": f"coalesce(p.locality, u.locality) = {sql_literal(area.code)}",
        "practice": f"p.practice_id = {sql_literal(area.code)}",
    }[area.kind]
    return f"""
SELECT p.patient_id, u.need_domain, u.reason, coalesce(p.locality, u.locality) AS locality
FROM plan_op_unmet u
LEFT JOIN {POPULATION} p ON p.patient_id = u.patient_id
WHERE {where}
"""


def register_practice_localities(engine: Engine) -> None:
    """The population lookups `frame_sql` reads, made on the engine itself: LSOA → IMD and
    local authority, and each practice's locality, the local authority where most of its
    living people live (ties: the first by name), the rule of `population.practices`."""
    engine.register("population_lsoa", lsoa_lookup())
    # one row per practice, handed back as a table: another part may have registered the
    # same lookup already, and a registered table replaces a registered table on every engine
    localities = engine.arrow(
        """
SELECT practice_id, lad_name AS locality FROM (
    SELECT practice_id, lad_name, row_number() OVER (
        PARTITION BY practice_id ORDER BY CASE WHEN lad_name IS NULL THEN 1 ELSE 0 END,
        people DESC, lad_name) AS n
    FROM (SELECT p.practice_id, l.lad_name, count(*) AS people
          FROM patient p LEFT JOIN population_lsoa l ON l.lsoa_code = p.lsoa_code
          WHERE p.practice_id IS NOT NULL AND p.death_date IS NULL
          GROUP BY p.practice_id, l.lad_name) c
) ranked WHERE n = 1
"""
    )
    engine.register("population_practice", localities)


def _has_table(engine: Engine, name: str) -> bool:
    """Whether the engine knows a table (the risk score exists only with a trained model)."""
    try:
        engine.columns(f"SELECT * FROM {name} WHERE 1 = 0")
    except Exception:  # each engine raises its own "no such table" error
        return False
    return True


def operational_tables(store: Session | None) -> dict[str, pa.Table]:
    """The care plans, needs, goals, referrals and unmet need as Arrow tables, read in one
    SELECT each (only active plans; goals and needs of active plans; every referral and
    unmet need of a linked person, and unmet need recorded without one)."""
    if store is None:
        return {name: schema.empty_table() for name, schema in OPERATIONAL.items()}
    active = CarePlan.status == CarePlanStatus.active
    linked = Person.patient_id.is_not(None)
    plans = store.execute(
        select(Person.patient_id, CarePlan.last_reviewed_at, CarePlan.agreed_at)
        .join(Person, Person.id == CarePlan.person_id)
        .where(active, linked)
    ).all()
    needs = store.execute(
        select(Person.patient_id, Need.domain, Need.status)
        .join(CarePlan, CarePlan.id == Need.care_plan_id)
        .join(Person, Person.id == CarePlan.person_id)
        .where(active, linked)
    ).all()
    goals = store.execute(
        select(Person.patient_id, Goal.target_measure, Goal.what_matters_to_me, Goal.status)
        .join(CarePlan, CarePlan.id == Goal.care_plan_id)
        .join(Person, Person.id == CarePlan.person_id)
        .where(active, linked, Goal.status != GoalStatus.entered_in_error)
    ).all()
    reached = (
        select(
            ReferralEvent.referral_id,
            *(
                func.max(case((ReferralEvent.to_status == status, 1), else_=0)).label(status)
                for status in ("accepted", "attended", "declined")
            ),
        )
        .group_by(ReferralEvent.referral_id)
        .subquery()
    )
    was = {
        status: func.coalesce(getattr(reached.c, status), 0) for status in ("accepted", "attended")
    }
    referrals = store.execute(
        select(
            Person.patient_id,
            Referral.id,
            Referral.need_domain,
            Service.kind,
            Referral.status,
            case(
                (Referral.accepted_at.is_not(None), 1),
                (
                    Referral.status.in_(
                        [
                            ReferralStatus.accepted,
                            ReferralStatus.attended,
                            ReferralStatus.did_not_attend,
                        ]
                    ),
                    1,
                ),
                else_=was["accepted"],
            ),
            case((Referral.status == ReferralStatus.attended, 1), else_=was["attended"]),
            case(
                (Referral.status == ReferralStatus.declined, 1),
                else_=func.coalesce(reached.c.declined, 0),
            ),
        )
        .join(Person, Person.id == Referral.person_id)
        .join(Service, Service.id == Referral.service_id)
        .outerjoin(reached, reached.c.referral_id == Referral.id)
        .where(linked)
    ).all()
    unmet = store.execute(
        select(
            Person.patient_id, UnmetNeed.need_domain, UnmetNeed.reason, UnmetNeed.locality
        ).outerjoin(Person, Person.id == UnmetNeed.person_id)
    ).all()
    return {
        "plan_op_plans": _table("plan_op_plans", plans),
        "plan_op_needs": _table("plan_op_needs", needs),
        "plan_op_goals": _table("plan_op_goals", goals),
        "plan_op_referrals": _table("plan_op_referrals", referrals),
        "plan_op_unmet": _table("plan_op_unmet", unmet),
    }


def _table(name: str, rows: list[Any]) -> pa.Table:
    """Rows of one SELECT as the named Arrow table, column by column."""
    schema = OPERATIONAL[name]
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in schema]
    arrays = []
    for field, values in zip(schema, columns, strict=True):
        if pa.types.is_timestamp(field.type):
            # aware UTC datetimes from the store, kept as UTC wall time
            arrays.append(pa.array(values, pa.timestamp("us", tz="UTC")).cast(field.type))
        elif pa.types.is_boolean(field.type):
            arrays.append(pa.array([bool(v) for v in values], field.type))
        elif pa.types.is_string(field.type):
            arrays.append(pa.array([None if v is None else str(v) for v in values], field.type))
        else:
            arrays.append(pa.array(values, field.type))
    return pa.Table.from_arrays(arrays, schema=schema)
