"""A store (SQLite or PostgreSQL) with the demo directory imported, a user of every role and
the app over it: shared by the directory's import, API and page tests (issue 13)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from test_api_support import nhs_numbers, page_sign_in

from houseofcare.api.app import create_app
from houseofcare.careplan.people import create_organisation, create_person, create_user
from houseofcare.selfcare.demo_directory import demo_feed_text, load_demo_directory
from houseofcare.settings import Settings
from houseofcare.store.database import make_engine, session_factory, transaction
from houseofcare.store.migrate import upgrade_engine
from houseofcare.store.models import Role, Service

PASSWORD = "correct horse battery staple"
#: One user of every role: username → (role, organisation key).
USERS: dict[str, tuple[Role, str | None]] = {
    "d.gp": (Role.gp, "A"),
    "d.nurse": (Role.nurse, "A"),
    "d.case_manager": (Role.case_manager, "CT"),
    "d.social_worker": (Role.social_worker, "LA"),
    "d.voluntary_sector": (Role.voluntary_sector, "VG"),
    "d.link_worker": (Role.link_worker, "VG"),
    "d.commissioner": (Role.commissioner, None),
    "d.patient": (Role.patient, None),
    "d.admin": (Role.admin, None),
}


@dataclass
class Directory:
    app: FastAPI
    factory: sessionmaker[Session]
    settings: Settings
    engine_name: str

    def browser(self, username: str | None = None) -> TestClient:
        """A browser of its own, signed in as `username` (or nobody)."""
        browser = TestClient(self.app, follow_redirects=False)
        if username is not None:
            assert page_sign_in(browser, username, PASSWORD).status_code == 303
        return browser

    def service_id(self, name: str) -> int:
        with self.factory() as session:
            found = session.scalar(select(Service.id).where(Service.name == name))
        assert found is not None, name
        return found

    def services(self) -> dict[str, dict[str, Any]]:
        """Every service row's columns, by ORUK id (what a test compares before and after)."""
        with self.factory() as session:
            rows = session.scalars(select(Service)).all()
            return {
                r.oruk_id: {
                    c.name: getattr(r, c.name)
                    for c in Service.__table__.columns
                    if c.name not in ("id", "created_at")
                }
                for r in rows
            }


def demo_documents() -> list[dict[str, Any]]:
    return json.loads(demo_feed_text())["contents"]


@pytest.fixture(params=["sqlite", "postgresql"])
def directory(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    make_postgres_database: Callable[[str], str],
) -> Iterator[Directory]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'operational.sqlite'}"
    else:
        url = make_postgres_database("directory")
    engine = make_engine(url)
    upgrade_engine(engine)
    factory = session_factory(engine)
    numbers = nhs_numbers()
    with transaction(factory) as session:
        orgs = {
            "A": create_organisation(session, ods_code="Y0A", name="Practice A", type="practice"),
            "CT": create_organisation(session, ods_code="CT9", name="T", type="community_trust"),
            "LA": create_organisation(
                session, ods_code="LA9", name="L", type="local_authority_social_care"
            ),
            "VG": create_organisation(
                session, ods_code="VG9", name="Demo Breathe Easy Group", type="voluntary_group"
            ),
        }
        person = create_person(
            session,
            nhs_number=next(numbers),
            given_name="Ada",
            family_name="Walker",
            birth_date=dt.date(1950, 1, 1),
            practice_id=orgs["A"].id,
        )
        for username, (role, org) in USERS.items():
            create_user(
                session,
                username=username,
                password=PASSWORD,
                role=role,
                display_name=username,
                organisation_id=None if org is None else orgs[org].id,
                person_id=person.id if role is Role.patient else None,
            )
        load_demo_directory(session, orgs["VG"])
    settings = Settings(data_dir=tmp_path / "hoc-data", database_url=url)
    app = create_app(settings)
    yield Directory(app, factory, settings, request.param)
    app.state.services.engine.dispose()
    engine.dispose()
