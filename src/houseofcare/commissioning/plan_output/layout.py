"""The plan laid out for reading: each section's findings, then each chart with its table
beside it, then the tables no chart draws; every cell already in words.

One layout feeds the board's HTML (and so its PDF) and the commissioners' page, so the page
and the files show the same figures in the same order. Nothing here computes a figure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Final

from houseofcare.commissioning.plan_model import CommissioningPlan, PlanSection, PlanTable
from houseofcare.commissioning.plan_output.cells import (
    NUMERIC_KINDS,
    cell_text,
    symbol,
    too_small,
    too_small_message,
)
from houseofcare.commissioning.plan_output.charts import Drawing, draw

#: A table with this many columns or more is "wide".
WIDE_COLUMNS: Final = 6


@dataclass(frozen=True)
class Cell:
    text: str
    numeric: bool
    suppressed: bool


@dataclass(frozen=True)
class TableView:
    id: str
    title: str
    headings: tuple[tuple[str, bool], ...]
    rows: tuple[tuple[Cell, ...], ...]
    note: str
    #: Many columns: laid out to the page's width in print, scrolled sideways on a screen.
    wide: bool = False


@dataclass(frozen=True)
class Figure:
    """A chart and the table it draws (always both), or a table alone (`drawing` None)."""

    drawing: Drawing | None
    table: TableView


@dataclass(frozen=True)
class SectionView:
    id: str
    title: str
    findings: tuple[str, ...]
    message: str | None
    figures: tuple[Figure, ...]


@dataclass(frozen=True)
class PlanLayout:
    """What every reader's format shows, in order."""

    plan: CommissioningPlan
    title: str
    too_small: bool
    too_small_message: str
    symbol: str
    sections: tuple[SectionView, ...]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def _table(section: PlanSection, table: PlanTable, mark: str) -> TableView:
    return TableView(
        id=f"table-{_slug(section.key)}-{_slug(table.key)}",
        title=table.title,
        headings=tuple((c.words, c.kind in NUMERIC_KINDS) for c in table.columns),
        rows=tuple(
            tuple(
                Cell(
                    cell_text(v, c, mark),
                    c.kind in NUMERIC_KINDS,
                    v is None and c.kind in NUMERIC_KINDS,
                )
                for c, v in zip(table.columns, row, strict=False)
            )
            for row in table.rows
        ),
        note=table.note,
        wide=len(table.columns) >= WIDE_COLUMNS,
    )


def _section(section: PlanSection, mark: str) -> SectionView:
    if section.message is not None:
        return SectionView(_slug(section.key), section.title, section.findings, section.message, ())
    by_key = {t.key: t for t in section.tables}
    figures: list[Figure] = []
    charted: set[str] = set()
    for n, chart in enumerate(section.charts):
        table = by_key.get(chart.table)
        if table is None or not table.rows:
            continue  # a chart with no table to stand beside is not drawn
        view = _table(section, table, mark)
        if chart.table in charted:  # a second chart of a table: its table again, renamed
            view = replace(view, id=f"{view.id}-{n}")
        charted.add(chart.table)
        drawing = draw(
            chart,
            table,
            chart_id=f"chart-{_slug(section.key)}-{n}",
            table_id=view.id,
            fmt=lambda v, c: cell_text(v, c, mark),
        )
        figures.append(Figure(drawing, view))
    figures.extend(
        Figure(None, _table(section, t, mark)) for t in section.tables if t.key not in charted
    )
    return SectionView(_slug(section.key), section.title, section.findings, None, tuple(figures))


def plan_title(plan: CommissioningPlan) -> str:
    return f"Local commissioning plan for long-term conditions: {plan.area.name}"


def lay_out(plan: CommissioningPlan, suppressed: str | None = None) -> PlanLayout:
    """The plan's layout; `suppressed` is the symbol of a suppressed cell (the rule's)."""
    mark = suppressed or symbol()
    small = too_small(plan)
    return PlanLayout(
        plan=plan,
        title=plan_title(plan),
        too_small=small,
        too_small_message=too_small_message(plan),
        symbol=mark,
        sections=() if small else tuple(_section(s, mark) for s in plan.sections),
    )
