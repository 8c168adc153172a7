"""Joint secondary suppression across the plan's tables (`plan_disclosure.protect_grid`): a
suppressed cell cannot be worked out by differencing, neither from its own table's margins
nor from totals another table of the same plan publishes; and the same attack does work on
tables protected one at a time, or by the rule alone."""

from __future__ import annotations

import itertools
import random
from collections.abc import Collection, Mapping
from dataclasses import replace

import numpy as np
from scipy.optimize import linprog

from houseofcare.commissioning.disclosure import (
    TOTAL,
    Cell,
    DisclosureRule,
    controlled_count,
    protect_table,
    with_margins,
)
from houseofcare.commissioning.plan_disclosure import protect_grid, protect_plan
from houseofcare.commissioning.plan_model import (
    CellSource,
    Column,
    GridCell,
    PlanSection,
    PlanTable,
)

#: The rule without rounding, so a published figure is the true count and the attack is exact.
NO_ROUNDING = DisclosureRule(suppress_at_or_below=7, round_to=1)

#: People with a need by domain (rows) and locality (columns).
NEEDS = {
    ("physical", "Leeds"): 20, ("physical", "York"): 3, ("physical", "Hull"): 30,
    ("mental", "Leeds"): 15, ("mental", "York"): 25, ("mental", "Hull"): 12,
    ("lonely", "Leeds"): 40, ("lonely", "York"): 50, ("lonely", "Hull"): 9,
}  # fmt: skip


def lines(cells: Collection[Cell]) -> list[tuple[list[Cell], Cell]]:
    """Every line of a grid with margins: (its interior cells, its total cell)."""
    rows = {r for r, _ in cells}
    columns = {c for _, c in cells}
    found = []
    for r in rows:
        found.append(([(r, c) for c in columns if c != TOTAL], (r, TOTAL)))
    for c in columns:
        found.append(([(r, c) for r in rows if r != TOTAL], (TOTAL, c)))
    return found


def difference(published: Mapping[Cell, int | None], cells: Collection[Cell]) -> dict[Cell, int]:
    """The differencing attack: a line with one unknown gives it (its total minus the known
    cells, or the cells' sum for a hidden total); what is recovered is used again, until
    nothing more comes out."""
    known = {cell: v for cell, v in published.items() if v is not None}
    recovered: dict[Cell, int] = {}
    progress = True
    while progress:
        progress = False
        for members, total in lines(cells):
            unknown = [c for c in [*members, total] if c not in known]
            if len(unknown) != 1:
                continue
            (cell,) = unknown
            if cell == total:
                value = sum(known[c] for c in members)
            else:
                value = known[total] - sum(known[c] for c in members if c != cell)
            known[cell] = recovered[cell] = value
            progress = True
    return recovered


def bounds(published: Mapping[Cell, int | None], cells: Collection[Cell]) -> dict[Cell, tuple]:
    """The strongest attack on a grid: the least and most each hidden cell can be given every
    published line (cells >= 0), by linear programming."""
    hidden = [c for c in cells if published.get(c) is None]
    index = {c: i for i, c in enumerate(hidden)}
    equations, targets = [], []
    for members, total in lines(cells):
        row = np.zeros(len(hidden))
        constant = 0.0
        for cell in [*members, total]:
            sign = -1.0 if cell == total else 1.0
            if cell in index:
                row[index[cell]] += sign
            else:
                constant += sign * float(published[cell] or 0)
        if row.any():
            equations.append(row)
            targets.append(-constant)
    found = {}
    for cell, i in index.items():
        goal = np.zeros(len(hidden))
        goal[i] = 1
        least = linprog(goal, A_eq=equations or None, b_eq=targets or None, bounds=(0, None))
        most = linprog(-goal, A_eq=equations or None, b_eq=targets or None, bounds=(0, None))
        high = float("inf") if most.status == 3 else round(-most.fun, 6)  # 3: unbounded
        found[cell] = (round(least.fun, 6), high)
    return found


def controlled(table: Mapping[Cell, int]) -> dict[Cell, int | None]:
    """Every cell of the table and its margins, controlled by the rule (no rounding)."""
    return {cell: controlled_count(v, NO_ROUNDING) for cell, v in with_margins(table).items()}


def test_the_rule_alone_gives_a_suppressed_cell_back_from_its_row_total() -> None:
    published = controlled(NEEDS)
    assert published[("physical", "York")] is None
    assert difference(published, published)[("physical", "York")] == 3


def test_tables_protected_one_at_a_time_leak_through_each_others_totals() -> None:
    """Table 1: needs by domain and locality with each domain's total, each domain's row
    protected as a one-way table. Table 2: people by locality, protected on its own. Each is
    safe alone; together, York's total from table 2 gives back physical needs in York."""
    full = with_margins(NEEDS)
    table_1: dict[Cell, int | None] = {}
    for domain in ("physical", "mental", "lonely"):
        row = protect_table(
            {(c, "n"): NEEDS[(domain, c)] for c in ("Leeds", "York", "Hull")}, NO_ROUNDING
        )
        for c in ("Leeds", "York", "Hull"):
            table_1[(domain, c)] = row.value(c, "n")
        table_1[(domain, TOTAL)] = row.value(TOTAL, "n")
    localities = protect_table(
        {(c, "n"): full[(TOTAL, c)] for c in ("Leeds", "York", "Hull")}, NO_ROUNDING
    )
    table_2 = {(TOTAL, c): localities.value(c, "n") for c in ("Leeds", "York", "Hull", TOTAL)}
    assert table_1[("physical", "York")] is None
    assert table_1[("physical", "Leeds")] is None  # the row's own secondary suppression
    assert ("physical", "York") not in difference(table_1, list(table_1))  # safe alone
    plan = {**table_1, **table_2}
    recovered = difference(plan, full)
    assert recovered[("physical", "York")] == 3  # with the rounding turned off: exact


def test_joint_protection_gives_nothing_back() -> None:
    cells = {cell: controlled_count(v, NO_ROUNDING) for cell, v in with_margins(NEEDS).items()}
    protected = protect_grid(cells)
    assert protected.cells[("physical", "York")] is None
    assert protected.secondary  # more than the primary cell had to go
    assert difference(protected.cells, cells) == {}
    low, high = bounds(protected.cells, cells)[("physical", "York")]
    assert low < 3 < high
    # the cheapest rectangle: mental health × Leeds (25 + 20 + 15)
    assert protected.secondary == {("mental", "York"), ("physical", "Leeds"), ("mental", "Leeds")}


def test_margins_only_tables_keep_a_small_margin_hidden() -> None:
    """Referrals attended, published only as totals by need and by locality: York's 3 would
    be the grand total minus Leeds's, so one of those goes too."""
    attended = {("lonely", "Leeds"): 8, ("physical", "York"): 3}
    cells = controlled(attended)
    margins = [cell for cell in cells if TOTAL in cell]
    naive = {cell: cells[cell] for cell in margins}
    assert difference(naive, cells)[(TOTAL, "York")] == 3
    protected = protect_grid(cells, published=margins)
    shown = {cell: protected.cells[cell] for cell in margins}
    primary = {cell for cell, v in cells.items() if v is None}
    assert not set(difference(shown, cells)) & primary
    for cell in ((TOTAL, "York"), ("physical", TOTAL)):
        low, high = bounds(shown, cells)[cell]
        assert low < high


def test_random_grids_never_give_back_a_suppressed_cell() -> None:
    """Many random grids, some published whole and some as margins only: no primary cell
    can be narrowed to one value by any combination of the published lines."""
    chance = random.Random(14)
    for n in range(40):
        rows = [f"r{i}" for i in range(chance.randint(1, 4))]
        columns = [f"c{j}" for j in range(chance.randint(1, 4))]
        table = {
            (r, c): chance.choice([0, 0, 1, 2, 3, 5, 7, 8, 9, 12, 20, 40])
            for r, c in itertools.product(rows, columns)
        }
        cells = controlled(table)
        published = [cell for cell in cells if TOTAL in cell] if n % 2 else list(cells)
        protected = protect_grid(cells, published=published)
        shown = {cell: protected.cells[cell] for cell in published}
        found = bounds(shown, cells)
        for cell, value in with_margins(table).items():
            if cells[cell] is None:
                low, high = found[cell]
                assert low < high, (n, cell, value, table)


def test_a_small_cell_is_never_told_small_by_a_rectangle_of_small_cells() -> None:
    """Four small cells make the cheapest rectangle (they cost nothing to hide) but then
    each is at most 2 more than it is: `protect_grid` pays for a rectangle of shown counts
    instead, so every small cell can be more than the threshold."""
    table = {
        ("a", "x"): 1, ("a", "y"): 1, ("a", "z"): 30,
        ("b", "x"): 1, ("b", "y"): 1, ("b", "z"): 40,
        ("c", "x"): 20, ("c", "y"): 25, ("c", "z"): 50,
    }  # fmt: skip
    cells = controlled(table)
    protected = protect_grid(cells)
    found = bounds(protected.cells, cells)
    for cell, value in with_margins(table).items():
        if cells[cell] is None:
            low, high = found[cell]
            assert low <= value < high
            assert high >= NO_ROUNDING.suppress_at_or_below + 1, (cell, low, high)


def test_linked_grids_are_protected_together() -> None:
    """People by domain × locality, and the same people by domain × age: two grids sharing
    each domain's total. Protected apart, York's 3 comes back through the other grid's
    domain total; `protect_plan` hides the shared total in both and nothing comes back."""

    by_age = {
        ("physical", "young"): 20, ("physical", "old"): 33,
        ("mental", "young"): 30, ("mental", "old"): 22,
        ("lonely", "young"): 49, ("lonely", "old"): 50,
    }  # fmt: skip
    grids = {"locality": controlled(NEEDS), "age": controlled(by_age)}
    links = [
        (GridCell("locality", d, TOTAL), GridCell("age", d, TOTAL))
        for d in ("physical", "mental", "lonely")
    ] + [(GridCell("locality", TOTAL, TOTAL), GridCell("age", TOTAL, TOTAL))]

    # the locality table shows every cell but the domains' totals; the age table shows all
    shown = {
        "locality": [c for c in grids["locality"] if c[1] != TOTAL or c[0] == TOTAL],
        "age": list(grids["age"]),
    }

    def table(grid: str) -> PlanTable:
        return PlanTable(
            key=grid,
            title=grid,
            columns=(Column("n", "n", "count"),),
            rows=tuple((grids[grid][c],) for c in shown[grid]),
            grid_cells=tuple(
                CellSource(i, "n", (GridCell(grid, *c),)) for i, c in enumerate(shown[grid])
            ),
        )

    def published(tables: tuple[PlanTable, ...]) -> dict[Cell, int | None]:
        """What a reader sees of the locality grid: its own table, and the age table's
        domain totals (the same people)."""
        seen: dict[Cell, int | None] = {}
        for t in tables:
            for source in t.grid_cells:
                g = source.cells[0]
                if t.key == "locality" or g.column == TOTAL:
                    seen[(g.row, g.column)] = t.rows[source.row][0]
        return seen

    apart = (
        replace(
            table("locality"),
            rows=tuple(
                (protect_grid(grids["locality"], shown["locality"]).cells[c],)
                for c in shown["locality"]
            ),
        ),
        replace(
            table("age"), rows=tuple((protect_grid(grids["age"]).cells[c],) for c in shown["age"])
        ),
    )
    assert difference(published(apart), grids["locality"])[("physical", "York")] == 3
    section = PlanSection(key="s", title="s", tables=(table("locality"), table("age")))
    (protected,) = protect_plan([section], grids, links)
    seen = published(protected.tables)
    assert ("physical", "York") not in difference(seen, grids["locality"])
    low, high = bounds(seen, grids["locality"])[("physical", "York")]
    assert low < 3 < high
