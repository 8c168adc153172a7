"""The shipped migrations make exactly the models' schema, with its guards, on both databases."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import DBAPIError

from houseofcare.settings import Settings
from houseofcare.store.database import make_engine
from houseofcare.store.migrate import current_revision, head_revision, upgrade, upgrade_engine
from houseofcare.store.models import APPEND_ONLY_TABLES, Base


@pytest.fixture(scope="module")
def postgres_schemas(make_postgres_database: Callable[[str], str]) -> Callable[[], str]:
    """Fresh empty schemas in one database of this module (far quicker than a database each);
    the URL's search_path puts everything the migration makes in the schema."""
    database_url = make_postgres_database("migrate")

    def make() -> str:
        schema = f"s_{uuid.uuid4().hex[:12]}"
        engine = make_engine(database_url)
        with engine.begin() as connection:
            connection.execute(text(f"CREATE SCHEMA {schema}"))
        engine.dispose()
        return f"{database_url}?options=-csearch_path%3D{schema}"

    return make


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_engine(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_schemas: Callable[[], str],
) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('migrate') / 'store.sqlite'}"
    else:
        url = postgres_schemas()
    engine = make_engine(url)
    yield engine
    engine.dispose()


def test_upgrade_head_creates_exactly_the_models_schema(empty_engine: Engine) -> None:
    assert current_revision(empty_engine) is None
    upgrade_engine(empty_engine)
    assert current_revision(empty_engine) == head_revision()
    with empty_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
        tables = set(inspect(connection).get_table_names())
    assert tables == set(Base.metadata.tables) | {"alembic_version"}


def test_upgrading_twice_changes_nothing_and_downgrade_removes_everything(
    empty_engine: Engine,
) -> None:
    upgrade_engine(empty_engine)
    upgrade_engine(empty_engine)
    assert current_revision(empty_engine) == head_revision()
    from alembic import command

    from houseofcare.store.migrate import alembic_config

    with empty_engine.begin() as connection:
        command.downgrade(alembic_config(connection), "base")
    with empty_engine.connect() as connection:
        assert set(inspect(connection).get_table_names()) <= {"alembic_version"}


def test_partial_unique_indexes_are_partial(empty_engine: Engine) -> None:
    """The one-active-plan rule is a *partial* index: a second draft is fine, a second
    active plan is not (checked here with plain SQL, below the services)."""
    upgrade_engine(empty_engine)
    insert_person = (
        "INSERT INTO person (nhs_number, created_at) VALUES ('9434765919', CURRENT_TIMESTAMP)"
    )
    insert_plan = (
        "INSERT INTO care_plan (person_id, status, title, agreed_with_person, version, "
        "created_at, updated_at) VALUES (1, :status, 't', false, 1, CURRENT_TIMESTAMP, "
        "CURRENT_TIMESTAMP)"
    )
    with empty_engine.begin() as connection:
        connection.execute(text(insert_person))
        for status in ("draft", "draft", "completed", "active"):
            connection.execute(text(insert_plan), {"status": status})
    with pytest.raises(DBAPIError), empty_engine.begin() as connection:
        connection.execute(text(insert_plan), {"status": "active"})


@pytest.mark.parametrize("table", APPEND_ONLY_TABLES)
def test_append_only_tables_refuse_update_and_delete(empty_engine: Engine, table: str) -> None:
    upgrade_engine(empty_engine)
    with empty_engine.begin() as connection:
        _insert_one_row(connection, table)
    for statement in (f"UPDATE {table} SET id = id", f"DELETE FROM {table}"):
        with pytest.raises(DBAPIError, match="append-only"), empty_engine.begin() as connection:
            connection.execute(text(statement))
    if empty_engine.dialect.name == "postgresql":
        with pytest.raises(DBAPIError, match="append-only"), empty_engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {table} CASCADE"))
    with empty_engine.connect() as connection:
        assert connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == 1


def _insert_one_row(connection: object, table: str) -> None:
    run = connection.execute  # type: ignore[attr-defined]
    now = "CURRENT_TIMESTAMP"
    if table == "audit_seal":
        run(
            text(
                "INSERT INTO audit_seal (first_event_id, last_event_id, event_count, event_ids, "
                "event_digests, previous_digest, digest, sealed_at) "
                f"VALUES (1, 1, 1, '1', '00000000', '', '', {now})"
            )
        )
        return
    if table == "audit_event":
        run(
            text(
                "INSERT INTO audit_event (occurred_at, action, resource_type, outcome) "
                f"VALUES ({now}, 'read', 'Patient', 'success')"
            )
        )
        return
    run(text(f"INSERT INTO person (nhs_number, created_at) VALUES ('9434765919', {now})"))
    run(
        text(
            "INSERT INTO care_plan (person_id, status, title, agreed_with_person, version, "
            f"created_at, updated_at) VALUES (1, 'active', 't', false, 1, {now}, {now})"
        )
    )
    owner = {"care_plan_version": "care_plan_id", "goal_version": "goal_id"}.get(table, "action_id")
    if table == "goal_version":
        run(
            text(
                "INSERT INTO goal (care_plan_id, what_matters_to_me, status, version, "
                f"created_at, updated_at) VALUES (1, 'x', 'active', 1, {now}, {now})"
            )
        )
    if table == "care_action_version":
        run(
            text(
                "INSERT INTO care_action (care_plan_id, performer, description, status, "
                f"version, created_at, updated_at) VALUES (1, 'person', 'x', 'not-started', 1, "
                f"{now}, {now})"
            )
        )
    run(
        text(
            f"INSERT INTO {table} ({owner}, version, change, changed_at, changes, snapshot) "
            f"VALUES (1, 1, 'created', {now}, '{{}}', '{{}}')"
        )
    )


def test_upgrade_from_settings_makes_the_default_sqlite_file_with_wal_and_foreign_keys(
    settings: Settings,
) -> None:
    assert upgrade(settings) == head_revision()
    path = settings.data_dir / "operational.sqlite"
    assert path.is_file()
    engine = make_engine(settings.operational_url)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
            assert connection.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
            with pytest.raises(DBAPIError, match="FOREIGN KEY"):
                connection.execute(
                    text(
                        "INSERT INTO person (nhs_number, practice_id, created_at) "
                        "VALUES ('9434765919', 12345, CURRENT_TIMESTAMP)"
                    )
                )
    finally:
        engine.dispose()


def test_upgrade_uses_postgresql_when_the_database_url_says_so(
    tmp_path: object, postgres_schemas: Callable[[], str]
) -> None:
    url = postgres_schemas()
    settings = Settings(data_dir=tmp_path, database_url=url)  # type: ignore[arg-type]
    assert upgrade(settings) == head_revision()
    engine = make_engine(url)
    try:
        assert engine.dialect.name == "postgresql"
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()
    assert not (settings.data_dir / "operational.sqlite").exists()
