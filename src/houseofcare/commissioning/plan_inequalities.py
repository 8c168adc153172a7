"""The commissioning plan's sections on the widest gaps, the inverse care law and the projected
effect of Core20PLUS5 ordering.
"""

from __future__ import annotations

from houseofcare.commissioning.plan_model import PlanContext, PlanSection


def sections(ctx: PlanContext) -> list[PlanSection]:
    """This part's sections of the plan (not built yet: none)."""
    return []
