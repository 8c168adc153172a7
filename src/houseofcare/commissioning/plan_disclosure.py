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

from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Final

from houseofcare.commissioning.disclosure import TOTAL, Cell, bridges
from houseofcare.commissioning.plan_model import Area, GridCell, PlanSection, PlanTable

#: What a section's message starts with when nothing in it can be shown.
TOO_SMALL: Final = (
    "Too few people in {area} for any figure to be shown without risking identifying someone"
)
#: What a section says when findings were left out because their figures are hidden.
LEFT_OUT: Final = (
    "Some findings are left out here: their figures would let a count hidden elsewhere in "
    "the plan be worked out."
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


def _direction(cell: Cell) -> int:
    """+1 or -1: how a cell moves when its line equations are written as sums that are 0
    (a total counts against its line), so a rectangle's corners move alternately."""
    return (-1 if cell[0] == TOTAL else 1) * (-1 if cell[1] == TOTAL else 1)


def _against(cell: Cell, others: list[Cell]) -> list[Cell]:
    """Of a rectangle's three other corners `others` ((r2, c), (r, c2), (r2, c2)), those that
    go down when `cell` goes up: moving along the rectangle keeps every published line, so
    the cell can be as large as its value plus the least of these."""
    signs = (-1, -1, 1)
    return [
        o for o, s in zip(others, signs, strict=True) if s * _direction(o) * _direction(cell) < 0
    ]


def _wide(cells: Mapping[Cell, int | None], cell: Cell, others: list[Cell]) -> bool:
    """A rectangle that keeps a suppressed cell's range wide: every corner that goes down
    as the cell goes up is a count the rule shows (so more than the threshold), and every
    corner is more than 0; a reader can then put the cell anywhere from one less than it is
    to above the threshold, and cannot tell it is small."""
    if any(cells.get(o) == 0 or o not in cells for o in others):
        return False
    return all(cells[o] is not None for o in _against(cell, others))


def protect_grid(
    cells: Mapping[Cell, int | None],
    published: Collection[Cell] | None = None,
    protect: Collection[Cell] = (),
) -> ProtectedGrid:
    """Secondary suppression for every table cut from one grid, jointly.

    `cells` holds the controlled value of every cell of the grid, margins included (None: a
    count of 1-7 suppressed by the rule); `published` the cells that some table of the plan
    shows (default: all); `protect` published cells another grid of the plan hides (the same
    people counted there), which must be hidden here too and not worked out either. A
    suppressed cell is derivable exactly when it is a bridge of the graph of lines joined by
    hidden cells, where unpublished cells are hidden by nature. Each suppressed cell gets a
    rectangle of three more hidden cells: the cheapest that keeps its range wide (`_wide`)
    unless it already has one, else the cheapest at all (published cells cost their value,
    hidden ones nothing; a published zero is never used). A cell without a rectangle has its
    whole row and column hidden. Refuses to return a grid that still gives back a suppressed
    cell.
    """
    shown = set(cells) if published is None else set(published) & set(cells)
    rows = list(dict.fromkeys(r for r, _ in cells))
    columns = list(dict.fromkeys(c for _, c in cells))
    primary = sorted((cell for cell, v in cells.items() if v is None), key=str)
    forced = sorted((set(protect) & set(cells)) - set(primary), key=str)
    must = set(primary) | set(forced)
    hidden = must | (set(cells) - shown)

    def corners(cell: Cell) -> list[list[Cell]]:
        r, c = cell
        return [
            [(r2, c), (r, c2), (r2, c2)]
            for r2 in rows
            for c2 in columns
            if r2 != r and c2 != c and all(o in cells for o in [(r2, c), (r, c2), (r2, c2)])
        ]

    for cell in [*primary, *forced]:
        small = cell in primary
        if small and any(set(o) <= hidden and _wide(cells, cell, o) for o in corners(cell)):
            continue
        if not small and cell not in bridges(hidden):
            continue
        best: tuple[tuple[bool, int], list[Cell]] | None = None
        for others in corners(cell):
            if any(o not in hidden and cells[o] == 0 for o in others):
                continue
            cost = sum(int(cells[o] or 0) for o in others if o not in hidden)
            rank = (not (small and _wide(cells, cell, others)), cost)
            if best is None or rank < best[0]:
                best = (rank, others)
        if best is not None and (best[0][0] and cell not in bridges(hidden)):
            continue  # no wide rectangle exists, and the cell is already on a cycle
        if best is None:
            hidden |= {(cell[0], x) for x in columns if (cell[0], x) in cells}
            hidden |= {(x, cell[1]) for x in rows if (x, cell[1]) in cells}
        else:
            hidden |= set(best[1])
    while leaking := bridges(hidden) & must:
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
    if bridges(hidden) & must:  # unreachable; refuse to publish rather than leak
        raise AssertionError("suppressed cells still derivable")
    protected = {cell: None if cell in hidden else value for cell, value in cells.items()}
    secondary = frozenset((hidden & shown) - set(primary))
    return ProtectedGrid(protected, secondary)


def protect_plan(
    sections: Sequence[PlanSection],
    grids: Mapping[str, Mapping[Cell, int | None]],
    links: Sequence[tuple[GridCell, GridCell]] = (),
) -> tuple[PlanSection, ...]:
    """Every table of the plan protected together: the sections as built, with every value
    hidden (None) that shows or is worked out from a grid cell the joint protection hides,
    and every finding left out that states or adds up such a cell.

    Each grid is protected with every cell some table publishes (`PlanTable.grid_cells`, in
    any section); two linked cells count the same people, so a cell published in one grid
    is known in the other, and a cell hidden in one is hidden and protected in the other,
    until no grid hides more (hidden cells only grow, so this ends)."""
    published: dict[str, set[Cell]] = {name: set() for name in grids}
    for section in sections:
        for table in section.tables:
            for source in table.grid_cells:
                for g in source.cells:
                    published.setdefault(g.grid, set()).add((g.row, g.column))
        for _, found in section.finding_cells:
            for g in found:
                published.setdefault(g.grid, set()).add((g.row, g.column))
    unknown = set(published) - set(grids)
    if unknown:
        raise KeyError(f"tables publish cells of grids the plan has not made: {sorted(unknown)}")
    usable = [
        (a, b)
        for a, b in links
        if (a.row, a.column) in grids.get(a.grid, {}) and (b.row, b.column) in grids.get(b.grid, {})
    ]
    changed = True
    while changed:
        # a cell is known when some table shows it or its grid's published lines give it (an
        # unpublished total of published cells); its twin in another grid is then known too
        changed = False
        known = {}
        for name, cells in grids.items():
            shown = published[name] & set(cells)
            unknown = {c for c, v in cells.items() if v is None} | (set(cells) - shown)
            known[name] = shown | {c for c in bridges(unknown) if cells[c] is not None}
        for a, b in usable:
            for one, other in ((a, b), (b, a)):
                there = (other.row, other.column)
                if (one.row, one.column) in known[one.grid] and there not in published[other.grid]:
                    published[other.grid].add(there)
                    changed = True
    forced: dict[str, set[Cell]] = {name: set() for name in grids}
    while True:
        result = {
            name: protect_grid(cells, published[name], forced[name])
            for name, cells in grids.items()
        }
        grown = False
        for a, b in usable:
            hidden_a = result[a.grid].cells[(a.row, a.column)] is None
            hidden_b = result[b.grid].cells[(b.row, b.column)] is None
            if hidden_a == hidden_b:
                continue
            for g in (a, b):
                if (g.row, g.column) not in forced[g.grid]:
                    forced[g.grid].add((g.row, g.column))
                    grown = True
        if not grown:
            break

    def hidden(found: Iterable[GridCell]) -> bool:
        # a cell the grid does not have is a count of 0, shown as 0
        return any(result[g.grid].cells.get((g.row, g.column), 0) is None for g in found)

    protected = []
    for section in sections:
        tables = []
        for table in section.tables:
            rows = [list(row) for row in table.rows]
            for source in table.grid_cells:
                if hidden(source.cells):
                    rows[source.row][table.column(source.column)] = None
            tables.append(replace(table, rows=tuple(tuple(row) for row in rows)))
        dropped = {i for i, found in section.finding_cells if hidden(found)}
        findings = tuple(f for i, f in enumerate(section.findings) if i not in dropped)
        if dropped:
            findings += (LEFT_OUT,)
        protected.append(
            replace(section, tables=tuple(tables), findings=findings, finding_cells=())
        )
    return tuple(protected)


def rate_of(part: int | None, whole: int | None, per: int = 100) -> float | None:
    """A percentage (or a rate `per` people) worked out from two controlled counts, to one
    decimal place: None when either is not shown or the whole is 0, so a figure never rests
    on a count the plan hides."""
    if part is None or not whole:
        return None
    return round(per * part / whole, 1)


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
