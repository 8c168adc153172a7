"""The commissioning plan as data: what `hoc commission` writes and the commissioners' page shows.

A plan is built once (`commissioning.plan.build_plan`) from one pipeline run, the care plans,
referrals and unmet need, and then rendered as HTML, PDF, XLSX, CSV or a page without any
renderer computing a figure of its own: every number a reader sees is a cell of a `PlanTable`
that left through `commissioning.measures` with disclosure control, so the formats cannot
disagree and none can show a count the others suppress.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any, Literal

#: How a column's values read: a renderer formats by kind, never by guessing from the value.
#: `count` is a disclosure-controlled count (None: suppressed), `percent` and `rate` are
#: worked out from controlled counts (None: not shown), `money` is pounds sterling, `wte`
#: whole-time equivalents.
ColumnKind = Literal["text", "count", "percent", "rate", "money", "wte", "number"]


@dataclass(frozen=True)
class Column:
    """One column of a plan table: its key, its heading in words and how its values read."""

    key: str
    words: str
    kind: ColumnKind = "text"


@dataclass(frozen=True)
class GridCell:
    """One cell of one of the plan's count grids (`PlanContext.grids`): the grid's name, its
    row and column keys (`disclosure.TOTAL` for a margin)."""

    grid: str
    row: Hashable
    column: Hashable


@dataclass(frozen=True)
class CellSource:
    """Which grid cells a table's value at (`row` index, `column` key) shows or is worked out
    from: a count shows its cell(s), a percentage, rate, need or cost is worked out from
    them. The plan's joint disclosure control (`plan_disclosure.protect_plan`) treats every
    cell named here as published, and hides the value (None) when any of them is hidden."""

    row: int
    column: str
    cells: tuple[GridCell, ...]


@dataclass(frozen=True)
class PlanTable:
    """One table of the plan. A suppressed count is None (shown as the rule's symbol).

    `grid_cells` (optional, additive) says where the table's figures come from, so the plan
    can protect every table cut from the same counts together, across sections."""

    key: str
    title: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[Any, ...], ...]
    note: str = ""
    grid_cells: tuple[CellSource, ...] = ()

    def column(self, key: str) -> int:
        """The position of a column by key (a renderer's or a test's lookup)."""
        for i, c in enumerate(self.columns):
            if c.key == key:
                return i
        raise KeyError(f"table {self.key} has no column {key}")


@dataclass(frozen=True)
class PlanChart:
    """A chart drawn from one of the section's tables (the table is always shown too)."""

    kind: Literal["bar", "stacked_bar", "line"]
    table: str
    x: str
    y: tuple[str, ...]
    title: str


@dataclass(frozen=True)
class PlanSection:
    """One part of the plan: its findings in plain sentences, its tables and charts.

    `message` replaces the tables when the area is too small for any figure of the section
    to survive disclosure control, so the plan says so instead of printing empty tables.
    `sources` are the published figures the section rests on (unit costs); `build_plan`
    gathers every section's into the plan's `sources`.
    """

    key: str
    title: str
    findings: tuple[str, ...] = ()
    tables: tuple[PlanTable, ...] = ()
    charts: tuple[PlanChart, ...] = ()
    message: str | None = None
    sources: tuple[Source, ...] = ()
    #: finding index → the grid cells whose values it states or adds up: the plan leaves the
    #: finding out when joint disclosure control hides any of them (optional, additive).
    finding_cells: tuple[tuple[int, tuple[GridCell, ...]], ...] = ()


@dataclass(frozen=True)
class Area:
    """What the plan covers: everyone, one locality (local authority) or one practice."""

    kind: Literal["all", "locality", "practice"]
    code: str | None
    name: str


@dataclass(frozen=True)
class Source:
    """A published source a figure rests on (a unit cost, a standard population)."""

    key: str
    citation: str
    year: str
    url: str = ""


@dataclass(frozen=True)
class CommissioningPlan:
    """The whole plan for one area and one run."""

    area: Area
    run_id: str
    run_date: dt.date
    made_at: dt.datetime
    disclosure: str
    sections: tuple[PlanSection, ...]
    headlines: tuple[str, ...] = ()
    sources: tuple[Source, ...] = field(default=())
    too_small: bool = False

    def section(self, key: str) -> PlanSection:
        """A section by key."""
        for s in self.sections:
            if s.key == key:
                return s
        raise KeyError(f"the plan has no section {key}")


@dataclass(frozen=True)
class PlanContext:
    """What every section builder is given: the engine with the plan's frames registered.

    The frames are engine views/tables (`commissioning.plan_frames` registers them), each
    cut to the plan's area, so a section is plain SQL over them through `measure_sql` and
    runs on DuckDB and on Spark alike:

    - `plan_people`: one row per person registered and alive at the run's date in the area:
      patient_id, practice_id, locality, imd_decile, imd_quintile, ethnic_group, sex, age,
      age_band, esp_band, registers (LTC registers the person is on), level (0-3, NULL if
      untiered), risk (12-month emergency admission risk, NULL if unscored), gaps, open_gaps,
      emergency_admissions (in the 12 months to the run's date), core20 (bool: IMD decile
      1-2), has_plan (bool: an active care plan), plan_reviewed (bool: reviewed or agreed
      in the 12 months to the run's date), referrals (int), unmet (int).
    - `plan_needs`: patient_id, domain, status: one row per need on an active care plan.
    - `plan_goals`: patient_id, theme, status: one row per goal (theme from `goal_themes.toml`).
    - `plan_referrals`: patient_id, referral_id, need_domain, service_kind, status, and
      accepted / attended / declined flags (bool; stages the referral reached, from its
      history): one row per referral.
    - `plan_unmet`: patient_id (may be NULL), need_domain, reason, locality: one row per
      recorded unmet need.
    """

    engine: Any
    run_id: str
    as_of: dt.date
    area: Area
    rule: Any
    #: The plan's count grids by name (`plan_grids`): every cell of each, margins included,
    #: each a controlled count (None: suppressed by the rule). Sections add to it; the plan
    #: protects every grid jointly with the tables that publish its cells.
    grids: dict[str, dict[Any, int | None]] = field(default_factory=dict)
    #: Pairs of cells of two grids that count the same people (or events), so hiding one
    #: hides the other (`plan_grids.link`).
    links: list[tuple[GridCell, GridCell]] = field(default_factory=list)
