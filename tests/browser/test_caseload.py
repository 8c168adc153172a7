"""The caseload page as a community matron meets it, in Chromium: her level 3 people ranked
with their reasons, the one admitted since the last run first, releasing someone and taking
them back on; and the page refused to a GP. Each page is checked with axe-core and
photographed into docs/screenshots/ (docs/pages.md shows them)."""

from __future__ import annotations

import re
import sqlite3

from playwright.sync_api import expect

from tests.browser.conftest import AS_OF, Site, Tab

#: How the page says a hospital event: "Admitted on …, discharged on …" or "A&E on …".
DAY = r"\d+ \w+ \d{4}"
HOSPITAL = re.compile(
    rf"^(Admitted on {DAY}, (discharged on {DAY}|not yet discharged)|A&E on {DAY})$"
)


def open_assignments(site: Site) -> int:
    # issue 13: a link worker's caseload is in the same table: count the matron's only
    with sqlite3.connect(site.operational) as con:
        return int(
            con.execute(
                "SELECT count(*) FROM caseload_assignment ca"
                " JOIN user_account u ON u.id = ca.case_manager_id"
                " WHERE ca.ended_at IS NULL AND u.username = 'demo.matron'"
            ).fetchone()[0]
        )


def test_a_matron_sees_her_caseload_releases_someone_and_takes_them_back_on(tab: Tab) -> None:
    page = tab.sign_in("demo.matron")
    page.get_by_role("link", name="Caseload", exact=True).click()
    expect(page).to_have_title("Your caseload – houseofcare")
    expect(page.get_by_text("Figures come from the pipeline run of")).to_contain_text(
        f"{AS_OF.day} {AS_OF:%B %Y}"
    )
    held = open_assignments(tab.site)
    assert held >= 2
    expect(page.locator(".hoc-caseload__capacity")).to_have_text(
        f"{held} of 80 people on your caseload."
    )
    rows = page.locator("#caseload-table tbody tr")
    expect(rows).to_have_count(held)
    # the person in hospital since the last run comes first, with the dates
    first = rows.first
    expect(first.locator(".hoc-caseload__event").first).to_have_text(HOSPITAL)
    expect(
        page.get_by_role("heading", name=re.compile("in hospital since 1 Jan 2026"))
    ).to_be_visible()
    # every row says why, in plain words, and links to the person by their id only
    for i in range(held):
        expect(rows.nth(i).locator("td").nth(1)).not_to_have_text("No reasons in this run")
        expect(rows.nth(i).get_by_role("link")).to_have_attribute(
            "href", re.compile(r"^/people/\d+$")
        )
    expect(page.get_by_role("heading", name="New to level 3 since the last run")).to_be_visible()
    tab.accessible()
    tab.screenshot("caseload-matron")

    # releasing needs a reason: the error summary names the field, nothing is written
    last = rows.last.get_by_role("link").inner_text()
    last_id = (rows.last.get_by_role("link").get_attribute("href") or "").rsplit("/", 1)[-1]
    page.get_by_label("Person", exact=True).select_option(value=last_id)
    page.get_by_role("button", name="Release from my caseload").click()
    summary = page.locator(".nhsuk-error-summary")
    expect(summary).to_contain_text("Choose why this person is leaving your caseload")
    expect(page).to_have_title("Error: Your caseload – houseofcare")
    assert open_assignments(tab.site) == held
    tab.accessible()
    tab.screenshot("caseload-release-error")

    page.get_by_label("Person", exact=True).select_option(value=last_id)
    page.get_by_label("Needs are now met at level 2 or level 1 (stepped down)").check()
    page.get_by_role("button", name="Release from my caseload").click()
    expect(page.get_by_text("The person was released from your caseload.")).to_be_visible()
    assert open_assignments(tab.site) == held - 1
    expect(page.locator(".hoc-caseload__capacity")).to_contain_text(f"{held - 1} of 80")

    # still at level 3, they are now a candidate: seen in brief, without a link to the record
    candidates = page.locator("#candidates-table")
    expect(candidates).to_contain_text(last)
    expect(candidates.get_by_role("link")).to_have_count(0)
    tab.accessible()
    tab.screenshot("caseload-candidates")
    candidates.get_by_role("button", name=f"Add {last} to my caseload").click()
    expect(page.get_by_text("The person is now on your caseload.")).to_be_visible()
    assert open_assignments(tab.site) == held
    expect(page.locator("#caseload-table")).to_contain_text(last)
    tab.accessible()


def test_a_gp_is_refused_the_caseload_page(tab: Tab) -> None:
    page = tab.sign_in("demo.gp")
    expect(page.get_by_role("link", name="Caseload", exact=True)).to_have_count(0)
    tab.open("/caseload")
    expect(page.get_by_role("heading", level=1)).to_have_text("You cannot see this page")
    expect(page.get_by_text("may not caseload.write")).to_be_visible()
    tab.accessible()
    tab.screenshot("caseload-refused")
