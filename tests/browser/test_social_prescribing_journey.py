"""The issue's journey in Chromium: a social prescribing link worker opens a person on their
caseload and refers them to a walking group; the group's user accepts the referral and
records that they attended; the person signs in and their plan shows it (the referral's
status and outcome under "Your referrals", the note on their plan, the action completed).

The link worker starts from "Suggest support" (matching): the walking group is suggested for
the person's need (loneliness), and its Refer link opens the refer form with it chosen.
"""

from __future__ import annotations

import sqlite3
import uuid

from playwright.sync_api import Browser, expect
from sqlalchemy import select

from houseofcare.careplan.actor import SYSTEM
from houseofcare.careplan.people import create_user
from houseofcare.careplan.plans import add_need
from houseofcare.store.database import make_engine, session_factory, transaction
from houseofcare.store.models import (
    CarePlan,
    CarePlanStatus,
    Organisation,
    Role,
    Service,
    ServiceAccess,
    ServiceKind,
    ServiceStatus,
)
from tests.browser.conftest import Site, Tab

WALK = "Journey Tuesday walking group"
OUTCOME = "Walked three miles with the group and is coming back next week"
PHONE = {"width": 375, "height": 812}


def _rows(site: Site, sql: str, *args: object) -> list[tuple]:
    with sqlite3.connect(site.operational) as con:
        return con.execute(sql, args).fetchall()


def _prepare(site: Site) -> tuple[int, str]:
    """The walking group (a service of the demo voluntary group) and a sign-in for a person on
    the link worker's caseload: (their person id, their username)."""
    [(person_id,)] = _rows(
        site,
        "SELECT max(ca.person_id) FROM caseload_assignment ca"
        " JOIN user_account u ON u.id = ca.case_manager_id WHERE u.username = 'demo.linkworker'",
    )
    username = "journey.person"
    engine = make_engine(f"sqlite:///{site.operational}")
    try:
        with transaction(session_factory(engine)) as session:
            group = session.query(Organisation).filter_by(ods_code="DEMO-VG").one()
            session.add(
                Service(
                    oruk_id=str(uuid.uuid4()),
                    name=WALK,
                    organisation_name=group.name,
                    organisation_id=group.id,
                    status=ServiceStatus.active,
                    kind=ServiceKind.community,
                    access=ServiceAccess.both,
                    needs=["social_loneliness"],
                    conditions=[],
                    taxonomy=[],
                    accessibility=[],
                    languages=["en"],
                    capacity_per_month=10,
                )
            )
            plan_id = session.scalar(
                select(CarePlan.id).where(
                    CarePlan.person_id == person_id, CarePlan.status == CarePlanStatus.active
                )
            )
            add_need(
                session,
                plan_id,
                {"domain": "social_loneliness", "description": "Lonely since moving here"},
                SYSTEM,
            )
            create_user(
                session,
                username=username,
                password=f"{username}-2026",
                role=Role.patient,
                display_name="Journey person",
                person_id=person_id,
            )
    finally:
        engine.dispose()
    return person_id, username


def test_link_worker_refers_to_a_walking_group_and_the_plan_shows_it(
    browser: Browser, site: Site
) -> None:
    person_id, username = _prepare(site)
    contexts = [browser.new_context(viewport={"width": 1100, "height": 900}) for _ in range(2)]
    contexts.append(browser.new_context(viewport=PHONE))
    try:
        worker, group, person = (Tab(c.new_page(), site) for c in contexts)

        # 1. the link worker opens the person from their caseload and refers them
        worker.sign_in("demo.linkworker")
        page = worker.open("/social-prescribing")
        page.locator(f"#person-{person_id}").get_by_role("link").first.click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Referrals")
        page = worker.open(f"/people/{person_id}/support")
        suggestion = page.get_by_role("button", name=f"Refer to {WALK}")
        expect(suggestion).to_be_visible()
        worker.accessible()
        suggestion.click()
        # the refer form with the suggested service confirmed, its places shown
        expect(page.get_by_role("heading", name="The service")).to_be_visible()
        expect(page.get_by_text(WALK, exact=True)).to_be_visible()
        expect(page.get_by_text("10 places left this month")).to_be_visible()
        page.get_by_label("What part of life the referral is about").select_option(
            label="Loneliness"
        )
        page.get_by_label("What matters to the person, and why this service").fill(
            "Wants company to get out walking again"
        )
        page.get_by_role("button", name="Send the referral").click()
        expect(page.get_by_text("Referral sent.")).to_be_visible()
        [(referral_id, status)] = _rows(
            site,
            "SELECT r.id, r.status FROM referral r JOIN service s ON s.id = r.service_id"
            " WHERE s.name = ?",
            WALK,
        )
        assert status == "sent"

        # 2. the group accepts it and records that they attended
        group.sign_in("demo.voluntary")
        page = group.open("/referrals/inbox")
        page.locator(f"#referral-{referral_id}").get_by_role("button", name="Accept").click()
        expect(page.get_by_text("Saved.")).to_be_visible()
        card = page.locator(f"#referral-{referral_id}")
        card.get_by_label("The outcome (optional)").first.fill(OUTCOME)
        card.get_by_role("button", name="Record that they attended").click()
        expect(page.get_by_text("Saved.")).to_be_visible()

        # 3. the person sees it on their plan
        person.sign_in(username)
        page = person.open("/me/plan")
        section = page.locator("#referrals + table")
        expect(page.get_by_role("heading", name="Your referrals")).to_be_visible()
        expect(section.get_by_text(WALK, exact=False)).to_be_visible()
        expect(section.get_by_text("Attended")).to_be_visible()
        expect(page.get_by_text(f"attended. {OUTCOME}", exact=False)).to_be_visible()
        expect(
            page.get_by_role("link", name="Find services you can contact yourself")
        ).to_be_visible()
        person.accessible()
        person.screenshot("referrals-my-plan")
        [(action_status,)] = _rows(
            site,
            "SELECT a.status FROM care_action a JOIN referral r ON r.action_id = a.id"
            " WHERE r.id = ?",
            referral_id,
        )
        assert action_status == "completed"
    finally:
        for context in contexts:
            context.close()
