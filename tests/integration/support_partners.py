"""The cast of the consent and partners' page tests, on SQLite and PostgreSQL.

- Ada (practice A) is the patient user `t.ada`; her active plan has a goal, a need and an
  action for the practice nurse (not for any partner). She shares with nobody at first.
- Bob (practice A) has no plan.
- Users: a GP of practice A, two social workers of one council (`t.sw`, `t.sw2`), a
  voluntary group's worker (`t.vol`), a commissioner.
"""

from __future__ import annotations

import datetime as dt
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
from houseofcare.careplan.people import create_organisation, create_person, create_user
from houseofcare.careplan.plans import add_action, add_goal, add_need, create_care_plan
from houseofcare.settings import Settings
from houseofcare.store.database import make_engine, session_factory, transaction
from houseofcare.store.migrate import upgrade_engine
from houseofcare.store.models import (
    Action,
    ActionVersion,
    CarePlan,
    CarePlanComment,
    CarePlanVersion,
    ConsentToShare,
    Role,
)

PASSWORD = "correct horse battery staple"
GOAL = "To get to my granddaughter’s wedding in June"
NEED = "Lives alone since spring; the stairs are hard"
NURSE_ACTION = "Check the inhaler technique at the next visit"


@dataclass
class Cast(PagesOnAStore):
    app: Any
    factory: sessionmaker[Session]
    people: dict[str, int] = field(default_factory=dict)
    nhs: dict[str, str] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)
    plan: int = 0

    def store(self) -> dict[str, Any]:
        """Everything the pages may write, audit aside."""
        with self.factory() as session:
            return {
                "consents": sorted(
                    session.execute(
                        select(
                            ConsentToShare.id,
                            ConsentToShare.organisation_type,
                            ConsentToShare.withdrawn_at,
                        )
                    ).all()
                ),
                "plans": sorted(session.execute(select(CarePlan.id, CarePlan.version)).all()),
                "actions": session.scalar(select(func.count()).select_from(Action)),
                "action_versions": session.scalar(select(func.count()).select_from(ActionVersion)),
                "plan_versions": session.scalar(select(func.count()).select_from(CarePlanVersion)),
                "comments": session.scalar(select(func.count()).select_from(CarePlanComment)),
            }


def spaced(nhs: str) -> str:
    return f"{nhs[:3]} {nhs[3:6]} {nhs[6:]}"


def build_cast(request: pytest.FixtureRequest, folder: Path, make_db: Callable[[str], str]) -> Any:
    if request.param == "sqlite":
        url = f"sqlite:///{folder / 'operational.sqlite'}"
    else:
        url = make_db("partners")
    engine = make_engine(url)
    upgrade_engine(engine)
    factory = session_factory(engine)
    numbers = nhs_numbers()
    cast = Cast(app=None, factory=factory)
    with transaction(factory) as session:
        practice = create_organisation(
            session, ods_code="Y0301", name="Practice A", type="practice"
        )
        council = create_organisation(
            session, ods_code="LA3", name="Council", type="local_authority_social_care"
        )
        group = create_organisation(
            session, ods_code="VG3", name="Breathe Easy", type="voluntary_group"
        )
        for name, family in (("Ada", "Shared"), ("Bob", "Private")):
            person = create_person(
                session,
                nhs_number=next(numbers),
                practice_id=practice.id,
                given_name=name,
                family_name=family,
                birth_date=dt.date(1944, 4, 4),
            )
            cast.people[name], cast.nhs[name] = person.id, person.nhs_number
        for username, role, org in (
            ("t.ada", Role.patient, None),
            ("t.gp", Role.gp, practice.id),
            ("t.nurse", Role.nurse, practice.id),
            ("t.sw", Role.social_worker, council.id),
            ("t.sw2", Role.social_worker, council.id),
            ("t.vol", Role.voluntary_sector, group.id),
            ("t.commissioner", Role.commissioner, None),
        ):
            cast.users[username] = create_user(
                session,
                username=username,
                password=PASSWORD,
                role=role,
                display_name=f"Test {username[2:]}",
                organisation_id=org,
                person_id=cast.people["Ada"] if role is Role.patient else None,
            ).id
        plan = create_care_plan(session, cast.people["Ada"], SYSTEM, title="Ada's plan")
        add_goal(session, plan.id, {"what_matters_to_me": GOAL}, SYSTEM)
        add_need(session, plan.id, {"domain": "social_loneliness", "description": NEED}, SYSTEM)
        add_action(
            session,
            plan.id,
            {
                "performer": "professional",
                "performer_user_id": cast.users["t.nurse"],
                "performer_name": "Practice nurse",
                "description": NURSE_ACTION,
            },
            SYSTEM,
        )
        cast.plan = plan.id
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
