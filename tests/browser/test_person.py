"""The person page in Chromium: a GP opens one of their practice's people and sees the banner,
the charts with their tables, medicines and contacts; a voluntary group without the person's
consent is refused. Checked with axe-core and photographed into docs/screenshots/."""

from __future__ import annotations

import sqlite3

import duckdb
from playwright.sync_api import Browser, expect

from houseofcare.settings import Settings
from tests.browser.conftest import AS_OF, Site, Tab

#: The measures' SNOMED CT codes, to choose a person with readings to draw.
BP_AND_HBA1C = ("100151000000109", "163030003", "271649006", "1049301000000100")


def a_gp_s_person(site: Site) -> tuple[int, str]:
    """A person registered at demo.gp's practice with an active care plan and the most blood
    pressure and HbA1c readings: (person id, NHS number)."""
    with sqlite3.connect(site.operational) as con:
        rows = con.execute(
            """SELECT p.id, p.patient_id, p.nhs_number FROM person p
               JOIN care_plan c ON c.person_id = p.id AND c.status = 'active'
               WHERE p.patient_id IS NOT NULL AND p.practice_id =
                     (SELECT organisation_id FROM user_account WHERE username = 'demo.gp')"""
        ).fetchall()
    assert rows, "the demo gives the GP's practice people with care plans"
    by_patient = {patient_id: (person_id, nhs) for person_id, patient_id, nhs in rows}
    analytic = Settings(data_dir=site.data_dir).analytic_db_path
    with duckdb.connect(str(analytic), read_only=True) as con:
        counted = con.execute(
            "SELECT patient_id, count(*) AS n FROM observation "
            "WHERE code IN (SELECT unnest(?::VARCHAR[])) "
            "AND patient_id IN (SELECT unnest(?::VARCHAR[])) "
            "GROUP BY patient_id ORDER BY n DESC, patient_id LIMIT 1",
            [list(BP_AND_HBA1C), list(by_patient)],
        ).fetchall()
    chosen = counted[0][0] if counted else sorted(by_patient)[0]
    return by_patient[chosen]


def test_a_gp_opens_a_person_and_sees_banner_charts_and_tables(tab: Tab) -> None:
    person_id, nhs_number = a_gp_s_person(tab.site)
    page = tab.sign_in("demo.gp")
    page = tab.open(f"/people/{person_id}")
    expect(page).to_have_title(f"Person {person_id} – houseofcare")
    banner = page.get_by_role("region", name="Person")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text(f"{nhs_number[:3]} {nhs_number[3:6]} {nhs_number[6:]}")
    expect(banner).to_contain_text("years)")
    run_date = f"{AS_OF.day} {AS_OF:%B %Y}"
    expect(page.get_by_text("Figures come from the pipeline run of")).to_contain_text(run_date)
    for heading in ("Conditions", "Level of care and risk", "Care plan", "Results over time"):
        expect(page.get_by_role("heading", level=2, name=heading)).to_be_visible()
    expect(page.get_by_role("heading", level=2, name="Medicines")).to_be_visible()
    charts = page.locator("svg.hoc-chart")
    assert charts.count() >= 1, "the chosen person has readings to draw"
    expect(charts.first).to_have_attribute("role", "img")
    # every chart has its table of readings, behind "Readings as a table"
    tables = page.locator(".hoc-measure details")
    assert tables.count() == page.locator(".hoc-measure").count()
    first = tables.first
    first.locator("summary").click()
    expect(first.get_by_role("columnheader", name="Date")).to_be_visible()
    assert first.locator("tbody tr").count() >= 1
    expect(page.get_by_role("link", name="Open the care plan")).to_have_attribute(
        "href", f"/people/{person_id}/plan"
    )
    with sqlite3.connect(tab.site.operational) as con:
        seen = con.execute(
            "SELECT outcome FROM audit_event WHERE username = 'demo.gp' AND action = 'read' "
            "AND resource_type = 'Patient' AND person_id = ?",
            [person_id],
        ).fetchall()
    assert ("success",) in seen
    tab.accessible()
    tab.screenshot("person-gp")


def test_the_person_page_works_without_javascript(browser: Browser, site: Site) -> None:
    person_id, _ = a_gp_s_person(site)
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(site.url + "/sign-in")
    page.get_by_label("Username").fill("demo.gp")
    page.get_by_label("Password", exact=True).fill("demo.gp-2026")
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{site.url}/people/{person_id}")
    expect(page.get_by_role("heading", level=1)).to_have_text("The person's record")
    expect(page.locator("svg.hoc-chart").first).to_be_visible()
    page.locator(".hoc-measure details summary").first.click()
    expect(page.locator(".hoc-measure details table").first).to_be_visible()
    context.close()


def test_a_voluntary_group_without_consent_is_refused(tab: Tab) -> None:
    person_id, nhs_number = a_gp_s_person(tab.site)
    with sqlite3.connect(tab.site.operational) as con:
        consented = con.execute(
            "SELECT count(*) FROM consent_to_share WHERE person_id = ? "
            "AND organisation_type = 'voluntary_group' AND withdrawn_at IS NULL",
            [person_id],
        ).fetchone()[0]
    assert consented == 0, "the demo person has not consented to share with voluntary groups"
    page = tab.sign_in("demo.voluntary")
    response = page.goto(f"{tab.site.url}/people/{person_id}")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("You cannot see this page")
    expect(page.get_by_text(nhs_number[:3] + " " + nhs_number[3:6])).to_have_count(0)
    tab.accessible()
    tab.screenshot("person-refused")
