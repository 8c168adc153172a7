"""The whole plan attacked at once: every count of every section (capacity, care, inequalities,
trends), with each table's totals and the same people split other ways in other sections, put
into one system of equations, and every suppressed count sought by differencing and by linear
programming. With the plan's joint protection (`plan_disclosure.protect_plan`) nothing comes
back, or narrows to within the suppression range; with each section protected on its own
(`plan.part_sections`) the same attack gives suppressed counts back exactly.

The rule here suppresses 1-7 without rounding, so a published figure is the true count and
the attack is exact (rounding only blurs it). The population is small localities of known
size (York's 3 people at level 3, Hull's 6 level-0 people with their admissions, 4 people who
moved from level 1 to 2), on both engines.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
from scipy.optimize import linprog

from houseofcare.commissioning.disclosure import TOTAL, Cell, DisclosureRule
from houseofcare.commissioning.measures import UNCONTROLLED
from houseofcare.commissioning.plan import part_sections, plan_from_frames
from houseofcare.commissioning.plan_disclosure import LEFT_OUT
from houseofcare.commissioning.plan_grids import links
from houseofcare.commissioning.plan_model import (
    Area,
    GridCell,
    PlanContext,
    PlanSection,
)
from houseofcare.engine import Engine
from houseofcare.store.analytic import arrow_schema
from tests.spec.plan_frames_by_hand import AS_OF, Frames
from tests.spec.plan_people_by_hand import RUN, TIER, register_table

NO_ROUNDING = DisclosureRule(suppress_at_or_below=7, round_to=1)
PREVIOUS, CURRENT = "2025-03-31T1", "2026-03-31T1"

#: (how many, locality, IMD quintile, level now, level at the previous run (None: not then),
#: registers, care plan, reviewed, emergency admissions each)
GROUPS: tuple[tuple[int, str, int, int, int | None, int, bool, bool, int], ...] = (
    (60, "Leeds", 1, 1, 1, 1, True, True, 0),
    (26, "Leeds", 2, 2, 2, 2, True, False, 0),
    (4, "Leeds", 2, 2, 1, 2, True, False, 0),  # moved up from level 1: 4, suppressed
    (25, "Leeds", 1, 3, 3, 2, False, False, 1),
    (20, "Leeds", 5, 0, 0, 0, False, False, 0),
    (3, "York", 1, 3, None, 2, True, True, 1),  # York's level 3: 3, suppressed
    (12, "York", 2, 1, 1, 1, False, False, 0),
    (9, "York", 5, 2, 2, 1, True, False, 0),
    (40, "Hull", 3, 1, 1, 1, True, True, 0),
    (20, "Hull", 3, 3, 3, 2, True, True, 2),
    (6, "Hull", 4, 0, 0, 0, False, False, 1),  # Hull's level 0: 6 people, 6 admissions
)


def population(engine: Engine) -> None:
    """The groups above as the plan's frames, the two runs' triangles, their care gaps and
    the current run's emergency admissions (as encounters, for the trends)."""
    frames = Frames()
    tiers, gaps, encounters = [], [], []
    for g, (n, locality, quintile, level, before, registers, plan, reviewed, admitted) in enumerate(
        GROUPS
    ):
        people = frames.people_with(
            f"g{g}",
            n,
            locality,
            imd_quintile=quintile,
            imd_decile=2 * quintile,
            level=level,
            registers=registers,
            has_plan=plan,
            plan_reviewed=reviewed,
            emergency_admissions=admitted,
            core20=quintile == 1,
            gaps=1 if registers else 0,
            open_gaps=1 if registers and not plan else 0,
        )
        for i, pid in enumerate(people):
            tiers.append({"run_id": CURRENT, "patient_id": pid, "level": level, "reason": "t"})
            if before is not None:
                tiers.append(
                    {"run_id": PREVIOUS, "patient_id": pid, "level": before, "reason": "t"}
                )
            if registers:
                outcome = "met" if plan else "not met"
                for run in (PREVIOUS, CURRENT):
                    gaps.append(
                        {
                            "run_id": run,
                            "patient_id": pid,
                            "indicator": "DM_HBA1C_58" if i % 2 else "HYP_BP_U80",
                            "outcome": outcome,
                            "overdue_since": None if plan else dt.date(2025, 6, 1),
                        }
                    )
            encounters += [
                {
                    "encounter_id": f"e-{pid}-{k}",
                    "patient_id": pid,
                    "period_start": dt.datetime(2025, 10, 1 + k, 10),
                    "class_code": "IMP",
                    "priority_code": "EM",
                }
                for k in range(admitted)
            ]
        if plan:
            frames.need(people[: n // 2], "physical_health")
            frames.need(people[n // 2 :], "loneliness")
            frames.goal(people, "move_more")
            frames.referral(people[: n // 3], "loneliness", accepted=True, attended=True)
    frames.register(engine)
    register_table(
        engine,
        "run",
        RUN,
        [{"run_id": PREVIOUS, "as_of": dt.date(2025, 3, 31)}, {"run_id": CURRENT, "as_of": AS_OF}],
    )
    register_table(engine, "tier", TIER, tiers)
    engine.register(
        "care_gap",
        pa.table(
            {
                "run_id": [g["run_id"] for g in gaps],
                "patient_id": [g["patient_id"] for g in gaps],
                "indicator": [g["indicator"] for g in gaps],
                "outcome": [g["outcome"] for g in gaps],
                "overdue_since": pa.array([g["overdue_since"] for g in gaps], pa.date32()),
            }
        ),
    )
    engine.register("encounter", pa.Table.from_pylist(encounters, schema=arrow_schema("encounter")))
    engine.register(
        "register",
        pa.table(
            {
                "run_id": pa.array([], pa.string()),
                "patient_id": pa.array([], pa.string()),
                "register": pa.array([], pa.string()),
            }
        ),
    )


def context(engine: Engine, rule: DisclosureRule) -> PlanContext:
    return PlanContext(
        engine=engine,
        run_id=CURRENT,
        as_of=AS_OF,
        area=Area("all", None, "the whole area"),
        rule=rule,
    )


# --- The attack ----------------------------------------------------------------------------

Key = tuple[str, Cell]


def published(sections: Sequence[PlanSection]) -> dict[Key, int | None]:
    """Every grid cell a count of the plan shows, with the figure shown (None: a star). A
    cell shown twice must show the same figure."""
    found: dict[Key, int | None] = {}
    for section in sections:
        for table in section.tables:
            kinds = {c.key: c.kind for c in table.columns}
            for source in table.grid_cells:
                if kinds[source.column] != "count":
                    continue
                value = table.rows[source.row][table.column(source.column)]
                for g in source.cells:
                    key = (g.grid, (g.row, g.column))
                    assert found.get(key, value) == value, (table.key, key)
                    found[key] = value
    return found


def equations(
    grids: Mapping[str, Mapping[Cell, Any]], linked: Iterable[tuple[GridCell, GridCell]]
) -> tuple[list[Key], list[dict[Key, float]]]:
    """Every line of every grid (its cells add up to its total) and every link (two cells
    counting the same people): what a reader who knows how the plan is made can write."""
    keys = [(name, cell) for name, cells in grids.items() for cell in cells]
    found = []
    for name, cells in grids.items():
        for axis in (0, 1):
            for line in {cell[axis] for cell in cells}:
                members = [c for c in cells if c[axis] == line]
                equation = {(name, c): -1.0 if c[1 - axis] == TOTAL else 1.0 for c in members}
                found.append(equation)
    for a, b in linked:
        ka, kb = (a.grid, (a.row, a.column)), (b.grid, (b.row, b.column))
        if ka[1] in grids[a.grid] and kb[1] in grids[b.grid]:
            found.append({ka: 1.0, kb: -1.0})
    return keys, found


def attack(
    shown: Mapping[Key, int | None],
    keys: Sequence[Key],
    lines: Sequence[Mapping[Key, float]],
    targets: Iterable[Key],
) -> dict[Key, tuple[float, float]]:
    """The least and the most each target can be, given every published figure and every
    equation (cells >= 0), by linear programming: exact recovery is least == most."""
    index = {k: i for i, k in enumerate(keys)}
    matrix = np.zeros((len(lines), len(keys)))
    for j, line in enumerate(lines):
        for k, coefficient in line.items():
            matrix[j, index[k]] += coefficient
    bounds = [
        (float(shown[k]), float(shown[k])) if shown.get(k) is not None else (0, None) for k in keys
    ]
    zeros = np.zeros(len(lines))
    found = {}
    for k in targets:
        goal = np.zeros(len(keys))
        goal[index[k]] = 1
        low = linprog(goal, A_eq=matrix, b_eq=zeros, bounds=bounds, method="highs")
        high = linprog(-goal, A_eq=matrix, b_eq=zeros, bounds=bounds, method="highs")
        assert low.status == 0, (k, low.message)
        most = float("inf") if high.status == 3 else -high.fun
        found[k] = (low.fun, most)
    return found


def difference(
    shown: Mapping[Key, int | None], lines: Sequence[Mapping[Key, float]]
) -> dict[Key, float]:
    """The differencing attack: a line with one unknown gives it; repeat until no more."""
    known = {k: float(v) for k, v in shown.items() if v is not None}
    recovered = {}
    progress = True
    while progress:
        progress = False
        for line in lines:
            unknown = [k for k in line if k not in known]
            if len(unknown) == 1:
                (k,) = unknown
                rest = sum(c * known[x] for x, c in line.items() if x != k)
                known[k] = recovered[k] = -rest / line[k]
                progress = True
    return recovered


def small(truth: Mapping[str, Mapping[Cell, Any]], shown: Mapping[Key, Any]) -> list[Key]:
    """Published cells whose true count the rule suppresses (1 to 7)."""
    return [k for k in shown if 1 <= (truth[k[0]].get(k[1]) or 0) <= 7]


def test_the_whole_plan_gives_no_suppressed_count_back(engine: Engine) -> None:
    population(engine)
    truth_ctx = context(engine, UNCONTROLLED)
    part_sections(truth_ctx)
    truth = truth_ctx.grids
    linked = links(truth_ctx)
    # the model an attacker is given is true: every link joins two equal counts, every grid
    # line adds up, every count shown is its cell's true count
    for a, b in linked:
        assert truth[a.grid].get((a.row, a.column), 0) == truth[b.grid].get((b.row, b.column), 0)
    keys, lines = equations(truth, linked)
    for line in lines:
        assert sum(c * (truth[g].get(cell) or 0) for (g, cell), c in line.items()) == 0, line

    ctx = context(engine, NO_ROUNDING)
    plan = plan_from_frames(ctx)
    assert set(ctx.grids) == set(truth)
    shown = published(plan.sections)
    # every count of every table is a declared grid cell: nothing leaves outside the model
    for section in plan.sections:
        for table in section.tables:
            counted = {(s.row, s.column) for s in table.grid_cells}
            for i, _ in enumerate(table.rows):
                for column in table.columns:
                    if column.kind == "count":
                        assert (i, column.key) in counted, (table.key, i, column.key)
            # and nothing worked out from a hidden count is left computable
            for source in table.grid_cells:
                if any(shown.get((g.grid, (g.row, g.column)), 0) is None for g in source.cells):
                    assert table.rows[source.row][table.column(source.column)] is None
    for k, v in shown.items():
        if v is not None:
            assert v == truth[k[0]].get(k[1], 0), k

    targets = small(truth, shown)
    assert ("people[1] by locality × level", ("York", 3)) in targets
    assert ("trend_movement", (1, 2)) in targets
    assert difference(shown, lines).keys().isdisjoint(targets)
    for k, (low, high) in attack(shown, keys, lines, targets).items():
        # not given back, not told small (the range reaches past the threshold), and no
        # narrower than the suppression range itself
        assert low <= truth[k[0]][k[1]] < high, (k, low, high)
        assert high >= NO_ROUNDING.suppress_at_or_below + 1, (k, low, high)
        assert high - low >= NO_ROUNDING.suppress_at_or_below - 1, (k, low, high)
    # York's 3 at level 3 take a second locality with them (the level's total is published
    # as emergency admissions by level), and that locality's need, gap and cost go too
    level3 = next(t for t in plan.section("capacity").tables if t.key == "capacity_level3")
    hidden = [r for r in level3.rows if r[level3.column("people")] is None]
    assert len(hidden) >= 2
    assert all(r[level3.column("wte_needed")] is None for r in hidden)
    assert all(r[level3.column("gap_wte")] is None for r in hidden)
    # people at level 3 by IMD quintile (inequalities) are the level grid's level 3
    assert any(
        b.grid == "people[1] by locality × level" and b.column == 3 and "level = 3" in a.grid
        for a, b in linked
    )
    # a finding adding up a suppressed count is left out, and says so
    trends = plan.section("trends")
    assert not any("moved up a level" in f for f in trends.findings)
    assert LEFT_OUT in trends.findings


def test_sections_protected_alone_give_suppressed_counts_back(engine: Engine) -> None:
    """The same attack on the sections as each protects itself (no joint protection)."""
    population(engine)
    truth_ctx = context(engine, UNCONTROLLED)
    part_sections(truth_ctx)
    ctx = context(engine, NO_ROUNDING)
    sections = part_sections(ctx)
    shown = published(sections)
    keys, lines = equations(ctx.grids, links(ctx))
    targets = small(truth_ctx.grids, shown)
    recovered = difference(shown, lines)
    york = ("people[1] by locality × level", ("York", 3))
    # York's 3 at level 3: the plan's people at level 3 (emergency admissions by level) less
    # Leeds's and Hull's
    assert round(recovered[york]) == 3
    exact = [
        k
        for k, (low, high) in attack(shown, keys, lines, targets).items()
        if abs(high - low) < 1e-6
    ]
    assert york in exact
    assert len(exact) > 1
