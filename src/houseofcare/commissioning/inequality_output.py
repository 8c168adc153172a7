"""The inequality report as a reader sees it: tables in the terminal, and CSV for analysts.

Suppressed counts show as the rule's symbol; a rate from a suppressed count is not shown. The
CSV is long form (one row per figure) so a spreadsheet or R can pivot it as it likes.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from houseofcare.commissioning.disclosure import packaged_rule
from houseofcare.commissioning.inequalities import Estimate
from houseofcare.commissioning.inequality import MeasureInequality

SPLIT_WORDS = {
    "imd_quintile": "IMD quintile",
    "ethnic_group": "ethnic group",
    "sex": "sex",
    "age_band": "age band",
}


def _figure(value: float | None) -> str:
    return "" if value is None else f"{value:,.2f}"


def _count(value: int | None) -> str:
    return packaged_rule().symbol if value is None else f"{value:,}"


def _limits(estimate: Estimate) -> str:
    if estimate.lower is None or estimate.upper is None:
        return ""
    return f"{_figure(estimate.lower)} to {_figure(estimate.upper)}"


def print_report(console: Console, found: Sequence[MeasureInequality], run_id: str) -> None:
    rule = packaged_rule()
    console.print(
        f"inequalities, run {run_id}: counts of 1 to {rule.suppress_at_or_below} show as "
        f"{rule.symbol}, others are rounded to the nearest {rule.round_to}; rates are worked "
        "out from the rounded counts, with 95% limits"
    )
    for m in found:
        table = Table(title=f"{m.measure.name} ({m.unit})")
        for column, right in (
            ("group", False),
            ("value", True),
            ("95% limits", True),
            ("numerator", True),
            ("denominator", True),
        ):
            table.add_column(column, justify="right" if right else "left")
        groups = [("", m.overall)] + [
            (SPLIT_WORDS[split], g) for split, gs in m.splits.items() for g in gs
        ]
        for split, g in groups:
            table.add_row(
                f"{split}: {g.label}" if split else g.label,
                _figure(g.estimate.value),
                _limits(g.estimate),
                _count(g.numerator),
                _count(g.denominator),
            )
        console.print(table)
        standardised = ", ".join(
            f"{label} {_figure(e.value) or 'not shown (under 10 events)'}"
            for label, e in m.standardised
        )
        console.print(f"  age-standardised (ESP 2013) by IMD quintile: {standardised}")
        if m.slope is None:
            console.print(f"  slope index of inequality: not computed ({m.no_slope})")
        else:
            s = m.slope
            console.print(
                f"  slope index of inequality {_figure(s.sii)} {m.unit} "
                f"(95% {_figure(s.sii_lower)} to {_figure(s.sii_upper)}), relative index "
                f"{s.rii:.2f} ({s.rii_lower:.2f} to {s.rii_upper:.2f}): least deprived end "
                "against most deprived end, across IMD deciles"
            )


def write_csv(path: Path, found: Sequence[MeasureInequality]) -> None:
    """One row per figure: measure, what, group, value, lower, upper, numerator, denominator."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(
            ["measure", "unit", "what", "group", "value", "lower", "upper", "numerator",
             "denominator"]
        )  # fmt: skip
        for m in found:
            rows = [("overall", m.overall)] + [
                (split, g) for split, gs in m.splits.items() for g in gs
            ]
            for what, g in rows:
                e = g.estimate
                out.writerow(
                    [m.measure.id, m.unit, what, g.label, e.value, e.lower, e.upper,
                     g.numerator, g.denominator]
                )  # fmt: skip
            for label, e in m.standardised:
                out.writerow(
                    [m.measure.id, m.unit, "age_standardised", label, e.value, e.lower,
                     e.upper, "", ""]
                )  # fmt: skip
            if m.slope is not None:
                s = m.slope
                out.writerow(
                    [m.measure.id, m.unit, "sii", "IMD deciles", s.sii, s.sii_lower,
                     s.sii_upper, "", ""]
                )  # fmt: skip
                out.writerow(
                    [m.measure.id, "ratio", "rii", "IMD deciles", s.rii, s.rii_lower,
                     s.rii_upper, "", ""]
                )  # fmt: skip
