"""The plan's count grids: the two-way tables (with their margins) that the plan's tables are
cut from, kept on the context so every section that publishes the same people split another
way publishes cells of the same grid, and the plan protects them together
(`plan_disclosure.protect_plan`; docs/commissioning.md, "Small areas and disclosure control").

A grid is named after what it counts and how it is split: `people_grid(ctx, expression,
row, column)` counts a `plan_people` expression (a person's 0/1, or a number such as their
emergency admissions) by a row dimension (locality, IMD quintile) and a column (a key such as
level, or none: one column). Two sections asking for the same count get the same grid, so the
care section's people with a care plan by locality and the inequalities section's by IMD
quintile are one population. Grids that count the same thing split two ways share their
grand total and, with the same rows, their row totals: `links` says so, and a level's count
is the people of the level-by-locality grid (`LEVEL_COUNT`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from houseofcare.commissioning.disclosure import TOTAL, Cell
from houseofcare.commissioning.measures import DIMENSIONS, measure_sql
from houseofcare.commissioning.plan_disclosure import grid_cells
from houseofcare.commissioning.plan_model import GridCell, PlanContext

#: The column key of a one-column grid (a count split one way only).
ALL: Final = "all"
#: The count of everyone, and of the people at one level, as `inequality_measures.toml`
#: writes them: a measure counting people at a level counts cells of the level grid.
EVERYONE: Final = "1"
LEVEL_COUNT: Final = "CASE WHEN level = {level} THEN 1 ELSE 0 END"


def grouped(
    ctx: PlanContext, units: str, groups: Sequence[str], counts: Mapping[str, str]
) -> dict[tuple[Any, ...], dict[str, int | None]]:
    """Controlled counts per group (`measure_sql` with the plan's rule), keyed by the group's
    values in `groups` order."""
    by = [g for g in groups if g in DIMENSIONS]
    keys = [g for g in groups if g not in DIMENSIONS]
    sql = measure_sql(units, by=by, keys=keys, counts=dict(counts), rule=ctx.rule)
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


def grids(
    ctx: PlanContext, units: str, row: Sequence[str], column: str, counts: Mapping[str, str]
) -> dict[str, dict[Cell, int | None]]:
    """One grid per count: rows are the values of the `row` columns (a tuple when several),
    columns the values of `column`, with both margins and the grand total, each a
    controlled count of its own (four queries)."""

    def rkey(values: tuple[Any, ...]) -> Any:
        return values if len(row) > 1 else values[0]

    interior = grouped(ctx, units, [*row, column], counts)
    rows = grouped(ctx, units, row, counts)
    columns = grouped(ctx, units, [column], counts)
    # with no units at all the grand total's sum is NULL, which is not a suppressed count
    total = grouped(ctx, units, [], counts)[()] if rows else dict.fromkeys(counts, 0)
    return {
        name: grid_cells(
            {(rkey(k[:-1]), k[-1]): v[name] for k, v in interior.items()},
            {rkey(k): v[name] for k, v in rows.items()},
            {k[0]: v[name] for k, v in columns.items()},
            total[name],
        )
        for name in counts
    }


def grid_name(expression: str, row: str, column: str | None = None) -> str:
    """The name of the grid counting `expression` over `plan_people` by `row` × `column`."""
    return f"people[{expression}] by {row} × {column or ALL}"


def people_grids(
    ctx: PlanContext, expressions: Sequence[str], row: str, column: str | None = None
) -> dict[str, str]:
    """Each expression's grid over `plan_people` by `row` (a dimension) and `column` (a key
    of the frame, or None: one column), made once per plan and kept in `ctx.grids`;
    expression → the grid's name."""
    names = {e: grid_name(e, row, column) for e in expressions}
    wanted = list(dict.fromkeys(e for e, name in names.items() if name not in ctx.grids))
    if wanted:
        units = f"(SELECT p.*, '{ALL}' AS {ALL} FROM plan_people p)"
        counts = {f"c{i}": e for i, e in enumerate(wanted)}
        made = grids(ctx, units, [row], column or ALL, counts)
        for i, e in enumerate(wanted):
            ctx.grids[names[e]] = made[f"c{i}"]
    return names


def people_grid(ctx: PlanContext, expression: str, row: str, column: str | None = None) -> str:
    """One expression's grid (`people_grids`): its name."""
    return people_grids(ctx, [expression], row, column)[expression]


def register(ctx: PlanContext, name: str, cells: dict[Cell, int | None]) -> str:
    """A grid a section made itself (its own units), kept for the plan's joint protection."""
    ctx.grids[name] = cells
    return name


def link(ctx: PlanContext, one: GridCell, other: GridCell) -> None:
    """Two cells that count the same people: the plan hides both or neither."""
    if one.grid in ctx.grids and other.grid in ctx.grids:
        ctx.links.append((one, other))


def links(ctx: PlanContext) -> list[tuple[GridCell, GridCell]]:
    """Every link of the plan: those sections declared, and those the people grids imply.

    Grids of one expression split by different columns share every row total and the grand
    total; split by different rows they share the grand total; a count of the people at one
    level is the level grid's column (by locality) or its column total."""
    found = list(ctx.links)
    parsed = []
    for name in ctx.grids:
        if name.startswith("people[") and "] by " in name:
            expression, _, split = name[len("people[") :].rpartition("] by ")
            row, _, column = split.partition(" × ")
            parsed.append((name, expression, row, column))
    for i, (a, ea, ra, _) in enumerate(parsed):
        for b, eb, rb, _ in parsed[i + 1 :]:
            if ea != eb:
                continue
            found.append((GridCell(a, TOTAL, TOTAL), GridCell(b, TOTAL, TOTAL)))
            if ra == rb:
                rows = {r for r, _ in ctx.grids[a] if r != TOTAL} | {
                    r for r, _ in ctx.grids[b] if r != TOTAL
                }
                found += [(GridCell(a, r, TOTAL), GridCell(b, r, TOTAL)) for r in rows]
    by_level = {(e, r): n for n, e, r, c in parsed if c == "level"}
    for name, expression, row, column in parsed:
        if column != ALL:
            continue
        for level in range(4):
            if expression != LEVEL_COUNT.format(level=level):
                continue
            for (e, r), level_grid in by_level.items():
                if e != EVERYONE:
                    continue
                found.append((GridCell(name, TOTAL, TOTAL), GridCell(level_grid, TOTAL, level)))
                if r == row:
                    rows = {k for k, _ in ctx.grids[name] if k != TOTAL}
                    found += [
                        (GridCell(name, k, TOTAL), GridCell(level_grid, k, level)) for k in rows
                    ]
    return found
