"""Small line charts of readings over time, drawn on the server as SVG geometry.

The pages run no inline script or style (Content-Security-Policy), and must work without
JavaScript, so a chart is worked out here as numbers (points, polylines, axis ticks) and
drawn by the template `person_charts.html` with SVG elements and classes in `hoc.css`. A
chart never stands alone: the page puts the table of its readings beside it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

#: The drawing's size in SVG user units (it scales to the column's width).
WIDTH: Final = 480
HEIGHT: Final = 200
#: Room for the axis labels: left, top, right, bottom.
MARGIN: Final = (44, 12, 12, 28)


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    date: dt.date
    value: float


@dataclass(frozen=True)
class Line:
    """One measure's readings, oldest first."""

    label: str
    #: Which line style (hoc.css `.hoc-chart__line--N`): 1, 2, …
    style: int
    points: tuple[Point, ...]

    @property
    def polyline(self) -> str:
        """The `points` attribute of an SVG polyline."""
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)


@dataclass(frozen=True)
class Tick:
    at: float
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: float
    top: float
    right: float
    bottom: float
    lines: tuple[Line, ...]
    y_ticks: tuple[Tick, ...]
    x_ticks: tuple[Tick, ...]


def _nice_step(span: float, ticks: int) -> float:
    """A round step (1, 2 or 5 times a power of ten) giving about `ticks` intervals."""
    raw = span / max(ticks, 1)
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def _value_label(value: float, step: float) -> str:
    decimals = 0 if step >= 1 else min(3, -math.floor(math.log10(step)))
    return f"{value:.{decimals}f}"


def line_chart(
    series: Mapping[str, Sequence[tuple[dt.date, float]]],
    *,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> Chart | None:
    """A chart of each labelled series (date, value), on shared axes; None when there is
    nothing to draw."""
    readings = [(d, v) for values in series.values() for d, v in values]
    if not readings:
        return None
    left, top = MARGIN[0], MARGIN[1]
    right, bottom = width - MARGIN[2], height - MARGIN[3]
    low, high = min(v for _, v in readings), max(v for _, v in readings)
    # a flat or single reading gets room around it (a fifth of its size), so the axis reads
    # in round numbers rather than magnifying a tiny difference
    least = max(abs(high) * 0.2, 1.0)
    if high - low < least:
        middle = (high + low) / 2
        low, high = middle - least / 2, middle + least / 2
    step = _nice_step(high - low, 4)
    low, high = math.floor(low / step) * step, math.ceil(high / step) * step
    first, last = min(d for d, _ in readings), max(d for d, _ in readings)
    days = max((last - first).days, 1)

    def x_of(day: dt.date) -> float:
        if first == last:
            return (left + right) / 2
        return left + (right - left) * (day - first).days / days

    def y_of(value: float) -> float:
        return bottom - (bottom - top) * (value - low) / (high - low)

    lines = tuple(
        Line(
            label=label,
            style=index + 1,
            points=tuple(Point(x_of(d), y_of(v), d, v) for d, v in sorted(values)),
        )
        for index, (label, values) in enumerate(series.items())
        if values
    )
    count = round((high - low) / step)
    y_ticks = tuple(
        Tick(y_of(low + i * step), _value_label(low + i * step, step)) for i in range(count + 1)
    )
    x_ticks = (Tick(x_of(first), f"{first:%b %Y}"),)
    if last != first:
        x_ticks += (Tick(x_of(last), f"{last:%b %Y}"),)
    return Chart(width, height, left, top, right, bottom, lines, y_ticks, x_ticks)
