"""The commissioning plan's frames made by hand, for tests of what reads the plan (`hoc
commission`, the commissioners' page), so they do not depend on how `plan_frames` builds them.

`register_frames_by_hand` registers `plan_people`, `plan_needs`, `plan_goals`,
`plan_referrals` and `plan_unmet` with the columns `PlanContext` lists, from the analytic
store's living patients in the plan's area (through the population page's own lookups), with
the rest made up deterministically from each person's id. Run as a module it is `hoc` with
these frames in place (`python -m tests.plan_frames_by_hand commission …`, `… serve …`): the
real command and the real `build_plan`, over made-up frames; while the plan's real parts give
no section at all, a stand-in section (`people_by_level`) gives the renderers real figures.
"""

from __future__ import annotations

from typing import Any

from houseofcare.commissioning.measures import measure_sql
from houseofcare.commissioning.plan_model import (
    Column,
    PlanChart,
    PlanContext,
    PlanSection,
    PlanTable,
)
from houseofcare.commissioning.population import (
    PopulationFilter,
    people_sql,
    practices,
    register_lookups,
)
from houseofcare.engine import sql_literal

#: Domains of need a made-up person may have (the store's `NeedDomain` values).
DOMAINS = ("social_loneliness", "social_finance", "mobility", "physical_health")


def register_frames_by_hand(ctx: PlanContext, store: Any) -> None:
    """The frames for `ctx`'s area (the operational `store` is not read)."""
    engine = ctx.engine
    known = practices(engine.con)
    register_lookups(engine, known)
    area = ctx.area
    chosen = PopulationFilter(
        practice_id=area.code if area.kind == "practice" else None,
        locality=area.name if area.kind == "locality" else None,
    )
    as_of = sql_literal(ctx.as_of.isoformat())
    engine.view(
        "plan_people",
        f"""
SELECT patient_id, practice_id, locality, imd_decile, imd_quintile, ethnic_group, sex,
       date_diff('year', birth_date, CAST({as_of} AS DATE)) AS age,
       CASE WHEN date_diff('year', birth_date, CAST({as_of} AS DATE)) < 65 THEN 'under 65'
            ELSE '65 and over' END AS age_band,
       CAST(least(floor(date_diff('year', birth_date, CAST({as_of} AS DATE)) / 5), 18)
            AS BIGINT) AS esp_band,
       CAST([] AS VARCHAR[]) AS registers,
       CAST(hash(patient_id) % 4 AS INTEGER) AS level,
       CAST(NULL AS DOUBLE) AS risk,
       CAST(hash(patient_id) % 3 AS INTEGER) AS gaps,
       CAST(hash(patient_id) % 2 AS INTEGER) AS open_gaps,
       CAST(hash(patient_id) % 2 AS INTEGER) AS emergency_admissions,
       coalesce(imd_decile <= 2, false) AS core20,
       hash(patient_id) % 3 <> 0 AS has_plan,
       hash(patient_id) % 5 <> 0 AS plan_reviewed,
       CAST(hash(patient_id) % 2 AS INTEGER) AS referrals,
       CAST(hash(patient_id) % 7 = 0 AS INTEGER) AS unmet
FROM {people_sql(chosen)} people
WHERE death_date IS NULL
""",
    )
    domains = "[" + ", ".join(sql_literal(d) for d in DOMAINS) + "]"
    engine.view(
        "plan_needs",
        f"""
SELECT patient_id, list_extract({domains}, CAST(hash(patient_id) % 4 + 1 AS INTEGER)) AS domain,
       'active' AS status
FROM plan_people WHERE has_plan
""",
    )
    engine.view(
        "plan_goals",
        """
SELECT patient_id, CASE WHEN hash(patient_id) % 2 = 0 THEN 'staying_active'
                        ELSE 'managing_condition' END AS theme, 'active' AS status
FROM plan_people WHERE has_plan
""",
    )
    engine.view(
        "plan_referrals",
        """
SELECT patient_id, 'r-' || patient_id AS referral_id, 'social_loneliness' AS need_domain,
       'community_group' AS service_kind, 'accepted' AS status,
       true AS accepted, hash(patient_id) % 2 = 0 AS attended
FROM plan_people WHERE referrals > 0
""",
    )
    engine.view(
        "plan_unmet",
        """
SELECT patient_id, 'social_finance' AS need_domain, 'no_service' AS reason, locality
FROM plan_people WHERE unmet > 0
""",
    )


def people_by_level(ctx: PlanContext) -> list[PlanSection]:
    """A stand-in section (people per level of care, through `measure_sql`), used only while
    the plan's real parts give no section at all, so a renderer's test always has real,
    disclosure-controlled figures (or, for a tiny area, none that survive)."""
    rows = ctx.engine.rows(
        "SELECT level, people, share FROM "
        + measure_sql("plan_people", keys=["level"], counts={"people": "1"},
                      shares={"share": ("people", "group")}, rule=ctx.rule)
        + " m ORDER BY level DESC"
    )  # fmt: skip
    table = PlanTable(
        key="people_by_level",
        title="People per level of care",
        columns=(
            Column("level", "Level"),
            Column("people", "People", "count"),
            Column("share", "Share", "percent"),
        ),
        rows=tuple((f"Level {level}", people, share) for level, people, share in rows),
    )
    return [
        PlanSection(
            key="people_by_level",
            title="People per level of care (stand-in)",
            tables=(table,),
            charts=(PlanChart("bar", "people_by_level", "level", ("people",), "People"),),
        )
    ]


def main() -> None:
    """`hoc` with the frames made by hand (and the stand-in section while the real parts give
    none)."""
    from houseofcare.cli import app
    from houseofcare.commissioning import plan, plan_frames

    plan_frames.register_plan_frames = register_frames_by_hand
    real = plan.PARTS

    class StandIn:
        @staticmethod
        def sections(ctx: PlanContext) -> list[PlanSection]:
            if any(part.sections(ctx) for part in real):
                return []
            return people_by_level(ctx)

    plan.PARTS = (*real, StandIn)
    app()


if __name__ == "__main__":
    main()
