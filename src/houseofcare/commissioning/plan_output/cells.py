"""A plan's cells as a reader sees them, and whether the plan has any figure to show at all.

Every format formats a cell here, by its column's kind (never by guessing from the value), so
the HTML, the PDF, the page, the spreadsheet's text and the CSV cannot disagree: a suppressed
count is the disclosure rule's symbol everywhere, and so is a percentage worked out from one.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from houseofcare.commissioning.disclosure import packaged_rule
from houseofcare.commissioning.plan_model import Area, Column, CommissioningPlan, PlanTable

#: Kinds whose values are figures (right-aligned; None is shown as the rule's symbol).
NUMERIC_KINDS: Final = frozenset({"count", "percent", "rate", "money", "wte", "number"})


def symbol() -> str:
    """What a suppressed cell shows: the packaged rule's symbol (`disclosure.toml`)."""
    return packaged_rule().symbol


def cell_text(value: Any, column: Column, suppressed: str | None = None) -> str:
    """One cell in words: counts with thousands separators, percentages to one place,
    money in whole pounds, whole-time equivalents to one place."""
    kind = column.kind
    if value is None:
        return (suppressed or symbol()) if kind in NUMERIC_KINDS else ""
    if kind == "count":
        return f"{int(value):,}"
    if kind == "percent":
        return f"{float(value):.1f}%"
    if kind == "rate":
        return f"{float(value):,.1f}"
    if kind == "money":
        return f"£{float(value):,.0f}"
    if kind == "wte":
        return f"{float(value):,.1f}"
    if kind == "number":
        return f"{value:,}" if isinstance(value, int) else f"{float(value):,.2f}"
    if isinstance(value, dt.date):
        return f"{value:%-d %b %Y}"
    return str(value)


def area_words(area: Area) -> str:
    """The area as the plan's opening box names it: a practice with its id, a locality with
    its local authority's ONS code."""
    if area.kind == "practice":
        return f"{area.name} (practice {area.code})"
    if area.kind == "locality":
        from houseofcare.commissioning.plan_output.areas import locality_codes

        code = locality_codes().get(area.name)
        return f"{area.name} (local authority {code})" if code else f"{area.name} (locality)"
    return area.name


def row_label(table: PlanTable, row: tuple[Any, ...]) -> str:
    """What a row is about: its text cells, joined (the first cell if it has none)."""
    words = [str(v) for c, v in zip(table.columns, row, strict=False) if c.kind == "text" and v]
    return " | ".join(words) if words else str(row[0])


def has_figures(plan: CommissioningPlan) -> bool:
    """Whether any count in the plan survived disclosure control (shown, and above zero).

    A plan whose every count is suppressed, zero or missing tells a board nothing, and
    printing its empty tables would read as "no need here" (hazard H-085)."""
    for section in plan.sections:
        if section.message is not None:
            continue
        for table in section.tables:
            counts = [i for i, c in enumerate(table.columns) if c.kind == "count"]
            if any(row[i] is not None and row[i] > 0 for row in table.rows for i in counts):
                return True
    return False


def too_small(plan: CommissioningPlan) -> bool:
    """The plan says plainly that the area is too small, instead of printing empty tables."""
    return plan.too_small or not has_figures(plan)


def too_small_message(plan: CommissioningPlan) -> str:
    """The sentence a too-small plan prints in place of its sections."""
    return (
        f"There are too few people in {plan.area.name} for any figure of this plan to survive "
        f"disclosure control ({plan.disclosure}), so it shows none. This is not a finding "
        "that the area has no need: choose a larger area (its locality, or everyone)."
    )
