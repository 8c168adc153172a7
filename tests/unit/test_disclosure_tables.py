"""Secondary suppression: a suppressed cell of a table published with its margins cannot be
worked out from what is published (shared/reference/disclosure-control.md, section 2)."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest
from scipy.optimize import linprog

from houseofcare.commissioning.disclosure import (
    TOTAL,
    DisclosureRule,
    bridges,
    controlled_count,
    packaged_rule,
    protect_table,
    with_margins,
)

NO_ROUNDING = DisclosureRule(suppress_at_or_below=7, round_to=1)

ADMISSIONS = {  # the note's worked example: emergency admissions by age band x IMD group
    ("18-64", "Q1"): 52, ("18-64", "Q2"): 61, ("18-64", "Q3"): 70,
    ("65-74", "Q1"): 30, ("65-74", "Q2"): 5, ("65-74", "Q3"): 44,
    ("75+", "Q1"): 21, ("75+", "Q2"): 26, ("75+", "Q3"): 33,
}  # fmt: skip


def recoverable(table: dict, published: dict) -> dict:
    """The attack: every published line's equation, and for each suppressed cell the least
    and the most it can be (cells >= 0). A cell whose least equals its most is recovered."""
    full = with_margins(table)
    hidden = [cell for cell, v in published.items() if v is None]
    index = {cell: i for i, cell in enumerate(hidden)}
    rows = {r for r, _ in full}
    columns = {c for _, c in full}
    equations, targets = [], []
    for line in [*((r, None) for r in rows), *((None, c) for c in columns)]:
        members = [
            cell
            for cell in full
            if (line[0] is not None and cell[0] == line[0] and cell[1] != TOTAL)
            or (line[1] is not None and cell[1] == line[1] and cell[0] != TOTAL)
        ]
        total = (line[0], TOTAL) if line[0] is not None else (TOTAL, line[1])
        coefficients = np.zeros(len(hidden))
        known = 0.0
        for cell in [*members, total]:
            sign = -1.0 if cell == total else 1.0
            if cell in index:
                coefficients[index[cell]] += sign
            else:
                known += sign * published[cell]
        if coefficients.any():
            equations.append(coefficients)
            targets.append(-known)
    found = {}
    for cell, i in index.items():
        objective = np.zeros(len(hidden))
        objective[i] = 1
        low = linprog(objective, A_eq=equations, b_eq=targets, bounds=(0, None)).fun
        high = -linprog(-objective, A_eq=equations, b_eq=targets, bounds=(0, None)).fun
        found[cell] = (round(low, 6), round(high, 6))
    return found


def test_the_worked_example_takes_the_cheapest_rectangle() -> None:
    protected = protect_table(ADMISSIONS, NO_ROUNDING)
    hidden = {cell for cell, v in protected.cells.items() if v is None}
    assert hidden == {("65-74", "Q2"), ("75+", "Q2"), ("65-74", "Q1"), ("75+", "Q1")}
    assert protected.secondary == {("75+", "Q2"), ("65-74", "Q1"), ("75+", "Q1")}
    bounds = recoverable(ADMISSIONS, protected.cells)
    assert bounds[("65-74", "Q2")] == (0, 31)  # as the note derives: 0 <= t <= 31


def test_without_secondary_suppression_the_differencing_attack_works() -> None:
    """The attack is real: with only the primary cell hidden it gives the 5 back."""
    published = {
        cell: (None if cell == ("65-74", "Q2") else v)
        for cell, v in with_margins(ADMISSIONS).items()
    }
    assert recoverable(ADMISSIONS, published)[("65-74", "Q2")] == (5, 5)
    assert ("65-74", "Q2") in bridges({("65-74", "Q2")})


def test_a_one_way_table_hides_a_second_cell() -> None:
    practices = {("A", "count"): 125, ("B", "count"): 4, ("C", "count"): 37, ("D", "count"): 58}
    protected = protect_table(practices, NO_ROUNDING)
    assert protected.value("B", "count") is None
    assert protected.value("C", "count") is None  # the smallest non-zero other cell
    assert protected.value(TOTAL, "count") == 224
    low, high = recoverable(practices, protected.cells)[("B", "count")]
    assert low < high


def test_two_blocks_joined_by_one_cell_are_caught_as_a_bridge() -> None:
    """Every line holding 0 or >= 2 suppressed cells is not enough (the note's counter-example)."""
    block = {("a", 1), ("a", 2), ("b", 1), ("b", 2), ("c", 3), ("c", 4), ("d", 3), ("d", 4)}
    assert bridges(block) == set()
    assert bridges(block | {("a", 3)}) == {("a", 3)}


@pytest.mark.parametrize("seed", range(40))
def test_no_suppressed_cell_of_a_random_table_can_be_recovered(seed: int) -> None:
    """Random tables with small cells (and zeros) in the body and the margins: the attack
    never pins a suppressed cell, and published cells are never below the threshold."""
    rng = random.Random(seed)
    rows, columns = rng.randint(1, 5), rng.randint(2, 5)
    table = {
        (f"r{r}", f"c{c}"): rng.choice([0, 1, 2, 3, 5, 7, 8, 9, 12, 20, 40, 100])
        for r, c in itertools.product(range(rows), range(columns))
    }
    protected = protect_table(table, NO_ROUNDING)
    for cell, value in protected.cells.items():
        assert value is None or value == 0 or value > 7, cell
    for cell, (low, high) in recoverable(table, protected.cells).items():
        assert low < high, (cell, low, high)


def test_published_values_are_rounded_and_totals_come_from_unrounded_counts() -> None:
    protected = protect_table({("x", "n"): 12, ("y", "n"): 13, ("z", "n"): 14})
    assert [protected.value(r, "n") for r in ("x", "y", "z", TOTAL)] == [10, 15, 15, 40]


def test_the_rule_is_data() -> None:
    rule = packaged_rule()
    assert (rule.suppress_at_or_below, rule.round_to) == (7, 5)
    assert [controlled_count(v) for v in (0, 1, 7, 8, 12, 13)] == [0, None, None, 10, 10, 15]
    strict = DisclosureRule(suppress_at_or_below=10, round_to=10)
    assert [controlled_count(v, strict) for v in (10, 11, 14, 15)] == [None, 10, 10, 20]
    with pytest.raises(ValueError, match="negative"):
        controlled_count(-1)
