"""The Kaiser triangle drawn as a triangle, worked out on the server as SVG geometry.

Levels 3, 2 and 1 are the triangle's bands, top to bottom (case management at the apex), and
level 0, prevention for the whole population, is the ground it stands on. The bands are of
equal height, not of area proportional to their people: level 3 holds a few per cent of the
population and would vanish. Each band is labelled beside the triangle with its people and
share, and the page puts the same figures in a table beside the drawing (a chart never
stands alone). No script and no inline style: the template draws it with classes from
`hoc.css` (Content-Security-Policy).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from houseofcare.commissioning.population import Share

WIDTH: Final = 600
#: The triangle's apex, its base's half-width and the height of each band.
APEX_X: Final = 140.0
TOP: Final = 12.0
HALF_BASE: Final = 125.0
BAND: Final = 72.0
GROUND: Final = 56.0
LABEL_X: Final = 300.0


@dataclass(frozen=True)
class Band:
    """One level's shape and its label."""

    level: int
    #: The level's words without its number ("case management").
    words: str
    #: The SVG polygon's `points`.
    points: str
    label_y: float
    #: The leader line from the band to its label.
    leader: tuple[float, float, float, float]
    title: str
    figures: str


@dataclass(frozen=True)
class TriangleDrawing:
    width: int
    height: int
    bands: tuple[Band, ...]
    #: The drawing in one sentence (the SVG's description for screen readers).
    summary: str


def _people(share: Share) -> str:
    if share.people is None:
        return "fewer than 8 people (not shown)"
    return (
        f"{share.people:,} people ({share.share_pct:.1f}%)"
        if share.share_pct is not None
        else (f"{share.people:,} people")
    )


def _words(label: str) -> str:
    """ "Level 2: disease-specific care management" → "disease-specific care management"."""
    return label.split(": ", 1)[-1]


def _x(y: float) -> float:
    """The triangle's half-width at height `y`."""
    return HALF_BASE * (y - TOP) / (3 * BAND)


def triangle_drawing(levels: Sequence[Share]) -> TriangleDrawing:
    """The drawing of the four levels (`levels` in the order 3, 2, 1, 0)."""
    bands = []
    for i, share in enumerate(levels[:3]):
        y0, y1 = TOP + i * BAND, TOP + (i + 1) * BAND
        w0, w1 = _x(y0), _x(y1)
        points = (
            f"{APEX_X - w0:.1f},{y0:.1f} {APEX_X + w0:.1f},{y0:.1f} "
            f"{APEX_X + w1:.1f},{y1:.1f} {APEX_X - w1:.1f},{y1:.1f}"
        )
        middle = (y0 + y1) / 2 + (BAND / 6 if i == 0 else 0)
        edge = APEX_X + _x(middle)
        bands.append(
            Band(
                3 - i,
                _words(share.label),
                points,
                middle,
                (edge + 6, middle, LABEL_X - 8, middle),
                share.label,
                _people(share),
            )
        )
    ground_top = TOP + 3 * BAND + 6
    ground = levels[3]
    left, right = APEX_X - HALF_BASE - 10, APEX_X + HALF_BASE + 10
    middle = ground_top + GROUND / 2
    bands.append(
        Band(
            0,
            _words(ground.label),
            f"{left:.1f},{ground_top:.1f} {right:.1f},{ground_top:.1f} "
            f"{right:.1f},{ground_top + GROUND:.1f} {left:.1f},{ground_top + GROUND:.1f}",
            middle,
            (right + 6, middle, LABEL_X - 8, middle),
            ground.label,
            _people(ground),
        )
    )
    summary = "The triangle of need: " + "; ".join(f"{b.title}, {b.figures}" for b in bands) + "."
    return TriangleDrawing(WIDTH, int(ground_top + GROUND + TOP), tuple(bands), summary)
