"""The plan as one long CSV: a row per figure (area, run date, section, table, row, column,
kind, value), so R, Python or a spreadsheet can pivot it as it likes.

Every row carries the area and the run's date, so a cut of the file still says where and
when it is from (hazard H-083). A suppressed figure's value is the rule's symbol, never an
empty cell a script would read as missing or zero (hazard H-085); a too-small plan is one
row saying so.
"""

from __future__ import annotations

import csv
from io import StringIO
from typing import Final

from houseofcare.commissioning.plan_model import CommissioningPlan
from houseofcare.commissioning.plan_output.cells import NUMERIC_KINDS, row_label, symbol
from houseofcare.commissioning.plan_output.layout import lay_out

HEADER: Final = ("area", "run_date", "section", "table", "row", "column", "kind", "value")


def plan_csv(plan: CommissioningPlan, suppressed: str | None = None) -> bytes:
    """The CSV's bytes (UTF-8)."""
    mark = suppressed or symbol()
    layout = lay_out(plan, mark)
    out = StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    where, when = plan.area.name, plan.run_date.isoformat()
    if layout.too_small:
        writer.writerow([where, when, "", "", "", "message", "text", layout.too_small_message])
    else:
        for section in plan.sections:
            if section.message is not None:
                writer.writerow(
                    [where, when, section.key, "", "", "message", "text", section.message]
                )
                continue
            for table in section.tables:
                for row in table.rows:
                    label = row_label(table, row)
                    for c, v in zip(table.columns, row, strict=False):
                        if c.kind not in NUMERIC_KINDS:
                            continue
                        value = mark if v is None else v
                        writer.writerow(
                            [where, when, section.key, table.key, label, c.key, c.kind, value]
                        )
    return out.getvalue().encode("utf-8")
