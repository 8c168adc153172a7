"""The commissioning plan's sections on people per level per locality against the configured
capacity, the gap in people and whole-time equivalents, and the cost of closing it.
"""

from __future__ import annotations

from houseofcare.commissioning.plan_model import PlanContext, PlanSection


def sections(ctx: PlanContext) -> list[PlanSection]:
    """This part's sections of the plan (not built yet: none)."""
    return []
