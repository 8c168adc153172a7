"""The person page through the real app over real stores: a SQLite operational store and a
small DuckDB analytic store with one run, written with the pipeline's own table definitions.

Who sees which section (and that every view and refusal is audited), the units readings are
shown in, and that no name or NHS number reaches the title or URL. The role × route matrix
(`test_api_access.py`) covers every role on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from houseofcare.api.app import create_app
from houseofcare.careplan import SYSTEM
from houseofcare.careplan.consent import give_consent
from houseofcare.careplan.people import create_organisation, create_person, create_user
from houseofcare.careplan.plans import add_goal, create_care_plan
from houseofcare.nhs_number import nhs_check_digit
from houseofcare.pipeline import RESULT_TABLES
from houseofcare.risk.scoring import RISK_SCORE_DDL
from houseofcare.settings import Settings
from houseofcare.store.analytic import connect
from houseofcare.store.database import make_engine, session_factory, transaction
from houseofcare.store.migrate import upgrade_engine
from houseofcare.store.models import AuditEvent, AuditOutcome, OrganisationType, Role
from houseofcare.tiers.assign import TIER_DDL
from houseofcare.web.security import CONTENT_SECURITY_POLICY

PASSWORD = "correct horse battery staple"
SNOMED = "http://snomed.info/sct"
HBA1C = "1049301000000100"  # IFCC HbA1c (ifcchbam_cod)
SYSTOLIC, DIASTOLIC = "100151000000109", "271650006"  # sysbp_cod, dbp_cod
EGFR = "1011481000000105"  # egfr_values
BMI = "60621009"  # bmival_cod


def _nhs(serial: int) -> str:
    first_nine = f"999{serial:06d}"
    check = nhs_check_digit(first_nine)
    assert check is not None
    return f"{first_nine}{check}"


@dataclass
class Site:
    app: object
    factory: sessionmaker[Session]
    people: dict[str, int] = field(default_factory=dict)
    nhs: dict[str, str] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)

    def browser(self, username: str) -> TestClient:
        browser = TestClient(self.app, follow_redirects=False)  # type: ignore[arg-type]
        form = browser.get("/sign-in")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token is not None
        answer = browser.post(
            "/sign-in",
            data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)},
        )
        assert answer.status_code == 303, answer.text
        return browser

    def last_event(self, username: str) -> AuditEvent:
        with self.factory() as session:
            event = session.scalar(
                select(AuditEvent)
                .where(AuditEvent.user_id == self.users[username])
                .order_by(AuditEvent.id.desc())
                .limit(1)
            )
            assert event is not None
            return event

    def events(self, username: str) -> int:
        with self.factory() as session:
            return len(
                session.scalars(
                    select(AuditEvent.id).where(AuditEvent.user_id == self.users[username])
                ).all()
            )


def _analytic_store(settings: Settings) -> None:
    """One run (31 March 2026) and the record of `p-ada`: HbA1c in % and in mmol/mol, one in
    a unit nobody can convert, BP, eGFR, BMI; two medicines; an emergency admission, an A&E
    attendance and a GP contact; a register, a care gap, a risk score and a level."""
    con = connect(settings)
    for ddl in (*RESULT_TABLES.values(), RISK_SCORE_DDL, TIER_DDL):
        con.execute(ddl)
    con.execute(
        "INSERT INTO patient (patient_id, nhs_number, practice_id) VALUES "
        f"('p-ada', '{_nhs(1)}', 'Y0001'), ('p-bea', '{_nhs(2)}', 'Y0001')"
    )
    con.execute(
        "INSERT INTO patient (patient_id, nhs_number, practice_id, birth_date, death_date) "
        f"VALUES ('p-cyd', '{_nhs(3)}', 'Y0001', DATE '1930-03-01', DATE '2026-02-01')"
    )
    con.execute(
        "INSERT INTO run VALUES ('run-1', DATE '2026-03-31', TIMESTAMP '2026-04-01 01:00', "
        "TIMESTAMP '2026-04-01 02:00', 'v', 'd', 2)"
    )
    con.execute(
        "INSERT INTO register VALUES ('run-1', 'p-ada', 'DM', DATE '2014-06-01', DATE '2026-01-10')"
    )
    con.execute(
        "INSERT INTO care_gap VALUES "
        "('run-1', 'p-ada', 'DM_FOOT', 'not met', NULL, NULL, NULL, NULL),"
        "('run-1', 'p-ada', 'DM_BP', 'met', NULL, NULL, NULL, NULL)"
    )
    con.execute(
        "INSERT INTO risk_score VALUES ('run-1', 'p-ada', 0.31, 97.5, "
        "'2 emergency admissions in the last year', 'age 85', NULL, 'lgbm-1')"
    )
    con.execute("INSERT INTO tier VALUES ('run-1', 'p-ada', 3, 'predicted admission risk 31%')")
    con.execute(
        f"""INSERT INTO observation (observation_id, patient_id, status, code_system, code,
                effective_date, value_number, value_unit, value_ucum) VALUES
        ('o1', 'p-ada', 'final', '{SNOMED}', '{HBA1C}', DATE '2025-04-10', 7.5, '%', '%'),
        ('o2', 'p-ada', 'final', '{SNOMED}', '{HBA1C}', DATE '2025-10-10', 61, 'mmol/mol',
         'mmol/mol'),
        ('o3', 'p-ada', 'final', '{SNOMED}', '{HBA1C}', DATE '2026-01-10', 6.9, 'furlongs',
         NULL),
        ('o4', 'p-ada', 'final', '{SNOMED}', '{SYSTOLIC}', DATE '2026-01-10', 148, 'mmHg',
         'mm[Hg]'),
        ('o5', 'p-ada', 'final', '{SNOMED}', '{DIASTOLIC}', DATE '2026-01-10', 88, 'mmHg',
         'mm[Hg]'),
        ('o6', 'p-ada', 'final', '{SNOMED}', '{SYSTOLIC}', DATE '2025-07-10', 152, 'mmHg',
         'mm[Hg]'),
        ('o7', 'p-ada', 'final', '{SNOMED}', '{EGFR}', DATE '2025-10-10', 52,
         'mL/min/1.73m2', NULL),
        ('o8', 'p-ada', 'final', '{SNOMED}', '{BMI}', DATE '2025-10-10', 31.26, 'kg/m2',
         'kg/m2'),
        ('o9', 'p-ada', 'final', '{SNOMED}', '{HBA1C}', DATE '2026-06-10', 40, 'mmol/mol',
         'mmol/mol')"""
    )
    con.execute(
        f"""INSERT INTO medication (medication_request_id, patient_id, status, code_system,
                code, display, authored_on) VALUES
        ('m1', 'p-ada', 'active', '{SNOMED}', '1', 'Metformin 500mg tablets',
         DATE '2020-01-01'),
        ('m2', 'p-ada', 'active', '{SNOMED}', '1', 'Metformin 500mg tablets',
         DATE '2026-02-01'),
        ('m3', 'p-ada', 'stopped', '{SNOMED}', '2', 'Gliclazide 80mg tablets',
         DATE '2019-05-01')"""
    )
    con.execute(
        """INSERT INTO encounter (encounter_id, patient_id, status, class_code, type_code,
                type_display, priority_code, period_start, period_end) VALUES
        ('e1', 'p-ada', 'finished', 'IMP', NULL, 'Hospital admission', 'EM',
         TIMESTAMP '2025-11-01 10:00', TIMESTAMP '2025-11-05 12:00'),
        ('e2', 'p-ada', 'finished', 'EMER', NULL, 'Emergency room visit', NULL,
         TIMESTAMP '2025-10-30 22:00', TIMESTAMP '2025-10-31 02:00'),
        ('e3', 'p-ada', 'finished', 'AMB', '185317003', 'Telephone encounter', NULL,
         TIMESTAMP '2025-09-01 10:00', NULL),
        ('e4', 'p-ada', 'finished', 'AMB', '185317003', 'Telephone encounter', NULL,
         TIMESTAMP '2020-09-01 10:00', NULL)"""
    )
    con.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder: Path = tmp_path_factory.mktemp("person-page")
    url = f"sqlite:///{folder / 'operational.sqlite'}"
    engine = make_engine(url)
    upgrade_engine(engine)
    factory = session_factory(engine)
    settings = Settings(data_dir=folder / "hoc-data", database_url=url)
    _analytic_store(settings)
    app = create_app(settings)
    built = Site(app=app, factory=factory)
    with transaction(factory) as session:
        practice = create_organisation(session, ods_code="Y0001", name="Riverside", type="practice")
        council = create_organisation(
            session, ods_code="LA1", name="Council", type="local_authority_social_care"
        )
        ada = create_person(
            session,
            nhs_number=_nhs(1),
            patient_id="p-ada",
            given_name="Ada",
            family_name="Lovelace",
            birth_date=dt.date(1940, 5, 1),
            practice_id=practice.id,
        )
        bea = create_person(
            session,
            nhs_number=_nhs(2),
            patient_id="p-bea",
            given_name="Bea",
            family_name="Private",
            practice_id=practice.id,
        )
        cyd = create_person(
            session,
            nhs_number=_nhs(3),
            patient_id="p-cyd",
            given_name="Cyd",
            family_name="Gone",
            birth_date=dt.date(1930, 3, 1),
            practice_id=practice.id,
        )
        give_consent(session, ada.id, OrganisationType.local_authority_social_care)
        plan = create_care_plan(
            session, ada.id, SYSTEM, title="Ada's plan", review_date=dt.date(2026, 9, 1)
        )
        add_goal(session, plan.id, {"what_matters_to_me": "Walk to the allotment"}, SYSTEM)
        for name, role, org in (
            ("gp", Role.gp, practice.id),
            ("social", Role.social_worker, council.id),
            ("commissioner", Role.commissioner, None),
            ("admin", Role.admin, None),
        ):
            user = create_user(
                session,
                username=name,
                password=PASSWORD,
                role=role,
                display_name=name,
                organisation_id=org,
            )
            built.users[name] = user.id
        built.users["ada.self"] = create_user(
            session,
            username="ada.self",
            password=PASSWORD,
            role=Role.patient,
            display_name="Ada",
            person_id=ada.id,
        ).id
        built.people = {"ada": ada.id, "bea": bea.id, "cyd": cyd.id}
        built.nhs = {"ada": ada.nhs_number, "bea": bea.nhs_number}
    yield built
    app.state.services.engine.dispose()
    engine.dispose()


def _title(html: str) -> str:
    found = re.search(r"<title>(.*?)</title>", html, re.S)
    assert found is not None
    return found.group(1)


def test_a_gp_of_the_practice_sees_every_section_and_the_view_is_audited(site: Site) -> None:
    browser = site.browser("gp")
    before = site.events("gp")
    page = browser.get(f"/people/{site.people['ada']}")
    assert page.status_code == 200, page.text
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert " style=" not in page.text and "<style" not in page.text
    text = page.text
    # the banner first, with name, NHS number spaced, date of birth and age
    banner = text.index("hoc-person-banner")
    assert banner < text.index("<h1")
    assert "LOVELACE, Ada" in text
    nhs = site.nhs["ada"]
    assert f"{nhs[:3]} {nhs[3:6]} {nhs[6:]}" in text
    assert "1 May 1940" in text and "years)" in text
    # the run's date
    assert "Figures come from the pipeline run of <strong>31 March 2026</strong>" in text
    # every section
    for heading in (
        "Conditions",
        "Level of care and risk",
        "Open care gaps",
        "Care plan",
        "Results over time",
        "Medicines",
        "Contacts, admissions and A&amp;E",
    ):
        assert f">{heading}</h2>" in text, heading
    assert "Not available to your role" not in text
    assert "Diabetes mellitus" in text and "1 Jun 2014" in text  # register, first recorded
    assert "Level 3: case management" in text and "predicted admission risk 31%" in text
    assert "31%</strong> chance of an emergency admission" in text
    assert "2 emergency admissions in the last year" in text
    assert "DM_FOOT" in text and "never done" in text and "DM_BP" not in text  # open only
    assert "Ada&#39;s plan" in text and "Walk to the allotment" in text
    assert "1 Sep 2026" in text  # review date
    assert f'href="/people/{site.people["ada"]}/plan"' in text
    # charts, each with a text alternative and a table of its readings
    for chart in ("bp", "hba1c", "egfr", "bmi"):
        assert f'aria-labelledby="chart-{chart}-title chart-{chart}-desc"' in text, chart
    assert text.count('<svg class="hoc-chart"') == 4
    assert "148 mmHg" in text and "88 mmHg" in text and "52 mL/min/1.73m2" in text
    assert "31.3 kg/m2" in text
    # medicines: recent and earlier
    assert "Metformin 500mg tablets" in text and "Gliclazide 80mg tablets" in text
    assert "Earlier medicines (1)" in text
    # contacts: admissions and A&E within two years, most recent first; nothing older
    contacts = text[text.index('id="contacts"') :].split("<tbody", 1)[1]
    admission = contacts.index("Emergency admission")
    assert admission < contacts.index("A&amp;E attendance") < contacts.index("GP contact")
    assert "Hospital admission; 4 nights" in contacts
    assert "1 Sep 2020" not in contacts
    # audited once, as a read of this person, with the sections shown
    assert site.events("gp") == before + 1
    event = site.last_event("gp")
    assert event.action == "read" and event.resource_type == "Patient"
    assert event.outcome is AuditOutcome.success
    assert event.person_id == site.people["ada"]
    assert event.detail["via"] == "pages" and event.detail["run"] == "run-1"
    assert "risk" in event.detail["sections"]


def test_readings_are_in_canonical_units_and_unusable_ones_are_left_out(site: Site) -> None:
    text = site.browser("gp").get(f"/people/{site.people['ada']}").text
    hba1c = text[text.index('id="measure-hba1c"') : text.index('id="measure-egfr"')]
    table = hba1c.split("<tbody", 1)[1]
    # 7.5 % is 58 mmol/mol (IFCC-NGSP master equation); never shown as 7.5 or as %
    assert "58 mmol/mol" in table and "61 mmol/mol" in table
    assert "7.5" not in table and "%" not in table
    assert "latest: HbA1c 61 mmol/mol on 10 October 2025" in hba1c  # the chart's description
    # the reading in an unknown unit is listed as left out, without its number
    assert "Left out: recorded in a unit that cannot be converted" in hba1c
    assert "6.9" not in table
    # a reading after the run's date is not shown
    assert "40 mmol/mol" not in hba1c and "Jun 2026" not in hba1c
    # the chart draws the two usable readings only
    assert hba1c.count("<circle") == 2


def test_no_name_or_nhs_number_in_the_title(site: Site) -> None:
    page = site.browser("gp").get(f"/people/{site.people['ada']}")
    title = _title(page.text)
    assert title == f"Person {site.people['ada']} – houseofcare"
    for secret in ("Ada", "Lovelace", "LOVELACE", site.nhs["ada"], site.nhs["ada"][:3] + " "):
        assert secret not in title


def test_a_social_worker_without_consent_is_refused_and_audited(site: Site) -> None:
    browser = site.browser("social")
    page = browser.get(f"/people/{site.people['bea']}")
    assert page.status_code == 403
    assert "You cannot see this page" in page.text
    assert "Private" not in page.text and site.nhs["bea"] not in page.text
    event = site.last_event("social")
    assert event.outcome is AuditOutcome.denied
    assert event.person_id == site.people["bea"]
    assert event.detail["via"] == "pages"


def test_a_social_worker_with_consent_sees_only_the_sections_granted(site: Site) -> None:
    page = site.browser("social").get(f"/people/{site.people['ada']}")
    assert page.status_code == 200, page.text
    text = page.text
    assert "LOVELACE, Ada" in text
    # granted: who the person is (patient.read), the care plan and its goals
    assert ">Care plan</h2>" in text
    assert "Walk to the allotment" in text
    # not granted: the clinical record (record.read: conditions, medicines, contacts), risk
    # and level (risk.read), care gaps, results over time
    for heading in (
        "Conditions",
        "Medicines",
        "Contacts, admissions and A&amp;E",
        "Level of care and risk",
        "Open care gaps",
        "Results over time",
    ):
        assert f">{heading}</h2>" not in text, heading
    for hidden in ("31%", "case management", "DM_FOOT", "mmol/mol", "hoc-chart"):
        assert hidden not in text, hidden
    assert "Not available to your role:" in text
    assert "risk of an emergency admission" in text
    event = site.last_event("social")
    assert event.outcome is AuditOutcome.success and event.person_id == site.people["ada"]
    assert "risk" not in event.detail["sections"]
    assert "care_plan" in event.detail["sections"]


def test_an_unknown_person_is_a_404_page_and_audited(site: Site) -> None:
    browser = site.browser("gp")
    for path in ("/people/999999", "/people/not-a-number", "/people/0"):
        page = browser.get(path)
        assert page.status_code == 404, path
        assert "Person not found" in page.text
        event = site.last_event("gp")
        assert event.outcome is AuditOutcome.not_found
        assert event.action == "read" and event.resource_type == "Patient"


def test_a_commissioner_is_refused_before_anyone_is_looked_up(site: Site) -> None:
    browser = site.browser("commissioner")
    for path in (f"/people/{site.people['ada']}", "/people/999999"):
        page = browser.get(path)
        assert page.status_code == 403
        assert "never sees identifiable data" in page.text
        assert site.last_event("commissioner").outcome is AuditOutcome.denied


def test_a_visitor_is_sent_to_sign_in(site: Site) -> None:
    browser = TestClient(site.app, follow_redirects=False)  # type: ignore[arg-type]
    answer = browser.get(f"/people/{site.people['ada']}")
    assert answer.status_code == 303 and answer.headers["location"] == "/sign-in"


def test_an_administrator_learns_nothing_not_even_who_exists(site: Site) -> None:
    browser = site.browser("admin")
    for path in (f"/people/{site.people['ada']}", "/people/999999"):
        page = browser.get(path)
        assert page.status_code == 403, path
        assert "You cannot see this page" in page.text
        assert site.last_event("admin").outcome is AuditOutcome.denied


def test_the_banner_says_when_a_person_has_died(site: Site) -> None:
    text = site.browser("gp").get(f"/people/{site.people['cyd']}").text
    banner = text[text.index("hoc-person-banner") : text.index("<h1")]
    assert "GONE, Cyd" in banner
    assert "<dt>Died</dt> <dd>1 Feb 2026</dd>" in banner
    assert "(95 years)" in banner  # age at death, not today


def test_a_person_sees_their_own_page_and_nobody_else_s(site: Site) -> None:
    browser = site.browser("ada.self")
    own = browser.get(f"/people/{site.people['ada']}")
    assert own.status_code == 200
    for heading in ("Level of care and risk", "Open care gaps", "Results over time"):
        assert f">{heading}</h2>" in own.text, heading
    assert "58 mmol/mol" in own.text
    other = browser.get(f"/people/{site.people['bea']}")
    assert other.status_code == 403
    assert "Private" not in other.text
    assert site.last_event("ada.self").outcome is AuditOutcome.denied
