"""The directory of services in Chromium (issue 13): a person finds a walking group they can
refer themselves to from their home page and opens it; a voluntary group searches by need and
place and sees a full group tagged. Every page is checked with axe-core at phone (375 px) and
desktop widths and photographed into docs/screenshots/services-*.png."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import Tab

PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1100, "height": 900}


def _both_widths(tab: Tab) -> None:
    for size in (PHONE, DESKTOP):
        tab.page.set_viewport_size(size)
        tab.accessible()


def test_a_person_finds_a_walking_group_they_can_refer_themselves_to(tab: Tab) -> None:
    page = tab.sign_in("demo.patient")
    expect(page.get_by_text("Find community support you can refer yourself to")).to_be_visible()
    page.get_by_role("link", name="/services?access=self_referral").click()
    expect(page.get_by_role("heading", name="Directory of services", exact=True)).to_be_visible()
    expect(page.get_by_label("Only services I can refer myself to")).to_be_checked()
    page.get_by_label("Words to search for").fill("walks")
    page.get_by_label("Where").select_option("Manchester")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("heading", name="1 service found")).to_be_visible()
    expect(page.get_by_text("You can refer yourself").first).to_be_visible()
    _both_widths(tab)
    tab.screenshot("services-search")
    page.get_by_role("link", name="Health Walks Manchester").click()
    expect(page.get_by_role("heading", name="Health Walks Manchester")).to_be_visible()
    expect(page.get_by_text("20 of 20 left this month")).to_be_visible()
    expect(page.get_by_text("Every Tuesday and Thursday, 10:00 to 11:00")).to_be_visible()
    expect(page.get_by_text("no referral needed")).to_be_visible()
    _both_widths(tab)
    tab.screenshot("services-service")


def test_a_voluntary_group_searches_by_need_and_sees_a_full_group(tab: Tab) -> None:
    page = tab.sign_in("demo.voluntary")
    page.get_by_role("link", name="Services", exact=True).first.click()
    page.get_by_label("What it helps with").select_option("social_loneliness")
    page.get_by_label("Where").select_option("Manchester")
    page.get_by_role("button", name="Search").click()
    knit = page.get_by_role("listitem").filter(has_text="Knit and Natter")
    expect(knit.get_by_text("Full this month")).to_be_visible()
    expect(page.get_by_text("Memory Café")).to_have_count(0)  # temporarily closed
    _both_widths(tab)
    tab.screenshot("services-search-full")
    knit.get_by_role("link", name="Knit and Natter").click()
    expect(page.get_by_role("heading", name="Full this month")).to_be_visible()
    tab.accessible()
