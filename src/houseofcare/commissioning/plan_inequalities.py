"""The commissioning plan's section on health inequalities: the key measures by deprivation,
the widest gaps, the inverse care law made visible and the projected effect of the
Core20PLUS5 order on the gaps (issue 14; docs/inequalities.md).

Tackling health inequalities is a central aim of the house of care's commissioning plan, so
the section shows each key measure (`inequality_measures.toml`, over the plan's `plan_people`
frame) the way OHID's Fingertips does: the rate by IMD quintile, ethnic group, sex and age
band with 95% limits, the directly age-standardised rate by IMD quintile (ESP 2013), and the
slope and relative indices of inequality (SII, RII) across IMD deciles. Counts come out
through `measure_sql` under the plan's rule, each a cell of the plan's people grid by its
split (protected with the whole plan), and every rate and ratio is worked out from the
controlled counts; the inputs of the SII and the DSR, complex statistics never shown, are the
deciles' and age bands' uncontrolled counts, as `hoc inequalities` takes them.

Three readings turn the figures into findings a board can act on, each by a rule written
here and in the docs:

- the widest gaps: the measures whose RII is furthest from 1 (on the ratio scale, so an RII
  of 0.5 is as wide as one of 2), among those whose 95% interval excludes 1;
- the inverse care law (Tudor Hart 1971): for each measure of care and the measure of need
  it answers (`answers` in the measures file), care per person in need in each IMD quintile
  and each locality, as a multiple of the least deprived quintile's;
- the Core20PLUS5 order's projected effect: the SII now, and after the next round of recalls
  reaches a share of the people in the gap (`tiers/proportionate.toml`, `[projection]`) in
  the recall list's plain order or in the policy's order, assuming every person reached has
  the gap closed (an upper bound: hazard H-081).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from houseofcare.commissioning.disclosure import TOTAL
from houseofcare.commissioning.inequality import (
    InequalityMeasure,
    MeasureInequality,
    decile_slope,
    packaged_measures,
    report_frame,
)
from houseofcare.commissioning.inequality import _label as group_label
from houseofcare.commissioning.measures import measure_sql
from houseofcare.commissioning.plan_disclosure import grid_cells
from houseofcare.commissioning.plan_grids import ALL, people_grids, register
from houseofcare.commissioning.plan_model import (
    CellSource,
    Column,
    GridCell,
    PlanChart,
    PlanContext,
    PlanSection,
    PlanTable,
)
from houseofcare.engine import Engine, sql_literal
from houseofcare.tiers.proportionate import ProportionatePolicy, packaged_proportionate_policy

#: The plan's people frame (`PlanContext`).
FRAME: Final = "plan_people"
#: How many measures the widest-gaps finding names.
WIDEST: Final = 3
#: Quintile labels as the plan's tables show them.
QUINTILES: Final = {1: "1 (most deprived)", 5: "5 (least deprived)"}
#: Care per person in need below this multiple of the least deprived fifth's is named as less
#: care (a tenth below: smaller differences are within what rounding to 5 can make).
LESS_CARE: Final = 0.9


def sections(ctx: PlanContext) -> list[PlanSection]:
    """The "Health inequalities" section of the plan for `ctx`."""
    measures = packaged_measures("plan_people")
    policy = packaged_proportionate_policy()
    found = report_frame(
        ctx.engine, FRAME, measures, splits=tuple(SPLIT_TABLES), standardise=True, rule=ctx.rule
    )
    if not any(g.estimate.value is not None for m in found for g in m.splits["imd_quintile"]):
        return [
            PlanSection(
                key="inequalities",
                title="Health inequalities",
                message=(
                    "The area is too small for any figure by deprivation to be shown without "
                    "risking that someone is recognised."
                ),
            )
        ]
    inverse = inverse_care(ctx.engine, FRAME, measures, rule=ctx.rule)
    projected = project(ctx.engine, FRAME, ctx.run_id, measures, policy, rule=ctx.rule)
    findings = [
        *widest_gaps(found),  # from the SII/RII: a complex statistic, as `hoc inequalities`
        *inverse.findings,
        *projection_findings(projected),
    ]
    tables = [
        *(
            replace(split_table(found, split), grid_cells=split_sources(ctx, found, split))
            for split in SPLIT_TABLES
        ),
        replace(standardised_table(found), grid_cells=standardised_sources(ctx, found)),
        slope_table(found),
        *inverse_sources(ctx, measures, inverse.tables),
    ]
    charts = []
    if inverse.tables:
        first = inverse.tables[0]
        charts.append(
            PlanChart(
                kind="bar",
                table=first.key,
                x="group",
                y=tuple(c.key for c in first.columns if c.key.endswith("_index")),
                title="Need and care per person in need, as multiples of the least deprived fifth",
            )
        )
    if projected:
        table = projection_table(projected, policy)
        tables.append(replace(table, grid_cells=projection_sources(ctx, projected)))
    # the inverse-care sentences quote the most deprived quintile's row and the locality
    # rows shown: should the plan hide any of their counts, the sentences go
    quoted = {
        c
        for t in tables
        if t.key.startswith("inverse_care_")
        for source in t.grid_cells
        if t.key.endswith("_by_locality") or source.row == 0
        if t.rows[source.row][t.column(source.column)] is not None
        for c in source.cells
        if ctx.grids[c.grid].get((c.row, c.column), 0) is not None
    }
    first = len(widest_gaps(found))
    finding_cells = tuple(
        (first + i, tuple(sorted(quoted, key=str))) for i in range(len(inverse.findings))
    )
    return [
        PlanSection(
            key="inequalities",
            title="Health inequalities",
            findings=tuple(findings),
            tables=tuple(tables),
            charts=tuple(charts),
            finding_cells=finding_cells,
        )
    ]


# --- Where the counts come from: the plan's people grids (`plan_grids`) ------------------------


def _both(grid: str, row: Any) -> tuple[GridCell, GridCell]:
    """A one-column grid's line: the count and its row total, one figure published twice."""
    return (GridCell(grid, row, ALL), GridCell(grid, row, TOTAL))


def split_sources(
    ctx: PlanContext, found: Sequence[MeasureInequality], split: str = "imd_quintile"
) -> tuple[CellSource, ...]:
    """A split's table's counts as cells of the people grids by `split` (a measure's
    numerator and denominator, each a count over `plan_people`), and its rates and limits
    as worked out from them. Grids of one count split different ways share their grand
    total (`plan_grids.links`), so the plan protects the splits together."""
    expressions = [e for m in found for e in (m.measure.numerator, m.measure.denominator)]
    names = people_grids(ctx, expressions, split)
    placed, i = [], 0
    for m in found:
        num, den = names[m.measure.numerator], names[m.measure.denominator]
        keys = {group_label(split, k): k for k, _ in ctx.grids[num] if k != TOTAL}
        for g in m.splits[split]:
            k = keys[g.label]
            placed += [
                CellSource(i, "numerator", _both(num, k)),
                CellSource(i, "denominator", _both(den, k)),
                *(
                    CellSource(i, key, (*_both(num, k), *_both(den, k)))
                    for key in ("value", "lower", "upper")
                ),
            ]
            i += 1
    return tuple(placed)


def quintile_sources(
    ctx: PlanContext, found: Sequence[MeasureInequality]
) -> tuple[CellSource, ...]:
    """The quintile table's counts and figures (`split_sources` by IMD quintile)."""
    return split_sources(ctx, found, "imd_quintile")


def standardised_sources(
    ctx: PlanContext, found: Sequence[MeasureInequality]
) -> tuple[CellSource, ...]:
    """The age-standardised table's rates and limits, each tied to its quintile's population
    (the measure's denominator in the quintile grid): the DSR's inputs are uncontrolled
    age-band counts, a complex statistic, but a quintile whose population the plan hides
    shows no rate of it either."""
    names = people_grids(ctx, [m.measure.denominator for m in found], "imd_quintile")
    placed, i = [], 0
    for m in found:
        den = names[m.measure.denominator]
        keys = {group_label("imd_quintile", k): k for k, _ in ctx.grids[den] if k != TOTAL}
        for label, _ in m.standardised:
            # a quintile with no cell in the grid is a count of 0: nothing to hide with
            cells = _both(den, keys[label]) if label in keys else ()
            placed += [CellSource(i, key, cells) for key in ("value", "lower", "upper")]
            i += 1
    return tuple(placed)


def inverse_sources(
    ctx: PlanContext, measures: Sequence[InequalityMeasure], tables: Sequence[PlanTable]
) -> list[PlanTable]:
    """The inverse-care tables with each row's figures worked out from the counts of its
    quintile or locality and of the least deprived quintile (every count the row uses)."""
    if not tables:
        return list(tables)
    by_id = {m.id: m for m in measures}
    cares = [m for m in measures if m.answers is not None and m.answers in by_id]
    needs = list(dict.fromkeys(by_id[m.answers] for m in cares if m.answers))
    expressions = [
        *(e for n in needs for e in (n.numerator, n.denominator)),
        *(c.numerator for c in cares),
    ]
    made = []
    for table, split in zip(tables, ("imd_quintile", "locality"), strict=True):
        names = people_grids(ctx, expressions, split)
        reference_names = people_grids(ctx, expressions, "imd_quintile")
        quintiles = sorted(
            {q for q, _ in ctx.grids[reference_names[expressions[0]]] if q not in (None, TOTAL)}
        )
        reference = [c for e in expressions for c in _both(reference_names[e], quintiles[-1])]
        keys = sorted(
            {k for k, _ in ctx.grids[names[expressions[0]]] if k not in (None, TOTAL)}, key=str
        )
        rows = quintiles if split == "imd_quintile" else keys
        placed = [
            CellSource(
                i, column.key, (*(c for e in expressions for c in _both(names[e], row)), *reference)
            )
            for i, row in enumerate(rows)
            for column in table.columns[1:]
        ]
        made.append(replace(table, grid_cells=tuple(placed)))
    return made


def projection_sources(ctx: PlanContext, projected: Sequence[Projected]) -> tuple[CellSource, ...]:
    """The projection's counts, a grid of their own per measure: the people in the gap and
    those a round of recalls reaches, each a count with no total published. (The people in
    the gap are also the measure's denominator less its numerator, two totals the quintile
    table does not publish: docs/commissioning.md names it a residual.) The SIIs are a
    complex statistic of uncontrolled decile counts, as in `hoc inequalities`: not hidden
    with them."""
    placed = []
    for i, p in enumerate(projected):
        counts = {
            "in_gap": p.in_gap,
            "reached": p.reached,
            "favoured_plain": p.favoured_plain,
            "favoured_proportionate": p.favoured_proportionate,
        }
        parts = list(counts.values())
        total = None if None in parts else sum(v or 0 for v in parts)  # never published
        recall = register(
            ctx,
            f"recall[{p.measure.id}]",
            grid_cells(
                {(key, ALL): v for key, v in counts.items()}, dict(counts), {ALL: total}, total
            ),
        )
        placed += [CellSource(i, key, _both(recall, key)) for key in counts]
    return tuple(placed)


# --- The measures by IMD quintile, and their SII and RII ---------------------------------------


def _round(value: float | None, places: int = 2) -> float | None:
    return None if value is None else round(value, places)


#: The splits the plan shows every measure by: table key, its title's words, the group heading.
SPLIT_TABLES: Final = {
    "imd_quintile": ("inequality_by_quintile", "IMD quintile", "IMD quintile"),
    "ethnic_group": ("inequality_by_ethnic_group", "ethnic group", "Ethnic group"),
    "sex": ("inequality_by_sex", "sex", "Sex"),
    "age_band": ("inequality_by_age_band", "age band", "Age band"),
}


def split_table(found: Sequence[MeasureInequality], split: str = "imd_quintile") -> PlanTable:
    """Each measure's rate by `split` (one of `SPLIT_TABLES`) with 95% limits, from the
    controlled counts: one row per measure and group."""
    key, words, heading = SPLIT_TABLES[split]
    rows = []
    for m in found:
        for g in m.splits[split]:
            e = g.estimate
            rows.append(
                (
                    m.measure.name,
                    g.label,
                    g.numerator,
                    g.denominator,
                    m.unit,
                    _round(e.value),
                    _round(e.lower),
                    _round(e.upper),
                )
            )
    return PlanTable(
        key=key,
        title=f"The key measures by {words}, with 95% confidence limits",
        columns=(
            Column("measure", "Measure"),
            Column("group", heading),
            Column("numerator", "Numerator", "count"),
            Column("denominator", "Denominator", "count"),
            Column("unit", "Unit"),
            Column("value", "Value", "number"),
            Column("lower", "Lower 95% limit", "number"),
            Column("upper", "Upper 95% limit", "number"),
        ),
        rows=tuple(rows),
        note=(
            "Rates are worked out from the disclosure-controlled counts shown; Wilson limits for "
            "percentages, Byar's or exact Poisson limits for rates."
        ),
    )


def quintile_table(found: Sequence[MeasureInequality]) -> PlanTable:
    """Each measure's rate by IMD quintile with 95% limits, from the controlled counts."""
    return split_table(found, "imd_quintile")


def standardised_table(found: Sequence[MeasureInequality]) -> PlanTable:
    """Each measure's directly age-standardised rate by IMD quintile (European Standard
    Population 2013) with 95% limits; its age-band counts are inputs, never shown."""
    rows = [
        (m.measure.name, label, m.unit, _round(e.value), _round(e.lower), _round(e.upper))
        for m in found
        for label, e in m.standardised
    ]
    return PlanTable(
        key="inequality_standardised",
        title=(
            "The key measures by IMD quintile, directly age-standardised to the European "
            "Standard Population 2013, with 95% confidence limits"
        ),
        columns=(
            Column("measure", "Measure"),
            Column("group", "IMD quintile"),
            Column("unit", "Unit"),
            Column("value", "Age-standardised value", "number"),
            Column("lower", "Lower 95% limit", "number"),
            Column("upper", "Upper 95% limit", "number"),
        ),
        rows=tuple(rows),
        note=(
            "Worked out, as OHID's Fingertips does (Dobson limits), from the measure's counts "
            "by quintile and five-year age band (ESP 2013, 19 bands), which are taken before "
            "disclosure control: a complex statistic from which no count can be read back, as "
            "in hoc inequalities; the age-band counts are never shown. A quintile with fewer "
            "than 10 events has no rate, nor does one whose population the plan does not show. "
            "For percentages the value is per 100 of the age-standardised population."
        ),
    )


def slope_table(found: Sequence[MeasureInequality]) -> PlanTable:
    """Each measure's SII and RII across IMD deciles with 95% limits (or why there is none)."""
    rows = []
    for m in found:
        s = m.slope
        rows.append(
            (
                m.measure.name,
                "percentage points" if m.measure.kind == "proportion" else m.unit,
                None if s is None else _round(s.sii),
                None if s is None else _round(s.sii_lower),
                None if s is None else _round(s.sii_upper),
                None if s is None else _round(s.rii),
                None if s is None else _round(s.rii_lower),
                None if s is None else _round(s.rii_upper),
                m.no_slope or "",
            )
        )
    return PlanTable(
        key="inequality_slope",
        title="Slope and relative index of inequality across IMD deciles",
        columns=(
            Column("measure", "Measure"),
            Column("unit", "SII unit"),
            Column("sii", "SII", "number"),
            Column("sii_lower", "SII lower 95% limit", "number"),
            Column("sii_upper", "SII upper 95% limit", "number"),
            Column("rii", "RII", "number"),
            Column("rii_lower", "RII lower 95% limit", "number"),
            Column("rii_upper", "RII upper 95% limit", "number"),
            Column("why_none", "Why no index"),
        ),
        rows=tuple(rows),
        note=(
            "SII: the fitted difference from the most to the least deprived end of the area "
            "(negative: higher at the most deprived end); RII: the least deprived end's fitted "
            "value over the most deprived end's (below 1: higher at the most deprived end). "
            "As OHID's Fingertips computes them, with simulated limits."
        ),
    )


def widest_gaps(found: Sequence[MeasureInequality], widest: int = WIDEST) -> list[str]:
    """Sentences naming the `widest` measures whose RII is furthest from 1 (by |log RII|), of
    those whose RII's 95% interval excludes 1; or one sentence saying no gap is beyond chance."""
    clear = [
        (m, m.slope)
        for m in found
        if m.slope is not None
        and m.slope.rii > 0
        and m.slope.rii_lower is not None
        and m.slope.rii_upper is not None
        and (m.slope.rii_upper < 1 or m.slope.rii_lower > 1)
    ]
    if not clear:
        if not any(m.slope is not None for m in found):
            return []
        return [
            "No measure shows a gap between the most and the least deprived ends of the area "
            "beyond what chance would give (every RII's 95% interval includes 1)."
        ]
    clear.sort(key=lambda pair: (-abs(math.log(pair[1].rii)), pair[0].measure.id))
    chosen = clear[:widest]
    sentences = [
        "The widest gaps between the most and the least deprived ends of the area, by the "
        "relative index of inequality (RII) across IMD deciles, are in "
        + _join([m.measure.words for m, _ in chosen])
        + "."
    ]
    for m, slope in chosen:
        deprived_higher = slope.rii < 1
        times = 1 / slope.rii if deprived_higher else slope.rii
        end = "most" if deprived_higher else "least"
        worse = deprived_higher == (m.measure.need == "higher")
        sentences.append(
            f"{_capital(m.measure.words)}: {times:.1f} times as high at the {end} deprived end "
            f"as at the other (RII {slope.rii:.2f}), "
            + ("worse for the most deprived." if worse else "in the most deprived's favour.")
        )
    return sentences


def _capital(words: str) -> str:
    return words[:1].upper() + words[1:]


def _join(words: Sequence[str]) -> str:
    """Words as a list in a sentence ("a", "a and b", "a, b and c"; "" for none)."""
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


# --- The inverse care law ----------------------------------------------------------------------


@dataclass(frozen=True)
class InverseCare:
    """The inverse-care tables (by IMD quintile, by locality) and their findings."""

    tables: tuple[PlanTable, ...]
    findings: tuple[str, ...]


def _ratio(top: Any, bottom: Any) -> float | None:
    """top / bottom of two controlled counts (None when either is suppressed, or no bottom)."""
    if top is None or bottom is None or not bottom:
        return None
    return float(top) / float(bottom)


def inverse_care(
    engine: Engine, frame: str, measures: Sequence[InequalityMeasure], *, rule: Any
) -> InverseCare:
    """Care per person in need by IMD quintile and by locality, as multiples of the least
    deprived quintile's, for each measure of care and the measure of need it `answers`.

    Care per person in need is the care measure's controlled numerator over the need
    measure's controlled numerator (care plans per person with two or more conditions); the
    need beside it is the need measure's rate from its controlled counts. 1 is the least
    deprived quintile's level; below 1, less care for the need than there."""
    by_id = {m.id: m for m in measures}
    cares = [m for m in measures if m.answers is not None and m.answers in by_id]
    if not cares:
        return InverseCare((), ())
    needs = list(dict.fromkeys(by_id[m.answers] for m in cares if m.answers))
    counts = {f"{n.id}_num": n.numerator for n in needs}
    counts |= {f"{n.id}_den": n.denominator for n in needs}
    counts |= {f"{c.id}_num": c.numerator for c in cares}
    found: dict[str, dict[Any, dict[str, Any]]] = {}
    for split in ("imd_quintile", "locality"):
        sql = measure_sql(frame, by=[split], counts=counts, rule=rule)
        names = [split, *counts]
        found[split] = {
            r[0]: dict(zip(names[1:], r[1:], strict=True))
            for r in engine.rows(f"SELECT * FROM {sql} m")
        }
    quintiles = sorted(q for q in found["imd_quintile"] if q is not None)
    if not quintiles:
        return InverseCare((), ())
    reference = quintiles[-1]
    ref = found["imd_quintile"][reference]

    def need_rate(n: InequalityMeasure, row: dict[str, Any]) -> float | None:
        share = _ratio(row[f"{n.id}_num"], row[f"{n.id}_den"])
        return None if share is None else share * (100 if n.kind == "proportion" else n.per)

    def row_of(label: str, row: dict[str, Any]) -> tuple[Any, ...]:
        cells: list[Any] = [label]
        for n in needs:
            rate, ref_rate = need_rate(n, row), need_rate(n, ref)
            cells += [_round(rate, 1), _round(_ratio(rate, ref_rate))]
        for c in cares:
            here = _ratio(row[f"{c.id}_num"], row[f"{c.answers}_num"])
            there = _ratio(ref[f"{c.id}_num"], ref[f"{c.answers}_num"])
            cells.append(_round(_ratio(here, there)))
        return tuple(cells)

    columns = [Column("group", "IMD quintile")]
    for n in needs:
        unit = "%" if n.kind == "proportion" else f"per {n.per:,}"
        columns += [
            Column(f"{n.id}_rate", f"{n.name} ({unit})", "number"),
            Column(
                f"{n.id}_index", f"Need ({n.words}) as a multiple of the least deprived's", "number"
            ),
        ]
    for c in cares:
        columns.append(
            Column(
                f"{c.id}_index",
                f"{_capital(c.words)} per person in need, as a multiple of the least deprived's",
                "number",
            )
        )
    reference_words = QUINTILES.get(reference, str(reference))
    note = (
        f"1 is the level of IMD quintile {reference_words}; care per person in need is the "
        "care count over the count of people in need (both disclosure-controlled); a * is a "
        "figure not shown because a count it rests on is suppressed."
    )
    by_quintile = PlanTable(
        key="inverse_care_by_quintile",
        title="Need and care for need by IMD quintile (the inverse care law)",
        columns=tuple(columns),
        rows=tuple(row_of(QUINTILES.get(q, str(q)), found["imd_quintile"][q]) for q in quintiles),
        note=note,
    )
    localities = sorted(k for k in found["locality"] if k is not None)
    by_locality = PlanTable(
        key="inverse_care_by_locality",
        title="Need and care for need by locality, against the least deprived IMD quintile",
        columns=(Column("group", "Locality"), *columns[1:]),
        rows=tuple(row_of(str(k), found["locality"][k]) for k in localities),
        note=note,
    )
    findings = _inverse_findings(by_quintile, by_locality, needs, cares, quintiles)
    return InverseCare((by_quintile, by_locality), tuple(findings))


def _inverse_findings(
    by_quintile: PlanTable,
    by_locality: PlanTable,
    needs: Sequence[InequalityMeasure],
    cares: Sequence[InequalityMeasure],
    quintiles: Sequence[int],
) -> list[str]:
    """The inverse care law in plain words, for the most deprived quintile and the locality
    with least care for its need."""
    if len(quintiles) < 2 or quintiles[0] == quintiles[-1]:
        return []
    first = by_quintile.rows[0]
    reference = QUINTILES.get(quintiles[-1], f"IMD quintile {quintiles[-1]}")
    most = "the most deprived fifth" if quintiles[0] == 1 else f"IMD quintile {quintiles[0]}"
    least = "the least deprived fifth" if quintiles[-1] == 5 else f"IMD quintile {reference}"
    sentences = []
    for n in needs:
        need_index = first[by_quintile.column(f"{n.id}_index")]
        if need_index is None:
            continue
        answering = [c for c in cares if c.answers == n.id]
        indices = [(c, first[by_quintile.column(f"{c.id}_index")]) for c in answering]
        less = [(c, i) for c, i in indices if i is not None and i < LESS_CARE]
        care_words = _join([f"{c.words} {i:.2f} times" for c, i in less])
        if need_index > 1 and less:
            sentences.append(
                f"The inverse care law: in {most} of the area, {n.words} are {need_index:.1f} "
                f"times as common as in {least}, yet per person in need that fifth gets "
                f"{care_words} what {least} gets. Care is lowest where need is highest."
            )
        elif need_index > 1:
            sentences.append(
                f"In {most} of the area, {n.words} are {need_index:.1f} times as common as in "
                f"{least}, and care per person in need is at least nine tenths of what "
                f"{least} gets in every measure of care: no sign of the inverse care law here."
            )
        else:
            sentences.append(
                f"Need ({n.words}) is not higher in {most} of the area than in {least}"
                + (f"; per person in need it gets {care_words} what {least} gets." if less else ".")
            )
        headline = answering[0] if answering else None
        if headline is None:
            continue
        at = by_locality.column(f"{headline.id}_index")
        ranked = sorted(
            (r for r in by_locality.rows if r[at] is not None), key=lambda r: (r[at], r[0])
        )
        if len(ranked) >= 2 and ranked[0][at] < LESS_CARE:
            low = ranked[0]
            sentences.append(
                f"Of the localities, {low[0]} has the least {headline.words} for its need: "
                f"{low[at]:.2f} times, per person in need, what {least} of the area gets."
            )
    return sentences


# --- The projected effect of the Core20PLUS5 order on the SII ----------------------------------


@dataclass(frozen=True)
class Projected:
    """One measure's SII now and after the next round of recalls in each order."""

    measure: InequalityMeasure
    in_gap: int | None
    reached: int | None
    favoured_plain: int | None
    favoured_proportionate: int | None
    now: float | None
    plain: float | None
    proportionate: float | None
    why_none: str | None


def ranked_gap_sql(
    frame: str,
    run_id: str,
    measure: InequalityMeasure,
    policy: ProportionatePolicy,
) -> str:
    """The people in `measure`'s gap (in its denominator, not its numerator), each with their
    place in the recall list's plain order and in the policy's order, whether they are
    favoured, and `reach`: how many the next round of recalls reaches.

    Plain order is the recall list's (`population.indicators.recall_list`) per person: their
    earliest open care gap's `overdue_since`, never done first; people with no open care gap
    come after everyone with one, by patient id. The policy's order gives a favoured person
    the recall list's head start (`recall.head_start_days`) and, among people tied, the
    favoured first."""
    run = sql_literal(run_id)
    favoured = policy.frame_favoured_sql("g")
    days = int(policy.recall.head_start_days)
    # an exact decimal on both engines, typed: a bare 0.2 is DECIMAL on Spark (and a DOUBLE
    # share would floor 100 * 0.29 to 28); engine_dialect.toml, decimal-literal
    share = f"CAST({float(policy.projection.capacity_share)!r} AS DECIMAL(10, 9))"
    return f"""(
    SELECT c.patient_id, c.favoured,
           row_number() OVER (ORDER BY c.off_list, c.due NULLS FIRST, c.patient_id) AS plain_rank,
           row_number() OVER (
               ORDER BY c.off_list, c.favoured_due NULLS FIRST, c.favoured DESC, c.patient_id
           ) AS favoured_rank,
           CAST(floor(count(*) OVER () * {share}) AS BIGINT) AS reach
    FROM (
        SELECT g.patient_id,
               CASE WHEN {favoured} THEN 1 ELSE 0 END AS favoured,
               CASE WHEN d.patient_id IS NULL THEN 1 ELSE 0 END AS off_list,
               d.due,
               CASE WHEN {favoured} THEN d.due - INTERVAL {days} DAYS ELSE d.due END
                   AS favoured_due
        FROM (SELECT * FROM {frame}
              WHERE ({measure.denominator}) > 0 AND ({measure.numerator}) = 0) g
        LEFT JOIN (
            SELECT patient_id,
                   CASE WHEN max(CASE WHEN overdue_since IS NULL THEN 1 ELSE 0 END) = 1
                        THEN NULL ELSE min(overdue_since) END AS due
            FROM care_gap WHERE run_id = {run} AND outcome = 'not met'
            GROUP BY patient_id
        ) d ON d.patient_id = g.patient_id{policy.frame_joins("g", run_id)}
    ) c
)"""


def projected_frame_sql(frame: str, ranked: str, order: str) -> str:
    """`frame` with `recalled` (1: reached by the next round of recalls in `order`, one of
    "plain_rank" / "favoured_rank"; 0 otherwise)."""
    return f"""(
    SELECT f.*, CASE WHEN r.{order} <= r.reach THEN 1 ELSE 0 END AS recalled
    FROM {frame} f LEFT JOIN {ranked} r ON r.patient_id = f.patient_id
)"""


def project(
    engine: Engine,
    frame: str,
    run_id: str,
    measures: Sequence[InequalityMeasure],
    policy: ProportionatePolicy,
    *,
    rule: Any,
) -> list[Projected]:
    """For each measure the policy's `[projection]` names (proportions only: a person's gap
    is 0 or 1), the SII across IMD deciles now, and after the next round of recalls in the
    plain and in the proportionate order, each person reached having their gap closed."""
    by_id = {m.id: m for m in measures}
    found = []
    for key in policy.projection.measures:
        measure = by_id.get(key)
        if measure is None or measure.kind != "proportion":
            continue
        ranked = ranked_gap_sql(frame, run_id, measure, policy)
        counts = measure_sql(
            ranked,
            counts={
                "in_gap": "1",
                "reached": "CASE WHEN plain_rank <= reach THEN 1 ELSE 0 END",
                "favoured_plain": "CASE WHEN plain_rank <= reach THEN favoured ELSE 0 END",
                "favoured_proportionate": (
                    "CASE WHEN favoured_rank <= reach THEN favoured ELSE 0 END"
                ),
            },
            rule=rule,
        )
        in_gap, reached, favoured_plain, favoured_proportionate = engine.rows(
            f"SELECT * FROM {counts} m"
        )[0]
        closed = measure.model_copy(
            update={"numerator": f"CASE WHEN recalled = 1 THEN 1 ELSE ({measure.numerator}) END"}
        )
        now, why = decile_slope(engine, frame, measure)
        plain, why_plain = decile_slope(
            engine, projected_frame_sql(frame, ranked, "plain_rank"), closed
        )
        proportionate, why_proportionate = decile_slope(
            engine, projected_frame_sql(frame, ranked, "favoured_rank"), closed
        )
        found.append(
            Projected(
                measure=measure,
                in_gap=in_gap,
                reached=reached,
                favoured_plain=favoured_plain,
                favoured_proportionate=favoured_proportionate,
                now=None if now is None else now.sii,
                plain=None if plain is None else plain.sii,
                proportionate=None if proportionate is None else proportionate.sii,
                why_none=why or why_plain or why_proportionate,
            )
        )
    return found


def projection_table(projected: Sequence[Projected], policy: ProportionatePolicy) -> PlanTable:
    """SII now, after plain order and after proportionate order, per measure."""
    share = policy.projection.capacity_share
    return PlanTable(
        key="core20plus5_projection",
        title="The Core20PLUS5 order's projected effect on the slope index of inequality",
        columns=(
            Column("measure", "Measure"),
            Column("in_gap", "People in the gap", "count"),
            Column("reached", "Reached by the next round of recalls", "count"),
            Column("favoured_plain", "Core20PLUS5 people reached, plain order", "count"),
            Column(
                "favoured_proportionate", "Core20PLUS5 people reached, Core20PLUS5 order", "count"
            ),
            Column("sii_now", "SII now (percentage points)", "number"),
            Column("sii_plain", "SII after plain order", "number"),
            Column("sii_proportionate", "SII after Core20PLUS5 order", "number"),
            Column("why_none", "Why no index"),
        ),
        rows=tuple(
            (
                p.measure.name,
                p.in_gap,
                p.reached,
                p.favoured_plain,
                p.favoured_proportionate,
                _round(p.now),
                _round(p.plain),
                _round(p.proportionate),
                p.why_none or "",
            )
            for p in projected
        ),
        note=(
            f"Assumes the next round of recalls reaches {share:.0%} of the people in each "
            "measure's gap, in the recall list's order (most overdue first) or with the "
            "Core20PLUS5 head start (tiers/proportionate.toml), and that everyone reached has "
            "the gap closed: an upper bound, since people decline, miss appointments or stay "
            "above target. A positive SII here means the measure is higher at the least "
            "deprived end."
        ),
    )


def _change(before: float, after: float) -> str:
    """How a slope index moves, in words (to one decimal place, as shown)."""
    if round(abs(after), 1) > round(abs(before), 1):
        return f"widen it to {after:.1f}"
    if round(abs(after), 1) < round(abs(before), 1):
        return f"narrow it to {after:.1f}"
    return f"leave it at {after:.1f}"


def projection_findings(projected: Sequence[Projected]) -> list[str]:
    """One sentence per measure: the SII now, and where each order would take it."""
    sentences = []
    for p in projected:
        if p.now is None or p.plain is None or p.proportionate is None:
            continue
        sentences.append(
            f"{_capital(p.measure.words)}: the slope index of inequality is {p.now:.1f} "
            "percentage points. If the next round of recalls closed the gap of everyone it "
            f"reaches, the plain order would {_change(p.now, p.plain)} and the Core20PLUS5 "
            f"order would {_change(p.now, p.proportionate)} (an upper bound: it assumes every "
            "recall closes the gap)."
        )
    return sentences
