"""Alembic environment: migrates the operational store named by the caller's connection.

`houseofcare.store.migrate.upgrade(settings)` passes an open connection in
`config.attributes["connection"]`, so the URL (and any password in it) never passes through
Alembic's ini interpolation. SQLite uses batch mode so later ALTERs work there too.
"""

from __future__ import annotations

from alembic import context

from houseofcare.store.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(
            "run migrations through `hoc db upgrade` or houseofcare.store.migrate.upgrade()"
        )
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported")
run_migrations_online()
