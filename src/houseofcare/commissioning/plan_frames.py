"""The plan's frames (`plan_people`, `plan_needs`, `plan_goals`, `plan_referrals`,
`plan_unmet`; see `PlanContext`) registered on the engine, cut to the plan's area."""

from __future__ import annotations

from typing import Any

from houseofcare.commissioning.plan_model import PlanContext


def register_plan_frames(ctx: PlanContext, store: Any) -> None:
    """Register the frames for `ctx` (not built yet)."""
    raise NotImplementedError("plan frames are not built yet")
