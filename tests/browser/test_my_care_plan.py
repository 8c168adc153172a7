"""My care plan (issue 12) in Chromium, as the person meets it on a phone (375 pixels wide)
and on a desktop: (1) the person signs in, reads their results explained, adds a topic to
talk about, sees their plan and comments to their team; (4) changing an id reaches nobody
else's record, and the refusal is in the audit trail. A carer the person chose sees the same
pages. axe-core on every page at both widths; screenshots into docs/screenshots/."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import AS_OF, Site, Tab

PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1100, "height": 900}
#: My care plan's pages: (path under /me, the h1 it shows, screenshot name).
PAGES = [
    ("", "Your latest results", "my-results"),
    ("/talk-about", "What I want to talk about", "my-talk-about"),
    ("/plan", "My care plan", "my-plan"),
    ("/access-log", "Who has looked at my record", "my-access-log"),
    ("/carers", "My carers", "my-carers"),
]


@pytest.fixture
def phone(browser: Browser, site: Site) -> Iterator[Tab]:
    """A fresh tab on a 375-pixel-wide screen, as a phone shows the pages."""
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    opened = Tab(context.new_page(), site)
    yield opened
    context.close()
    assert opened.csp_violations == [], opened.csp_violations


def person_of(site: Site, username: str) -> int:
    with sqlite3.connect(site.operational) as con:
        row = con.execute(
            "SELECT person_id FROM user_account WHERE username = ?", [username]
        ).fetchone()
    assert row is not None and row[0] is not None, f"the demo has {username}"
    return int(row[0])


def someone_else(site: Site, *not_these: int) -> int:
    """A person with a care plan who is none of `not_these`."""
    with sqlite3.connect(site.operational) as con:
        ids = [r[0] for r in con.execute("SELECT DISTINCT person_id FROM care_plan ORDER BY 1")]
    return next(i for i in ids if i not in not_these)


def audit_rows(site: Site, username: str, person_id: int) -> list[tuple[str, str]]:
    with sqlite3.connect(site.operational) as con:
        return con.execute(
            "SELECT action, outcome FROM audit_event WHERE username = ? AND person_id = ? "
            "ORDER BY id",
            [username, person_id],
        ).fetchall()


def test_the_person_on_a_phone_reads_results_adds_a_topic_sees_the_plan_and_comments(
    phone: Tab,
) -> None:
    page = phone.sign_in("demo.patient")
    assert page.viewport_size == PHONE
    page = phone.open("/me")
    expect(page).to_have_title("My results – houseofcare")
    expect(page.get_by_role("region", name="Person")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your latest results")
    run_date = f"{AS_OF.day} {AS_OF:%B %Y}"
    expect(page.get_by_text("Figures come from the pipeline run of")).to_contain_text(run_date)
    results = page.locator("section.hoc-result")
    assert results.count() >= 1, "the demo person has results to explain"
    first = results.first
    expect(first.get_by_text("What it means:")).to_be_visible()
    # every value is written with its unit, explained in words under "About this test"
    expect(first.locator("abbr")).to_have_attribute("title", re.compile(r".+"))
    first.locator("summary").click()
    expect(first.get_by_text("The unit,")).to_be_visible()
    # nothing wider than the phone: no sideways scrolling
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    phone.accessible()
    phone.screenshot("my-results-phone")

    page.get_by_role("link", name="What I want to talk about").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("What I want to talk about")
    topic = "Whether I can cut down on my blood pressure tablets"
    page.get_by_label("What do you want to talk about?").fill(topic)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Your team will see this before your care-planning")).to_be_visible()
    expect(page.get_by_label("What do you want to talk about?")).to_have_value(topic)
    phone.accessible()
    phone.screenshot("my-talk-about-phone")

    page.get_by_role("link", name="My plan and comments").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("My care plan")
    expect(page.get_by_role("heading", name="My goals: what matters to me")).to_be_visible()
    expect(page.get_by_text("Next review")).to_be_visible()
    comment = "I have booked the walking group for Tuesdays."
    page.get_by_label("Write a comment to your team").fill(comment)
    page.get_by_role("button", name="Send comment").click()
    expect(page.get_by_text("Your comment is with your team.")).to_be_visible()
    expect(page.locator(".hoc-my-comment").first).to_contain_text(comment)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    phone.accessible()
    phone.screenshot("my-plan-phone")

    page.get_by_role("link", name="Who has looked at my record").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Who has looked at my record")
    entries = page.locator(".hoc-access-log__entry")
    assert entries.count() >= 3
    expect(entries.first).to_contain_text("You")
    phone.accessible()
    phone.screenshot("my-access-log-phone")

    page.get_by_role("link", name="My carers").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("My carers")
    # the demo's carer, with access
    expect(page.get_by_text("Demo carer", exact=True)).to_be_visible()
    phone.accessible()
    phone.screenshot("my-carers-phone")

    me = person_of(phone.site, "demo.patient")
    kinds = {a for a, outcome in audit_rows(phone.site, "demo.patient", me) if outcome == "success"}
    assert {"read", "update", "comment", "search"} <= kinds


def test_every_page_at_desktop_width_and_a_mistake_shows_the_error_summary(tab: Tab) -> None:
    page = tab.sign_in("demo.patient")
    for path, heading, name in PAGES:
        page = tab.open("/me" + path)
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        tab.accessible()
        tab.screenshot(f"{name}-desktop")
    page = tab.open("/me/plan")
    page.get_by_role("button", name="Send comment").click()
    expect(page.get_by_role("alert")).to_contain_text("Enter your comment")
    tab.accessible()
    tab.screenshot("my-plan-error")


def test_a_person_cannot_reach_another_person_s_page_by_changing_an_id(phone: Tab) -> None:
    site = phone.site
    me = person_of(site, "demo.patient")
    other = someone_else(site, me, person_of(site, "demo.carer"))
    phone.sign_in("demo.patient")
    for path in (f"/cared-for/{other}", f"/cared-for/{other}/plan", f"/people/{other}/plan"):
        page = phone.open(path)
        expect(page.get_by_role("heading", level=1)).to_have_text("You cannot see this page")
        expect(page.get_by_role("region", name="Person")).to_have_count(0)
    phone.accessible()
    phone.screenshot("my-refused-phone")
    refusals = [a for a, outcome in audit_rows(site, "demo.patient", other) if outcome == "denied"]
    assert len(refusals) == 3
    # the same id is the person's own record only for themselves
    page = phone.open(f"/cared-for/{me}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your latest results")


def test_a_carer_with_the_person_s_permission_sees_the_same_view(phone: Tab) -> None:
    site = phone.site
    person = person_of(site, "demo.patient")
    page = phone.sign_in("demo.carer")
    page = phone.open("/me")
    link = page.get_by_role("heading", name="People you care for")
    expect(link).to_be_visible()
    page.locator(f'a[href="/cared-for/{person}"]').click()
    expect(page.get_by_text("You are looking at this record as a carer")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text("Their latest results")
    page.get_by_role("link", name="My plan and comments").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Their care plan")
    expect(page.get_by_role("heading", name="Their goals: what matters to them")).to_be_visible()
    expect(page.get_by_role("link", name="My carers")).to_have_count(0)
    phone.accessible()
    phone.screenshot("my-carer-view-phone")
    assert ("read", "success") in audit_rows(site, "demo.carer", person)
