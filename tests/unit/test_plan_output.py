"""The plan's renderers on a hand-made plan (`tests/plan_fixture.py`): every format shows the
same cells, formatted by kind, a suppressed cell as the rule's symbol, each chart with its
table, and a plan with no surviving figure says so instead of printing empty tables."""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import replace
from pathlib import Path

import pytest
from openpyxl import load_workbook

from houseofcare.commissioning.plan_model import Area, Column, PlanChart, PlanSection
from houseofcare.commissioning.plan_output import UnknownFormat, format_of, write_plan
from houseofcare.commissioning.plan_output.areas import EVERYONE, UnknownArea, resolve_area
from houseofcare.commissioning.plan_output.cells import cell_text, has_figures, too_small
from houseofcare.commissioning.plan_output.charts import PALETTE, draw, nice_step
from houseofcare.commissioning.plan_output.html import plan_html
from houseofcare.commissioning.plan_output.layout import lay_out
from houseofcare.commissioning.plan_output.long_csv import HEADER, plan_csv
from houseofcare.commissioning.plan_output.xlsx import plan_xlsx
from houseofcare.commissioning.population import Practice
from tests.plan_fixture import CAPACITY, LEVELS_BY_IMD, NEEDS, TREND, fixture_plan, too_small_plan


@pytest.mark.parametrize(
    ("value", "kind", "shown"),
    [
        (1234, "count", "1,234"),
        (None, "count", "*"),
        (24.25, "percent", "24.2%"),
        (None, "percent", "*"),
        (38.94, "rate", "38.9"),
        (245000.0, "money", "£245,000"),
        (4.55, "wte", "4.5"),
        (7, "number", "7"),
        (None, "text", ""),
        (dt.date(2026, 3, 31), "text", "31 Mar 2026"),
    ],
)
def test_a_cell_is_formatted_by_its_columns_kind(value: object, kind: str, shown: str) -> None:
    assert cell_text(value, Column("c", "C", kind)) == shown  # type: ignore[arg-type]


def test_a_plan_whose_every_count_is_suppressed_is_too_small() -> None:
    assert has_figures(fixture_plan()) and not too_small(fixture_plan())
    assert not has_figures(too_small_plan()) and too_small(too_small_plan())
    # a section's message hides its tables: figures behind a message do not count
    hidden = replace(
        fixture_plan(),
        sections=tuple(replace(s, message="Too few.") for s in fixture_plan().sections),
    )
    assert too_small(hidden)
    assert too_small(replace(fixture_plan(), too_small=True))


def test_the_layout_puts_each_chart_with_its_table_and_keeps_the_rest() -> None:
    extra = replace(NEEDS, key="needs_by_locality", title="Needs by locality")
    plan = fixture_plan()
    first = replace(
        plan.sections[0],
        tables=(NEEDS, extra),
        charts=(*plan.sections[0].charts, PlanChart("bar", "no_such_table", "x", ("y",), "Lost")),
    )
    layout = lay_out(replace(plan, sections=(first, *plan.sections[1:])))
    figures = layout.sections[0].figures
    assert [f.drawing is not None for f in figures] == [True, False]  # the lost chart: dropped
    assert [f.table.title for f in figures] == [NEEDS.title, "Needs by locality"]
    assert figures[0].drawing is not None and figures[0].drawing.table_id == figures[0].table.id
    housing = figures[0].table.rows[2]
    assert [c.text for c in housing] == ["Housing", "*", "*"]
    assert [c.suppressed for c in housing] == [False, True, True]
    unmet = layout.sections[-1]
    assert unmet.message is not None and unmet.figures == ()
    ids = [f.table.id for s in layout.sections for f in s.figures]
    assert len(ids) == len(set(ids))
    assert lay_out(too_small_plan()).sections == ()


def test_a_suppressed_value_is_named_in_a_chart_never_drawn_as_nothing() -> None:
    fmt = lambda v, c: cell_text(v, c)  # noqa: E731
    bars = draw(PlanChart("bar", NEEDS.key, "domain", ("people",), "Needs"), NEEDS,
                chart_id="c", table_id="t", fmt=fmt)  # fmt: skip
    assert len(bars.rects) == 3  # four rows, one suppressed
    assert any(t.text == "* not shown" for t in bars.texts)
    assert {t.text for t in bars.texts} >= {"145", "210", "95", "Housing"}
    assert "beside it gives every figure" in bars.desc
    stacked = draw(
        PlanChart("stacked_bar", LEVELS_BY_IMD.key, "quintile", ("level1", "level2", "level3"),
                  "Levels"),
        LEVELS_BY_IMD, chart_id="s", table_id="t", fmt=fmt,
    )  # fmt: skip
    assert {r.fill for r in stacked.rects} >= set(PALETTE[:3])
    assert any(t.text == "* 1 not shown" for t in stacked.texts)
    # no total is printed: a sum made by the renderer would be a figure of its own
    assert not any(t.text in {"1,945", "1,170"} for t in stacked.texts)
    line = draw(PlanChart("line", TREND.key, "quarter", ("share",), "Reviewed"), TREND,
                chart_id="l", table_id="t", fmt=fmt)  # fmt: skip
    assert len(line.dots) == 3 and len(line.polylines) == 1  # a gap where a value is hidden
    assert {t.text for t in line.texts} >= {"Jun 2025", "Mar 2026", "* not shown"}
    money = draw(PlanChart("bar", CAPACITY.key, "team", ("cost",), "Cost"), CAPACITY,
                 chart_id="m", table_id="t", fmt=fmt)  # fmt: skip
    assert "£245,000" in {t.text for t in money.texts}


def test_nice_steps_are_round() -> None:
    assert [nice_step(s) for s in (0, 7, 40, 210, 1945)] == [1.0, 2, 10, 100, 500]


def test_the_html_is_self_contained_and_says_where_when_and_how_controlled() -> None:
    html = plan_html(fixture_plan())
    head = html.split("</head>")[0]
    assert "Content-Security-Policy" in head and "default-src 'none'" in head
    assert "<script" not in html and "src=" not in html and "<link" not in html
    assert html.count("<svg") == 4 and html.count("<table") == 4
    for words in (
        "Luton (local authority E06000032)",
        "31 March 2026 (pipeline run run-20260331-1)",
        "Counts of 1 to 7 are shown as *",
        "Unit Costs of Health and Social Care",
        "Too few unmet needs were recorded in Luton",
        "£245,000",
    ):
        assert words in html
    assert '"Luton: figures as of 31 March 2026 (run run-20260331-1)' in head  # page footer
    small = plan_html(too_small_plan())
    assert "There are too few people in The Tiny Surgery" in small and "<table" not in small
    odd = plan_html(fixture_plan(Area("practice", "P1", 'The "Quoted" <Surgery>')))
    assert "The &#34;Quoted&#34; &lt;Surgery&gt;" in odd  # escaped in the body
    assert '\\"Quoted\\" \\3c Surgery>' in odd.split("</style>")[0]  # and in the CSS string


def test_the_spreadsheet_has_numbers_as_numbers_and_the_symbol_for_suppressed() -> None:
    book = load_workbook(io.BytesIO(plan_xlsx(fixture_plan())))
    assert book.sheetnames == [
        "About",
        "Needs by domain",
        "Capacity for case management",
        "Inequalities in need",
        "Care plans over time",
        "Unmet need",
    ]
    about = [[c for c in row if c is not None] for row in book["About"].iter_rows(values_only=True)]
    assert ["Figures as of", "2026-03-31 (pipeline run run-20260331-1)"] in about
    needs = book["Needs by domain"]
    assert "figures as of 2026-03-31" in needs["A1"].value
    rows = [list(r) for r in needs.iter_rows(values_only=True)]
    assert ["Managing money", 145, 24.2] in rows
    assert ["Housing", "*", "*"] in rows
    cell = next(c for row in needs.iter_rows() for c in row if c.value == 145)
    assert cell.number_format == "#,##0"
    capacity = [list(r) for r in book["Capacity for case management"].iter_rows(values_only=True)]
    assert ["North locality", 320, 4.6, 245000] in capacity
    unmet = [r[0] for r in book["Unmet need"].iter_rows(values_only=True)]
    assert "Too few unmet needs were recorded in Luton for any figure to be shown." in unmet
    small = load_workbook(io.BytesIO(plan_xlsx(too_small_plan())))
    assert small.sheetnames == ["About"]


def test_the_csv_is_one_long_table_every_row_dated() -> None:
    rows = list(csv.reader(io.StringIO(plan_csv(fixture_plan()).decode())))
    assert tuple(rows[0]) == HEADER
    body = rows[1:]
    assert all(r[:2] == ["Luton", "2026-03-31"] for r in body)
    assert ["Luton", "2026-03-31", "needs", "needs_by_domain", "Housing", "people", "count",
            "*"] in body  # fmt: skip
    assert ["Luton", "2026-03-31", "trends", "plans_over_time", "2025-06-30", "share",
            "percent", "41.0"] in body  # fmt: skip
    unmet = "Too few unmet needs were recorded in Luton for any figure to be shown."
    assert ["Luton", "2026-03-31", "unmet", "", "", "message", "text", unmet] in body
    figures = sum(
        sum(1 for c in t.columns if c.kind != "text") * len(t.rows)
        for s in fixture_plan().sections
        for t in s.tables
    )
    assert len(body) == figures + 1
    small = list(csv.reader(io.StringIO(plan_csv(too_small_plan()).decode())))
    assert len(small) == 2 and "too few people" in small[1][7]


def test_the_format_is_the_suffix_and_a_write_replaces_the_file_whole(tmp_path: Path) -> None:
    assert format_of(Path("plan.XLSX")) == ".xlsx"
    with pytest.raises(UnknownFormat, match=r"\.html, \.pdf, \.xlsx, \.csv"):
        format_of(Path("plan.docx"))
    out = tmp_path / "deep" / "plan.csv"
    write_plan(fixture_plan(), out)
    first = out.read_bytes()
    out.chmod(0o640)
    write_plan(too_small_plan(), out)
    assert out.read_bytes() != first and out.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in out.parent.iterdir()] == ["plan.csv"]


PRACTICES = [
    Practice("P1", "Park Surgery", "Luton"),
    Practice("P2", "High Street Practice", "Luton"),
    Practice("P3", "Hill Surgery", "Bedford"),
]


def test_an_area_is_everyone_a_locality_or_a_practice() -> None:
    assert resolve_area(None, PRACTICES) == EVERYONE == resolve_area("ALL", PRACTICES)
    assert resolve_area("p3", PRACTICES) == Area("practice", "P3", "Hill Surgery")
    luton = resolve_area("luton", PRACTICES)
    assert luton == Area("locality", "Luton", "Luton")  # as the frames cut a locality
    assert resolve_area("E06000032", PRACTICES) == luton
    with pytest.raises(UnknownArea) as refused:
        resolve_area("Nowhere", PRACTICES)
    message = str(refused.value)
    assert "no practice or locality 'Nowhere'" in message
    for choice in (
        "`all`",
        "Bedford (E06000055)",
        "Luton (E06000032)",
        "P1 (Park Surgery)",
    ):
        assert choice in message


def test_a_plan_without_sections_has_nothing_to_show() -> None:
    empty = replace(fixture_plan(), sections=(PlanSection("x", "X"),))
    assert too_small(empty) and too_small(replace(fixture_plan(), sections=()))
