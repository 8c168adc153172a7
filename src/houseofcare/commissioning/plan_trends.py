"""The commissioning plan's sections on trends across runs: movement between levels from the
previous run to this one, emergency admissions per 1,000 by level, and indicator achievement
(issue 14; docs/commissioning-capacity.md).

Every pipeline run is dated and keeps its results (`run`, `tier`, `care_gap`), so the plan can
set this run beside the runs before it (runs after the plan's own are left out: a plan for an
old run reads as it did then). Each run's people are those it placed on the triangle (`tier`),
cut to the plan's area by practice: the practices of the area are the practices in
`plan_people`, and an earlier run's people are those registered with one of them now.
Every count leaves through `measure_sql` with the plan's rule; every rate and percentage is
worked out from the controlled counts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Final

from houseofcare.commissioning.disclosure import TOTAL, packaged_rule
from houseofcare.commissioning.inequality import EMERGENCY_ADMISSION
from houseofcare.commissioning.measures import measure_sql
from houseofcare.commissioning.plan_disclosure import rate_of
from houseofcare.commissioning.plan_grids import EVERYONE, grids, link, people_grid, register
from houseofcare.commissioning.plan_model import (
    CellSource,
    Column,
    GridCell,
    PlanChart,
    PlanContext,
    PlanSection,
    PlanTable,
)
from houseofcare.engine import sql_literal

#: The triangle's levels, top first, and what a person not on the previous run's triangle is.
LEVELS: Final = {
    3: "Level 3: case management",
    2: "Level 2: disease-specific care management",
    1: "Level 1: supported self care",
    0: "Level 0: prevention",
}
NOT_BEFORE: Final = -1
NOT_BEFORE_WORDS: Final = "Not on the triangle at the previous run"
TITLE: Final = "Trends across runs: movement between levels, emergency admissions, achievement"
#: The trends' count grids (`plan_grids`): level before × level now; people and emergency
#: admissions by run × level; care gaps by indicator × run and outcome.
MOVEMENT: Final = "trend_movement"
PEOPLE: Final = "trend_people"
ADMISSIONS: Final = "trend_admissions"
ACHIEVEMENT: Final = "trend_achievement"


@dataclass(frozen=True)
class Run:
    """A pipeline run as the trends name it: its id, date and label."""

    run_id: str
    as_of: dt.date
    label: str


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def runs_so_far(ctx: PlanContext) -> list[Run]:
    """The runs up to and including the plan's, oldest first (by date, then id: run ids
    carry their start time). Two runs of one date are told apart by their ids."""
    found = sorted(
        (
            (str(run_id), _date(as_of))
            for run_id, as_of in ctx.engine.rows("SELECT run_id, as_of FROM run")
        ),
        key=lambda r: (r[1], r[0]),
    )
    ids = [run_id for run_id, _ in found]
    if ctx.run_id in ids:
        found = found[: ids.index(ctx.run_id) + 1]
    else:
        found = [r for r in found if r[1] <= ctx.as_of] + [(ctx.run_id, ctx.as_of)]
    dates = [as_of for _, as_of in found]
    return [
        Run(
            run_id,
            as_of,
            as_of.isoformat() if dates.count(as_of) == 1 else f"{as_of.isoformat()} ({run_id})",
        )
        for run_id, as_of in found
    ]


def in_area(ctx: PlanContext, patient_id: str) -> str:
    """A condition keeping people of the plan's area (nothing for everyone): registered with
    one of the practices in `plan_people`."""
    if ctx.area.kind == "all":
        return ""
    return (
        f" AND {patient_id} IN (SELECT pt.patient_id FROM patient pt WHERE pt.practice_id IN "
        "(SELECT DISTINCT pp.practice_id FROM plan_people pp))"
    )


def _count(value: Any) -> int | None:
    return None if value is None else int(value)


def _shown(value: int | None, rule: Any) -> str:
    return f"fewer than {rule.suppress_at_or_below + 1}" if value is None else f"{value:,}"


def movement(
    ctx: PlanContext, previous: Run, current: Run
) -> tuple[PlanTable, list[str], tuple[tuple[int, tuple[GridCell, ...]], ...]]:
    """Level at the previous run × level now, for the people on this run's triangle."""
    units = f"""(
    SELECT coalesce(prev.level, {NOT_BEFORE}) AS level_from, cur.level AS level_to
    FROM tier cur
    LEFT JOIN tier prev
      ON prev.run_id = {sql_literal(previous.run_id)} AND prev.patient_id = cur.patient_id
    WHERE cur.run_id = {sql_literal(current.run_id)}{in_area(ctx, "cur.patient_id")}
)"""
    grid = grids(ctx, units, ["level_from"], "level_to", {"people": "1"})["people"]
    register(ctx, MOVEMENT, {(_level(f), _level(t)): n for (f, t), n in grid.items()})
    cells = ctx.grids[MOVEMENT]
    befores = [*LEVELS.items(), (NOT_BEFORE, NOT_BEFORE_WORDS)]
    rows = tuple(
        (words, *(cells.get((level_from, to), 0) for to in LEVELS)) for level_from, words in befores
    )
    placed = tuple(
        CellSource(i, f"to_{to}", (GridCell(MOVEMENT, level_from, to),))
        for i, (level_from, _) in enumerate(befores)
        for to in LEVELS
    )
    # the people on this run's triangle at each level are the plan's people at that level
    everyone = people_grid(ctx, EVERYONE, "locality", "level")
    for level in LEVELS:
        link(ctx, GridCell(MOVEMENT, TOTAL, level), GridCell(everyone, TOTAL, level))
    table = PlanTable(
        key="trend_movement",
        title=f"Movement between levels: {previous.label} to {current.label}",
        columns=(
            Column("level_from", f"Level at {previous.label}"),
            *(Column(f"to_{level}", f"Now at {words}", "count") for level, words in LEVELS.items()),
        ),
        rows=rows,
        note=(
            "People on this run's triangle, by their level at the previous run (rows) and now "
            "(columns); people who left the area or died since are not in it."
        ),
        grid_cells=placed,
    )
    moves = measure_sql(
        units,
        counts={
            "up": f"CASE WHEN level_from <> {NOT_BEFORE} AND level_to > level_from "
            "THEN 1 ELSE 0 END",
            "down": "CASE WHEN level_to < level_from THEN 1 ELSE 0 END",
            "new": f"CASE WHEN level_from = {NOT_BEFORE} THEN 1 ELSE 0 END",
            "new3": "CASE WHEN level_from <> 3 AND level_to = 3 THEN 1 ELSE 0 END",
        },
        rule=ctx.rule,
    )
    up, down, new, new3 = (
        _count(v) for v in ctx.engine.rows(f"SELECT up, down, new, new3 FROM {moves} m")[0]
    )
    rule = ctx.rule or packaged_rule()
    findings = [
        f"Since the previous run ({previous.label}), {_shown(up, rule)} people moved up a "
        f"level and {_shown(down, rule)} moved down; {_shown(new, rule)} are new to the "
        "triangle.",
        f"{_shown(new3, rule).capitalize()} people are at level 3 (case management) now who "
        "were not at the previous run: each needs a case manager's first assessment.",
    ]
    # each sentence adds up cells of the table: a hidden one would come back by difference
    moved = tuple(GridCell(MOVEMENT, f, t) for f, _ in befores for t in LEVELS if f != t)
    into3 = tuple(GridCell(MOVEMENT, f, 3) for f, _ in befores if f != 3)
    return table, findings, ((0, moved), (1, into3))


def _stated(ctx: PlanContext, cells: Sequence[GridCell]) -> tuple[GridCell, ...]:
    """The cells a finding states that the rule shows (a suppressed one it says is not)."""
    return tuple(c for c in cells if ctx.grids[c.grid].get((c.row, c.column), 0) is not None)


def _level(value: Any) -> Any:
    return value if value == TOTAL or value is None else int(value)


def emergency_admissions(
    ctx: PlanContext, runs: Sequence[Run]
) -> tuple[PlanTable, PlanTable, list[str], tuple[tuple[int, tuple[GridCell, ...]], ...]]:
    """Emergency admissions in the 12 months to each run's date per 1,000 people at each level
    of that run's triangle (the risk model's emergency admission, `inequality`)."""
    parts = []
    for run in runs:
        year_before = (run.as_of - dt.timedelta(days=365)).isoformat()
        parts.append(
            f"""SELECT {sql_literal(run.run_id)} AS run_id, t.level,
       coalesce(a.admissions, 0) AS admissions
FROM tier t
LEFT JOIN (SELECT e.patient_id, count(*) AS admissions FROM encounter e
           WHERE {EMERGENCY_ADMISSION}
             AND CAST(e.period_start AS DATE) > DATE '{year_before}'
             AND CAST(e.period_start AS DATE) <= DATE '{run.as_of.isoformat()}'
           GROUP BY e.patient_id) a ON a.patient_id = t.patient_id
WHERE t.run_id = {sql_literal(run.run_id)}{in_area(ctx, "t.patient_id")}"""
        )
    units = "(" + "\nUNION ALL\n".join(parts) + ")"
    made = grids(ctx, units, ["run_id"], "level", {"people": "1", "admissions": "admissions"})
    for name, key in ((PEOPLE, "people"), (ADMISSIONS, "admissions")):
        register(ctx, name, {(r, _level(c)): n for (r, c), n in made[key].items()})
    current = runs[-1].run_id
    admitted = people_grid(ctx, "emergency_admissions", "locality", "level")
    for level in LEVELS:
        link(ctx, GridCell(PEOPLE, current, level), GridCell(MOVEMENT, TOTAL, level))
        link(ctx, GridCell(ADMISSIONS, current, level), GridCell(admitted, TOTAL, level))
    counted = measure_sql(
        units,
        keys=["run_id", "level"],
        counts={"people": "1", "admissions": "admissions"},
        rule=ctx.rule,
    )
    found = {
        (str(run_id), int(level)): (_count(people), _count(admissions))
        for run_id, level, people, admissions in ctx.engine.rows(
            f"SELECT run_id, level, people, admissions FROM {counted} c"
        )
    }
    long_rows, wide_rows = [], []
    long_cells: list[CellSource] = []
    wide_cells: list[CellSource] = []
    for j, run in enumerate(runs):
        rates = []
        for level, words in LEVELS.items():
            people, admissions = found.get((run.run_id, level), (0, 0))
            rate = rate_of(admissions, people, 1000)
            rates.append(rate)
            i = len(long_rows)
            both = (GridCell(PEOPLE, run.run_id, level), GridCell(ADMISSIONS, run.run_id, level))
            long_cells += [
                CellSource(i, "people", both[:1]),
                CellSource(i, "admissions", both[1:]),
                CellSource(i, "per_1000", both),
            ]
            wide_cells.append(CellSource(j, f"rate_{level}", both))
            long_rows.append((run.label, words, people, admissions, rate))
        wide_rows.append((run.label, *rates))
    long_table = PlanTable(
        key="trend_emergency_admissions",
        title="Emergency admissions per 1,000 people by level, run by run",
        columns=(
            Column("run", "Run date"),
            Column("level", "Level"),
            Column("people", "People", "count"),
            Column("admissions", "Emergency admissions in the 12 months to the run", "count"),
            Column("per_1000", "Emergency admissions per 1,000 people", "rate"),
        ),
        rows=tuple(long_rows),
        note=(
            "Each run's people at each level of its own triangle, and their emergency "
            "admissions in the 12 months to that run's date; rates from the controlled counts."
        ),
        grid_cells=tuple(long_cells),
    )
    wide_table = PlanTable(
        key="trend_emergency_rates",
        title="Emergency admissions per 1,000 people by level",
        columns=(
            Column("run", "Run date"),
            *(Column(f"rate_{level}", words, "rate") for level, words in LEVELS.items()),
        ),
        rows=tuple(wide_rows),
        grid_cells=tuple(wide_cells),
    )
    first, last = wide_rows[0], wide_rows[-1]
    findings = [
        f"Emergency admissions per 1,000 people at level 3: "
        f"{'not shown' if first[1] is None else first[1]} at {first[0]}, "
        f"{'not shown' if last[1] is None else last[1]} at {last[0]}."
    ]
    stated = tuple(
        GridCell(name, run.run_id, 3)
        for run in (runs[0], runs[-1])
        for name in (PEOPLE, ADMISSIONS)
    )
    return long_table, wide_table, findings, ((0, stated),)


def achievement(
    ctx: PlanContext, runs: Sequence[Run]
) -> tuple[PlanTable, PlanTable, list[str], tuple[tuple[int, tuple[GridCell, ...]], ...]]:
    """Each indicator's achievement (met / (met + not met)) run by run, and all indicators
    together."""
    units = (
        "("
        + "\nUNION ALL\n".join(
            f"SELECT g.run_id, g.indicator, g.outcome FROM care_gap g "
            f"WHERE g.run_id = {sql_literal(run.run_id)}{in_area(ctx, 'g.patient_id')}"
            for run in runs
        )
        + ")"
    )
    counts = {
        "met": "CASE WHEN outcome = 'met' THEN 1 ELSE 0 END",
        "not_met": "CASE WHEN outcome = 'not met' THEN 1 ELSE 0 END",
    }
    # indicators × (run, outcome): each run's overall met and not met are column totals
    outcomes = (
        f"(SELECT u.indicator, concat(u.run_id, '|', u.outcome) AS run_outcome FROM {units} u)"
    )
    register(ctx, ACHIEVEMENT, grids(ctx, outcomes, ["indicator"], "run_outcome", {"n": "1"})["n"])
    per_indicator = measure_sql(units, keys=["run_id", "indicator"], counts=counts, rule=ctx.rule)
    overall = measure_sql(units, keys=["run_id"], counts=counts, rule=ctx.rule)
    found = {
        (str(r), str(i)): (_count(m), _count(n))
        for r, i, m, n in ctx.engine.rows(
            f"SELECT run_id, indicator, met, not_met FROM {per_indicator} c"
        )
    }
    totals = {
        str(r): (_count(m), _count(n))
        for r, m, n in ctx.engine.rows(f"SELECT run_id, met, not_met FROM {overall} c")
    }

    def pct(met: int | None, not_met: int | None) -> float | None:
        if met is None or not_met is None:
            return None
        return rate_of(met, met + not_met)

    indicators = sorted({i for _, i in found})
    pairs = [(i, run) for i in indicators for run in runs if (run.run_id, i) in found]
    rows = [
        (
            indicator,
            run.label,
            *found[(run.run_id, indicator)],
            pct(*found[(run.run_id, indicator)]),
        )
        for indicator, run in pairs
    ]

    def outcome_cells(row: Any, run: Run) -> tuple[GridCell, GridCell]:
        return (
            GridCell(ACHIEVEMENT, row, f"{run.run_id}|met"),
            GridCell(ACHIEVEMENT, row, f"{run.run_id}|not met"),
        )

    def placed(lines: Sequence[tuple[Any, Run]]) -> tuple[CellSource, ...]:
        found = []
        for i, (row, run) in enumerate(lines):
            met, not_met = outcome_cells(row, run)
            found += [
                CellSource(i, "met", (met,)),
                CellSource(i, "not_met", (not_met,)),
                CellSource(i, "achievement_pct", (met, not_met)),
            ]
        return tuple(found)

    columns = (
        Column("met", "Met", "count"),
        Column("not_met", "Not met", "count"),
        Column("achievement_pct", "Achievement (%)", "percent"),
    )
    by_indicator = PlanTable(
        key="trend_indicator_achievement",
        title="Indicator achievement, run by run",
        columns=(Column("indicator", "Indicator"), Column("run", "Run date"), *columns),
        rows=tuple(rows),
        note=(
            "Achievement = met ÷ (met + not met), from the controlled counts; people excluded "
            "(personalised care adjustments) are in neither."
        ),
        grid_cells=placed(pairs),
    )
    overall_rows = [
        (run.label, *totals.get(run.run_id, (0, 0)), pct(*totals.get(run.run_id, (0, 0))))
        for run in runs
    ]
    all_table = PlanTable(
        key="trend_achievement",
        title="Achievement across all indicators, run by run",
        columns=(Column("run", "Run date"), *columns),
        rows=tuple(overall_rows),
        grid_cells=placed([(TOTAL, run) for run in runs]),
    )
    first, last = overall_rows[0], overall_rows[-1]
    findings = [
        f"Achievement across all indicators: "
        f"{'not shown' if first[3] is None else f'{first[3]}%'} at {first[0]}, "
        f"{'not shown' if last[3] is None else f'{last[3]}%'} at {last[0]}."
    ]
    stated = _stated(ctx, [*outcome_cells(TOTAL, runs[0]), *outcome_cells(TOTAL, runs[-1])])
    return by_indicator, all_table, findings, ((0, stated),)


def rules_changed(ctx: PlanContext, runs: Sequence[Run]) -> str | None:
    """A finding when the runs were made with different rules (their `rules_digest`): part of
    any change between them is then the rules, not the care (hazard H-078)."""
    if "rules_digest" not in ctx.engine.columns("SELECT * FROM run"):
        return None
    wanted = ", ".join(sql_literal(r.run_id) for r in runs)
    digests = {
        str(run_id): digest
        for run_id, digest in ctx.engine.rows(
            f"SELECT run_id, rules_digest FROM run WHERE run_id IN ({wanted})"
        )
    }
    changed = [
        f"{before.label} to {after.label}"
        for before, after in pairwise(runs)
        if digests.get(before.run_id) != digests.get(after.run_id)
    ]
    if not changed:
        return None
    return (
        "The registers', indicators' or codelists' rules changed between runs ("
        + "; ".join(changed)
        + "): part of any change across those runs is the rules, not the care."
    )


def sections(ctx: PlanContext) -> list[PlanSection]:
    """The trends section: this run beside the runs before it (or why there is none yet)."""
    runs = runs_so_far(ctx)
    if len(runs) < 2:
        return [
            PlanSection(
                key="trends",
                title=TITLE,
                message=(
                    f"Only one pipeline run ({runs[0].label}) is in the analytic store, so there "
                    "are no trends yet: they appear from the second run (`hoc run --as-of`)."
                ),
            )
        ]
    moved, moved_findings, moved_cells = movement(ctx, runs[-2], runs[-1])
    admissions, rates, admission_findings, admission_cells = emergency_admissions(ctx, runs)
    by_indicator, overall, achievement_findings, achievement_cells = achievement(ctx, runs)
    changed = rules_changed(ctx, runs)
    first = 1 + (1 if changed else 0)  # the findings below follow the runs' and the rules'
    finding_cells = []
    for said, cells in (
        (moved_findings, moved_cells),
        (admission_findings, admission_cells),
        (achievement_findings, achievement_cells),
    ):
        finding_cells += [(first + i, found) for i, found in cells]
        first += len(said)
    return [
        PlanSection(
            key="trends",
            title=TITLE,
            findings=(
                f"{len(runs)} runs, from {runs[0].label} to {runs[-1].label}.",
                *([changed] if changed else []),
                *moved_findings,
                *admission_findings,
                *achievement_findings,
            ),
            tables=(moved, rates, admissions, overall, by_indicator),
            charts=(
                PlanChart(
                    kind="line",
                    table="trend_emergency_rates",
                    x="run",
                    y=tuple(f"rate_{level}" for level in LEVELS),
                    title="Emergency admissions per 1,000 people by level",
                ),
                PlanChart(
                    kind="line",
                    table="trend_achievement",
                    x="run",
                    y=("achievement_pct",),
                    title="Achievement across all indicators (%)",
                ),
            ),
            finding_cells=tuple(finding_cells),
        )
    ]
