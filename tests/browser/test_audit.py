"""The audit trail as an administrator meets it, in Chromium: open it from the menu, filter
it, page it, download it; every other role is refused. Checked with axe-core and photographed
into docs/screenshots/ (docs/pages.md shows them)."""

from __future__ import annotations

import re
import sqlite3

from playwright.sync_api import expect

from tests.browser.conftest import Site, Tab


def trail_reads(site: Site, username: str) -> list[tuple[str, str]]:
    with sqlite3.connect(site.operational) as con:
        return con.execute(
            "SELECT action, outcome FROM audit_event "
            "WHERE resource_type = 'AuditEvent' AND username = ?",
            [username],
        ).fetchall()


def test_an_administrator_reads_filters_and_downloads_the_audit_trail(tab: Tab) -> None:
    # someone is refused something first, so the trail has a denied event to find
    page = tab.sign_in("demo.matron")
    page.goto(tab.site.url + "/worklists")
    page.get_by_role("button", name="Sign out").click()

    page = tab.sign_in("demo.admin")
    page.get_by_role("navigation", name="Menu").get_by_role("link", name="Audit trail").click()
    expect(page).to_have_url(tab.site.url + "/audit")
    expect(page).to_have_title("Audit trail – houseofcare")
    expect(page.get_by_role("heading", level=1)).to_have_text("Audit trail")
    table = page.locator("table.hoc-audit-table")
    expect(table.get_by_role("columnheader", name="About whom")).to_be_visible()
    assert 0 < table.locator("tbody tr").count() <= 50, "one page of the demo's trail"
    # newest first: the matron's sign-out just now comes before the admin's sign-in
    expect(table.locator("tbody tr").nth(1)).to_contain_text("demo.matron")
    assert ("search", "success") in trail_reads(tab.site, "demo.admin")
    tab.accessible()
    tab.screenshot("audit-admin")

    # filter: the refusals
    page.get_by_label("Outcome").select_option("denied")
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(r"/audit\?.*outcome=denied"))
    rows = table.locator("tbody tr")
    expect(rows.first).to_contain_text("demo.matron")
    for cell in rows.locator("td:nth-child(5)").all_inner_texts():
        assert cell.strip() == "denied"
    tab.accessible()
    tab.screenshot("audit-filtered")

    # an NHS number typed as the person is refused with the field named
    page.get_by_label("Person id").fill("943 476 5919")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.get_by_role("heading", name="There is a problem")).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("not their NHS number"))).to_be_visible()
    tab.accessible()
    tab.screenshot("audit-error")

    page.get_by_label("Person id").fill("")
    page.get_by_role("button", name="Apply filters").click()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download these events (CSV)").click()
    lines = download.value.path().read_text().splitlines()
    assert lines[0].startswith("event_id,occurred_at,username,role,action")
    assert len(lines) > 1 and all(",denied," in line for line in lines[1:])
    assert ("export", "success") in trail_reads(tab.site, "demo.admin")


def test_a_gp_is_refused_the_audit_trail(tab: Tab) -> None:
    page = tab.sign_in("demo.gp")
    expect(page.get_by_role("link", name="Audit trail")).to_have_count(0)
    response = page.goto(tab.site.url + "/audit")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("You cannot see this page")
    assert ("search", "denied") in trail_reads(tab.site, "demo.gp")
    tab.accessible()
    tab.screenshot("audit-refused")


def test_an_administrator_finds_a_person_s_events_by_nhs_number(tab: Tab) -> None:
    with sqlite3.connect(tab.site.operational) as con:
        number, person_id = con.execute(
            "SELECT p.nhs_number, p.id FROM person p JOIN audit_event e ON e.person_id = p.id "
            "ORDER BY p.id LIMIT 1"
        ).fetchone()
    page = tab.sign_in("demo.admin")
    page.goto(tab.site.url + "/audit")
    page.get_by_label("NHS number").fill(f"{number[:3]} {number[3:6]} {number[6:]}")
    page.get_by_role("button", name="Find").click()
    expect(page).to_have_url(f"{tab.site.url}/audit?person={person_id}")
    assert number not in page.url
    rows = page.locator("table.hoc-audit-table tbody tr")
    expect(rows.first).to_contain_text(f"NHS number {number}")
    tab.accessible()
    tab.screenshot("audit-person")
