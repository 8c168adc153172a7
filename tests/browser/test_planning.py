"""Care planning in Chromium: the results letter, the care-planning conversation, a mistake
that writes nothing, two users editing the same plan, the review and the history. Every page
is checked with axe-core and photographed into docs/screenshots/planning-*.png.

`prepare_and_agree` is the care-planning part of journey (1): it takes a page already signed
in as demo.matron and the person she opened from the top of her caseload, so the caseload
journey can carry on into it.
"""

from __future__ import annotations

import datetime as dt
import sqlite3

from playwright.sync_api import Browser, Page, expect

from houseofcare.careplan.people import assign_to_caseload
from houseofcare.store.database import make_engine, session_factory, transaction
from tests.browser.conftest import Site, Tab
from tests.unit.test_letter_pdf import pdf_text

NEXT_YEAR = dt.date.today().year + 1


def _one(site: Site, sql: str, *args: object) -> int:
    with sqlite3.connect(site.operational) as con:
        row = con.execute(sql, args).fetchone()
    assert row is not None, sql
    return int(row[0])


def top_of_caseload(site: Site) -> int:
    """The person at the top of demo.matron's caseload (longest assigned: highest risk).

    The browser tests' small population (120 people) may have nobody at level 3, leaving the
    demo caseload empty; then a person whose plan is still a draft (results sent, the
    conversation to come) is put on it, through the care-plan services, as a case manager
    taking someone on would be.
    """
    top = (
        "SELECT ca.person_id FROM caseload_assignment ca JOIN user_account u"
        " ON u.id = ca.case_manager_id WHERE u.username = 'demo.matron' AND ca.ended_at IS NULL"
        " ORDER BY ca.assigned_at, ca.id LIMIT 1"
    )
    with sqlite3.connect(site.operational) as con:
        found = con.execute(top).fetchone()
    if found is not None:
        return int(found[0])
    draft = _one(site, "SELECT person_id FROM care_plan WHERE status = 'draft' ORDER BY id LIMIT 1")
    engine = make_engine(f"sqlite:///{site.operational}")
    try:
        with transaction(session_factory(engine)) as session:
            matron = _one(site, "SELECT id FROM user_account WHERE username = 'demo.matron'")
            assign_to_caseload(session, case_manager_id=matron, person_id=draft)
    finally:
        engine.dispose()
    return draft


def practice_person_with_plan(site: Site) -> int:
    """A person of the demo GP's practice whose plan is active (gp and nurse both care)."""
    return _one(
        site,
        "SELECT p.id FROM person p JOIN care_plan c ON c.person_id = p.id"
        " JOIN user_account u ON u.organisation_id = p.practice_id"
        " WHERE u.username = 'demo.gp' AND c.status = 'active' ORDER BY p.id LIMIT 1",
    )


def versions(site: Site, person_id: int) -> int:
    return _one(
        site,
        "SELECT count(*) FROM care_plan_version v JOIN care_plan c ON c.id = v.care_plan_id"
        " WHERE c.person_id = ?",
        person_id,
    )


def goals_saying(site: Site, text: str) -> int:
    return _one(site, "SELECT count(*) FROM goal WHERE what_matters_to_me = ?", text)


def fill_date(page: Page, name: str, when: dt.date) -> None:
    page.locator(f"#{name}-day").fill(str(when.day))
    page.locator(f"#{name}-month").fill(str(when.month))
    page.locator(f"#{name}-year").fill(str(when.year))


def fill_conversation(page: Page, goal: str, review: dt.date) -> None:
    page.get_by_label("What matters to the person, in their own words").first.fill(goal)
    fill_date(page, "review_date", review)
    page.get_by_label("The person agreed this plan with me").check()


def prepare_and_agree(page: Page, person_id: int, *, tab: Tab | None = None) -> None:
    """Journey (1), care planning: prepare and send the results letter, record the
    conversation with the person's goal in their words and a review date, see the new
    version. `page` is signed in as demo.matron, on `person_id`'s record or anywhere."""
    base = page.url.split("/", 3)[:3]
    site = "/".join(base)
    page.goto(f"{site}/people/{person_id}/preparation")
    expect(page.get_by_role("heading", level=1)).to_have_text("Results letter")
    page.get_by_role("button", name="Prepare the results letter").click()
    expect(page.get_by_text("A new results letter from the latest pipeline run")).to_be_visible()
    letter = page.locator("article.hoc-letter")
    expect(letter).to_contain_text("Your results before your care-planning conversation")
    expect(letter).to_contain_text("Before we meet, you might like to think about")
    if tab is not None:
        tab.accessible()
        tab.screenshot("planning-preparation")
    fill_date(page, "sent_on", dt.date.today())
    page.get_by_role("button", name="Mark as sent").click()
    expect(page.get_by_text(f"Sent {dt.date.today():%-d %B %Y}")).to_be_visible()

    page.get_by_role("navigation", name="Care planning").get_by_role(
        "link", name="Record the conversation"
    ).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Record the care-planning conversation"
    )
    if tab is not None:
        tab.accessible()
        tab.screenshot("planning-conversation")
    goal = "I want to be well enough to go to my grandson’s football on Saturdays."
    fill_conversation(page, goal, dt.date(NEXT_YEAR, 4, 30))
    page.locator("#goal-1-measure").select_option("systolic_bp")
    page.locator("#goal-1-value").fill("140")
    page.locator("#action-1-what").fill("Take the blood pressure tablets every morning")
    page.locator("#action-1-who").select_option("person")
    page.get_by_role("button", name="Save the conversation").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Care plan")
    expect(page.get_by_text("The conversation is recorded as a new version")).to_be_visible()
    expect(page.get_by_text(f"“{goal}”")).to_be_visible()
    expect(page.get_by_text("Agreed with the person")).to_be_visible()
    expect(page.get_by_text(f"30 April {NEXT_YEAR}")).to_be_visible()
    expect(
        page.get_by_text("Target: Blood pressure: top number (systolic) 140 mmHg")
    ).to_be_visible()


def test_a_matron_prepares_the_letter_and_records_the_conversation(tab: Tab) -> None:
    page = tab.sign_in("demo.matron")
    person = top_of_caseload(tab.site)
    before = versions(tab.site, person)
    tab.open(f"/people/{person}/plan")
    expect(page.locator(".hoc-person-banner")).to_be_visible()
    expect(page.get_by_text("Figures come from the pipeline run of")).to_be_visible()
    prepare_and_agree(page, person, tab=tab)
    assert versions(tab.site, person) > before
    tab.accessible()
    tab.screenshot("planning-plan")

    # the letter prints alone, and downloads as a PDF naming the person
    tab.open(f"/people/{person}/preparation")
    page.emulate_media(media="print")
    expect(page.locator(".hoc-person-banner")).to_be_hidden()
    expect(page.locator("article.hoc-letter")).to_be_visible()
    tab.screenshot("planning-letter-print")
    page.emulate_media(media="screen")
    pdf = page.request.get(f"{tab.site.url}/people/{person}/preparation/letter.pdf")
    assert pdf.ok and pdf.body().startswith(b"%PDF")
    name = page.locator(".hoc-person-banner p").first.inner_text()
    assert name in pdf_text(pdf.body())

    # the history says what changed, newest first
    page.get_by_role("navigation", name="Care planning").get_by_role("link", name="History").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Care plan history")
    expect(page.get_by_text("Care-planning conversation recorded").first).to_be_visible()
    expect(page.get_by_text("Goal added: “I want to be well enough").first).to_be_visible()
    tab.accessible()
    tab.screenshot("planning-history")

    # a review is a new version, never an overwrite
    was = versions(tab.site, person)
    tab.open(f"/people/{person}/plan/review")
    expect(page.get_by_role("heading", level=1)).to_have_text("Review the care plan")
    tab.accessible()
    tab.screenshot("planning-review")
    fill_date(page, "next_review", dt.date(NEXT_YEAR, 10, 1))
    page.get_by_label("Review note (optional)").fill("Blood pressure better; carry on.")
    page.get_by_role("button", name="Save the review").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Care plan history")
    expect(page.get_by_text("Plan reviewed").first).to_be_visible()
    expect(page.get_by_text("Review note: Blood pressure better; carry on.")).to_be_visible()
    assert versions(tab.site, person) == was + 1


def test_a_form_with_a_mistake_shows_the_error_summary_and_writes_nothing(tab: Tab) -> None:
    page = tab.sign_in("demo.nurse")
    person = practice_person_with_plan(tab.site)
    tab.open(f"/people/{person}/plan/conversation")
    before = versions(tab.site, person)
    page.get_by_label("What matters to the person, in their own words").first.fill(
        "To sleep through the night."
    )
    fill_date(page, "review_date", dt.date(NEXT_YEAR, 2, 1))
    page.locator("#review_date-month").fill("14")
    # the agreement box left unticked
    page.get_by_role("button", name="Save the conversation").click()
    summary = page.locator(".nhsuk-error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_contain_text("There is a problem")
    expect(summary.get_by_role("link", name="Review date must be a real date")).to_be_visible()
    expect(
        summary.get_by_role("link", name="Confirm the person agreed this plan with you")
    ).to_be_visible()
    expect(page).to_have_title("Error: Record the care-planning conversation – houseofcare")
    expect(page.locator("#review_date-error")).to_contain_text("Review date must be a real date")
    expect(page.get_by_label("What matters to the person, in their own words").first).to_have_value(
        "To sleep through the night."
    )
    assert versions(tab.site, person) == before
    assert goals_saying(tab.site, "To sleep through the night.") == 0
    tab.accessible()
    tab.screenshot("planning-conversation-error")
    summary.get_by_role("link", name="Review date must be a real date").click()
    expect(page.locator("#review_date-day")).to_be_focused()


def test_two_users_edit_the_same_plan_and_the_second_is_shown_the_change(
    browser: Browser, site: Site
) -> None:
    person = practice_person_with_plan(site)
    contexts = [browser.new_context(viewport={"width": 1100, "height": 900}) for _ in range(2)]
    try:
        gp, nurse = (Tab(context.new_page(), site) for context in contexts)
        gp.sign_in("demo.gp")
        nurse.sign_in("demo.nurse")
        for tab in (gp, nurse):
            tab.open(f"/people/{person}/plan/conversation")
            expect(tab.page.get_by_role("heading", level=1)).to_have_text(
                "Record the care-planning conversation"
            )
        fill_conversation(gp.page, "To go swimming with my sister.", dt.date(NEXT_YEAR, 5, 1))
        gp.page.get_by_role("button", name="Save the conversation").click()
        expect(gp.page.get_by_text("The conversation is recorded as a new version")).to_be_visible()
        after_gp = versions(site, person)

        fill_conversation(nurse.page, "To cook for myself again.", dt.date(NEXT_YEAR, 6, 1))
        nurse.page.get_by_role("button", name="Save the conversation").click()
        warning = nurse.page.locator("#stale-version")
        expect(warning).to_contain_text("This plan was changed by someone else")
        expect(warning).to_contain_text("nothing you entered has been saved")
        expect(warning).to_contain_text("Goal added: “To go swimming with my sister.”")
        expect(warning).to_contain_text("Demo gp (gp)")
        expect(
            nurse.page.get_by_label("What matters to the person, in their own words").first
        ).to_have_value("To cook for myself again.")
        assert versions(site, person) == after_gp, "the stale form wrote to the plan"
        assert goals_saying(site, "To cook for myself again.") == 0
        assert goals_saying(site, "To go swimming with my sister.") == 1
        nurse.accessible()
        nurse.screenshot("planning-stale")

        # having seen the change, the nurse sends again: both goals are on the plan
        nurse.page.get_by_label("The person agreed this plan with me").check()
        nurse.page.get_by_role("button", name="Save the conversation").click()
        expect(nurse.page.get_by_text("“To go swimming with my sister.”")).to_be_visible()
        expect(nurse.page.get_by_text("“To cook for myself again.”")).to_be_visible()
        assert gp.csp_violations == [] and nurse.csp_violations == []
    finally:
        for context in contexts:
            context.close()


def test_a_social_worker_without_consent_is_refused_the_plan(tab: Tab) -> None:
    page = tab.sign_in("demo.social")
    person = practice_person_with_plan(tab.site)
    consented = _one(
        tab.site,
        "SELECT count(*) FROM consent_to_share WHERE person_id = ?"
        " AND organisation_type = 'local_authority_social_care' AND withdrawn_at IS NULL",
        person,
    )
    response = page.goto(f"{tab.site.url}/people/{person}/plan/conversation")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("You cannot see this page")
    response = page.goto(f"{tab.site.url}/people/{person}/plan")
    assert response is not None and response.status == (200 if consented else 403)
    tab.accessible()
