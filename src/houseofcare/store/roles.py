"""PostgreSQL roles: the app's role may add to the audit trail, never change it.

A table's owner (and a superuser) can always get past the append-only triggers: disable
them, drop them or their function, or set `session_replication_role = replica`. So on
PostgreSQL the app must not connect as the owner. Migrations run as the owner
(`HOC_DATABASE_OWNER_URL`); `grant_app_role` then gives the app's role (the user of
`HOC_DATABASE_URL`) exactly what it needs:

- SELECT and INSERT on the append-only tables (`APPEND_ONLY_TABLES`: audit events, seals,
  version rows); no UPDATE, DELETE, TRUNCATE, TRIGGER or REFERENCES;
- SELECT, INSERT, UPDATE and DELETE on every other table of the models;
- SELECT on `alembic_version` (the app checks the schema's revision at start);
- USAGE on the schema and its sequences (to take new ids), and no CREATE.

It is run by every `hoc db upgrade` with an owner URL, after the migrations, so a new table
is granted as soon as it exists. The role itself is made once by the database's
administrator (docs/operational-store.md).
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from houseofcare.store.models import APPEND_ONLY_TABLES, Base

APPEND_ONLY_PRIVILEGES = "SELECT, INSERT"
OTHER_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"


class RoleError(RuntimeError):
    """The app's role cannot be used as one (missing, a superuser, or the tables' owner)."""


def table_privileges() -> dict[str, str]:
    """Each table of the models → what the app's role is granted on it."""
    return {
        name: APPEND_ONLY_PRIVILEGES if name in APPEND_ONLY_TABLES else OTHER_PRIVILEGES
        for name in Base.metadata.tables
    }


def grant_app_role(connection: Connection, role: str) -> None:
    """Grant `role` what the app needs in the current schema, and no more (as the owner)."""
    found = connection.execute(
        text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = :role"),
        {"role": role},
    ).first()
    if found is None:
        raise RoleError(
            f"role {role!r} does not exist: CREATE ROLE {role} LOGIN PASSWORD '…' first "
            "(docs/operational-store.md)"
        )
    if found[0] or found[1]:
        raise RoleError(
            f"role {role!r} is a superuser (or bypasses row security): it can get past every "
            "guard; connect the app as an ordinary role"
        )
    owned = connection.scalar(
        text(
            "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() "
            "AND tablename = 'audit_event' AND tableowner = :role"
        ),
        {"role": role},
    )
    if owned:
        raise RoleError(f"role {role!r} owns the tables: the app must connect as another role")
    quote = connection.dialect.identifier_preparer.quote
    who = quote(role)
    schema = quote(connection.scalar(text("SELECT current_schema()")) or "public")
    statements = [
        f"REVOKE CREATE ON SCHEMA {schema} FROM {who}",
        f"GRANT USAGE ON SCHEMA {schema} TO {who}",
        f"REVOKE ALL ON TABLE {schema}.alembic_version FROM {who}",
        f"GRANT SELECT ON TABLE {schema}.alembic_version TO {who}",
        f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {schema} TO {who}",
    ]
    for table, privileges in table_privileges().items():
        statements.append(f"REVOKE ALL ON TABLE {schema}.{quote(table)} FROM {who}")
        statements.append(f"GRANT {privileges} ON TABLE {schema}.{quote(table)} TO {who}")
    for statement in statements:
        connection.execute(text(statement))
