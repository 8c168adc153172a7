"""Helpers shared by the API integration tests (no tests here): a real app over a real store.

`api_world` is parametrised over SQLite and PostgreSQL (a fresh database per xdist worker,
from the shared `make_postgres_database` fixture). It migrates the store with the shipped
Alembic migrations, builds the cast through the care-plan services, signs every user in
through the API, and hands out an httpx-based TestClient against the real app.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from houseofcare.api.app import create_app
from houseofcare.careplan import SYSTEM
from houseofcare.careplan.consent import give_consent
from houseofcare.careplan.people import (
    add_team_member,
    assign_to_caseload,
    create_care_team,
    create_organisation,
    create_person,
    create_user,
)
from houseofcare.careplan.plans import add_goal, create_care_plan
from houseofcare.careplan.preparation import ResultsSummary, prepare
from houseofcare.nhs_number import nhs_check_digit
from houseofcare.settings import Settings
from houseofcare.store.database import make_engine, session_factory, transaction
from houseofcare.store.migrate import upgrade_engine
from houseofcare.store.models import (
    AuditEvent,
    CarePlan,
    CarePlanComment,
    CaseloadAssignment,
    ConsentToShare,
    Goal,
    Need,
    OrganisationType,
    Person,
    Preparation,
    Role,
)

PASSWORD = "correct horse battery staple"
FHIR = "application/fhir+json"


def nhs_numbers() -> Iterator[str]:
    for serial in itertools.count(1):
        first_nine = f"999{serial:06d}"
        check = nhs_check_digit(first_nine)
        if check is not None:
            yield f"{first_nine}{check}"


@dataclass
class World:
    """The app, its store and a cast: people related to some users and not to others.

    - `related` (P1): registered at practice A, on the case manager's caseload, consents to
      share with local authority social care (not with the voluntary sector); is the
      patient user; has an active plan with a goal and a prepared results summary.
    - `unrelated` (P2): registered at practice B, nobody's caseload, no consent.
    """

    db: str
    client: TestClient
    factory: sessionmaker[Session]
    tokens: dict[str, str] = field(default_factory=dict)
    user_ids: dict[str, int] = field(default_factory=dict)
    people: dict[str, int] = field(default_factory=dict)
    nhs: dict[str, str] = field(default_factory=dict)
    plans: dict[str, int] = field(default_factory=dict)
    goals: dict[str, int] = field(default_factory=dict)
    consents: dict[str, int] = field(default_factory=dict)
    team_id: int = 0
    #: Anything a test case makes for itself (keyed by the case).
    scratch: dict[str, Any] = field(default_factory=dict)
    numbers: Iterator[str] = field(default_factory=nhs_numbers)

    def headers(self, who: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}", **extra}

    def get(self, who: str, url: str, **kw: Any) -> Any:
        return self.client.get(url, headers=self.headers(who), **kw)

    def put(self, who: str, url: str, body: Any, version: int | None, **kw: Any) -> Any:
        headers = self.headers(who, **{"Content-Type": FHIR})
        if version is not None:
            headers["If-Match"] = f'W/"{version}"'
        return self.client.put(url, headers=headers, json=body, **kw)

    def post(self, who: str, url: str, body: Any, *, content_type: str = FHIR) -> Any:
        headers = self.headers(who, **{"Content-Type": content_type})
        return self.client.post(url, headers=headers, json=body)

    def version_of(self, model: type[CarePlan] | type[Goal], ident: int) -> int:
        with self.factory() as session:
            return session.scalar(select(model.version).where(model.id == ident)) or 0

    def clinical_snapshot(self) -> dict[str, Any]:
        """Counts and versions of everything clinical (audit rows are expected to grow)."""
        with self.factory() as session:
            snap: dict[str, Any] = {}
            for model in (Person, CarePlan, Goal, Need, ConsentToShare, CarePlanComment):
                snap[model.__tablename__] = session.scalar(select(func.count()).select_from(model))
            snap["plan_versions"] = sorted(
                session.execute(select(CarePlan.id, CarePlan.version)).all()
            )
            snap["goal_versions"] = sorted(session.execute(select(Goal.id, Goal.version)).all())
            snap["titles"] = sorted(session.execute(select(CarePlan.id, CarePlan.title)).all())
            snap["talk"] = sorted(
                session.execute(select(Preparation.id, Preparation.talk_about)).all(),
                key=lambda r: r[0],
            )
            snap["withdrawn"] = sorted(
                session.execute(select(ConsentToShare.id, ConsentToShare.withdrawn_at)).all(),
                key=lambda r: r[0],
            )
        return snap

    def last_audit(self, who: str) -> AuditEvent:
        with self.factory() as session:
            event = session.scalar(
                select(AuditEvent)
                .where(AuditEvent.user_id == self.user_ids[who])
                .order_by(AuditEvent.id.desc())
                .limit(1)
            )
            assert event is not None, f"no audit event for {who}"
            return event

    def audit_count(self) -> int:
        with self.factory() as session:
            return session.scalar(select(func.count()).select_from(AuditEvent)) or 0

    def fresh_consent(self, target: str) -> int:
        """A live consent of the target to share with acute trusts (no user of the cast works
        for one, so it changes nobody's access); made for a test that withdraws it."""
        with transaction(self.factory) as session:
            consent = give_consent(
                session, self.people[target], OrganisationType.acute_trust, SYSTEM
            )
            return consent.id

    def new_person(self, practice: str = "A") -> int:
        with transaction(self.factory) as session:
            org = self._orgs[practice]
            return create_person(
                session, nhs_number=next(self.numbers), practice_id=org, given_name="New"
            ).id

    _orgs: dict[str, int] = field(default_factory=dict)


#: Users of the cast: name → (role, organisation key).
CAST: dict[str, tuple[Role, str | None]] = {
    "gp": (Role.gp, "A"),
    "nurse": (Role.nurse, "A"),
    "case_manager": (Role.case_manager, "CT"),
    "social_worker": (Role.social_worker, "LA"),
    "voluntary_sector": (Role.voluntary_sector, "VG"),
    "commissioner": (Role.commissioner, None),
    "patient": (Role.patient, None),
    "admin": (Role.admin, None),
    "gp_b": (Role.gp, "B"),
    # --- issue 13: the social prescribing link worker (the related person is referred to them)
    "link_worker": (Role.link_worker, "A"),
}


def _build(world: World) -> None:
    with transaction(world.factory) as session:
        orgs = {
            "A": create_organisation(session, ods_code="Y0001", name="Practice A", type="practice"),
            "B": create_organisation(session, ods_code="Y0002", name="Practice B", type="practice"),
            "CT": create_organisation(
                session, ods_code="CT1", name="Community trust", type="community_trust"
            ),
            "LA": create_organisation(
                session, ods_code="LA1", name="Social care", type="local_authority_social_care"
            ),
            "VG": create_organisation(
                session, ods_code="VG1", name="Breathe Easy", type="voluntary_group"
            ),
        }
        world._orgs = {k: v.id for k, v in orgs.items()}
        related = create_person(
            session,
            nhs_number=next(world.numbers),
            practice_id=orgs["A"].id,
            given_name="Ada",
            family_name="Related",
            birth_date=dt.date(1940, 5, 1),
            gender="female",
            patient_id="pat-related",
        )
        unrelated = create_person(
            session,
            nhs_number=next(world.numbers),
            practice_id=orgs["B"].id,
            given_name="Bea",
            family_name="Unrelated",
            patient_id="pat-unrelated",
        )
        for person, key in ((related, "related"), (unrelated, "unrelated")):
            world.people[key] = person.id
            world.nhs[key] = person.nhs_number
        for name, (role, org) in CAST.items():
            user = create_user(
                session,
                username=f"t.{name}",
                password=PASSWORD,
                role=role,
                display_name=f"Test {name}",
                organisation_id=None if org is None else orgs[org].id,
                person_id=related.id if role is Role.patient else None,
            )
            world.user_ids[name] = user.id
        assign_to_caseload(
            session, case_manager_id=world.user_ids["case_manager"], person_id=related.id
        )
        # --- issue 13: referred to social prescribing: on the link worker's caseload too (the
        # assignment row social_prescribing.refer_to_link_worker writes)
        session.add(
            CaseloadAssignment(
                case_manager_id=world.user_ids["link_worker"],
                person_id=related.id,
                what_matters="Getting out of the house",
            )
        )
        world.consents["related"] = give_consent(
            session, related.id, OrganisationType.local_authority_social_care
        ).id
        team = create_care_team(session, name="Team A", organisation_id=orgs["A"].id)
        for name in ("gp", "nurse", "case_manager"):
            add_team_member(session, team.id, world.user_ids[name])
        world.team_id = team.id
        for key, person in (("related", related), ("unrelated", unrelated)):
            plan = create_care_plan(
                session, person.id, SYSTEM, title=f"Plan of {key}", care_team_id=team.id
            )
            world.plans[key] = plan.id
            world.goals[key] = add_goal(
                session, plan.id, {"what_matters_to_me": "Walk to the shops"}, SYSTEM
            ).id
            summary = ResultsSummary(
                patient_id=person.patient_id or "",
                run_id="run-1",
                as_of="2026-03-31",
                measures=(),
                care_gaps=(),
                risk=None,
            )
            prepare(session, person.id, SYSTEM, summary=summary)
        world.consents["unrelated"] = give_consent(
            session, unrelated.id, OrganisationType.acute_trust
        ).id
    for name in CAST:
        response = world.client.post(
            "/auth/token", data={"username": f"t.{name}", "password": PASSWORD}
        )
        assert response.status_code == 200, response.text
        world.tokens[name] = response.json()["access_token"]


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def api_world(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    make_postgres_database: Callable[[str], str],
) -> Iterator[World]:
    """The real app over a migrated store on each database, with the cast signed in."""
    folder: Path = tmp_path_factory.mktemp(f"api-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{folder / 'operational.sqlite'}"
    else:
        url = make_postgres_database("api")
    engine = make_engine(url)
    upgrade_engine(engine)
    settings = Settings(data_dir=folder / "hoc-data", database_url=url)
    app = create_app(settings)
    with TestClient(app) as client:
        world = World(db=request.param, client=client, factory=session_factory(engine))
        _build(world)
        yield world
    app.state.services.engine.dispose()
    engine.dispose()


def careplan_body(world: World, who_key: str, **changes: Any) -> dict[str, Any]:
    """The plan as the API shows it now (read as an allowed user), changed."""
    response = world.get(
        "gp" if who_key == "related" else "gp_b", f"/fhir/CarePlan/{world.plans[who_key]}"
    )
    assert response.status_code == 200, response.text
    body = response.json()
    body.update(changes)
    return body


def consent_body(patient: dict[str, Any], organisation_type: str) -> dict[str, Any]:
    """A FHIR Consent to share with `organisation_type`, given by `patient` (a reference)."""
    return {
        "resourceType": "Consent",
        "status": "active",
        "scope": {"coding": [{"code": "patient-privacy"}]},
        "category": [{"coding": [{"code": "59284-0"}]}],
        "patient": patient,
        "provision": {
            "type": "permit",
            "actor": [
                {
                    "role": {"coding": [{"code": "IRCP"}]},
                    "reference": {
                        "identifier": {
                            "system": "https://houseofcare.org.uk/fhir/CodeSystem/organisation-type",
                            "value": organisation_type,
                        }
                    },
                }
            ],
        },
    }


def page_client(world: World) -> TestClient:
    """A browser of its own on the same app: its own cookie jar, nobody signed in."""
    return TestClient(world.client.app, follow_redirects=False)


def form_token(html: str) -> str:
    """The CSRF token of the (first) form on a page."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None, "no CSRF token on the page"
    return found.group(1)


def without_tokens(html: str) -> str:
    """The page with its CSRF tokens blanked.

    A token is random text: a short name such as "Ada" turns up inside one now and then,
    so a check that a name is *not* shown must look at the page without them.
    """
    return re.sub(r'name="csrf_token" value="[^"]*"', 'name="csrf_token" value=""', html)


def page_sign_in(browser: TestClient, username: str, password: str) -> Any:
    """Sign in through the pages' form as a browser does: open it, send it back filled in."""
    form = browser.get("/sign-in")
    assert form.status_code == 200, form.text
    return browser.post(
        "/sign-in",
        data={"username": username, "password": password, "csrf_token": form_token(form.text)},
    )


class PagesOnAStore:
    """Signing in to the pages and reading the audit trail, for a test world that has the
    app (`app`) and its operational store (`factory`): the partners', referrals' and
    matching worlds share these."""

    app: Any
    factory: sessionmaker[Session]

    def browser(self, username: str) -> TestClient:
        browser = TestClient(self.app, follow_redirects=False)
        answer = page_sign_in(browser, username, PASSWORD)
        assert answer.status_code == 303, answer.text
        return browser

    def token(self, browser: TestClient) -> str:
        return form_token(browser.get("/").text)

    def events(self, username: str, after: int = 0) -> list[AuditEvent]:
        with self.factory() as session:
            return list(
                session.scalars(
                    select(AuditEvent)
                    .where(AuditEvent.username == username, AuditEvent.id > after)
                    .order_by(AuditEvent.id)
                ).all()
            )

    def last_event_id(self) -> int:
        with self.factory() as session:
            return session.scalar(select(func.max(AuditEvent.id))) or 0
