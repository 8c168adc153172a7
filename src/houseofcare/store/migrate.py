"""Schema migrations for the operational store (Alembic, shipped inside the package).

`upgrade(settings)` brings the store named by the settings to the newest schema; it is what
`hoc db upgrade` and the API's start-up run. Migrating an up-to-date store changes nothing.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine
from sqlalchemy.engine import make_url

from houseofcare.settings import Settings
from houseofcare.store.database import make_engine
from houseofcare.store.roles import RoleError, grant_app_role

MIGRATIONS_DIR = Path(str(files("houseofcare.store") / "migrations"))


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for the packaged migrations (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade_engine(engine: Engine, revision: str = "head") -> None:
    """Migrate the database behind `engine` to `revision` in one transaction."""
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), revision)


def upgrade(settings: Settings, revision: str = "head") -> str | None:
    """Migrate the project's operational store to `revision`; the revision it is now at.

    Migrations run as the tables' owner (`HOC_DATABASE_OWNER_URL`, else the app's URL). On
    PostgreSQL with a separate owner, the app's role is then granted what it needs and no
    more (`store.roles`): INSERT and SELECT only on the audit trail.
    """
    engine = make_engine(settings.owner_url)
    try:
        upgrade_engine(engine, revision)
        role = separate_app_role(settings)
        if role is not None:
            with engine.begin() as connection:
                grant_app_role(connection, role)
        return current_revision(engine)
    finally:
        engine.dispose()


def separate_app_role(settings: Settings) -> str | None:
    """The app's PostgreSQL role when it is not the owner's (None: SQLite, no owner URL, or
    the app connects as the owner and so could get past the append-only guards)."""
    app, owner = make_url(settings.operational_url), make_url(settings.owner_url)
    if app.get_backend_name() != "postgresql" or not settings.database_owner_url:
        return None
    if not app.username:
        raise RoleError("HOC_DATABASE_URL must name the app's role (postgresql+psycopg://ROLE@…)")
    return None if app.username == owner.username else app.username


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None: never migrated)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    """The newest revision shipped with this version of houseofcare."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
