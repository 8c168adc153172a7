"""Journey (2), the partners' view in Chromium: a social worker without the person's consent
gets nothing identifiable; the person records consent on their phone; the social worker then
sees the plan and adds an action, which the person sees on their plan; the person withdraws
consent and the social worker's access ends at once. Every page is checked with axe-core at
phone (375 px) and desktop widths and photographed into docs/screenshots/.

Where the person sees the action: the care plan page `/people/{id}/plan`, which the person
(patient role, relationship self) may open on main today; the person's own `/me` pages are
being built on another branch (integrator: point this at them when they land).
"""

from __future__ import annotations

import sqlite3

from playwright.sync_api import Browser, expect

from tests.browser.conftest import Site, Tab

PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1100, "height": 900}
ACTION = "Carers assessment visit on a weekday morning, and help with the heating bills"


def _row(site: Site, sql: str, *args: object) -> tuple:
    with sqlite3.connect(site.operational) as con:
        row = con.execute(sql, args).fetchone()
    assert row is not None, sql
    return row


def _both_widths(tab: Tab, phone_first: bool = False) -> None:
    """axe-core at phone and desktop widths (no serious or critical violations), leaving the
    page at the width it started at."""
    order = (PHONE, DESKTOP) if phone_first else (DESKTOP, PHONE)
    for size in order:
        tab.page.set_viewport_size(size)
        tab.accessible()
    tab.page.set_viewport_size(order[0])


def test_consent_opens_and_closes_a_social_worker_s_view_of_the_plan(
    browser: Browser, site: Site
) -> None:
    person_id, nhs = _row(
        site,
        "SELECT p.id, p.nhs_number FROM person p JOIN user_account u ON u.person_id = p.id"
        " WHERE u.username = 'demo.patient'",
    )
    spaced = f"{nhs[:3]} {nhs[3:6]} {nhs[6:]}"
    (plans,) = _row(
        site,
        "SELECT count(*) FROM care_plan WHERE person_id = ?"
        " AND status IN ('active', 'draft', 'on-hold')",
        person_id,
    )
    assert plans == 1, "the demo gives the demo patient a care plan"
    (shared,) = _row(
        site,
        "SELECT count(*) FROM consent_to_share WHERE person_id = ? AND withdrawn_at IS NULL",
        person_id,
    )
    assert shared == 0, "the demo patient starts sharing with nobody"
    contexts = [
        browser.new_context(viewport=DESKTOP),  # the social worker, at a desk
        browser.new_context(viewport=PHONE),  # the person, on their phone
    ]
    try:
        social, person = (Tab(context.new_page(), site) for context in contexts)

        # 1. without consent: nothing identifiable, the same answer as for nobody
        social.sign_in("demo.social")
        page = social.open("/partners")
        expect(page.get_by_role("heading", level=1)).to_have_text("Shared care plans")
        expect(page.get_by_text(spaced)).to_have_count(0)
        expect(page.get_by_role("link", name="Shared care plans")).to_be_visible()
        _both_widths(social)
        social.screenshot("partners-list")
        answer = page.goto(f"{site.url}/partners/people/{person_id}")
        assert answer is not None and answer.status == 403
        expect(page.get_by_role("heading", level=1)).to_have_text("You cannot see this page")
        expect(page.get_by_text("There is nobody here you can see")).to_be_visible()
        expect(page.get_by_text(spaced)).to_have_count(0)
        refused_text = page.locator("main").inner_text()
        _both_widths(social)
        social.screenshot("partners-refused")
        nobody = page.goto(f"{site.url}/partners/people/987654")
        assert nobody is not None and nobody.status == 403
        assert page.locator("main").inner_text() == refused_text

        # 2. the person records consent to share with social care, on their phone
        person.sign_in("demo.patient")
        page = person.open("/consent")
        expect(page.get_by_role("heading", level=1)).to_have_text("Who can see your care plan")
        expect(page.get_by_text("your medicines", exact=True)).to_be_visible()
        _both_widths(person, phone_first=True)
        person.screenshot("consent-patient-phone")
        page.get_by_role("button", name="Share with social care").click()
        expect(page.get_by_text("Your care plan is now shared")).to_be_visible()
        expect(page.get_by_role("button", name="Stop sharing with social care")).to_be_visible()
        _both_widths(person, phone_first=True)
        person.screenshot("consent-shared-phone")

        # 3. the social worker now sees the person and their plan, and adds an action
        page = social.open("/partners")
        expect(page.get_by_text(spaced)).to_be_visible()
        page.locator(f'a[href="/partners/people/{person_id}"]').click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Shared care plan")
        expect(page.get_by_role("region", name="Person")).to_contain_text(spaced)
        for absent in ("Medicines", "Results over time", "Conditions"):
            expect(page.get_by_role("heading", name=absent)).to_have_count(0)
        page.get_by_label("What you will do").fill(ACTION)
        page.get_by_role("button", name="Add the action").click()
        expect(page.get_by_text("Your action is on the person's care plan")).to_be_visible()
        expect(page.get_by_role("cell", name=ACTION)).to_be_visible()
        _both_widths(social)
        social.screenshot("partners-person")

        # 4. the person sees the action on their plan, named as the social worker's
        page = person.open(f"/people/{person_id}/plan")
        expect(page.get_by_text(ACTION)).to_be_visible()
        expect(
            page.get_by_text("Demo social worker (Demo City Council Adult Social Care)")
        ).to_be_visible()
        _both_widths(person, phone_first=True)
        person.screenshot("partners-action-seen-by-person-phone")

        # 5. the person withdraws; the social worker's access ends on the next request
        page = person.open("/consent")
        page.get_by_role("button", name="Stop sharing with social care").click()
        expect(page.get_by_text("Sharing has stopped")).to_be_visible()
        expect(page.get_by_role("button", name="Share with social care")).to_be_visible()
        _both_widths(person, phone_first=True)
        person.screenshot("consent-withdrawn-phone")
        answer = social.page.reload()
        assert answer is not None and answer.status == 403
        expect(social.page.get_by_text(spaced)).to_have_count(0)
        expect(social.page.get_by_text(ACTION)).to_have_count(0)
        page = social.open("/partners")
        expect(page.get_by_text(spaced)).to_have_count(0)
        assert social.csp_violations == [] and person.csp_violations == []
    finally:
        for context in contexts:
            context.close()


def test_a_gp_records_consent_with_the_person_from_their_page(tab: Tab) -> None:
    (person_id,) = _row(
        tab.site,
        "SELECT p.id FROM person p JOIN care_plan c ON c.person_id = p.id"
        " WHERE p.practice_id = (SELECT organisation_id FROM user_account"
        " WHERE username = 'demo.gp') ORDER BY p.id LIMIT 1",
    )
    page = tab.sign_in("demo.gp")
    page = tab.open(f"/people/{person_id}")
    page.get_by_role("link", name="Consent to share the care plan").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Consent to share the care plan")
    expect(page.get_by_role("heading", name="History")).to_be_visible()
    _both_widths(tab)
    tab.screenshot("consent-gp")
