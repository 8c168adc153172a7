"""Referrals in Chromium: the link worker's people (declined first), the refer form, the
receiving group's inbox (accept, a decline without a reason refused with the NHS error
summary, then with it, attendance), each page checked with axe-core at phone and desktop
widths and photographed into docs/screenshots/ (referrals-*.png, social-prescribing-*.png).
The whole journey to the person's plan is tests/browser/test_social_prescribing_journey.py.
"""

from __future__ import annotations

import sqlite3

from playwright.sync_api import expect

from tests.browser.conftest import Site, Tab

PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1100, "height": 900}


def _rows(site: Site, sql: str, *args: object) -> list[tuple]:
    with sqlite3.connect(site.operational) as con:
        return con.execute(sql, args).fetchall()


def _both_widths(tab: Tab) -> None:
    for size in (PHONE, DESKTOP):
        tab.page.set_viewport_size(size)
        tab.accessible()


def test_link_worker_refers_and_the_group_answers(tab: Tab, site: Site) -> None:
    people = _rows(
        site,
        "SELECT p.id, p.given_name, p.family_name FROM caseload_assignment ca"
        " JOIN person p ON p.id = ca.person_id JOIN user_account u ON u.id = ca.case_manager_id"
        " WHERE u.username = 'demo.linkworker' ORDER BY p.id",
    )
    assert len(people) >= 3, "the demo gives the link worker people"
    declined = _rows(
        site,
        "SELECT person_id FROM referral WHERE status = 'declined'",
    )
    assert declined, "the demo has a declined referral"

    # 1. the link worker's people: the one whose referral was declined first
    tab.sign_in("demo.linkworker")
    page = tab.open("/social-prescribing")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your people")
    expect(page.get_by_role("link", name="Social prescribing")).to_be_visible()
    first = page.locator(".nhsuk-card").first
    expect(first).to_have_attribute("id", f"person-{declined[0][0]}")
    expect(first.get_by_text("Follow up", exact=True)).to_be_visible()
    _both_widths(tab)
    tab.screenshot("social-prescribing-caseload")

    # a follow-up date for them
    first.get_by_label("Day").fill("14")
    first.get_by_label("Month").fill("1")
    first.get_by_label("Year").fill("2027")
    first.get_by_role("button", name="Save the follow-up date").click()
    expect(page.get_by_text("Follow-up date saved.")).to_be_visible()
    expect(page.get_by_text("Now 14 January 2027")).to_be_visible()

    # 2. refer the person whose referral was declined to the group's other service instead
    person_id = declined[0][0]
    [(other_id, other_name, places)] = _rows(
        site,
        "SELECT s.id, s.name, s.capacity_per_month - count(r.accepted_at) FROM service s"
        " JOIN referral r ON r.service_id = s.id WHERE s.id ="
        " (SELECT service_id FROM referral WHERE status = 'accepted') GROUP BY s.id",
    )
    left = f"{places} {'place' if places == 1 else 'places'} left this month"
    page = tab.open(f"/people/{person_id}/referrals/new")
    expect(page.get_by_role("heading", level=1)).to_have_text("Refer to a service")
    expect(page.get_by_label("The service")).to_contain_text(f"{other_name}")
    expect(page.get_by_label("The service")).to_contain_text(left)
    tab.screenshot("referrals-refer")
    page.get_by_role("button", name="Send the referral").click()
    expect(page.locator(".nhsuk-error-summary")).to_be_visible()
    expect(page.get_by_role("link", name="Choose the service to refer to")).to_be_visible()
    _both_widths(tab)
    tab.screenshot("referrals-refer-errors")
    page.get_by_label("The service").select_option(value=str(other_id))
    page.get_by_label("What part of life the referral is about").select_option(
        label="Looking after myself"
    )
    page.get_by_label("What matters to the person, and why this service").fill(
        "Would like to sing again; breathless on hills"
    )
    page.get_by_role("button", name="Send the referral").click()
    expect(page.get_by_text("Referral sent.")).to_be_visible()
    expect(page.get_by_role("heading", level=3, name=f"{other_name} Sent")).to_be_visible()
    _both_widths(tab)
    tab.screenshot("referrals-person")

    # 3. the group's inbox: decline without a reason is refused, then with one
    tab.page.get_by_role("button", name="Sign out").click()
    tab.page.wait_for_load_state()
    tab.sign_in("demo.voluntary")
    page = tab.open("/referrals/inbox")
    expect(page.get_by_role("heading", level=1)).to_have_text("Referrals to your services")
    _both_widths(tab)
    tab.screenshot("referrals-inbox")
    (newest,) = _rows(site, "SELECT max(id) FROM referral")[0:1]
    card = page.locator(f"#referral-{newest[0]}")
    card.get_by_role("button", name="Decline").click()
    expect(page.locator(".nhsuk-error-summary")).to_be_visible()
    expect(page.get_by_role("link", name="Give the reason (decline)")).to_be_visible()
    _both_widths(tab)
    tab.screenshot("referrals-decline-error")
    assert _rows(site, "SELECT status FROM referral WHERE id = ?", newest[0]) == [("sent",)]
    card = page.locator(f"#referral-{newest[0]}")
    card.get_by_label("Why you cannot take this referral (required)").fill(
        "Full for the winter term"
    )
    card.get_by_role("button", name="Decline").click()
    expect(page.get_by_text("Saved.")).to_be_visible()
    assert _rows(site, "SELECT status FROM referral WHERE id = ?", newest[0]) == [("declined",)]
    assert _rows(
        site, "SELECT reason, detail FROM unmet_need WHERE referral_id = ?", newest[0]
    ) == [("declined", "Full for the winter term")]

    # the demo's sent referral: accept, then record attendance
    (sent,) = _rows(site, "SELECT min(id) FROM referral WHERE status = 'sent'")
    card = page.locator(f"#referral-{sent[0]}")
    card.get_by_role("button", name="Accept").click()
    expect(page.get_by_text("Saved.")).to_be_visible()
    card = page.locator(f"#referral-{sent[0]}")
    card.get_by_label("The outcome (optional)").first.fill("Came to the first walk")
    card.get_by_role("button", name="Record that they attended").click()
    expect(page.get_by_text("Saved.")).to_be_visible()
    assert _rows(site, "SELECT status, outcome FROM referral WHERE id = ?", sent[0]) == [
        ("attended", "Came to the first walk")
    ]
