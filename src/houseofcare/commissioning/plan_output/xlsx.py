"""The plan as a spreadsheet (openpyxl): an `About` sheet, then one sheet per section.

Numbers are numbers (with a number format by the column's kind) so an analyst can work with
them; a suppressed cell is the rule's symbol as text, never a blank or a zero a formula would
count (hazard H-085). Every sheet's first lines repeat the area and the run's date, so a
sheet copied out alone still says how old it is (hazard H-083).
"""

from __future__ import annotations

import re
from io import BytesIO
from typing import Final

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.worksheet.worksheet import Worksheet

from houseofcare.commissioning.plan_model import CommissioningPlan, PlanTable
from houseofcare.commissioning.plan_output.cells import NUMERIC_KINDS, area_words, symbol
from houseofcare.commissioning.plan_output.layout import lay_out

#: Excel number formats by column kind (percent values are 0-100, not fractions).
NUMBER_FORMATS: Final = {
    "count": "#,##0",
    "percent": '0.0"%"',
    "rate": "#,##0.0",
    "money": '"£"#,##0',
    "wte": "#,##0.0",
    "number": "General",
}
BOLD: Final = Font(bold=True)


def _sheet_name(title: str, taken: set[str]) -> str:
    """A sheet name Excel accepts (31 characters, none of []:*?/\\) and not yet used."""
    base = re.sub(r"[\[\]:*?/\\]", " ", title).strip()[:28] or "Section"
    name, n = base, 2
    while name.lower() in taken:
        name = f"{base[:25]} ({n})"
        n += 1
    taken.add(name.lower())
    return name


def _stamp(sheet: Worksheet, plan: CommissioningPlan) -> None:
    sheet.append([f"{plan.area.name}: figures as of {plan.run_date.isoformat()}"
                  f" (pipeline run {plan.run_id})"])  # fmt: skip
    sheet.append([f"Disclosure control: {plan.disclosure}"])
    sheet.append([])


def _table(sheet: Worksheet, table: PlanTable, mark: str) -> None:
    sheet.append([table.title])
    sheet.cell(sheet.max_row, 1).font = BOLD
    sheet.append([c.words for c in table.columns])
    for cell in sheet[sheet.max_row]:
        cell.font = BOLD
    for row in table.rows:
        values = [
            mark if v is None and c.kind in NUMERIC_KINDS else v
            for c, v in zip(table.columns, row, strict=False)
        ]
        sheet.append(values)
        for i, c in enumerate(table.columns, start=1):
            cell = sheet.cell(sheet.max_row, i)
            if c.kind in NUMBER_FORMATS and not isinstance(cell.value, str):
                cell.number_format = NUMBER_FORMATS[c.kind]
            elif c.kind in NUMERIC_KINDS:
                cell.alignment = Alignment(horizontal="right")
    if table.note:
        sheet.append([table.note])
    sheet.append([])


def plan_xlsx(plan: CommissioningPlan, suppressed: str | None = None) -> bytes:
    """The workbook's bytes."""
    mark = suppressed or symbol()
    layout = lay_out(plan, mark)
    book = Workbook()
    about = book.active
    assert about is not None
    about.title = "About"
    taken = {"about"}
    about.append([layout.title])
    about.cell(1, 1).font = Font(bold=True, size=14)
    for label, value in (
        ("Area", area_words(plan.area)),
        ("Figures as of", f"{plan.run_date.isoformat()} (pipeline run {plan.run_id})"),
        ("Plan made", f"{plan.made_at:%Y-%m-%d %H:%M} UTC"),
        ("Disclosure control", f"{plan.disclosure}; {mark} is a count not shown"),
    ):
        about.append([label, value])
    about.append([])
    if layout.too_small:
        about.append([layout.too_small_message])
    for h in plan.headlines:
        about.append([h])
    if plan.sources:
        about.append([])
        about.append(["Sources"])
        for s in plan.sources:
            about.append([s.citation, s.year, s.url])
    about.column_dimensions["A"].width = 24
    about.column_dimensions["B"].width = 60
    if not layout.too_small:
        for section in plan.sections:
            sheet = book.create_sheet(_sheet_name(section.title, taken))
            _stamp(sheet, plan)
            sheet.append([section.title])
            sheet.cell(sheet.max_row, 1).font = Font(bold=True, size=13)
            for f in section.findings:
                sheet.append([f])
            if section.message is not None:
                sheet.append([section.message])
                continue
            sheet.append([])
            for table in section.tables:
                _table(sheet, table, mark)
            sheet.column_dimensions["A"].width = 36
    out = BytesIO()
    book.save(out)
    return out.getvalue()
