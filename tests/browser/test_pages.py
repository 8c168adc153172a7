"""The pages as a user meets them, in Chromium: sign in, each role's home, sign out, and the
forms' refusals. Every page is checked with axe-core and photographed into docs/screenshots/
(docs/pages.md shows them)."""

from __future__ import annotations

import re
import sqlite3

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import AS_OF, Site, Tab

#: Each demo user, the caption their home shows, and a line only their role's home says.
HOMES = [
    ("demo.gp", "GP", "See care gaps and the recall list"),
    ("demo.nurse", "Practice nurse", "See care gaps and the recall list"),
    ("demo.matron", "Case manager", "See your caseload"),
    ("demo.social", "Social worker", "people who agreed to share their record"),
    ("demo.voluntary", "Voluntary or community group", "people who agreed to share their record"),
    ("demo.commissioner", "Commissioner", "You never see a named person's record"),
    ("demo.patient", "Your care", "Say what to talk about at the care-planning conversation"),
    ("demo.admin", "Administrator", "Read the audit trail"),
]


def count(site: Site, table: str) -> int:
    with sqlite3.connect(site.operational) as con:
        return int(con.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_a_gp_signs_in_sees_home_and_signs_out(tab: Tab) -> None:
    page = tab.open("/")
    expect(page).to_have_url(tab.site.url + "/sign-in")
    expect(page).to_have_title("Sign in – houseofcare")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to houseofcare")
    expect(page.get_by_text("A new service in development")).to_be_visible()
    tab.accessible()
    tab.screenshot("sign-in")

    tab.sign_in("demo.gp")
    expect(page).to_have_url(tab.site.url + "/")
    expect(page).to_have_title("Home – houseofcare")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Welcome")
    run_date = f"{AS_OF.day} {AS_OF:%B %Y}"
    expect(page.get_by_text("Figures come from the pipeline run of")).to_contain_text(run_date)
    expect(page.get_by_role("link", name="Skip to main content")).to_be_attached()

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(tab.site.url + "/sign-in?signed-out=1")
    expect(page.get_by_text("You have signed out.")).to_be_visible()
    tab.accessible()
    tab.screenshot("signed-out")
    tab.open("/")
    expect(page).to_have_url(tab.site.url + "/sign-in")


def test_a_wrong_password_shows_the_error_summary_and_writes_no_session(tab: Tab) -> None:
    sessions = count(tab.site, "api_credential")
    page = tab.sign_in("demo.nurse", "not-the-password")
    summary = page.locator(".nhsuk-error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_contain_text("There is a problem")
    expect(summary.get_by_role("link")).to_have_text("The username or password is not correct")
    expect(page).to_have_title("Error: Sign in – houseofcare")
    expect(page.get_by_label("Username")).to_have_value("demo.nurse")
    expect(page.get_by_label("Password", exact=True)).to_have_value("")
    assert not [c for c in page.context.cookies() if c["name"] == "hoc_session"]
    assert count(tab.site, "api_credential") == sessions
    tab.accessible()
    tab.screenshot("sign-in-error")


def test_an_empty_form_names_both_fields(tab: Tab) -> None:
    page = tab.open("/sign-in")
    page.get_by_role("button", name="Sign in").click()
    summary = page.locator(".nhsuk-error-summary")
    expect(summary).to_contain_text("Enter your username")
    expect(summary).to_contain_text("Enter your password")
    expect(page.locator("#username-error")).to_contain_text("Enter your username")
    tab.accessible()


def test_a_form_without_its_csrf_token_is_refused(tab: Tab) -> None:
    sessions = count(tab.site, "api_credential")
    page = tab.open("/sign-in")
    page.locator("input[name=csrf_token]").evaluate("field => field.remove()")
    page.get_by_label("Username").fill("demo.gp")
    page.get_by_label("Password", exact=True).fill("demo.gp-2026")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".nhsuk-error-summary")).to_contain_text("The sign-in form had expired")
    assert not [c for c in page.context.cookies() if c["name"] == "hoc_session"]
    assert count(tab.site, "api_credential") == sessions

    tab.sign_in("demo.gp")
    page.locator("form[action='/sign-out'] input[name=csrf_token]").evaluate("f => f.remove()")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("The form could not be sent")
    expect(page.get_by_text("You are still signed in")).to_be_visible()
    tab.accessible()
    tab.open("/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Welcome")


@pytest.mark.parametrize(("username", "caption", "says"), HOMES, ids=[h[0] for h in HOMES])
def test_each_role_s_home_says_what_they_can_do(
    tab: Tab, username: str, caption: str, says: str
) -> None:
    page = tab.sign_in(username)
    expect(page).to_have_url(tab.site.url + "/")
    expect(page.locator(".nhsuk-caption-l")).to_have_text(caption)
    expect(page.get_by_text(says).first).to_be_visible()
    expect(page.get_by_text("Figures come from the pipeline run of")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    tab.accessible()
    tab.screenshot(f"home-{username.removeprefix('demo.')}")


def test_the_pages_work_without_javascript(browser: Browser, site: Site) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(site.url + "/sign-in")
    page.get_by_label("Username").fill("demo.matron")
    page.get_by_label("Password", exact=True).fill("demo.matron-2026")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".nhsuk-caption-l")).to_have_text("Case manager")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You have signed out.")).to_be_visible()
    context.close()


def test_sign_in_with_the_keyboard_alone(tab: Tab) -> None:
    page = tab.open("/sign-in")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()
    page.keyboard.press("Enter")
    page.get_by_label("Username").focus()
    page.keyboard.type("demo.admin")
    page.keyboard.press("Tab")
    page.keyboard.type("demo.admin-2026")
    page.keyboard.press("Enter")
    expect(page.locator(".nhsuk-caption-l")).to_have_text("Administrator")


def audit_events(site: Site, action: str, username: str) -> list[tuple[str, str]]:
    with sqlite3.connect(site.operational) as con:
        return con.execute(
            "SELECT resource_type, outcome FROM audit_event WHERE action = ? AND username = ?",
            [action, username],
        ).fetchall()


def test_a_gp_opens_the_worklists_filters_an_indicator_and_exports_the_csv(tab: Tab) -> None:
    page = tab.sign_in("demo.gp")
    page.get_by_role("navigation", name="Menu").get_by_role("link", name="Worklists").click()
    expect(page).to_have_url(tab.site.url + "/worklists")
    expect(page).to_have_title("Worklists – houseofcare")
    expect(page.get_by_role("heading", level=1)).to_have_text("Worklists")
    expect(page.get_by_text("Figures come from the pipeline run of")).to_be_visible()
    gaps = page.locator("table").first
    expect(gaps.get_by_role("columnheader", name="Achievement")).to_be_visible()
    expect(page.get_by_role("heading", name="Recall list, most overdue first")).to_be_visible()
    recall = page.locator("table").nth(1)
    first_rows = recall.locator("tbody tr")
    assert first_rows.count() > 0, "the demo practice has open care gaps"
    assert ("recall", "success") in audit_events(tab.site, "search", "demo.gp")
    # care plans due for review at the practice, each linking to the person's page
    expect(page.get_by_role("heading", name="Care plans due for review")).to_be_visible()
    due = page.locator("table").nth(2)
    assert due.locator("tbody tr").count() > 0, "the demo has plans due for review"
    assert due.locator("tbody a").first.get_attribute("href").startswith("/people/")
    assert ("DueReview", "success") in audit_events(tab.site, "search", "demo.gp")
    tab.accessible()
    tab.screenshot("worklists-gp")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download the recall list (CSV)").click()
    lines = download.value.path().read_text().splitlines()
    assert lines[0].startswith("practice_id,patient_id,nhs_number,indicator,overdue_since")
    assert len(lines) > 1
    assert ("recall", "success") in audit_events(tab.site, "export", "demo.gp")
    # the same export again: the list is kept per process, and each export is audited
    with page.expect_download() as again:
        page.get_by_role("link", name="Download the recall list (CSV)").click()
    assert again.value.path().read_text().splitlines() == lines
    assert audit_events(tab.site, "export", "demo.gp").count(("recall", "success")) == 2

    # an indicator's own recall list
    gaps.locator("tbody a").first.click()
    chosen = page.url.split("indicator=")[1].split("#")[0]
    expect(
        page.get_by_role("heading", name=f"Recall list, most overdue first: {chosen}")
    ).to_be_visible()
    expect(page.get_by_role("link", name="Show every indicator")).to_be_visible()

    # journey (2) ends on a person: the first plan due for review, opened from the worklist
    due_table = page.locator("table").filter(
        has=page.locator("caption", has_text="Care plans due for review")
    )
    person = due_table.locator("tbody a").first
    name = person.inner_text().strip()
    person.click()
    expect(page).to_have_url(re.compile(r"/people/\d+$"))
    expect(page.locator(".hoc-person-banner")).to_contain_text(name)
    expect(page.locator(".hoc-person-banner")).to_contain_text("NHS number")
    assert name not in page.title(), "no name in a page title"


def test_a_case_manager_is_refused_the_practice_worklists(tab: Tab) -> None:
    page = tab.sign_in("demo.matron")
    expect(page.get_by_role("link", name="Worklists")).to_have_count(0)
    response = page.goto(tab.site.url + "/worklists")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("You cannot see this page")
    expect(page.get_by_text("the worklists are for the practice team")).to_be_visible()
    assert ("recall", "denied") in audit_events(tab.site, "search", "demo.matron")
    tab.accessible()
    tab.screenshot("worklists-refused")
