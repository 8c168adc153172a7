"""The operational store, written once and run on SQLite and PostgreSQL.

`store` is parametrised over both databases. Each test session migrates one fresh SQLite
file and one fresh PostgreSQL database (uniquely named per xdist worker) with the shipped
Alembic migrations, so the tests run against exactly the schema a deployment gets, triggers
included. Tests commit what they make; they stay independent by making their own people
(fresh NHS numbers) rather than by emptying tables (audit rows cannot be deleted).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from houseofcare.careplan import Actor
from houseofcare.careplan.access import visible_people
from houseofcare.careplan.people import (
    add_team_member,
    create_care_team,
    create_organisation,
    create_person,
    create_user,
)
from houseofcare.careplan.policy import Action, packaged_policy
from houseofcare.nhs_number import nhs_check_digit
from houseofcare.store.database import make_engine, session_factory, transaction
from houseofcare.store.migrate import upgrade_engine
from houseofcare.store.models import (
    CareTeam,
    Organisation,
    OrganisationType,
    Person,
    Role,
    User,
)

PASSWORD = "correct horse battery staple"


def _nhs_numbers() -> Iterator[str]:
    """Valid NHS numbers in the 999 test range, in order."""
    for serial in itertools.count(1):
        first_nine = f"999{serial:06d}"
        check = nhs_check_digit(first_nine)
        if check is not None:
            yield f"{first_nine}{check}"


@dataclass
class Store:
    """One migrated operational store and a small cast of organisations and users."""

    name: str
    engine: Engine
    factory: sessionmaker[Session]
    users: dict[Role, User] = field(default_factory=dict)
    orgs: dict[OrganisationType, Organisation] = field(default_factory=dict)
    team: CareTeam | None = None
    other_team: CareTeam | None = None
    _numbers: Iterator[str] = field(default_factory=_nhs_numbers)
    _codes: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def session(self) -> Session:
        return self.factory()

    def transaction(self) -> Any:
        return transaction(self.factory)

    def nhs_number(self) -> str:
        return next(self._numbers)

    def actor(self, role: Role = Role.nurse) -> Actor:
        return Actor.of(self.users[role])

    def access_actor(self, role: Role = Role.nurse) -> Actor:
        """The user of `role` with their organisation's type, as the access decision sees
        them (the same `Actor` the services record)."""
        user = self.users[role]
        org = next((o for o in self.orgs.values() if o.id == user.organisation_id), None)
        return Actor(
            user_id=user.id,
            username=user.username,
            role=user.role,
            organisation_id=user.organisation_id,
            organisation_type=None if org is None else org.type.value,
            person_id=user.person_id,
        )

    def visible(self, role: Role, action: Action) -> Any:
        """The filter on `person` for what the user of `role` may see for `action`."""
        return visible_people(packaged_policy(), self.access_actor(role), action)

    def person(self, session: Session, **values: Any) -> Person:
        values.setdefault("nhs_number", self.nhs_number())
        values.setdefault("practice_id", self.orgs[OrganisationType.practice].id)
        return create_person(session, **values)

    def new_person_id(self, **values: Any) -> int:
        with self.transaction() as session:
            return self.person(session, **values).id

    def code(self, prefix: str) -> str:
        return f"{prefix}{next(self._codes)}"


def _cast(store: Store) -> None:
    with store.transaction() as session:
        for org_type in OrganisationType:
            store.orgs[org_type] = create_organisation(
                session, ods_code=store.code("T"), name=f"Test {org_type.value}", type=org_type
            )
        patient = store.person(session)
        where = {
            Role.gp: OrganisationType.practice,
            Role.nurse: OrganisationType.practice,
            Role.case_manager: OrganisationType.community_trust,
            Role.social_worker: OrganisationType.local_authority_social_care,
            Role.voluntary_sector: OrganisationType.voluntary_group,
            Role.link_worker: OrganisationType.practice,
        }
        for role in Role:
            org = store.orgs[where[role]] if role in where else None
            store.users[role] = create_user(
                session,
                username=f"test.{role.value}",
                password=PASSWORD,
                role=role,
                display_name=f"Test {role.value}",
                organisation_id=None if org is None else org.id,
                person_id=patient.id if role is Role.patient else None,
            )
        practice = store.orgs[OrganisationType.practice]
        store.team = create_care_team(session, name="Team A", organisation_id=practice.id)
        store.other_team = create_care_team(session, name="Team B", organisation_id=practice.id)
        for role in (Role.gp, Role.nurse, Role.case_manager):
            add_team_member(session, store.team.id, store.users[role].id)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def store(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    make_postgres_database: Callable[[str], str],
) -> Iterator[Store]:
    """A migrated operational store on each database, shared by the session's tests."""
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("store") / "operational.sqlite"
        url = f"sqlite:///{path}"
    else:
        url = make_postgres_database("store")
    engine = make_engine(url)
    upgrade_engine(engine)
    built = Store(name=request.param, engine=engine, factory=session_factory(engine))
    _cast(built)
    yield built
    engine.dispose()
