"""Suggest support in Chromium (issue 13): a GP opens a person's page, follows "Suggest
support", sees the services that suit the person ranked with why (a full one last, marked
full; a closed one not at all), records an activation score (a wrong one first: the error
summary), and the order changes, not the set. axe-core on every state at phone (375 px) and
desktop widths; screenshots into docs/screenshots/support-*.png.

The directory import is another helper's; until it lands the services are written straight
into the site's store, named so no other test mistakes them for its own.
"""

from __future__ import annotations

import json
import re
import sqlite3
import uuid

from playwright.sync_api import Browser, expect

from houseofcare.selfcare.matching import NEED_WORDS
from tests.browser.conftest import Site, Tab

PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1100, "height": 900}
SERVICES = (
    # name, kind, access, status, capacity, description
    ("Matching test: Tuesday walk and talk", "community", "self_referral", "active", None,
     "A gentle group walk to the shops and the park, then tea"),
    ("Matching test: Managing well course", "education", "referral", "active", 12,
     "A structured six-week course for people living with long-term conditions"),
    ("Matching test: Good neighbours befriending", "voluntary", "referral", "active", 1,
     "One-to-one befriending visits at home"),
    ("Matching test: Closed lunch club", "community", "self_referral", "temporarily closed",
     None, "A lunch club"),
)  # fmt: skip


def _person_with_a_need(site: Site) -> tuple[int, str]:
    """A person of the GP's practice whose active plan has a need, and the need's domain."""
    with sqlite3.connect(site.operational) as con:
        row = con.execute(
            "SELECT p.id, n.domain FROM person p JOIN care_plan c ON c.person_id = p.id"
            " AND c.status = 'active' JOIN need n ON n.care_plan_id = c.id"
            " AND n.status = 'active' JOIN user_account u ON u.username = 'demo.gp'"
            " AND u.organisation_id = p.practice_id ORDER BY p.id LIMIT 1"
        ).fetchone()
    assert row is not None, "the demo gives the practice's agreed plans a need"
    return int(row[0]), str(row[1])


def _directory(site: Site, person_id: int, domain: str) -> None:
    """The services, with the befriending service's one place taken this month."""
    with sqlite3.connect(site.operational) as con:
        for name, kind, access, status, capacity, description in SERVICES:
            con.execute(
                "INSERT INTO service (oruk_id, name, organisation_name, description, status,"
                " kind, access, needs, conditions, taxonomy, accessibility, languages,"
                " capacity_per_month, created_at, updated_at)"
                " VALUES (?, ?, 'Matching test group', ?, ?, ?, ?, ?,"
                " '[]', '[]', '[]', '[]', ?, datetime('now'), datetime('now'))",
                (
                    str(uuid.uuid4()),
                    name,
                    description,
                    status,
                    kind,
                    access,
                    json.dumps([domain]),
                    capacity,
                ),
            )
        (full,) = con.execute("SELECT id FROM service WHERE name = ?", (SERVICES[2][0],)).fetchone()
        con.execute(
            "INSERT INTO referral (person_id, service_id, status, sent_at, accepted_at,"
            " updated_at, version) VALUES (?, ?, 'accepted', datetime('now'),"
            " strftime('%Y-%m-%d %H:%M:%f', 'now'), datetime('now'), 1)",
            (person_id, full),
        )


def _both_widths(tab: Tab) -> None:
    for size in (PHONE, DESKTOP):
        tab.page.set_viewport_size(size)
        tab.accessible()


def _order(tab: Tab) -> list[str]:
    names = tab.page.locator(".hoc-suggestions h3").all_inner_texts()
    return [n for n in names if n.startswith("Matching test:")]


def test_a_gp_suggests_support_and_records_activation(browser: Browser, site: Site) -> None:
    person_id, domain = _person_with_a_need(site)
    _directory(site, person_id, domain)
    context = browser.new_context(viewport=DESKTOP)
    tab = Tab(context.new_page(), site)
    tab.sign_in("demo.gp")
    page = tab.open(f"/people/{person_id}")
    page.get_by_role("link", name="Suggest support").click()
    expect(page.get_by_role("heading", name="Suggest support", level=1)).to_be_visible()
    walk, course, befriending, closed = (s[0] for s in SERVICES)
    order = _order(tab)
    assert closed not in order
    assert order[-1] == befriending, order  # full: last
    assert set(order) == {walk, course, befriending}
    expect(page.get_by_text("Full this month").first).to_be_visible()
    helps = f"Helps with {NEED_WORDS[domain].lower()}"
    expect(page.get_by_text(helps).first).to_be_visible()
    expect(page.get_by_role("button", name=f"Refer to {walk}")).to_have_attribute(
        "href", re.compile(r"/referrals/new\?service_id=\d+$")
    )
    _both_widths(tab)
    tab.screenshot("support-suggestions")

    page.get_by_label("Activation score (0 to 100)").fill("about fifty")
    page.get_by_role("button", name="Record the score").click()
    expect(page.get_by_text("There is a problem")).to_be_visible()
    expect(page.get_by_role("link", name="Enter the activation score as a number")).to_be_visible()
    _both_widths(tab)
    tab.screenshot("support-activation-error")

    page.get_by_label("Activation score (0 to 100)").fill("44")
    page.get_by_role("button", name="Record the score").click()
    expect(page.get_by_text("Level 1: disengaged and overwhelmed")).to_be_visible()
    low = _order(tab)
    assert set(low) == set(order)  # activation never withholds a service
    assert low.index(course) < low.index(walk)  # structured support first at level 1
    page.get_by_label("Activation score (0 to 100)").fill("80")
    page.get_by_role("button", name="Record the score").click()
    expect(page.get_by_text("Level 4: maintaining behaviours")).to_be_visible()
    high = _order(tab)
    assert high.index(walk) < high.index(course)  # self-referral groups first at level 4
    _both_widths(tab)
    tab.screenshot("support-activation")
    assert tab.csp_violations == []
    context.close()
