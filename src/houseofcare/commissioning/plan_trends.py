"""The commissioning plan's sections on trends across runs: movement between levels, emergency
admissions per 1,000 by level, indicator achievement.
"""

from __future__ import annotations

from houseofcare.commissioning.plan_model import PlanContext, PlanSection


def sections(ctx: PlanContext) -> list[PlanSection]:
    """This part's sections of the plan (not built yet: none)."""
    return []
