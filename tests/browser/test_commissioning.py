"""Issue 14 in Chromium: a commissioner opens the commissioners' page, chooses an area (with
and without JavaScript), downloads the plan, and a nurse is refused; axe-core finds nothing
serious on the page (desktop and phone) or in the board's HTML document.

The page is the browser tests' own `hoc serve` over their stores (the real plan of their
latest run); the board's document is checked on a hand-made plan with every kind of chart
(`tests/plan_fixture.py`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from houseofcare.commissioning.plan_output.html import plan_html
from tests.browser.conftest import ROOT, SCREENSHOTS, Site, Tab
from tests.plan_fixture import fixture_plan

PHONE = {"width": 375, "height": 812}


@pytest.fixture
def desk(browser: Browser, site: Site) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    yield Tab(context.new_page(), site)
    context.close()


def _every_chart_has_its_table(page: Page) -> int:
    """Each chart is followed, in its figure, by a table; the number of charts."""
    return page.evaluate(
        """() => { const charts = [...document.querySelectorAll('svg.hoc-plan-chart')];
             for (const c of charts) {
               const figure = c.closest('.hoc-plan-figure');
               if (!figure || !figure.querySelector('table')) throw new Error(c.id);
               const title = c.querySelector('title'), desc = c.querySelector('desc');
               if (!title || !desc || c.getAttribute('role') !== 'img') throw new Error(c.id);
             }
             return charts.length; }"""
    )


def _plan_or_too_small(page: Page) -> None:
    """The page shows the plan's sections, or says plainly that the area is too small."""
    small = page.locator("#too-small")
    if small.count():
        expect(small).to_contain_text("too few people")
        assert page.locator("table.hoc-plan-table").count() == 0
    else:
        assert page.locator("section.hoc-plan-section").count() > 0
    _every_chart_has_its_table(page)


def test_a_commissioner_sees_the_plan_and_chooses_an_area(desk: Tab) -> None:
    page = desk.sign_in("demo.commissioner")
    assert page.locator("header a[href='/commissioning']").count() >= 1
    page = desk.open("/commissioning")
    expect(page.get_by_role("heading", level=1)).to_have_text("Commissioning plan")
    expect(page.locator(".nhsuk-inset-text").first).to_contain_text("Figures come from")
    expect(page.locator("#too-small")).to_have_count(0)
    assert _every_chart_has_its_table(page) >= 1
    links = page.locator(".hoc-plan-downloads a")
    expect(links).to_have_count(4)
    assert [links.nth(i).get_attribute("href") for i in range(4)] == [
        f"/commissioning/plan.{f}?area=all" for f in ("html", "pdf", "xlsx", "csv")
    ]
    desk.accessible()
    # the page's top (the chooser, the downloads, the first section): the whole plan is long
    page.screenshot(
        path=str(SCREENSHOTS / "commissioning.png"),
        full_page=True,
        clip={"x": 0, "y": 0, "width": 1100, "height": 2600},
    )
    practice = page.locator("#area option").last  # a practice (after everyone, localities)
    value, words = practice.get_attribute("value"), practice.inner_text()
    page.get_by_label("Area").select_option(value)
    page.get_by_role("button", name="Show the plan").click()
    page.wait_for_load_state()
    assert f"area={value}" in page.url
    assert page.get_by_label("Area").input_value() == value
    expect(page.locator(".nhsuk-inset-text").first).to_contain_text(
        words.split(": ", 1)[1].split(" (")[0]
    )
    _plan_or_too_small(page)
    desk.accessible()
    assert desk.csp_violations == []


def test_an_unknown_area_says_so_and_shows_everyone(desk: Tab) -> None:
    desk.sign_in("demo.commissioner")
    answer = desk.page.goto(desk.site.url + "/commissioning?area=Nowhere-on-Sea")
    assert answer is not None and answer.status == 400
    expect(desk.page.locator(".nhsuk-error-summary")).to_contain_text("Choose an area")
    assert desk.page.get_by_label("Area").input_value() == "all"
    desk.accessible()


def test_the_page_works_without_javascript_and_on_a_phone(browser: Browser, site: Site) -> None:
    context = browser.new_context(viewport=PHONE, is_mobile=True, java_script_enabled=False)
    tab = Tab(context.new_page(), site)
    try:
        tab.sign_in("demo.commissioner")
        page = tab.open("/commissioning")
        page.get_by_label("Area").select_option("all")
        page.get_by_role("button", name="Show the plan").click()
        page.wait_for_load_state()
        assert page.url.endswith("/commissioning?area=all")
        _plan_or_too_small(page)
    finally:
        context.close()
    context = browser.new_context(viewport=PHONE, is_mobile=True)
    tab = Tab(context.new_page(), site)
    try:
        tab.sign_in("demo.commissioner")
        tab.open("/commissioning")
        tab.accessible()
    finally:
        context.close()


def test_the_downloads_are_the_plan_in_each_format(desk: Tab) -> None:
    desk.sign_in("demo.commissioner")
    request = desk.page.context.request
    for fmt, starts in (("csv", b"area,run_date,section"), ("pdf", b"%PDF"), ("xlsx", b"PK")):
        answer = request.get(f"{desk.site.url}/commissioning/plan.{fmt}?area=all")
        assert answer.status == 200, answer.text()
        assert answer.headers["content-disposition"].startswith("attachment; filename=")
        assert f"-2026-03-31.{fmt}" in answer.headers["content-disposition"]
        assert answer.body().startswith(starts)
    html = request.get(f"{desk.site.url}/commissioning/plan.html?area=all")
    assert "Local commissioning plan for long-term conditions" in html.text()
    assert request.get(f"{desk.site.url}/commissioning/plan.docx").status == 404
    with sqlite3.connect(desk.site.operational) as db:
        events = db.execute(
            "SELECT action, outcome, detail FROM audit_event WHERE resource_type = "
            "'CommissioningPlan' AND username = 'demo.commissioner' ORDER BY id"
        ).fetchall()
    exports = [json.loads(d) for a, o, d in events if a == "export" and o == "success"]
    assert [e["format"] for e in exports[-4:]] == ["csv", "pdf", "xlsx", "html"]
    assert all(e["run"] and e["area"] == "all" and e["via"] == "pages" for e in exports[-4:])


def test_a_nurse_is_refused_the_page_and_not_offered_it(desk: Tab) -> None:
    page = desk.sign_in("demo.nurse")
    assert page.locator("header a[href='/commissioning']").count() == 0
    answer = page.goto(desk.site.url + "/commissioning")
    assert answer is not None and answer.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("You cannot see this page")


def test_the_board_document_is_accessible_and_fetches_nothing(browser: Browser) -> None:
    """The HTML a board receives (and the PDF prints): axe-clean, every chart with its table,
    no request of any kind (its CSP forbids them)."""
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    try:
        page.set_content(plan_html(fixture_plan()))
        assert _every_chart_has_its_table(page) == 4
        expect(page.locator("table")).to_have_count(4)
        expect(page.locator("#about")).to_contain_text("31 March 2026")
        tab = Tab(page, Site(url="", data_dir=ROOT))
        tab.accessible()
        assert requests == []
    finally:
        context.close()
