"""PostgreSQL: the app connects as a role that does not own the tables (issue 9, item 9).

The attack in the issue: the app's own role owned the tables, so with the app's credentials
`SET LOCAL session_replication_role = replica; DELETE FROM audit_event` worked, as did
`ALTER TABLE … DISABLE TRIGGER ALL` and dropping the trigger function. Now `hoc db upgrade`
migrates as the owner (`HOC_DATABASE_OWNER_URL`) and grants the app's role (the user of
`HOC_DATABASE_URL`) only INSERT and SELECT on the append-only tables: every one of those
statements is refused to it. The owner can still get past the guards; `hoc audit verify`
then reports it.

Roles belong to the whole server (other developers share it): each test makes its own,
uniquely named, and drops it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from test_store_migrations import _insert_one_row
from typer.testing import CliRunner

from houseofcare.api.app import create_app
from houseofcare.api.config import ApiSettings
from houseofcare.careplan import SYSTEM
from houseofcare.careplan.people import create_organisation, create_person, create_user
from houseofcare.careplan.plans import create_care_plan
from houseofcare.cli import app as hoc
from houseofcare.settings import Settings
from houseofcare.store.audit_seal import seal
from houseofcare.store.audit_verify import verify
from houseofcare.store.database import make_engine, session_factory, transaction
from houseofcare.store.migrate import head_revision, upgrade
from houseofcare.store.models import APPEND_ONLY_TABLES, AuditEvent, Role
from houseofcare.store.roles import RoleError, grant_app_role

PASSWORD = "correct horse battery staple"


@dataclass
class Roles:
    settings: Settings
    owner: Engine
    app: Engine
    role: str


@pytest.fixture
def roles(make_postgres_database: Callable[[str], str], tmp_path: Path) -> Iterator[Roles]:
    """A database migrated by its owner (the test server's superuser) and a fresh app role
    granted by `upgrade`."""
    owner_url = make_postgres_database("roles")
    role = f"hoc_app_{uuid.uuid4().hex[:10]}"
    owner = make_engine(owner_url)
    with owner.begin() as connection:
        connection.execute(text(f"CREATE ROLE {role} LOGIN"))
    app_url = make_url(owner_url).set(username=role).render_as_string(hide_password=False)
    settings = Settings(
        data_dir=tmp_path / "hoc-data", database_url=app_url, database_owner_url=owner_url
    )
    assert upgrade(settings) == head_revision()
    app = make_engine(app_url)
    yield Roles(settings=settings, owner=owner, app=app, role=role)
    app.dispose()
    with owner.begin() as connection:
        connection.execute(text(f"DROP OWNED BY {role}"))
        connection.execute(text(f"DROP ROLE {role}"))
    owner.dispose()


#: What the issue's attacker ran with the app's credentials, for each append-only table.
ATTACKS = {
    "replica role": "SET LOCAL session_replication_role = replica; DELETE FROM {table}",
    "disable triggers": "ALTER TABLE {table} DISABLE TRIGGER ALL",
    "drop trigger": "DROP TRIGGER {table}_append_only ON {table}",
    "drop function": "DROP FUNCTION hoc_refuse_change() CASCADE",
    "delete": "DELETE FROM {table}",
    "update": "UPDATE {table} SET id = id",
    "truncate": "TRUNCATE {table}",
}


@pytest.mark.parametrize("table", APPEND_ONLY_TABLES)
def test_the_app_role_cannot_change_or_unguard_an_append_only_table(
    roles: Roles, table: str
) -> None:
    with roles.owner.begin() as connection:
        _insert_one_row(connection, table)
    for name, attack in ATTACKS.items():
        with pytest.raises(DBAPIError) as refused, roles.app.begin() as connection:
            for statement in attack.format(table=table).split("; "):
                connection.execute(text(statement))
        message = str(refused.value.orig)
        assert "permission denied" in message or "must be owner" in message, (name, message)
    with roles.app.connect() as connection:
        assert connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == 1
        triggers = connection.execute(
            text(
                "SELECT count(*) FROM pg_trigger WHERE tgrelid = CAST(:t AS regclass) "
                "AND tgenabled = 'O' AND NOT tgisinternal"
            ),
            {"t": table},
        ).scalar_one()
        assert triggers == 2


def test_the_app_runs_reads_audits_and_seals_as_the_app_role(roles: Roles) -> None:
    """The hot paths (the one-statement CarePlan read with its raw-SQL audit insert), the
    sign-in throttle and the sealer all work with the app role's grants alone."""
    factory = session_factory(roles.app)
    with transaction(factory) as session:
        practice = create_organisation(session, ods_code="Y1", name="P", type="practice")
        person = create_person(session, nhs_number="9434765919", practice_id=practice.id)
        create_user(
            session,
            username="gp",
            password=PASSWORD,
            role=Role.gp,
            display_name="GP",
            organisation_id=practice.id,
        )
        plan = create_care_plan(session, person.id, SYSTEM, title="Plan")
    app = create_app(roles.settings, api_settings=ApiSettings(audit_seal_seconds=0))
    assert app.state.services.plan_reader is not None, "the PostgreSQL fast path is in use"
    with TestClient(app) as client:
        assert client.post("/auth/token", data={"username": "gp", "password": "x"}).status_code
        token = client.post("/auth/token", data={"username": "gp", "password": PASSWORD})
        assert token.status_code == 200, token.text
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        read = client.get(f"/fhir/CarePlan/{plan.id}", headers=headers)
        assert read.status_code == 200
        body = read.json() | {"title": "Changed as the app role"}
        changed = client.put(
            f"/fhir/CarePlan/{plan.id}",
            json=body,
            headers=headers | {"If-Match": 'W/"1"', "Content-Type": "application/fhir+json"},
        )
        assert changed.status_code == 200, changed.text
    app.state.services.engine.dispose()
    with factory() as session:
        for action in ("read", "update"):
            assert session.scalar(select(func.count()).where(AuditEvent.action == action)) == 1
    # the failed sign-in, the sign-in, the read, the update
    assert seal(roles.app).events == 4
    assert verify(roles.app).ok


@pytest.mark.parametrize(
    "attack",
    [
        "SET LOCAL session_replication_role = replica; DELETE FROM audit_event WHERE id = 2",
        "ALTER TABLE audit_event DISABLE TRIGGER ALL; UPDATE audit_event SET username = 'x' "
        "WHERE id = 2",
        "DROP FUNCTION hoc_refuse_change() CASCADE; DELETE FROM audit_event WHERE id = 2",
    ],
)
def test_the_owner_can_get_past_the_guards_but_verify_reports_it(roles: Roles, attack: str) -> None:
    with transaction(session_factory(roles.app)) as session:
        for _ in range(3):
            session.add(AuditEvent(action="read", resource_type="Patient", outcome="success"))
            session.flush()
    assert seal(roles.app).events == 3
    with roles.owner.begin() as connection:
        for statement in attack.split("; "):
            connection.execute(text(statement))
    report = verify(roles.app)
    assert report.broken is not None
    assert (report.broken.seal_id, report.broken.event_id) == (1, 2)


def test_hoc_db_upgrade_grants_the_app_role_and_warns_when_the_app_owns_the_tables(
    roles: Roles,
) -> None:
    runner = CliRunner()
    env = {
        "HOC_DATABASE_URL": roles.settings.database_url or "",
        "HOC_DATABASE_OWNER_URL": roles.settings.database_owner_url or "",
        "HOC_DATA_DIR": str(roles.settings.data_dir),
    }
    result = runner.invoke(hoc, ["db", "upgrade"], env=env)
    assert result.exit_code == 0, result.output
    assert f"app role {roles.role}" in result.output and "INSERT and SELECT" in result.output
    result = runner.invoke(
        hoc, ["db", "upgrade"], env=env | {"HOC_DATABASE_URL": env["HOC_DATABASE_OWNER_URL"]}
    )
    assert result.exit_code == 0, result.output
    assert "owns the tables" in result.output
    with roles.owner.begin() as connection, pytest.raises(RoleError, match="superuser"):
        grant_app_role(connection, "postgres")
    with roles.owner.begin() as connection, pytest.raises(RoleError, match="CREATE ROLE"):
        grant_app_role(connection, "no_such_role_here")
