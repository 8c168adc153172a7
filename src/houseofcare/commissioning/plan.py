"""The local commissioning plan: individual needs added up for an area, with health
inequalities at its centre (issue 14; docs/commissioning.md).

`build_plan` registers the plan's frames (`plan_frames`) and asks each part for its
sections; the parts are plain SQL over the frames through `commissioning.measures`, so every
count is disclosure-controlled where it is made, and the whole plan runs through the engine
seam. Then every table of every section that publishes cells of the same count grid
(`plan_grids`; `PlanTable.grid_cells`) is protected together (`plan_disclosure.protect_plan`),
so no suppressed count can be worked out by differencing one section's table against
another's. Renderers (`plan_output`, the commissioners' page) only lay the result out.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from houseofcare.commissioning import (
    plan_capacity,
    plan_care,
    plan_frames,
    plan_grids,
    plan_inequalities,
    plan_trends,
)
from houseofcare.commissioning.disclosure import DisclosureRule, packaged_rule
from houseofcare.commissioning.plan_disclosure import LEFT_OUT, protect_plan
from houseofcare.commissioning.plan_model import (
    Area,
    CommissioningPlan,
    PlanContext,
    PlanSection,
)

#: The plan's parts, in the order a board reads them.
PARTS = (plan_care, plan_capacity, plan_inequalities, plan_trends)


def build_plan(
    engine: Any,
    store: Any,
    run_id: str,
    as_of: dt.date,
    area: Area,
    *,
    rule: DisclosureRule | None = None,
) -> CommissioningPlan:
    """The plan for `area` from run `run_id` and the operational store `store` (a Session)."""
    chosen = rule or packaged_rule()
    ctx = PlanContext(engine=engine, run_id=run_id, as_of=as_of, area=area, rule=chosen)
    plan_frames.register_plan_frames(ctx, store)
    return plan_from_frames(ctx)


def part_sections(ctx: PlanContext) -> list[PlanSection]:
    """Every part's sections as the parts make them, each protected within itself only (the
    plan's tables before joint protection; tests attack these to show it is needed)."""
    return [s for part in PARTS for s in part.sections(ctx)]


def plan_from_frames(ctx: PlanContext) -> CommissioningPlan:
    """The plan from the frames registered on `ctx.engine`, its tables protected jointly."""
    chosen = ctx.rule or packaged_rule()
    sections = protect_plan(part_sections(ctx), ctx.grids, plan_grids.links(ctx))
    return CommissioningPlan(
        area=ctx.area,
        run_id=ctx.run_id,
        run_date=ctx.as_of,
        made_at=dt.datetime.now(dt.UTC),
        disclosure=(
            f"counts of 1 to {chosen.suppress_at_or_below} are shown as {chosen.symbol}; "
            f"others are rounded to the nearest {chosen.round_to}"
        ),
        sections=tuple(sections),
        headlines=headlines(sections),
        sources=tuple({s.key: s for section in sections for s in section.sources}.values()),
    )


def headlines(sections: list[PlanSection]) -> tuple[str, ...]:
    """The plan at a glance: each section's first finding (each part puts its most important
    first: who the figures are about, the widest inequality, the first trend), left out where
    joint protection dropped the section's findings."""
    found = []
    for section in sections:
        first = next((f for f in section.findings if f != LEFT_OUT), None)
        if first is not None:
            found.append(first)
    return tuple(found)
