"""Disclosure control across the commissioning plan's tables, and the words for an area too
small to show anything.

`measures.measure_sql` controls every count where it is made (1-7 suppressed, others rounded
to 5). That is not enough for a plan: its tables share margins. Needs by domain × locality
publish each domain's total and each locality's; referrals by need domain and referrals by
locality are the two margins of one grid and share its grand total. A suppressed cell alone
in a line whose total is published somewhere in the plan is given back by subtraction.

So a part hands `protect_grid` every cell of the two-way grid its tables are cut from, the
margins included (each already controlled by `measure_sql`), and says which cells some table
publishes. A cell no table publishes is unknown to a reader, so it is a free edge of the
suppressed-cell graph (`disclosure.bridges`); every suppressed cell (1-7) still derivable
from the published lines gets the cheapest rectangle of published cells, the method
`disclosure.protect_table` uses for one table (shared/reference/disclosure-control.md, 2).
Every table of the plan is then read from the one protected grid, so the tables agree on
which cells are hidden and none gives back what another hides.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Final

from houseofcare.commissioning.disclosure import TOTAL, Cell, bridges
from houseofcare.commissioning.plan_model import Area, PlanSection, PlanTable

#: What a section's message starts with when nothing in it can be shown.
TOO_SMALL: Final = (
    "Too few people in {area} for any figure to be shown without risking identifying someone"
)


@dataclass(frozen=True)
class ProtectedGrid:
    """The grid ready for the plan's tables: every cell (None: not shown), and which cells
    were hidden only to protect others."""

    cells: dict[Cell, int | None]
    secondary: frozenset[Cell]

    def value(self, row: Hashable, column: Hashable) -> int | None:
        return self.cells.get((row, column), 0)


def grid_cells(
    interior: Mapping[Cell, int | None],
    row_totals: Mapping[Hashable, int | None],
    column_totals: Mapping[Hashable, int | None],
    total: int | None,
) -> dict[Cell, int | None]:
    """One grid from controlled counts: interior cells, each row's total, each column's
    total and the grand total (`TOTAL` keys); a cell with no row in the query is 0."""
    rows = list(dict.fromkeys([*(r for r, _ in interior), *row_totals]))
    columns = list(dict.fromkeys([*(c for _, c in interior), *column_totals]))
    cells: dict[Cell, int | None] = {}
    for r in rows:
        for c in columns:
            cells[(r, c)] = interior.get((r, c), 0)
        cells[(r, TOTAL)] = row_totals.get(r, 0)
    for c in columns:
        cells[(TOTAL, c)] = column_totals.get(c, 0)
    cells[(TOTAL, TOTAL)] = total
    return cells


def protect_grid(
    cells: Mapping[Cell, int | None], published: Collection[Cell] | None = None
) -> ProtectedGrid:
    """Secondary suppression for every table cut from one grid, jointly.

    `cells` holds the controlled value of every cell of the grid, margins included (None: a
    count of 1-7 suppressed by the rule); `published` the cells that some table of the plan
    shows (default: all). A suppressed cell is derivable exactly when it is a bridge of the
    graph of lines joined by hidden cells, where unpublished cells are hidden by nature; each
    such cell gets the cheapest rectangle of three more cells (published ones cost their
    value, hidden ones nothing; a published zero is never used). A cell without a rectangle
    has its whole row and column hidden. Refuses to return a grid that still gives back a
    suppressed cell.
    """
    shown = set(cells) if published is None else set(published) & set(cells)
    rows = list(dict.fromkeys(r for r, _ in cells))
    columns = list(dict.fromkeys(c for _, c in cells))
    primary = sorted((cell for cell, v in cells.items() if v is None), key=str)
    hidden = set(primary) | (set(cells) - shown)
    for cell in primary:
        if cell not in bridges(hidden):
            continue
        r, c = cell
        best: tuple[int, list[Cell]] | None = None
        for r2 in rows:
            for c2 in columns:
                if r2 == r or c2 == c:
                    continue
                others = [(r2, c), (r, c2), (r2, c2)]
                if any(o not in cells or (o not in hidden and cells[o] == 0) for o in others):
                    continue
                cost = sum(int(cells[o] or 0) for o in others if o not in hidden)
                if best is None or cost < best[0]:
                    best = (cost, others)
        if best is None:
            hidden |= {(r, x) for x in columns if (r, x) in cells}
            hidden |= {(x, c) for x in rows if (x, c) in cells}
        else:
            hidden |= set(best[1])
    while leaking := bridges(hidden) & set(primary):
        # should a suppressed cell still be derivable (a line hidden whole where no rectangle
        # was found can leave one), hide its whole lines; at the last hide every cell: rows
        # and columns both include the totals, so the hidden graph is complete, bridge-free
        grown = hidden | {
            other
            for cell in leaking
            for other in cells
            if other[0] == cell[0] or other[1] == cell[1]
        }
        hidden = grown if grown != hidden else set(cells)
    if bridges(hidden) & set(primary):  # unreachable; refuse to publish rather than leak
        raise AssertionError("suppressed cells still derivable")
    protected = {cell: None if cell in hidden else value for cell, value in cells.items()}
    secondary = frozenset((hidden & shown) - set(primary))
    return ProtectedGrid(protected, secondary)


def too_small_message(area: Area, why: str) -> str:
    """The plain words a section shows instead of its tables when nothing in it survives."""
    return f"{TOO_SMALL.format(area=area.name)}: {why}"


def nothing_shown(tables: Iterable[PlanTable]) -> bool:
    """True when some count of the tables was suppressed and none is shown as more than 0:
    the area is too small for any figure of them (all zeros is not "too small": it is 0)."""
    suppressed = False
    for table in tables:
        counts = [i for i, c in enumerate(table.columns) if c.kind == "count"]
        for row in table.rows:
            for i in counts:
                if row[i] is None:
                    suppressed = True
                elif row[i]:
                    return False
    return suppressed


def unless_too_small(
    section: PlanSection,
    area: Area,
    why: str,
    *,
    keep: tuple[PlanTable, ...] = (),
    keep_findings: tuple[str, ...] = (),
) -> PlanSection:
    """The section, or (when `nothing_shown` of its tables) the same section with the message
    in place of its findings, tables and charts, so the plan says why instead of printing
    tables of stars. `keep` (with `keep_findings`) are tables about the area's whole
    population, such as how many people have a care plan at all: they go first either way
    and are not judged, because they say why the rest may be small."""
    if not nothing_shown(section.tables):
        return replace(
            section,
            tables=(*keep, *section.tables),
            findings=(*keep_findings, *section.findings),
        )
    return replace(
        section,
        findings=keep_findings,
        tables=keep,
        charts=(),
        message=too_small_message(area, why),
    )
