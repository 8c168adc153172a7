"""The commissioning plan's sections on people per level per locality against the configured
capacity, the gap in people and whole-time equivalents, and the cost of closing it
(issue 14; docs/commissioning-capacity.md).

The need is worked out from the disclosure-controlled counts of people, never from raw ones:
a need computed from a raw count and shown beside its suppressed count would give the count
back (a need of 0.1 WTE at a caseload of 65 is 6 or 7 people). So a suppressed count gives a
need, a gap and a cost that are not shown, and the findings say how many localities that hides
(hazard H-075). The ratios and the capacity in post are data (`capacity.toml`), the prices are
published unit costs with their price year and source (`unit_costs.toml`); a cost that could
not be verified is never printed. Self-management places in post come from `capacity.toml`,
not the directory's monthly referral places (docs/commissioning-capacity.md says why).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from houseofcare.commissioning.capacity_config import (
    CapacityConfig,
    InPost,
    UnitCost,
    UnitCosts,
    packaged_capacity,
    packaged_unit_costs,
    review_windows,
)
from houseofcare.commissioning.disclosure import TOTAL, packaged_rule
from houseofcare.commissioning.measures import measure_sql
from houseofcare.commissioning.plan_grids import EVERYONE, people_grid
from houseofcare.commissioning.plan_model import (
    CellSource,
    Column,
    GridCell,
    PlanChart,
    PlanContext,
    PlanSection,
    PlanTable,
    Source,
)
from houseofcare.engine import sql_literal
from houseofcare.population.indicators import packaged_indicator_rules

#: A person's emergency admissions, as `inequality_measures.toml` counts them (one grid).
ADMISSIONS: Final = "emergency_admissions"
#: What a row with no locality is called (people whose practice has no English LSOA).
NOT_KNOWN: Final = "Locality not known"
#: The triangle's levels in words, top first.
LEVELS: Final = {
    3: "Level 3: case management",
    2: "Level 2: disease-specific care management",
    1: "Level 1: supported self care",
    0: "Level 0: prevention",
}


@dataclass(frozen=True)
class LocalityPeople:
    """One locality's controlled counts (None: suppressed) and its level-2 people by how many
    months apart their reviews fall (each a controlled count)."""

    locality: str | None
    level3: int | None
    level2: int | None
    level1: int | None
    review_months: Mapping[int, int | None]


def _wte(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _whole(value: float | None) -> int | None:
    return None if value is None else round(value)


def _cost(gap_units: float | None, unit: UnitCost) -> int | None:
    """Pounds to close a gap (nothing for spare capacity); None when the gap is not shown."""
    if gap_units is None or unit.amount is None:
        return None
    return round(max(gap_units, 0.0) * unit.amount)


def review_appointments(
    review_months: Mapping[int, int | None], appointments_per_review: int
) -> float | None:
    """Appointments a year for level-2 people grouped by months between reviews: each group's
    controlled count × 12 / months × appointments per review; None if any group is suppressed
    (its people cannot be counted, so neither can the need)."""
    total = 0.0
    for months, people in review_months.items():
        if people is None:
            return None
        total += people * 12 / months * appointments_per_review
    return total


def level3_row(
    locality: str,
    people: int | None,
    in_post: InPost | None,
    capacity: CapacityConfig,
    cost: UnitCost,
) -> tuple[Any, ...]:
    """locality, people, WTE at the top and bottom of the caseload range, WTE at the planning
    caseload, WTE in post, gap in people, gap in WTE[, cost]."""
    c = capacity.level3
    wte_in_post = None if in_post is None else in_post.case_manager_wte
    if people is None:
        needed_low = needed_high = needed = gap_people = gap_wte = None
    else:
        needed_low, needed_high, needed = (
            people / c.caseload_max,
            people / c.caseload_min,
            people / c.caseload,
        )
        gap_people = None if wte_in_post is None else people - wte_in_post * c.caseload
        gap_wte = None if wte_in_post is None else needed - wte_in_post
    row: tuple[Any, ...] = (
        locality,
        people,
        _wte(needed_low),
        _wte(needed_high),
        _wte(needed),
        wte_in_post,
        _whole(gap_people),
        _wte(gap_wte),
    )
    return (*row, _cost(gap_wte, cost)) if cost.usable else row


def level2_row(
    locality: str,
    people: int | None,
    appointments: float | None,
    in_post: InPost | None,
    capacity: CapacityConfig,
    cost: UnitCost,
) -> tuple[Any, ...]:
    """locality, people, appointments needed a year, in post, gap in appointments, gap in
    people, gap in clinician WTE[, cost of the gap's clinician hours]."""
    c = capacity.level2
    slots = None if in_post is None else in_post.review_appointments
    gap = gap_people = gap_wte = gap_hours = None
    if appointments is not None and slots is not None:
        gap = appointments - slots
        per_person = appointments / people if people else 0.0
        gap_people = gap / per_person if per_person else 0.0
        gap_hours = gap * c.minutes_per_appointment / 60
        gap_wte = gap_hours / c.hours_per_wte_year
    row: tuple[Any, ...] = (
        locality,
        people,
        _whole(appointments),
        slots,
        _whole(gap),
        _whole(gap_people),
        _wte(gap_wte),
    )
    return (*row, _cost(gap_hours, cost)) if cost.usable else row


def level1_row(
    locality: str,
    people: int | None,
    in_post: InPost | None,
    capacity: CapacityConfig,
    cost: UnitCost,
) -> tuple[Any, ...]:
    """locality, people, places needed a year, in post, gap in places, gap in people, link
    worker WTE for the gap[, cost]."""
    c = capacity.level1
    places = None if in_post is None else in_post.self_management_places
    needed = gap = gap_people = gap_wte = None
    if people is not None:
        needed = people * c.places_per_person
        if places is not None:
            gap = needed - places
            gap_people = gap / c.places_per_person
            gap_wte = gap / c.caseload
    row: tuple[Any, ...] = (
        locality,
        people,
        _whole(needed),
        places,
        _whole(gap),
        _whole(gap_people),
        _wte(gap_wte),
    )
    return (*row, _cost(gap_wte, cost)) if cost.usable else row


def _window_sql(windows: Mapping[str, int]) -> str:
    if not windows:
        return "CAST(NULL AS INTEGER)"
    cases = " ".join(f"WHEN {sql_literal(r)} THEN {m}" for r, m in sorted(windows.items()))
    return f"CASE r.register {cases} END"


def locality_people(ctx: PlanContext, capacity: CapacityConfig) -> list[LocalityPeople]:
    """Every locality of the plan's area with its controlled counts per level and its level-2
    people by months between reviews (the indicators' schedules; `capacity.toml`)."""
    grid = ctx.grids[people_grid(ctx, EVERYONE, "locality", "level")]
    levels: dict[Any, dict[int, int | None]] = {}
    for (locality, level), people in grid.items():
        if locality == TOTAL:
            continue
        row = levels.setdefault(locality, {})
        if level is not None and level != TOTAL:
            row[int(level)] = people
    windows = review_windows(packaged_indicator_rules().indicators, capacity.level2.review_sources)
    default = capacity.level2.default_review_months
    units = f"""(
    SELECT p.locality, coalesce(min({_window_sql(windows)}), {default}) AS review_months
    FROM plan_people p
    LEFT JOIN register r ON r.run_id = {sql_literal(ctx.run_id)} AND r.patient_id = p.patient_id
    WHERE p.level = 2
    GROUP BY p.locality, p.patient_id
)"""
    by_months = measure_sql(
        units, by=["locality"], keys=["review_months"], counts={"people": "1"}, rule=ctx.rule
    )
    months: dict[Any, dict[int, int | None]] = {}
    for locality, review_months, people in ctx.engine.rows(
        f"SELECT locality, review_months, people FROM {by_months} c"
    ):
        months.setdefault(locality, {})[int(review_months)] = (
            None if people is None else int(people)
        )
    ordered = sorted(levels, key=lambda loc: (loc is None, str(loc)))
    return [
        LocalityPeople(
            locality=loc,
            level3=levels[loc].get(3, 0),
            level2=levels[loc].get(2, 0),
            level1=levels[loc].get(1, 0),
            review_months=months.get(loc, {}),
        )
        for loc in ordered
    ]


def _largest(rows: Sequence[tuple[Any, ...]], column: int, unit: str, top: int = 3) -> str:
    """The localities with the largest positive gaps in `column`, largest first, in words."""
    gaps = sorted(
        ((r[column], r[0]) for r in rows if r[column] is not None and r[column] > 0),
        key=lambda g: (-g[0], g[1]),
    )[:top]
    return ", ".join(f"{name} ({value:,} {unit})" for value, name in gaps)


def _cost_words(unit: UnitCost, as_of: dt.date, stale_after: int) -> str:
    """The note for a table's cost column: where the price comes from, or why there is none."""
    if not unit.usable:
        return f"Cost not shown: unit cost not verified ({unit.reason})."
    words = (
        f"Cost at {unit.price_year} prices: £{unit.amount:,.0f} per {unit.unit} ({unit.source})."
    )
    if unit.caveat:
        words += f" Note: {unit.caveat}."
    if unit.stale(as_of, stale_after):
        words += (
            f" The price year {unit.price_year} is more than {stale_after} years before this "
            "run: uprate it or replace it with a current published figure before budgeting."
        )
    return words


def _money_column(unit: UnitCost, words: str) -> tuple[Column, ...]:
    return (
        (Column("cost", f"{words} (£ a year, {unit.price_year} prices)", "money"),)
        if (unit.usable)
        else ()
    )


def _cost_finding(
    words: str,
    rows: Sequence[tuple[Any, ...]],
    gap: int,
    unit: UnitCost,
    as_of: dt.date,
    stale_after: int,
) -> str:
    """What closing one level's gaps would cost a year, in words (costs are the rows' last
    column when the unit cost is verified)."""
    if not unit.usable:
        return f"Closing the {words} gaps: cost not shown: unit cost not verified."
    shown = [r for r in rows if r[gap] is not None]
    if not shown:
        return f"Closing the {words} gaps: no cost shown, as no gap could be shown."
    total = sum(r[-1] for r in shown if r[-1] is not None)
    if total == 0:
        return f"No {words} gap shown needs funding: the capacity in post covers the need shown."
    words = (
        f"Closing the {words} gaps would cost about £{total:,} a year at {unit.price_year} "
        "prices"
        + (" (localities whose gap is not shown are not in it)" if len(shown) < len(rows) else "")
        + "."
    )
    if unit.stale(as_of, stale_after):
        words += (
            f" That price year is more than {stale_after} years old: uprate it before budgeting."
        )
    return words


def emergency_table(ctx: PlanContext, unit: UnitCost, note: str) -> PlanTable:
    """People and emergency admissions in the 12 months to the run, per level (controlled),
    and what those admissions cost where the unit cost is verified."""
    people_at = people_grid(ctx, EVERYONE, "locality", "level")
    admissions_at = people_grid(ctx, ADMISSIONS, "locality", "level")
    rows, placed = [], []
    for i, (level, words) in enumerate(LEVELS.items()):
        people = ctx.grids[people_at].get((TOTAL, level), 0)
        admissions = ctx.grids[admissions_at].get((TOTAL, level), 0)
        row: tuple[Any, ...] = (words, people, admissions)
        counted = GridCell(admissions_at, TOTAL, level)
        placed += [
            CellSource(i, "people", (GridCell(people_at, TOTAL, level),)),
            CellSource(i, "admissions", (counted,)),
        ]
        if unit.usable:
            row = (*row, None if admissions is None else round(admissions * unit.amount))
            placed.append(CellSource(i, "cost", (counted,)))
        rows.append(row)
    columns = (
        Column("level", "Level"),
        Column("people", "People", "count"),
        Column("admissions", "Emergency admissions in the 12 months to the run", "count"),
        *_money_column(unit, "Cost of those admissions"),
    )
    return PlanTable(
        key="emergency_admissions_by_level",
        title="Emergency admissions by level: what unplanned care costs now",
        columns=columns,
        rows=tuple(rows),
        note=note,
        grid_cells=tuple(placed),
    )


def _people_sources(
    ctx: PlanContext, table: list[Column], localities: Sequence[LocalityPeople], level: int
) -> tuple[CellSource, ...]:
    """Each row's count of people at `level` (a cell of the level grid) and every figure
    worked out from it: all but the locality and what is in post."""
    grid = people_grid(ctx, EVERYONE, "locality", "level")
    fixed = {"locality", "wte_in_post", "in_post"}
    return tuple(
        CellSource(i, column.key, (GridCell(grid, p.locality, level),))
        for i, p in enumerate(localities)
        for column in table
        if column.key not in fixed
    )


def sections(
    ctx: PlanContext,
    capacity: CapacityConfig | None = None,
    costs: UnitCosts | None = None,
) -> list[PlanSection]:
    """The capacity section: need per level and locality against the capacity in post, the
    gap in people and WTE, and the cost of closing it."""
    capacity = capacity or packaged_capacity()
    costs = costs or packaged_unit_costs()
    stale = costs.stale_after_years
    case_cost = costs.get("case_manager_wte_year")
    nurse_cost = costs.get("practice_nurse_hour")
    link_cost = costs.get("link_worker_wte_year")
    admission_cost = costs.get("non_elective_admission")
    localities = locality_people(ctx, capacity)
    if not localities:
        return [
            PlanSection(
                key="capacity",
                title="Capacity against need",
                message="Nobody in this area is on the triangle, so there is no need to plan for.",
            )
        ]
    l3, l2, l1 = capacity.level3, capacity.level2, capacity.level1
    rows3, rows2, rows1 = [], [], []
    unconfigured = []
    for p in localities:
        name = p.locality if p.locality is not None else NOT_KNOWN
        in_post = capacity.in_post(p.locality)
        if in_post is None:
            unconfigured.append(name)
        rows3.append(level3_row(name, p.level3, in_post, capacity, case_cost))
        appointments = review_appointments(p.review_months, l2.appointments_per_review)
        rows2.append(level2_row(name, p.level2, appointments, in_post, capacity, nurse_cost))
        rows1.append(level1_row(name, p.level1, in_post, capacity, link_cost))

    rule = ctx.rule or packaged_rule()
    suppressed = (
        f"A suppressed count ({rule.symbol}) gives no need, gap or cost: the plan cannot count it."
    )
    in_post_words = "Capacity in post: capacity.toml" + (
        " (THE SHIPPED EXAMPLE, not this area's)." if capacity.example else "."
    )
    table3 = PlanTable(
        key="capacity_level3",
        title="Level 3: case managers needed against those in post",
        columns=(
            Column("locality", "Locality"),
            Column("people", "People at level 3", "count"),
            Column("wte_low", f"Case managers needed at {l3.caseload_max} each (WTE)", "wte"),
            Column("wte_high", f"Case managers needed at {l3.caseload_min} each (WTE)", "wte"),
            Column("wte_needed", f"Case managers needed at {l3.caseload} each (WTE)", "wte"),
            Column("wte_in_post", "Case managers in post (WTE)", "wte"),
            Column("gap_people", f"Gap in people (at {l3.caseload} each)", "number"),
            Column("gap_wte", "Gap in case managers (WTE)", "wte"),
            *_money_column(case_cost, "Cost of closing the gap"),
        ),
        rows=tuple(rows3),
        note=(
            f"Case managers needed = people at level 3 (the disclosure-controlled count) ÷ a "
            f"caseload of {l3.caseload_min}-{l3.caseload_max} ({l3.source}). A negative gap is "
            f"capacity to spare. {suppressed} {in_post_words} "
            f"{_cost_words(case_cost, ctx.as_of, stale)}"
        ),
    )
    table2 = PlanTable(
        key="capacity_level2",
        title="Level 2: review appointments needed against those in post",
        columns=(
            Column("locality", "Locality"),
            Column("people", "People at level 2", "count"),
            Column("appointments", "Review appointments needed a year", "number"),
            Column("in_post", "Review appointments in post a year", "number"),
            Column("gap", "Gap in appointments a year", "number"),
            Column("gap_people", "Gap in people", "number"),
            Column("gap_wte", "Gap in clinicians (WTE)", "wte"),
            *_money_column(nurse_cost, "Cost of closing the gap"),
        ),
        rows=tuple(rows2),
        note=(
            "Appointments needed: each person's reviews a year from the care-gap indicators' "
            f"windows (12 ÷ the shortest window of their registers' indicators; every "
            f"{l2.default_review_months} months on no scheduled register), "
            f"× {l2.appointments_per_review} appointments a review, counted from controlled "
            f"counts of people per schedule. Clinician WTE at {l2.minutes_per_appointment} "
            f"minutes an appointment and {l2.hours_per_wte_year:,.0f} hours a WTE year (a "
            f"planning assumption). {suppressed} {in_post_words} "
            f"{_cost_words(nurse_cost, ctx.as_of, stale)}"
        ),
    )
    table1 = PlanTable(
        key="capacity_level1",
        title="Level 1: self-management places needed against those in post",
        columns=(
            Column("locality", "Locality"),
            Column("people", "People at level 1", "count"),
            Column("places", "Self-management places needed a year", "number"),
            Column("in_post", "Self-management places in post a year", "number"),
            Column("gap", "Gap in places a year", "number"),
            Column("gap_people", "Gap in people", "number"),
            Column("gap_wte", f"Link workers for the gap at {l1.caseload} a year (WTE)", "wte"),
            *_money_column(link_cost, "Cost of closing the gap"),
        ),
        rows=tuple(rows1),
        note=(
            f"Places needed = people at level 1 × {l1.places_per_person:g}. Link workers at a "
            f"caseload of {l1.caseload} people a year (range {l1.caseload_min}-"
            f"{l1.caseload_max}; {l1.source}). {suppressed} {in_post_words} "
            f"{_cost_words(link_cost, ctx.as_of, stale)}"
        ),
    )
    admissions = emergency_table(ctx, admission_cost, _cost_words(admission_cost, ctx.as_of, stale))
    table3, table2, table1 = (
        replace(t, grid_cells=_people_sources(ctx, t.columns, localities, level))
        for t, level in ((table3, 3), (table2, 2), (table1, 1))
    )
    grid = people_grid(ctx, EVERYONE, "locality", "level")

    def shown(level: int) -> tuple[GridCell, ...]:
        """The level's counts shown (not suppressed by the rule): what a finding about the
        level adds up, or names by what is not shown."""
        return tuple(
            GridCell(grid, p.locality, level)
            for p in localities
            if ctx.grids[grid].get((p.locality, level), 0) is not None
        )

    finding_cells: list[tuple[int, tuple[GridCell, ...]]] = []
    findings: list[str] = []
    if capacity.example:
        findings.append(
            "The capacity in post is the example shipped in capacity.toml, not this area's: "
            "set the area's own figures before reading any gap."
        )
    for label, rows, column, unit, level in (
        ("case-management", rows3, table3.column("gap_wte"), "WTE", 3),
        ("review", rows2, table2.column("gap_wte"), "WTE", 2),
        ("self-management", rows1, table1.column("gap"), "places", 1),
    ):
        finding_cells.append((len(findings), shown(level)))
        largest = _largest(rows, column, unit)
        known = [r for r in rows if r[column] is not None]
        if largest:
            findings.append(f"The largest {label} gaps: {largest}.")
        elif known:
            findings.append(
                f"No locality shows a {label} gap"
                + (" (among those whose gap can be shown)." if len(known) < len(rows) else ".")
            )
    fewer = f"fewer than {rule.suppress_at_or_below + 1} people"
    for words, rows, need, level in (
        ("Case-management", rows3, table3.column("wte_needed"), 3),
        ("Review", rows2, table2.column("appointments"), 2),
        ("Self-management", rows1, table1.column("places"), 1),
    ):
        hidden = [r[0] for r in rows if r[need] is None]
        if hidden:
            # names the hidden ones: wrong once the plan hides more, so left out then
            named = {r[0] for r in rows if r[need] is None}
            finding_cells.append(
                (
                    len(findings),
                    tuple(
                        GridCell(grid, p.locality, level)
                        for p, r in zip(localities, rows, strict=True)
                        if r[0] not in named
                    ),
                )
            )
            findings.append(
                f"{words} need not shown where a count is suppressed ({fewer}): "
                f"{', '.join(hidden)}. Those gaps are in no total."
            )
    if unconfigured:
        findings.append(
            f"No capacity in post is configured for {', '.join(unconfigured)}, so no gap is "
            "shown there."
        )
    for words, rows, gap, unit, level in (
        ("case-management", rows3, table3.column("gap_wte"), case_cost, 3),
        ("review", rows2, table2.column("gap_wte"), nurse_cost, 2),
        ("self-management", rows1, table1.column("gap"), link_cost, 1),
    ):
        finding_cells.append((len(findings), shown(level)))
        findings.append(_cost_finding(words, rows, gap, unit, ctx.as_of, stale))

    sources = [
        Source("capacity_level3", l3.source, l3.source_year),
        Source("capacity_level2", l2.source, l2.source_year),
        Source("capacity_level1", l1.source, l1.source_year),
        *(u.as_source() for u in (case_cost, nurse_cost, link_cost, admission_cost) if u.usable),
    ]
    return [
        PlanSection(
            key="capacity",
            title="Capacity against need: the gap per locality and the cost of closing it",
            findings=tuple(findings),
            tables=(table3, table2, table1, admissions),
            charts=(
                PlanChart(
                    kind="bar",
                    table="capacity_level3",
                    x="locality",
                    y=("wte_needed", "wte_in_post"),
                    title="Case managers needed and in post (WTE)",
                ),
            ),
            sources=tuple(sources),
            finding_cells=tuple(finding_cells),
        )
    ]
