"""The commissioning plan's sections on needs by domain and locality, goals by theme, referrals
made/accepted/attended and unmet need.
"""

from __future__ import annotations

from houseofcare.commissioning.plan_model import PlanContext, PlanSection


def sections(ctx: PlanContext) -> list[PlanSection]:
    """This part's sections of the plan (not built yet: none)."""
    return []
