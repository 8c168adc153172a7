"""The cast of the referral tests, on SQLite and PostgreSQL.

- Practice A: a GP (`t.gp`), a nurse (`t.nurse`); a link worker (`t.lw`) of the primary care
  network, with Ada on their caseload (referred to social prescribing by the GP).
- Walk Together (a voluntary group, `t.vol`) runs the walking group (2 places a month) and a
  full lunch club (no places); Chat Café (another voluntary group, `t.vol2`) runs a café.
  A closed service (inactive) belongs to Walk Together too.
- Ada (the patient user `t.ada`) has an active plan with a goal; Bob has an active plan and
  is on nobody's caseload; Cy has no plan. Nobody consents to share with voluntary groups.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from test_api_support import PagesOnAStore, nhs_numbers

from houseofcare.api.app import create_app
from houseofcare.careplan import SYSTEM
from houseofcare.careplan.actor import Actor
from houseofcare.careplan.guard import Guard
from houseofcare.careplan.people import create_organisation, create_person, create_user
from houseofcare.careplan.plans import add_goal, create_care_plan
from houseofcare.careplan.policy import packaged_policy
from houseofcare.settings import Settings
from houseofcare.store.database import make_engine, session_factory, transaction
from houseofcare.store.migrate import upgrade_engine
from houseofcare.store.models import (
    Action,
    ActionVersion,
    CarePlan,
    CarePlanComment,
    CaseloadAssignment,
    Referral,
    ReferralEvent,
    Role,
    Service,
    ServiceAccess,
    ServiceKind,
    ServiceStatus,
    UnmetNeed,
    User,
)

PASSWORD = "correct horse battery staple"
GOAL = "Get out of the house and meet people again"
WHAT_MATTERS = "Lonely since her husband died; used to love walking"


def make_service(
    session: Session,
    name: str,
    organisation_id: int | None,
    *,
    capacity: int | None = None,
    status: ServiceStatus = ServiceStatus.active,
    access: ServiceAccess = ServiceAccess.referral,
) -> int:
    """A directory service, made directly (the directory's import is another module's)."""
    service = Service(
        oruk_id=str(uuid.uuid4()),
        name=name,
        organisation_name=name + " (charity)",
        organisation_id=organisation_id,
        status=status,
        kind=ServiceKind.voluntary,
        access=access,
        needs=["social_loneliness"],
        conditions=[],
        taxonomy=[],
        accessibility=[],
        languages=["en"],
        locality="Leeds",
        capacity_per_month=capacity,
    )
    session.add(service)
    session.flush()
    return service.id


@dataclass
class Cast(PagesOnAStore):
    app: Any
    factory: sessionmaker[Session]
    people: dict[str, int] = field(default_factory=dict)
    nhs: dict[str, str] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)
    orgs: dict[str, int] = field(default_factory=dict)
    services: dict[str, int] = field(default_factory=dict)
    plans: dict[str, int] = field(default_factory=dict)

    def guard(self, username: str) -> Guard:
        with self.factory() as session:
            user = session.scalar(select(User).where(User.username == username))
            assert user is not None
            kind = None if user.organisation is None else user.organisation.type.value
            actor = Actor.of(user, organisation_type=kind)
        return Guard(actor=actor, factory=self.factory, policy=packaged_policy())

    def store(self) -> dict[str, Any]:
        """Everything the referral services may write, audit aside."""
        with self.factory() as session:
            count = lambda model: session.scalar(select(func.count()).select_from(model))  # noqa: E731
            return {
                "referrals": sorted(
                    session.execute(select(Referral.id, Referral.status, Referral.version)).all()
                ),
                "referral_events": count(ReferralEvent),
                "unmet": count(UnmetNeed),
                "plans": sorted(session.execute(select(CarePlan.id, CarePlan.version)).all()),
                "actions": count(Action),
                "action_versions": count(ActionVersion),
                "comments": count(CarePlanComment),
                "assignments": sorted(
                    session.execute(
                        select(
                            CaseloadAssignment.id,
                            CaseloadAssignment.what_matters,
                            CaseloadAssignment.follow_up_on,
                        )
                    ).all()
                ),
            }


def build_cast(request: pytest.FixtureRequest, folder: Path, make_db: Callable[[str], str]) -> Any:
    if request.param == "sqlite":
        url = f"sqlite:///{folder / 'operational.sqlite'}"
    else:
        url = make_db("referrals")
    engine = make_engine(url)
    upgrade_engine(engine)
    factory = session_factory(engine)
    numbers = nhs_numbers()
    cast = Cast(app=None, factory=factory)
    with transaction(factory) as session:
        orgs = {
            "A": create_organisation(session, ods_code="Y0401", name="Practice A", type="practice"),
            "PCN": create_organisation(
                session, ods_code="PCN1", name="Leeds North PCN", type="community_trust"
            ),
            "WT": create_organisation(
                session, ods_code="VG41", name="Walk Together", type="voluntary_group"
            ),
            "CC": create_organisation(
                session, ods_code="VG42", name="Chat Café", type="voluntary_group"
            ),
        }
        cast.orgs = {k: v.id for k, v in orgs.items()}
        for name, family in (("Ada", "Walker"), ("Bob", "Private"), ("Cy", "Noplan")):
            person = create_person(
                session,
                nhs_number=next(numbers),
                practice_id=orgs["A"].id,
                given_name=name,
                family_name=family,
                birth_date=dt.date(1950, 3, 3),
            )
            cast.people[name], cast.nhs[name] = person.id, person.nhs_number
        for username, role, org in (
            ("t.ada", Role.patient, None),
            ("t.gp", Role.gp, "A"),
            ("t.nurse", Role.nurse, "A"),
            ("t.lw", Role.link_worker, "PCN"),
            ("t.vol", Role.voluntary_sector, "WT"),
            ("t.vol2", Role.voluntary_sector, "CC"),
            ("t.commissioner", Role.commissioner, None),
            ("t.admin", Role.admin, None),
        ):
            cast.users[username] = create_user(
                session,
                username=username,
                password=PASSWORD,
                role=role,
                display_name=f"Test {username[2:]}",
                organisation_id=None if org is None else cast.orgs[org],
                person_id=cast.people["Ada"] if role is Role.patient else None,
            ).id
        for name in ("Ada", "Bob"):
            plan = create_care_plan(session, cast.people[name], SYSTEM, title=f"{name}'s plan")
            add_goal(session, plan.id, {"what_matters_to_me": GOAL}, SYSTEM)
            cast.plans[name] = plan.id
        session.add(
            CaseloadAssignment(
                case_manager_id=cast.users["t.lw"],
                person_id=cast.people["Ada"],
                assigned_by_id=cast.users["t.gp"],
                what_matters=WHAT_MATTERS,
            )
        )
        cast.services = {
            "walk": make_service(session, "Wednesday walking group", cast.orgs["WT"], capacity=2),
            "lunch": make_service(session, "Lunch club", cast.orgs["WT"], capacity=0),
            "closed": make_service(
                session, "Old choir", cast.orgs["WT"], status=ServiceStatus.inactive
            ),
            "cafe": make_service(session, "Chat café", cast.orgs["CC"]),
        }
    settings = Settings(data_dir=folder / "hoc-data", database_url=url)
    cast.app = create_app(settings)
    return cast, engine


@pytest.fixture(params=["sqlite", "postgresql"])
def cast(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    make_postgres_database: Callable[[str], str],
) -> Iterator[Cast]:
    made, engine = build_cast(request, tmp_path, make_postgres_database)
    yield made
    made.app.state.services.engine.dispose()
    engine.dispose()
