"""The commissioning plan's section on needs, goals and support: needs by domain and locality,
goals by theme, referrals made / accepted / attended / declined, and unmet need by reason,
need and locality ("where demand exceeds supply").

The house of care builds the commissioning plan from individual care plans, so these are
the care plans' own records added up. Every count comes from `measure_sql` with the plan's
rule; tables that share margins are cut from one grid each and protected together
(`plan_disclosure.protect_grid`), so no suppressed count can be worked out by subtracting
one published figure from another, within a table or across two.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any, Final

from houseofcare.commissioning.disclosure import TOTAL, Cell
from houseofcare.commissioning.goal_themes import packaged_goal_themes
from houseofcare.commissioning.plan_disclosure import (
    ProtectedGrid,
    protect_grid,
    rate_of,
    unless_too_small,
)
from houseofcare.commissioning.plan_grids import ALL, grids, people_grids, register
from houseofcare.commissioning.plan_model import (
    CellSource,
    Column,
    GridCell,
    PlanChart,
    PlanContext,
    PlanSection,
    PlanTable,
)
from houseofcare.selfcare.matching import NEED_WORDS
from houseofcare.sql_text import sql_literal
from houseofcare.store.models import UnmetNeedReason

#: How the section names a locality the analytic store could not place.
NOT_KNOWN: Final = "Not known"
#: A referral or unmet need recorded without a need domain.
NO_DOMAIN: Final = "not_recorded"
#: Unmet need reasons in words, in the order the table shows them.
REASON_WORDS: Final[dict[str, str]] = {
    UnmetNeedReason.no_suitable_service: "No suitable service",
    UnmetNeedReason.service_full: "Service full",
    UnmetNeedReason.declined: "Declined by the service",
}
#: Goal statuses (FHIR Goal.lifecycleStatus) as the goals table groups them.
GOAL_STAGES: Final[dict[str, tuple[str, tuple[str, ...]]]] = {
    "working": (
        "Being worked on",
        ("proposed", "planned", "accepted", "active", "on-hold"),
    ),
    "achieved": ("Achieved", ("completed",)),
    "stopped": ("Stopped", ("cancelled", "rejected")),
}
#: A referral's stages, each a count over the referral frame's rows.
REFERRAL_STAGES: Final[dict[str, tuple[str, str]]] = {
    "made": ("Referrals made", "1"),
    "accepted": ("Accepted", "CASE WHEN accepted THEN 1 ELSE 0 END"),
    "attended": ("Attended", "CASE WHEN attended THEN 1 ELSE 0 END"),
    "declined": ("Declined", "CASE WHEN declined THEN 1 ELSE 0 END"),
}
#: People with a long-term condition, with an active care plan, and with it reviewed: the
#: counts of `inequality_measures.toml` (care_plan, plan_reviewed), written the same way so
#: the coverage by locality and the inequalities section's by IMD quintile share their grids.
LTC: Final = "CASE WHEN registers >= 1 THEN 1 ELSE 0 END"
PLANNED: Final = "CASE WHEN registers >= 1 AND has_plan THEN 1 ELSE 0 END"
REVIEWED: Final = "CASE WHEN registers >= 1 AND plan_reviewed THEN 1 ELSE 0 END"
WHY_TOO_SMALL: Final = (
    "the needs, goals, referrals and unmet need recorded on care plans here are each counts "
    "of 1 to 7 or none, and a count that small could point to a person"
)


def sections(ctx: PlanContext) -> list[PlanSection]:
    """Needs, goals and support for the plan's area (one section, or its message)."""
    needs = needs_table(ctx)
    goals = goals_table(ctx)
    by_domain, by_locality = referral_tables(ctx)
    unmet = unmet_table(ctx)
    tables = (needs, goals, by_domain, by_locality, unmet)
    section = PlanSection(
        key="care",
        title="Needs, goals and support",
        findings=tuple(findings(ctx, needs, by_domain, unmet)),
        tables=tables,
        charts=(
            PlanChart("bar", "care_needs", "domain", ("all",), "People with each kind of need"),
            PlanChart(
                "stacked_bar",
                "care_unmet",
                "need",
                tuple(str(r) for r in REASON_WORDS),
                "Unmet need by reason: where demand exceeds supply",
            ),
        ),
    )
    coverage = coverage_table(ctx)
    said = tuple(coverage_findings(ctx, coverage))
    made = unless_too_small(section, ctx.area, WHY_TOO_SMALL, keep=(coverage,), keep_findings=said)
    if said:  # the coverage finding states the whole area's three counts
        everyone = tuple(c for source in coverage.grid_cells[-5:] for c in source.cells)
        made = replace(made, finding_cells=((0, everyone),))
    return [made]


def sources_of(grid: str, placed: Iterable[tuple[int, str, Cell]]) -> tuple[CellSource, ...]:
    """Each (row index, column key, grid cell) a table shows, as its `grid_cells`."""
    return tuple(CellSource(i, column, (GridCell(grid, *cell),)) for i, column, cell in placed)


# --- Grids through the one exit for counts -----------------------------------------------------


def _lines(grid: ProtectedGrid, axis: int, words: Any = str) -> list[Any]:
    """The row (axis 0) or column (axis 1) keys of a grid without the total, in the order of
    their `words`, the unknown last."""
    keys = {cell[axis] for cell in grid.cells if cell[axis] != TOTAL}
    return sorted(keys, key=lambda k: (k in (NOT_KNOWN, NO_DOMAIN), words(k)))


def _domain_words(domain: Any) -> str:
    if domain == NO_DOMAIN:
        return "Need not recorded"
    return NEED_WORDS.get(str(domain), str(domain).replace("_", " ").capitalize())


# --- The tables --------------------------------------------------------------------------------

_LOCALITY = f"coalesce(p.locality, '{NOT_KNOWN}')"


def _locality_key(locality: Any) -> tuple[bool, str]:
    return (locality is None or locality == NOT_KNOWN, str(locality))


def coverage_table(ctx: PlanContext) -> PlanTable:
    """People with a long-term condition, how many have an active care plan and how many had
    it reviewed or agreed in the 12 months to the run's date, by locality: what the rest of
    the section can speak for (hazard H-071). The counts are the locality margins of the
    plan's people grids (`plan_grids.people_grids`)."""
    names = people_grids(ctx, [LTC, PLANNED, REVIEWED], "locality")
    counts = {"ltc": names[LTC], "planned": names[PLANNED], "reviewed": names[REVIEWED]}
    protected = {key: protect_grid(ctx.grids[name]) for key, name in counts.items()}
    localities = sorted({r for r, _ in ctx.grids[counts["ltc"]] if r != TOTAL}, key=_locality_key)
    rows, placed = [], []
    for i, row in enumerate([*localities, TOTAL]):
        ltc, planned, reviewed = (protected[k].value(row, TOTAL) for k in counts)
        label = "All localities" if row == TOTAL else str(row if row is not None else NOT_KNOWN)
        rows.append((label, ltc, planned, rate_of(planned, ltc), reviewed, rate_of(reviewed, ltc)))
        cell = {k: (GridCell(g, row, ALL), GridCell(g, row, TOTAL)) for k, g in counts.items()}
        placed += [
            CellSource(i, "ltc", cell["ltc"]),
            CellSource(i, "planned", cell["planned"]),
            CellSource(i, "planned_pct", cell["planned"] + cell["ltc"]),
            CellSource(i, "reviewed", cell["reviewed"]),
            CellSource(i, "reviewed_pct", cell["reviewed"] + cell["ltc"]),
        ]
    return PlanTable(
        key="care_coverage",
        title="People with a long-term condition who have a care plan, by locality",
        columns=(
            Column("locality", "Locality"),
            Column("ltc", "People with a long-term condition", "count"),
            Column("planned", "With an active care plan", "count"),
            Column("planned_pct", "With a care plan (%)", "percent"),
            Column("reviewed", "Reviewed or agreed in the last 12 months", "count"),
            Column("reviewed_pct", "Reviewed or agreed (%)", "percent"),
        ),
        rows=tuple(rows),
        note=(
            "The needs, goals and referrals in this section are those of people with a care "
            "plan only: where few people have one, need is under-counted."
        ),
        grid_cells=tuple(placed),
    )


def coverage_findings(ctx: PlanContext, coverage: PlanTable) -> list[str]:
    """How far the care plans reach, said first, so the counts after it are read as theirs."""
    everyone = coverage.rows[-1]
    planned = everyone[coverage.column("planned_pct")]
    if planned is None:
        return []
    reviewed = everyone[coverage.column("reviewed_pct")]
    return [
        f"{planned:g}% of people with a long-term condition in {ctx.area.name} have an "
        "active care plan"
        + ("" if reviewed is None else f" ({reviewed:g}% reviewed or agreed in the last year)")
        + ": the needs, goals and referrals below are theirs, not everyone's."
    ]


def needs_table(ctx: PlanContext) -> PlanTable:
    """People with an active need in each domain, by locality, with both totals."""
    units = f"""(SELECT DISTINCT n.patient_id, n.domain, {_LOCALITY} AS locality
FROM plan_needs n JOIN plan_people p ON p.patient_id = n.patient_id
WHERE n.status = 'active')"""
    cells = grids(ctx, units, ["domain"], "locality", {"people": "1"})["people"]
    name = register(ctx, "care_needs", cells)
    grid = protect_grid(cells)
    localities = _lines(grid, 1)
    domains = [*_lines(grid, 0, _domain_words), TOTAL]
    columns = [*(f"locality_{i}" for i in range(len(localities))), "all"]
    placed = [
        (i, column, (d, loc))
        for i, d in enumerate(domains)
        for column, loc in zip(columns, [*localities, TOTAL], strict=True)
    ]
    rows = [
        (_domain_words(d), *(grid.value(d, loc) for loc in localities), grid.value(d, TOTAL))
        for d in domains[:-1]
    ]
    rows.append(
        (
            "All needs (a person with needs in two domains counts in both)",
            *(grid.value(TOTAL, loc) for loc in localities),
            grid.value(TOTAL, TOTAL),
        )
    )
    return PlanTable(
        key="care_needs",
        title="People with an active need on their care plan, by domain and locality",
        columns=(
            Column("domain", "Need"),
            *(Column(f"locality_{i}", str(loc), "count") for i, loc in enumerate(localities)),
            Column("all", "All localities", "count"),
        ),
        rows=tuple(rows),
        note=(
            "Only people with an active care plan that records their needs are counted: "
            "people whose needs are not yet written in a care plan are not here."
        ),
        grid_cells=sources_of(name, placed),
    )


def goals_table(ctx: PlanContext) -> PlanTable:
    """Goals by theme (`goal_themes.toml`), by where they stand, with both totals."""
    stage = " ".join(
        f"WHEN g.status IN ({', '.join(sql_literal(s) for s in statuses)}) THEN '{key}'"
        for key, (_, statuses) in GOAL_STAGES.items()
    )
    units = f"(SELECT g.theme, CASE {stage} ELSE 'stopped' END AS stage FROM plan_goals g)"
    cells = grids(ctx, units, ["theme"], "stage", {"goals": "1"})["goals"]
    name = register(ctx, "care_goals", cells)
    grid = protect_grid(cells)
    words = packaged_goal_themes().words()
    present = {cell[0] for cell in grid.cells if cell[0] != TOTAL}
    themes = [t for t in words if t in present] + sorted(present - set(words))
    rows = [
        (words.get(t, t), *(grid.value(t, s) for s in GOAL_STAGES), grid.value(t, TOTAL))
        for t in themes
    ]
    every = grid.value(TOTAL, TOTAL)
    rows.append(("All goals", *(grid.value(TOTAL, s) for s in GOAL_STAGES), every))
    placed = [
        (i, column, (t, stage))
        for i, t in enumerate([*themes, TOTAL])
        for column, stage in [*((s, s) for s in GOAL_STAGES), ("all", TOTAL)]
    ]
    return PlanTable(
        key="care_goals",
        title="Goals people set in their care plans, by theme",
        columns=(
            Column("theme", "Theme"),
            *(Column(key, label, "count") for key, (label, _) in GOAL_STAGES.items()),
            Column("all", "All goals", "count"),
        ),
        rows=tuple(rows),
        note=(
            "A goal is in the person's own words; its theme is worked out from its target "
            "measure and words (goal_themes.toml). Goals of active care plans."
        ),
        grid_cells=sources_of(name, placed),
    )


def referral_tables(ctx: PlanContext) -> tuple[PlanTable, PlanTable]:
    """Referrals made, accepted, attended and declined by need domain and by locality: the
    two margins of one grid per stage, protected together."""
    units = f"""(SELECT coalesce(r.need_domain, '{NO_DOMAIN}') AS domain, {_LOCALITY} AS locality,
       r.accepted, r.attended, r.declined
FROM plan_referrals r JOIN plan_people p ON p.patient_id = r.patient_id)"""
    counts = {key: expression for key, (_, expression) in REFERRAL_STAGES.items()}
    protected: dict[str, ProtectedGrid] = {}
    names = {}
    for key, cells in grids(ctx, units, ["domain"], "locality", counts).items():
        names[key] = register(ctx, f"care_referrals_{key}", cells)
        margins = [cell for cell in cells if TOTAL in cell]
        protected[key] = protect_grid(cells, published=margins)
    columns = (
        *(Column(key, label, "count") for key, (label, _) in REFERRAL_STAGES.items()),
        Column("accepted_pct", "Accepted (% of made)", "percent"),
        Column("attended_pct", "Attended (% of made)", "percent"),
    )

    def line(label: str, cell: Cell) -> tuple[Any, ...]:
        made, accepted, attended, declined = (
            protected[k].cells.get(cell, 0) for k in REFERRAL_STAGES
        )
        return (
            label,
            made,
            accepted,
            attended,
            declined,
            rate_of(accepted, made),
            rate_of(attended, made),
        )

    made = protected["made"]
    domain_cells = [*((d, TOTAL) for d in _lines(made, 0, _domain_words)), (TOTAL, TOTAL)]
    locality_cells = [*((TOTAL, loc) for loc in _lines(made, 1)), (TOTAL, TOTAL)]
    by_domain = [line(_domain_words(d), (d, TOTAL)) for d, _ in domain_cells[:-1]]
    by_locality = [line(str(loc), (TOTAL, loc)) for _, loc in locality_cells[:-1]]
    everyone = line("All referrals", (TOTAL, TOTAL))

    def placed(cells: list[Cell]) -> tuple[CellSource, ...]:
        def at(key: str, cell: Cell) -> GridCell:
            return GridCell(names[key], *cell)

        found = []
        for i, cell in enumerate(cells):
            found += [CellSource(i, key, (at(key, cell),)) for key in REFERRAL_STAGES]
            found += [
                CellSource(i, f"{key}_pct", (at(key, cell), at("made", cell)))
                for key in ("accepted", "attended")
            ]
        return tuple(found)

    note = (
        "Accepted, attended and declined are counted from the referral's history, so a "
        "referral later closed still counts at the stages it reached."
    )
    return (
        PlanTable(
            key="care_referrals_by_need",
            title="Referrals made, accepted, attended and declined, by need",
            columns=(Column("need", "Need"), *columns),
            rows=(*by_domain, everyone),
            note=note,
            grid_cells=placed(domain_cells),
        ),
        PlanTable(
            key="care_referrals_by_locality",
            title="Referrals made, accepted, attended and declined, by locality",
            columns=(Column("locality", "Locality"), *columns),
            rows=(*by_locality, everyone),
            note=note,
            grid_cells=placed(locality_cells),
        ),
    )


def unmet_table(ctx: PlanContext) -> PlanTable:
    """Unmet need by locality and need (rows) and reason (columns), with both totals: where
    demand exceeds supply."""
    units = f"""(SELECT coalesce(locality, '{NOT_KNOWN}') AS locality,
       coalesce(need_domain, '{NO_DOMAIN}') AS domain, reason FROM plan_unmet)"""
    cells = grids(ctx, units, ["locality", "domain"], "reason", {"unmet": "1"})["unmet"]
    name = register(ctx, "care_unmet", cells)
    grid = protect_grid(cells)
    pairs = sorted(
        {cell[0] for cell in grid.cells if cell[0] != TOTAL},
        key=lambda k: (k[0] == NOT_KNOWN, str(k[0]), k[1] == NO_DOMAIN, _domain_words(k[1])),
    )
    rows = [
        (
            str(loc),
            _domain_words(d),
            *(grid.value((loc, d), r) for r in REASON_WORDS),
            grid.value((loc, d), TOTAL),
        )
        for loc, d in pairs
    ]
    rows.append(
        (
            "All localities",
            "All needs",
            *(grid.value(TOTAL, r) for r in REASON_WORDS),
            grid.value(TOTAL, TOTAL),
        )
    )
    placed = [
        (i, column, (pair, reason))
        for i, pair in enumerate([*pairs, TOTAL])
        for column, reason in [*((str(r), r) for r in REASON_WORDS), ("all", TOTAL)]
    ]
    return PlanTable(
        key="care_unmet",
        title="Unmet need by locality, need and reason: where demand exceeds supply",
        columns=(
            Column("locality", "Locality"),
            Column("need", "Need"),
            *(Column(str(r), words, "count") for r, words in REASON_WORDS.items()),
            Column("all", "All reasons", "count"),
        ),
        rows=tuple(rows),
        note=(
            "A need that found no service when a search found none suitable, a service was "
            "full, or a service declined the referral; recorded by the people doing the "
            "referring, so needs nobody searched for are not here."
        ),
        grid_cells=sources_of(name, placed),
    )


# --- Findings ----------------------------------------------------------------------------------


def findings(
    ctx: PlanContext, needs: PlanTable, referrals: PlanTable, unmet: PlanTable
) -> list[str]:
    """Plain sentences: the commonest need, the largest unmet need and the referral drop-off,
    each from the tables' shown (controlled) figures only."""
    said = []
    everyone = needs.column("all")
    shown_needs = [r for r in needs.rows[:-1] if r[everyone]]
    if shown_needs:
        top = max(shown_needs, key=lambda r: r[everyone])
        said.append(
            f"The commonest need recorded on care plans in {ctx.area.name} is "
            f"{str(top[0]).lower()}: about {top[everyone]:,} people."
        )
    total = unmet.column("all")
    shown_unmet = [r for r in unmet.rows[:-1] if r[total]]
    if shown_unmet:
        top = max(shown_unmet, key=lambda r: r[total])
        reasons = [
            (top[unmet.column(str(key))], words.lower())
            for key, words in REASON_WORDS.items()
            if top[unmet.column(str(key))]
        ]
        why = f", mostly {max(reasons)[1]}" if reasons else ""
        said.append(
            f"The largest unmet need is {str(top[1]).lower()} in {top[0]}: about "
            f"{top[total]:,} needs found no service{why}."
        )
    made_at, attended_at = referrals.column("made"), referrals.column("attended_pct")
    overall = referrals.rows[-1]
    if overall[made_at] and overall[attended_at] is not None:
        accepted = overall[referrals.column("accepted_pct")]
        said.append(
            f"Of about {overall[made_at]:,} referrals made, "
            + ("" if accepted is None else f"{accepted:g}% were accepted and ")
            + f"{overall[attended_at]:g}% attended."
        )
        dropping = [r for r in referrals.rows[:-1] if r[made_at] and r[attended_at] is not None]
        if dropping:
            worst = min(dropping, key=lambda r: r[attended_at])
            said.append(
                f"The largest drop-off is for {str(worst[0]).lower()}: of about "
                f"{worst[made_at]:,} referrals made, {worst[attended_at]:g}% attended."
            )
    return said
