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

from houseofcare.settings import Settings
from houseofcare.store.database import engine_for

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
    """Migrate the project's operational store to `revision`; the revision it is now at."""
    engine = engine_for(settings)
    try:
        upgrade_engine(engine, revision)
        return current_revision(engine)
    finally:
        engine.dispose()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None: never migrated)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    """The newest revision shipped with this version of houseofcare."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
