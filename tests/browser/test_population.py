"""Journey (3) of issue 12, in Chromium: a commissioner opens the population page, its figures
are exactly what `hoc tiers` and `hoc prevalence` print for the same run (the commands are
run here against the same project folder), and every person page refuses them, each refusal
in the audit trail. The help pages too. axe-core on every page at phone (375 px) and desktop
widths; screenshots into docs/screenshots/ (docs/pages.md shows them)."""

from __future__ import annotations

import csv
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import AS_OF, Site, Tab

PHONE = {"width": 375, "height": 812}


def hoc(site: Site, *args: str) -> str:
    """A `hoc` command's output, run as a user runs it, on the site's project folder."""
    answer = subprocess.run(
        [sys.executable, "-m", "houseofcare.cli", *args, "--data-dir", str(site.data_dir)],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        check=True,
    )
    return answer.stdout


def tiers_printed(site: Site) -> dict[str, list[tuple[str, str, str]]]:
    """`hoc tiers --by-practice`'s tables: overall and per practice, (practice, people,
    share) per level in the order printed ("*": suppressed)."""
    out = hoc(site, "tiers", "--by-practice", "--movers", "0")
    found: dict[str, list[tuple[str, str, str]]] = {"overall": [], "practices": []}
    section = "overall"
    for line in out.splitlines():
        if "triangle per practice" in line:
            section = "practices"
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if len(cells) >= 3 and re.match(r"^[0-3] ", cells[-3]):
            practice = cells[0] if section == "practices" else ""
            found[section].append((practice, cells[-2], cells[-1]))
    return found


def table_rows(page: Page, table_id: str) -> list[list[str]]:
    """A table's body rows: each cell's own text, without a responsive table's headings."""
    return page.evaluate(
        """id => [...document.querySelectorAll(`#${id} tbody tr`)].map(row =>
             [...row.children].map(cell => {
               const copy = cell.cloneNode(true);
               copy.querySelectorAll('.nhsuk-table__heading').forEach(h => h.remove());
               return copy.textContent.replace(/\\s+/g, ' ').trim();
             }))""",
        table_id,
    )


def shown(value: str) -> str:
    """A printed figure as the page writes it: thousands with commas, `*` kept."""
    return value if value == "*" else f"{int(value):,}"


def percent(value: str, places: int) -> str:
    return "*" if value in ("*", "") else f"{float(value):.{places}f}%"


@pytest.fixture
def phone(browser: Browser, site: Site) -> Iterator[Tab]:
    context = browser.new_context(viewport=PHONE, is_mobile=True)
    opened = Tab(context.new_page(), site)
    yield opened
    context.close()
    assert opened.csp_violations == [], opened.csp_violations


def test_a_commissioner_sees_the_population_as_the_commands_count_it(tab: Tab) -> None:
    page = tab.sign_in("demo.commissioner")
    page.get_by_role("link", name="Population", exact=True).click()
    expect(page).to_have_title("Population – houseofcare")
    expect(page.get_by_text("Figures come from the pipeline run of")).to_contain_text(
        f"{AS_OF.day} {AS_OF:%B %Y}"
    )
    # the triangle drawn as a triangle, its figures in the table beside it
    expect(page.locator("svg.hoc-triangle polygon")).to_have_count(4)
    expect(page.get_by_role("img", name="The triangle of need, levels 3 to 0")).to_be_visible()
    printed = tiers_printed(tab.site)
    # (a level with nobody is a row of the page, 0, and no line of the command's)
    triangle = [r for r in table_rows(page, "triangle-table") if r[1] != "0"]
    assert [(r[1], r[2]) for r in triangle] == [
        (shown(people), percent(share, 1)) for _, people, share in printed["overall"]
    ]
    for row, (_, people, share) in zip(triangle, printed["overall"], strict=True):
        figures = (
            "fewer than 8 people (not shown)"
            if people == "*"
            else (f"{shown(people)} people ({percent(share, 1)})")
        )
        expect(page.locator("svg.hoc-triangle")).to_contain_text(figures)
        assert row[0].startswith("Level ")
    # register prevalence, beside England's QOF, as `hoc prevalence` writes it
    out = tab.site.data_dir.parent / "prevalence.csv"
    hoc(tab.site, "prevalence", "--csv", str(out))
    with out.open(encoding="utf-8") as handle:
        expected = list(csv.DictReader(handle))
    prevalence = {r[0]: r[1:] for r in table_rows(page, "prevalence-table")}
    assert len(prevalence) == len(expected)
    for row in expected:
        assert prevalence[row["name"]][:4] == [
            shown(row["register_count"] or "*"),
            shown(row["list_size"] or "*"),
            percent(row["prevalence_pct"], 2),
            percent(row["qof_pct"], 2),
        ], row["name"]
    # the risk bands and every split by deprivation are there
    expect(page.get_by_role("heading", name="Risk of an emergency admission")).to_be_visible()
    expect(page.locator("#risk-table tbody tr")).to_have_count(5)
    expect(page.locator("#triangle-imd tbody tr").first).to_contain_text("1 (most deprived)")
    expect(page.locator("#practices-levels tbody tr")).not_to_have_count(0)
    # nobody in it: no person link, no NHS number
    assert page.locator("a[href^='/people/']").count() == 0
    assert not re.search(r"\b\d{3} \d{3} \d{4}\b", page.inner_text("main"))
    tab.accessible()
    tab.screenshot("population-commissioner")

    # one practice: the figures are that practice's line of `hoc tiers --by-practice`
    practice_id = page.locator("#practice option").nth(1).get_attribute("value") or ""
    page.get_by_label("Practice").select_option(value=practice_id)
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(rf"/population\?practice={re.escape(practice_id)}"))
    mine = [(p, s) for practice, p, s in printed["practices"] if practice == practice_id]
    filtered = table_rows(page, "triangle-table")
    assert [(r[1], r[2]) for r in filtered if r[1] != "0"] == [
        (shown(p), percent(s, 1)) for p, s in mine
    ]
    expect(page.get_by_role("link", name="Clear filters")).to_be_visible()
    tab.accessible()
    tab.screenshot("population-filtered")


def test_a_commissioner_is_refused_every_person_page_and_each_refusal_is_audited(
    tab: Tab,
) -> None:
    with sqlite3.connect(tab.site.operational) as con:
        people = [r[0] for r in con.execute("SELECT id FROM person ORDER BY id LIMIT 3")]
        before = con.execute(
            "SELECT count(*) FROM audit_event WHERE username = 'demo.commissioner' "
            "AND outcome = 'denied'"
        ).fetchone()[0]
    page = tab.sign_in("demo.commissioner")
    paths = [
        f"/people/{p}{suffix}"
        for p in people
        for suffix in (
            "",
            "/plan",
            "/plan/history",
            "/plan/conversation",
            "/plan/review",
            "/preparation",
        )
    ]
    for path in paths:
        answer = page.goto(tab.site.url + path)
        assert answer is not None and answer.status == 403, path
        expect(page.get_by_role("heading", name="You cannot see this page")).to_be_visible()
        expect(page.locator(".hoc-person-banner")).to_have_count(0)
    tab.accessible()
    tab.screenshot("population-person-refused")
    with sqlite3.connect(tab.site.operational) as con:
        refused = con.execute(
            "SELECT person_id, resource_type FROM audit_event "
            "WHERE username = 'demo.commissioner' AND outcome = 'denied' ORDER BY id"
        ).fetchall()
    # one refusal in the trail per page asked for; those that name a person name the one
    # asked for (the person page refuses a role barred from identifiable data before it
    # looks anyone up, so its event names the Patient resource, not the person)
    assert len(refused) - before == len(paths)
    named = {r[0] for r in refused[before:] if r[0] is not None}
    assert named == set(people)
    assert {r[1] for r in refused[before:]} >= {"Patient", "CarePlan", "Preparation"}


def test_the_population_and_help_pages_on_a_phone(phone: Tab) -> None:
    page = phone.sign_in("demo.commissioner")
    phone.open("/population")
    expect(page.get_by_role("heading", name="Population", exact=True)).to_be_visible()
    phone.accessible()
    phone.screenshot("population-phone")
    phone.open("/help/commissioner")
    expect(page.get_by_role("heading", name="Commissioner or analyst")).to_be_visible()
    phone.accessible()
    phone.screenshot("help-commissioner-phone")
    phone.open("/help")
    phone.accessible()


def test_the_help_is_linked_from_every_page_and_says_who_sees_what(tab: Tab) -> None:
    page = tab.open("/sign-in")
    page.get_by_role("link", name="Help: what each page shows and who can see it").click()
    expect(page).to_have_title("Help – houseofcare")
    population = page.locator("#page-population")
    expect(population).to_contain_text("Commissioners (and analysts) and GPs")
    expect(population).to_contain_text("1 to 7 people are shown as *")
    tab.accessible()
    tab.screenshot("help")
    page = tab.sign_in("demo.gp")
    page.get_by_role("link", name="Help: what each page shows and who can see it").click()
    page.get_by_role("link", name="Help for your role: GP").click()
    expect(page.get_by_role("heading", name="GP", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="Population")).to_be_visible()
    expect(page.get_by_role("heading", name="Audit trail")).to_have_count(0)
    expect(page.get_by_role("table", name="Your role's permissions")).to_contain_text(
        "people registered at your practice"
    )
    tab.accessible()
    tab.screenshot("help-gp")
