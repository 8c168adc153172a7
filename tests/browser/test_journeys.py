"""Journey (1) with the keyboard alone: the case manager signs in, opens the caseload, opens
the top person, reads the reasons, prepares and sends the results letter, records the
conversation with the person's goal in their words and a review date, and sees the new
version. Nothing is clicked: focus moves with Tab (Shift+Tab never needed), links and buttons
are followed with Enter, boxes are ticked with Space, and text is typed. A page whose controls
cannot be reached by Tab fails here, as it would fail a user who cannot use a mouse.
"""

from __future__ import annotations

import datetime as dt
import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import Tab
from tests.browser.test_planning import versions

NEXT_YEAR = dt.date.today().year + 1
#: Tab presses before a control counts as unreachable (a long caseload or plan is fine).
MOST_TABS = 250


def tab_to(page: Page, selector: str, text: str | None = None) -> None:
    """Press Tab until the focused element matches `selector` (a CSS selector) and, if given,
    says `text`: how the test knows where focus is, not how it moves there."""
    check = """([s, t]) => {
        const e = document.activeElement;
        return !!e && e.matches(s) && (t === null || e.textContent.trim() === t);
    }"""
    for _ in range(MOST_TABS):
        page.keyboard.press("Tab")
        if page.evaluate(check, [selector, text]):
            return
    raise AssertionError(f"{selector!r} cannot be reached with the Tab key on {page.url}")


def type_into(page: Page, selector: str, text: str) -> None:
    tab_to(page, selector)
    page.keyboard.type(text)


def press_enter_on(page: Page, selector: str, text: str | None = None) -> None:
    tab_to(page, selector, text)
    with page.expect_navigation():
        page.keyboard.press("Enter")


def type_date(page: Page, name: str, when: dt.date) -> None:
    type_into(page, f"#{name}-day", str(when.day))
    type_into(page, f"#{name}-month", str(when.month))
    type_into(page, f"#{name}-year", str(when.year))


def test_the_case_manager_journey_with_the_keyboard_alone(tab: Tab) -> None:
    page = tab.open("/sign-in")
    type_into(page, "#username", "demo.matron")
    type_into(page, "#password", "demo.matron-2026")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Welcome")

    # the caseload, from the menu
    press_enter_on(page, "header a[href='/caseload']")
    expect(page).to_have_title("Your caseload – houseofcare")
    top = page.locator("#caseload-table tbody tr").first
    href = top.get_by_role("link").get_attribute("href")
    assert href is not None and re.fullmatch(r"/people/\d+", href)
    person_id = int(href.rsplit("/", 1)[1])
    reasons = top.locator("td").nth(1).inner_text()
    assert reasons.strip() and "No reasons in this run" not in reasons

    # the top person: who they are, and why they are at the top
    press_enter_on(page, f"#caseload-table a[href='{href}']")
    banner = page.locator(".hoc-person-banner")
    expect(banner).to_contain_text("NHS number")
    expect(page.get_by_role("heading", name="Level of care and risk")).to_be_visible()
    first_reason = reasons.strip().splitlines()[-1].strip()
    expect(page.locator("main")).to_contain_text(first_reason[:40])
    tab.accessible()

    # the care plan, then the results letter: prepared, then marked sent today
    press_enter_on(page, f"main a[href='/people/{person_id}/plan']")
    expect(page.get_by_role("heading", level=1)).to_have_text("Care plan")
    press_enter_on(page, f"main a[href='/people/{person_id}/preparation']")
    expect(page.get_by_role("heading", level=1)).to_have_text("Results letter")
    press_enter_on(page, "main form button", "Prepare the results letter")
    expect(page.get_by_text("A new results letter from the latest pipeline run")).to_be_visible()
    expect(page.locator("article.hoc-letter")).to_contain_text(
        "Your results before your care-planning conversation"
    )
    type_date(page, "sent_on", dt.date.today())
    press_enter_on(page, "main form button", "Mark as sent")
    expect(page.get_by_text(f"Sent {dt.date.today():%-d %B %Y}")).to_be_visible()

    # the conversation: the goal in the person's own words, a target, an action, a review date
    before = versions(tab.site, person_id)
    press_enter_on(page, f"main a[href='/people/{person_id}/plan/conversation']")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Record the care-planning conversation"
    )
    goal = "I'd like to walk to the paper shop and back without stopping, by the summer."
    type_into(page, "#goal-1-text", goal)
    type_into(page, "#action-1-what", "Walk to the end of the road every morning")
    # a closed list is chosen from with the arrow keys: the first choice is "The person"
    tab_to(page, "#action-1-who")
    page.keyboard.press("ArrowDown")
    expect(page.locator("#action-1-who")).to_have_value("person")
    type_date(page, "review_date", dt.date(NEXT_YEAR, 5, 31))
    tab_to(page, "input[name='agreed']")
    page.keyboard.press("Space")
    expect(page.locator("input[name='agreed']")).to_be_checked()
    press_enter_on(page, "main form button", "Save the conversation")

    # the new version, with the goal exactly as the person said it
    expect(page.get_by_role("heading", level=1)).to_have_text("Care plan")
    expect(page.get_by_text("The conversation is recorded as a new version")).to_be_visible()
    expect(page.get_by_text(f"“{goal}”")).to_be_visible()
    expect(page.get_by_text("Agreed with the person")).to_be_visible()
    expect(page.get_by_text(f"31 May {NEXT_YEAR}")).to_be_visible()
    assert versions(tab.site, person_id) > before
    tab.accessible()
    tab.screenshot("journey-keyboard-plan")
