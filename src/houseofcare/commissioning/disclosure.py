"""Statistical disclosure control for counts that leave the identifiable zone.

Rule (NHS Digital HES/ECDS sub-national practice, shared/reference/disclosure-control.md),
held as data in `disclosure.toml` so a board can apply its own: a count of 1-7 is suppressed;
any other count is rounded to the nearest 5. Zero stays zero. Totals are computed from the
unrounded counts and then rounded. Rates computed from controlled counts use the controlled
values, so a rate cannot be used to recover a suppressed count.

Rounding alone leaves a table with margins open to differencing: a row with one suppressed
cell and a published total gives the cell back (to within the rounding). So tables published
with their totals also get **secondary suppression** (`protect_table`): every suppressed cell
is put on a cycle of suppressed cells (the "rectangle" method), so none is a bridge of the
suppressed-cell graph and none can be derived from the published lines; `bridges` checks it.
"""

from __future__ import annotations

import tomllib
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

SUPPRESS_AT_OR_BELOW = 7
ROUND_TO = 5

#: The key of a table's margins: `(row, TOTAL)`, `(TOTAL, column)` and `(TOTAL, TOTAL)`.
TOTAL: Final = "__total__"


class DisclosureRule(BaseModel):
    """The rule as data (`commissioning/disclosure.toml`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = Field(1, ge=1, le=1)
    #: Counts from 1 to this (inclusive) are suppressed.
    suppress_at_or_below: int = Field(SUPPRESS_AT_OR_BELOW, ge=0)
    #: Every other count is rounded to the nearest multiple of this (1 = no rounding).
    round_to: int = Field(ROUND_TO, ge=1)
    #: What a suppressed cell is shown as, and what the tables' notes say it means.
    symbol: str = "*"


@cache
def packaged_rule() -> DisclosureRule:
    """The rule shipped in `disclosure.toml` (checked against its schema)."""
    text = (files("houseofcare.commissioning") / "disclosure.toml").read_text()
    return DisclosureRule.model_validate(tomllib.loads(text))


def controlled_count_sql(column: str, rule: DisclosureRule | None = None) -> str:
    """SQL for the disclosure-controlled value of an integer count column (NULL = suppressed)."""
    rule = rule or packaged_rule()
    # `/ 5`, not `/ 5.0`: `/` is float division on both engines, and a decimal literal would
    # make the quotient DECIMAL on Spark only (engine_dialect.toml, decimal-literal)
    return (
        f"CASE WHEN {column} = 0 THEN 0 "
        f"WHEN {column} <= {rule.suppress_at_or_below} THEN NULL "
        f"ELSE CAST(round({column} / {rule.round_to}) * {rule.round_to} AS BIGINT) END"
    )


def controlled_count(value: int, rule: DisclosureRule | None = None) -> int | None:
    """The same rule in Python, for single figures and tests."""
    rule = rule or packaged_rule()
    if value < 0:
        raise ValueError(f"a count cannot be negative: {value}")
    if value == 0:
        return 0
    if value <= rule.suppress_at_or_below:
        return None
    return int(round(value / rule.round_to) * rule.round_to)


def is_primary(value: int, rule: DisclosureRule | None = None) -> bool:
    """A count the rule itself suppresses (1 to the threshold)."""
    rule = rule or packaged_rule()
    return 0 < value <= rule.suppress_at_or_below


# --- Secondary suppression for a table with its margins ----------------------------------------

Cell = tuple[Hashable, Hashable]


@dataclass(frozen=True)
class ProtectedTable:
    """A table ready to publish: every interior cell and margin, controlled (None =
    suppressed), and which cells were hidden only to protect others."""

    cells: dict[Cell, int | None]
    secondary: frozenset[Cell]

    def value(self, row: Hashable, column: Hashable) -> int | None:
        return self.cells[(row, column)]


def with_margins(table: Mapping[Cell, int]) -> dict[Cell, int]:
    """The table with its row totals, column totals and grand total (from unrounded counts)."""
    rows = list(dict.fromkeys(r for r, _ in table))
    columns = list(dict.fromkeys(c for _, c in table))
    full: dict[Cell, int] = {}
    for r in rows:
        for c in columns:
            full[(r, c)] = int(table.get((r, c), 0))
        full[(r, TOTAL)] = sum(full[(r, c)] for c in columns)
    for c in [*columns, TOTAL]:
        full[(TOTAL, c)] = sum(full[(r, c)] for r in rows)
    return full


def protect_table(table: Mapping[Cell, int], rule: DisclosureRule | None = None) -> ProtectedTable:
    """Suppress, protect and round a two-way table of counts published with its margins.

    Primary cells (1 to the threshold, margins included) are suppressed; then each primary
    cell not yet on a cycle of suppressed cells gets the cheapest rectangle: another row and
    another column (either may be the totals) whose three other cells are non-zero, costing
    the sum of the values newly hidden. A one-way table is a table with one column. Finally
    the suppressed-cell graph is checked for bridges (none may remain), and every published
    value is rounded.
    """
    rule = rule or packaged_rule()
    full = with_margins(table)
    rows = list(dict.fromkeys(r for r, _ in full))
    columns = list(dict.fromkeys(c for _, c in full))
    hidden = {cell for cell, v in full.items() if is_primary(v, rule)}
    primary = sorted(hidden, key=lambda cell: (full[cell], str(cell)))
    for cell in primary:
        if cell not in bridges(hidden):
            continue
        best: tuple[int, list[Cell]] | None = None
        r, c = cell
        for r2 in rows:
            if r2 == r:
                continue
            for c2 in columns:
                if c2 == c:
                    continue
                others = [(r2, c), (r, c2), (r2, c2)]
                if any(full[o] == 0 for o in others):
                    continue
                cost = sum(full[o] for o in others if o not in hidden)
                if best is None or cost < best[0]:
                    best = (cost, others)
        if best is None:
            # no rectangle of non-zero cells: hide the cell's whole row and column
            hidden |= {(r, x) for x in columns} | {(x, c) for x in rows}
        else:
            hidden |= set(best[1])
    remaining = bridges(hidden)
    if remaining:  # unreachable by construction; refuse to publish rather than leak
        raise AssertionError(f"suppressed cells still derivable: {sorted(map(str, remaining))}")
    cells = {
        cell: None if cell in hidden else controlled_count(value, rule)
        for cell, value in full.items()
    }
    return ProtectedTable(cells, frozenset(hidden - set(primary)))


def bridges(hidden: set[Cell]) -> set[Cell]:
    """Suppressed cells that are bridges of the graph whose nodes are the table's lines (rows
    and columns, totals included) and whose edges are the suppressed cells: exactly the cells
    a reader can derive by adding and subtracting published lines."""
    adjacency: dict[tuple[str, Hashable], list[tuple[tuple[str, Hashable], Cell]]] = {}
    for cell in hidden:
        a, b = ("row", cell[0]), ("column", cell[1])
        adjacency.setdefault(a, []).append((b, cell))
        adjacency.setdefault(b, []).append((a, cell))
    found: set[Cell] = set()
    order: dict[tuple[str, Hashable], int] = {}
    low: dict[tuple[str, Hashable], int] = {}
    for start in adjacency:
        if start in order:
            continue
        # iterative DFS (a table can have many lines): (node, edge in, neighbour iterator)
        order[start] = low[start] = len(order)
        stack = [(start, None, iter(adjacency[start]))]
        while stack:
            node, came_by, neighbours = stack[-1]
            advanced = False
            for nxt, edge in neighbours:
                if edge == came_by:
                    continue
                if nxt in order:
                    low[node] = min(low[node], order[nxt])
                else:
                    order[nxt] = low[nxt] = len(order)
                    stack.append((nxt, edge, iter(adjacency[nxt])))
                    advanced = True
                    break
            if advanced:
                continue
            stack.pop()
            if stack:
                parent = stack[-1][0]
                low[parent] = min(low[parent], low[node])
                if low[node] > order[parent]:
                    found.add(came_by)  # type: ignore[arg-type]
    return found
