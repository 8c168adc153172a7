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

from collections.abc import Sequence
from typing import Any, Final

from houseofcare.commissioning.disclosure import TOTAL, Cell
from houseofcare.commissioning.goal_themes import packaged_goal_themes
from houseofcare.commissioning.measures import DIMENSIONS, measure_sql
from houseofcare.commissioning.plan_disclosure import (
    ProtectedGrid,
    grid_cells,
    protect_grid,
    unless_too_small,
)
from houseofcare.commissioning.plan_model import (
    Column,
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
    return [
        unless_too_small(
            section,
            ctx.area,
            WHY_TOO_SMALL,
            keep=(coverage,),
            keep_findings=tuple(coverage_findings(ctx, coverage)),
        )
    ]


# --- Grids through the one exit for counts -----------------------------------------------------


def _grouped(
    ctx: PlanContext, units: str, groups: Sequence[str], counts: dict[str, str]
) -> dict[tuple[Any, ...], dict[str, int | None]]:
    """Controlled counts per group (`measure_sql` with the plan's rule), keyed by the group's
    values in `groups` order."""
    by = [g for g in groups if g in DIMENSIONS]
    keys = [g for g in groups if g not in DIMENSIONS]
    sql = measure_sql(units, by=by, keys=keys, counts=counts, rule=ctx.rule)
    order = [*by, *keys]
    found = {}
    for row in ctx.engine.rows(f"SELECT * FROM {sql} m"):
        values = dict(zip(order, row[: len(order)], strict=True))
        key = tuple(values[g] for g in groups)
        found[key] = {
            name: None if v is None else int(v)
            for name, v in zip(counts, row[len(order) :], strict=True)
        }
    return found


def _grids(
    ctx: PlanContext, units: str, row: Sequence[str], column: str, counts: dict[str, str]
) -> dict[str, dict[Cell, int | None]]:
    """One grid per count: rows are the values of the `row` columns (a tuple when several),
    columns the values of `column`, with both margins and the grand total, each a
    controlled count of its own (four queries)."""

    def rkey(values: tuple[Any, ...]) -> Any:
        return values if len(row) > 1 else values[0]

    interior = _grouped(ctx, units, [*row, column], counts)
    rows = _grouped(ctx, units, row, counts)
    columns = _grouped(ctx, units, [column], counts)
    # with no units at all the grand total's sum is NULL, which is not a suppressed count
    total = _grouped(ctx, units, [], counts)[()] if rows else dict.fromkeys(counts, 0)
    return {
        name: grid_cells(
            {(rkey(k[:-1]), k[-1]): v[name] for k, v in interior.items()},
            {rkey(k): v[name] for k, v in rows.items()},
            {k[0]: v[name] for k, v in columns.items()},
            total[name],
        )
        for name in counts
    }


def _lines(grid: ProtectedGrid, axis: int, words: Any = str) -> list[Any]:
    """The row (axis 0) or column (axis 1) keys of a grid without the total, in the order of
    their `words`, the unknown last."""
    keys = {cell[axis] for cell in grid.cells if cell[axis] != TOTAL}
    return sorted(keys, key=lambda k: (k in (NOT_KNOWN, NO_DOMAIN), words(k)))


def _domain_words(domain: Any) -> str:
    if domain == NO_DOMAIN:
        return "Need not recorded"
    return NEED_WORDS.get(str(domain), str(domain).replace("_", " ").capitalize())


def _percent(part: int | None, whole: int | None) -> float | None:
    """A percentage from two controlled counts (None when either is not shown or 0)."""
    if part is None or not whole:
        return None
    return round(100 * part / whole, 1)


# --- The tables --------------------------------------------------------------------------------

_LOCALITY = f"coalesce(p.locality, '{NOT_KNOWN}')"


def coverage_table(ctx: PlanContext) -> PlanTable:
    """People with a long-term condition, how many have an active care plan and how many had
    it reviewed or agreed in the 12 months to the run's date, by locality: what the rest of
    the section can speak for (hazard H-071)."""
    units = f"""(SELECT {_LOCALITY} AS locality, 'people' AS scope, p.has_plan, p.plan_reviewed
FROM plan_people p WHERE p.registers > 0)"""
    counts = {
        "ltc": "1",
        "planned": "CASE WHEN has_plan THEN 1 ELSE 0 END",
        "reviewed": "CASE WHEN plan_reviewed THEN 1 ELSE 0 END",
    }
    grids = {
        key: protect_grid(cells)
        for key, cells in _grids(ctx, units, ["locality"], "scope", counts).items()
    }

    def line(label: str, row: Any) -> tuple[Any, ...]:
        ltc, planned, reviewed = (grids[k].value(row, TOTAL) for k in counts)
        return (label, ltc, planned, _percent(planned, ltc), reviewed, _percent(reviewed, ltc))

    rows = [line(str(loc), loc) for loc in _lines(grids["ltc"], 0)]
    rows.append(line("All localities", TOTAL))
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
    cells = _grids(ctx, units, ["domain"], "locality", {"people": "1"})["people"]
    grid = protect_grid(cells)
    localities = _lines(grid, 1)
    rows = [
        (_domain_words(d), *(grid.value(d, loc) for loc in localities), grid.value(d, TOTAL))
        for d in _lines(grid, 0, _domain_words)
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
    )


def goals_table(ctx: PlanContext) -> PlanTable:
    """Goals by theme (`goal_themes.toml`), by where they stand, with both totals."""
    stage = " ".join(
        f"WHEN g.status IN ({', '.join(sql_literal(s) for s in statuses)}) THEN '{key}'"
        for key, (_, statuses) in GOAL_STAGES.items()
    )
    units = f"(SELECT g.theme, CASE {stage} ELSE 'stopped' END AS stage FROM plan_goals g)"
    cells = _grids(ctx, units, ["theme"], "stage", {"goals": "1"})["goals"]
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
    )


def referral_tables(ctx: PlanContext) -> tuple[PlanTable, PlanTable]:
    """Referrals made, accepted, attended and declined by need domain and by locality: the
    two margins of one grid per stage, protected together."""
    units = f"""(SELECT coalesce(r.need_domain, '{NO_DOMAIN}') AS domain, {_LOCALITY} AS locality,
       r.accepted, r.attended, r.declined
FROM plan_referrals r JOIN plan_people p ON p.patient_id = r.patient_id)"""
    counts = {key: expression for key, (_, expression) in REFERRAL_STAGES.items()}
    grids = {}
    for key, cells in _grids(ctx, units, ["domain"], "locality", counts).items():
        margins = [cell for cell in cells if TOTAL in cell]
        grids[key] = protect_grid(cells, published=margins)
    columns = (
        *(Column(key, label, "count") for key, (label, _) in REFERRAL_STAGES.items()),
        Column("accepted_pct", "Accepted (% of made)", "percent"),
        Column("attended_pct", "Attended (% of made)", "percent"),
    )

    def line(label: str, cell: Cell) -> tuple[Any, ...]:
        made, accepted, attended, declined = (grids[k].cells.get(cell, 0) for k in REFERRAL_STAGES)
        return (
            label,
            made,
            accepted,
            attended,
            declined,
            _percent(accepted, made),
            _percent(attended, made),
        )

    made = grids["made"]
    by_domain = [line(_domain_words(d), (d, TOTAL)) for d in _lines(made, 0, _domain_words)]
    by_locality = [line(str(loc), (TOTAL, loc)) for loc in _lines(made, 1)]
    everyone = line("All referrals", (TOTAL, TOTAL))
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
        ),
        PlanTable(
            key="care_referrals_by_locality",
            title="Referrals made, accepted, attended and declined, by locality",
            columns=(Column("locality", "Locality"), *columns),
            rows=(*by_locality, everyone),
            note=note,
        ),
    )


def unmet_table(ctx: PlanContext) -> PlanTable:
    """Unmet need by locality and need (rows) and reason (columns), with both totals: where
    demand exceeds supply."""
    units = f"""(SELECT coalesce(locality, '{NOT_KNOWN}') AS locality,
       coalesce(need_domain, '{NO_DOMAIN}') AS domain, reason FROM plan_unmet)"""
    cells = _grids(ctx, units, ["locality", "domain"], "reason", {"unmet": "1"})["unmet"]
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
