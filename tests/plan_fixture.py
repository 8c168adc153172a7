"""A hand-made commissioning plan with realistic sections, for the renderers' tests (the section
builders are tested on their own frames): counts with suppressed cells, percentages, rates,
money and whole-time equivalents, a section with a message, and one chart of each kind."""

from __future__ import annotations

import datetime as dt

from houseofcare.commissioning.plan_model import (
    Area,
    Column,
    CommissioningPlan,
    PlanChart,
    PlanSection,
    PlanTable,
    Source,
)

RUN_DATE = dt.date(2026, 3, 31)
MADE_AT = dt.datetime(2026, 4, 2, 9, 30, tzinfo=dt.UTC)
DISCLOSURE = "counts of 1 to 7 are shown as *; others are rounded to the nearest 5"

NEEDS = PlanTable(
    key="needs_by_domain",
    title="Needs on care plans, by domain",
    columns=(
        Column("domain", "Domain"),
        Column("people", "People with the need", "count"),
        Column("share", "Share of people with a plan", "percent"),
    ),
    rows=(
        ("Managing money", 145, 24.2),
        ("Loneliness and isolation", 210, 35.0),
        ("Housing", None, None),
        ("Mobility and falls", 95, 15.8),
    ),
    note="A person may have needs in several domains.",
)
CAPACITY = PlanTable(
    key="case_managers",
    title="Case management capacity for level 3",
    columns=(
        Column("team", "Team"),
        Column("people", "People at level 3", "count"),
        Column("wte", "Community matrons needed (WTE)", "wte"),
        Column("cost", "Yearly cost", "money"),
    ),
    rows=(("North locality", 320, 4.6, 245_000.0), ("South locality", 185, 2.6, 138_500.0)),
)
LEVELS_BY_IMD = PlanTable(
    key="levels_by_imd",
    title="People per level of care, by IMD 2019 quintile",
    columns=(
        Column("quintile", "IMD quintile"),
        Column("level1", "Level 1", "count"),
        Column("level2", "Level 2", "count"),
        Column("level3", "Level 3", "count"),
        Column("rate3", "Level 3 per 1,000", "rate"),
    ),
    rows=(
        ("1 (most deprived)", 1_240, 610, 95, 38.9),
        ("2", 1_105, 480, 60, 36.4),
        ("3", 990, 395, 40, 28.1),
        ("4", 870, 300, None, None),
        ("5 (least deprived)", 800, 255, 15, 14.0),
    ),
)
TREND = PlanTable(
    key="plans_over_time",
    title="People with a care plan reviewed in the last year",
    columns=(
        Column("quarter", "Quarter ending"),
        Column("people", "People with a reviewed plan", "count"),
        Column("share", "Share of people with LTCs", "percent"),
    ),
    rows=(
        (dt.date(2025, 6, 30), 1_450, 41.0),
        (dt.date(2025, 9, 30), 1_620, 45.5),
        (dt.date(2025, 12, 31), None, None),
        (dt.date(2026, 3, 31), 1_905, 52.3),
    ),
)


def fixture_plan(area: Area | None = None) -> CommissioningPlan:
    """The plan for a made-up locality."""
    return CommissioningPlan(
        area=area or Area("locality", "Luton", "Luton"),
        run_id="run-20260331-1",
        run_date=RUN_DATE,
        made_at=MADE_AT,
        disclosure=DISCLOSURE,
        headlines=(
            "Loneliness and isolation is the need most often recorded on care plans.",
            "Level 3 case management is 2.8 times as common in the most deprived fifth.",
        ),
        sources=(
            Source("pssru", "Unit Costs of Health and Social Care 2024, PSSRU", "2024"),
            Source("imd", "English Indices of Deprivation 2019, MHCLG", "2019"),
        ),
        sections=(
            PlanSection(
                key="needs",
                title="Needs by domain",
                findings=("Loneliness and isolation: about 210 people with a care plan.",),
                tables=(NEEDS,),
                charts=(PlanChart("bar", "needs_by_domain", "domain", ("people",), "Needs"),),
            ),
            PlanSection(
                key="capacity",
                title="Capacity for case management",
                findings=("About 7.2 WTE community matrons are needed for level 3.",),
                tables=(CAPACITY,),
                charts=(
                    PlanChart("bar", "case_managers", "team", ("wte",), "Matrons needed (WTE)"),
                ),
            ),
            PlanSection(
                key="inequalities",
                title="Inequalities in need",
                tables=(LEVELS_BY_IMD,),
                charts=(
                    PlanChart(
                        "stacked_bar",
                        "levels_by_imd",
                        "quintile",
                        ("level1", "level2", "level3"),
                        "Levels of care by deprivation",
                    ),
                ),
            ),
            PlanSection(
                key="trends",
                title="Care plans over time",
                tables=(TREND,),
                charts=(PlanChart("line", "plans_over_time", "quarter", ("share",), "Reviewed"),),
            ),
            PlanSection(
                key="unmet",
                title="Unmet need",
                message="Too few unmet needs were recorded in Luton for any figure to be shown.",
            ),
        ),
    )


def too_small_plan() -> CommissioningPlan:
    """A practice so small that every count is suppressed."""
    suppressed = PlanTable(
        key="needs_by_domain",
        title="Needs on care plans, by domain",
        columns=NEEDS.columns,
        rows=(("Managing money", None, None), ("Housing", None, None)),
    )
    return CommissioningPlan(
        area=Area("practice", "P99999", "The Tiny Surgery"),
        run_id="run-20260331-1",
        run_date=RUN_DATE,
        made_at=MADE_AT,
        disclosure=DISCLOSURE,
        sections=(
            PlanSection(key="needs", title="Needs by domain", tables=(suppressed,)),
            PlanSection(key="unmet", title="Unmet need", message="Too few to show."),
        ),
    )
