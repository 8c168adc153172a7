"""The plan's charts worked out as SVG shapes (numbers), drawn by one Jinja partial.

The same way `web/charts.py` draws a person's readings: geometry here, drawing in a template,
so a chart is inline SVG in the board's HTML, in its PDF and on the commissioners' page alike,
with no script and no inline style (the pages' Content-Security-Policy): colours are SVG
presentation attributes. This module stays apart from `web/` so `hoc commission` does not
load the web stack. A chart never stands alone: every renderer puts its table beside it, and
a suppressed value is never drawn as a zero-length bar but named (hazard H-084).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from houseofcare.commissioning.plan_model import Column, PlanChart, PlanTable

#: Colours of the series, in order: NHS identity colours with enough contrast on white.
PALETTE: Final = ("#005eb8", "#7c2855", "#007f3b", "#330072", "#ed8b00", "#425563")
INK: Final = "#212b32"
GREY: Final = "#4c6272"
GRID: Final = "#d8dde0"
WIDTH: Final = 640
FONT: Final = 12
#: Room for the category labels of a bar chart (characters × about 6.5 units each).
LABEL_CHARS: Final = 28


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float
    fill: str


@dataclass(frozen=True)
class Line:
    x1: float
    y1: float
    x2: float
    y2: float
    stroke: str = GRID


@dataclass(frozen=True)
class Polyline:
    points: str
    stroke: str
    dash: str = ""


@dataclass(frozen=True)
class Dot:
    cx: float
    cy: float
    fill: str


@dataclass(frozen=True)
class Text:
    x: float
    y: float
    text: str
    anchor: str = "start"
    fill: str = INK
    bold: bool = False


@dataclass
class Drawing:
    """One chart: its size, its words for screen readers and its shapes."""

    id: str
    title: str
    desc: str
    table_id: str
    width: float = WIDTH
    height: float = 0
    rects: list[Rect] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    polylines: list[Polyline] = field(default_factory=list)
    dots: list[Dot] = field(default_factory=list)
    texts: list[Text] = field(default_factory=list)


Format = Callable[[Any, Column], str]


def nice_step(span: float, ticks: int = 4) -> float:
    """A round step (1, 2 or 5 times a power of ten) giving about `ticks` intervals."""
    if span <= 0:
        return 1.0
    raw = span / max(ticks, 1)
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def _short(text: str, chars: int = LABEL_CHARS) -> str:
    return text if len(text) <= chars else text[: chars - 1] + "…"


def _category(value: Any) -> str:
    if isinstance(value, dt.date):
        return f"{value:%b %Y}"
    return "" if value is None else str(value)


def _legend(d: Drawing, columns: list[Column], y: float) -> float:
    """A key of the series under the plot; returns the height it takes."""
    x = 10.0
    for i, c in enumerate(columns):
        d.rects.append(Rect(x, y - 10, 12, 12, PALETTE[i % len(PALETTE)]))
        d.texts.append(Text(x + 17, y, c.words))
        x += 17 + 7 * len(c.words) + 18
    return 22


def draw(
    chart: PlanChart, table: PlanTable, *, chart_id: str, table_id: str, fmt: Format
) -> Drawing:
    """The drawing of `chart` from `table` (the table the chart names)."""
    x_at = table.column(chart.x)
    series = [(table.column(k), table.columns[table.column(k)]) for k in chart.y]
    words = ", ".join(c.words for _, c in series)
    d = Drawing(
        id=chart_id,
        title=chart.title,
        desc=(
            f"{'Line' if chart.kind == 'line' else 'Bar'} chart of {words} by "
            f"{table.columns[x_at].words.lower()}. The table “{table.title}” beside it gives "
            "every figure; a value not shown (disclosure control) is named, not drawn."
        ),
        table_id=table_id,
    )
    if chart.kind == "line":
        _line(d, table, x_at, series, fmt)
    else:
        _bars(d, table, x_at, series, fmt, stacked=chart.kind == "stacked_bar")
    return d


def _bars(
    d: Drawing,
    table: PlanTable,
    x_at: int,
    series: list[tuple[int, Column]],
    fmt: Format,
    *,
    stacked: bool,
) -> None:
    """Horizontal bars, one band per row: grouped (one bar per series) or stacked."""
    left, right, top = 8 + LABEL_CHARS * 6.5, 70.0, 22.0
    bar = 16.0
    per_row = bar if stacked else bar * len(series)
    band = per_row + 10
    values = [[row[i] for i, _ in series] for row in table.rows]
    totals = [
        sum(v for v in vs if v is not None) if stacked else max((v for v in vs if v), default=0)
        for vs in values
    ]
    high = max([*(float(t) for t in totals), 0.0])
    step = nice_step(high)
    top_value = max(step, math.ceil(high / step) * step) if high > 0 else 1.0
    plot = d.width - left - right
    bottom = top + band * len(table.rows)

    def x_of(v: float) -> float:
        return left + plot * v / top_value

    ticks = round(top_value / step)
    for i in range(ticks + 1):
        v = i * step
        d.lines.append(Line(x_of(v), top - 4, x_of(v), bottom))
        d.texts.append(Text(x_of(v), top - 8, fmt(v, series[0][1]), "middle", GREY))
    for r, (row, vs) in enumerate(zip(table.rows, values, strict=True)):
        y = top + r * band + 5
        d.texts.append(Text(left - 6, y + per_row / 2 + 4, _short(_category(row[x_at])), "end"))
        start = 0.0
        for s, ((_, column), v) in enumerate(zip(series, vs, strict=True)):
            colour = PALETTE[s % len(PALETTE)]
            y_bar = y if stacked else y + s * bar
            if v is None:
                if not stacked:
                    words = f"{fmt(None, column)} not shown"
                    d.texts.append(Text(left + 4, y_bar + bar - 4, words))
                continue
            width = plot * float(v) / top_value
            x0 = x_of(start) if stacked else left
            d.rects.append(Rect(x0, y_bar + 1, max(width, 0.0), bar - 2, colour))
            if stacked:
                start += float(v)
            else:
                d.texts.append(Text(x0 + width + 4, y_bar + bar - 4, fmt(v, column)))
        hidden = sum(1 for v in vs if v is None)
        if stacked and hidden:
            # no total is printed: a sum made here would be a figure of the renderer's own
            mark = fmt(None, series[0][1])
            d.texts.append(Text(x_of(start) + 4, y + bar - 4, f"{mark} {hidden} not shown"))
    d.lines.append(Line(left, top - 4, left, bottom, GREY))
    height = bottom + 12
    if len(series) > 1:
        height += _legend(d, [c for _, c in series], bottom + 24)
    d.height = height


def _line(
    d: Drawing, table: PlanTable, x_at: int, series: list[tuple[int, Column]], fmt: Format
) -> None:
    """Lines over the table's rows in order (dates or periods), a gap where a value is not
    shown."""
    left, right, top, plot_h = 64.0, 44.0, 14.0, 180.0
    bottom = top + plot_h
    shown = [float(row[i]) for row in table.rows for i, _ in series if row[i] is not None]
    high = max([*shown, 0.0])
    low = min([*shown, 0.0])
    step = nice_step(high - low)
    low, high = math.floor(low / step) * step, max(step, math.ceil(high / step) * step)
    n = len(table.rows)
    plot_w = d.width - left - right

    def x_of(i: int) -> float:
        return left + (plot_w / 2 if n == 1 else plot_w * i / (n - 1))

    def y_of(v: float) -> float:
        return bottom - plot_h * (v - low) / (high - low)

    for i in range(round((high - low) / step) + 1):
        v = low + i * step
        d.lines.append(Line(left, y_of(v), left + plot_w, y_of(v)))
        d.texts.append(Text(left - 6, y_of(v) + 4, fmt(v, series[0][1]), "end", GREY))
    every = max(1, math.ceil(n / 8))
    for i, row in enumerate(table.rows):
        if i % every == 0 or i == n - 1:
            anchor = "start" if i == 0 and n > 1 else "end" if i == n - 1 and n > 1 else "middle"
            d.texts.append(Text(x_of(i), bottom + 18, _category(row[x_at]), anchor, GREY))
        if all(row[at] is None for at, _ in series):
            words = f"{fmt(None, series[0][1])} not shown"
            d.texts.append(Text(x_of(i), top + 12, words, "middle"))
    for s, (at, _) in enumerate(series):
        colour = PALETTE[s % len(PALETTE)]
        run: list[str] = []
        for i, row in enumerate(table.rows):
            v = row[at]
            if v is None:
                if len(run) > 1:
                    d.polylines.append(Polyline(" ".join(run), colour, "" if s == 0 else "6 3"))
                run = []
                continue
            run.append(f"{x_of(i):.1f},{y_of(float(v)):.1f}")
            d.dots.append(Dot(x_of(i), y_of(float(v)), colour))
        if len(run) > 1:
            d.polylines.append(Polyline(" ".join(run), colour, "" if s == 0 else "6 3"))
    d.lines.append(Line(left, bottom, left + plot_w, bottom, GREY))
    height = bottom + 28
    if len(series) > 1:
        height += _legend(d, [c for _, c in series], bottom + 44)
    d.height = height
