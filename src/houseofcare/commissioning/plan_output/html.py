"""The plan as one self-contained HTML document a board can read (and Chromium prints to PDF).

Styled inline after the NHS.UK design system, charts as inline SVG each with its table, no
script and nothing fetched: the document carries a Content-Security-Policy forbidding any
request, so it opens the same offline, in an email or on a board's laptop.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Final

from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup

from houseofcare import __version__
from houseofcare.commissioning.plan_model import CommissioningPlan
from houseofcare.commissioning.plan_output.cells import area_words
from houseofcare.commissioning.plan_output.layout import PlanLayout, lay_out

TEMPLATES: Final = Path(__file__).with_name("templates")


@cache
def environment() -> Environment:
    """The plan's templates (apart from the pages', so the CLI needs no web stack)."""
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )


def footer(plan: CommissioningPlan) -> str:
    """What every printed page says at its foot: which area, as of which run (when the plan
    was made is on its first page; the footer stays one line)."""
    return f"{plan.area.name}: figures as of {plan.run_date:%-d %B %Y} (run {plan.run_id})"


def _css_string(text: str) -> Markup:
    """`text` as a CSS string literal (a page footer's `content`)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("<", "\\3c ")
    return Markup(f'"{escaped}"')


def sections_html(layout: PlanLayout) -> Markup:
    """The plan's content alone: what the commissioners' page shows inside its layout."""
    return Markup(environment().get_template("plan_sections.html").render(l=layout))


def plan_html(plan: CommissioningPlan, suppressed: str | None = None) -> str:
    """The whole document."""
    return (
        environment()
        .get_template("plan_document.html")
        .render(
            l=lay_out(plan, suppressed),
            area_words=area_words(plan.area),
            version=__version__,
            footer_css=_css_string(footer(plan)),
        )
    )
