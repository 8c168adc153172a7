"""The audit trail: every identifiable read or write appends one `audit_event` row.

Rows can only be added. The database itself refuses UPDATE and DELETE on `audit_event`
(triggers created by the migration, on SQLite and PostgreSQL alike), and on PostgreSQL the
app's role is granted only INSERT and SELECT on it (`store.roles`), so neither the
application nor anyone with its credentials can quietly rewrite who saw what. Whoever owns
the tables (or the SQLite file) still could; events are sealed into a hash chain
(`store.audit_seal`) so that `hoc audit verify` shows it.

Record a *successful* action in the same transaction as the work (`record_audit`), so the
event exists exactly when the work does. Record a *refused or failed* one with
`record_audit_now`, in its own transaction, because the work's transaction is rolled back:
roll the work back *first*, then record (SQLite has one writer at a time, so a second
transaction started while the first still holds the write lock would wait for it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from houseofcare.store.models import AuditEvent, AuditOutcome, Role, User
from houseofcare.store.types import utcnow


def record_audit(
    session: Session,
    *,
    action: str,
    resource_type: str,
    outcome: AuditOutcome | str = AuditOutcome.success,
    user: User | None = None,
    user_id: int | None = None,
    username: str | None = None,
    role: Role | str | None = None,
    resource_id: object = None,
    person_id: int | None = None,
    detail: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit event to `session` (committed with the caller's transaction).

    `user` fills user_id, username and role; or give them one by one (e.g. from an `Actor`,
    or a failed login with only a username). `action` is read, search, create, update,
    delete, login …; `resource_id` is stored as text.
    """
    if user is not None:
        user_id, username, role = user.id, user.username, user.role
    event = AuditEvent(
        user_id=user_id,
        username=username,
        role=None if role is None else str(role),
        action=action,
        resource_type=resource_type,
        resource_id=None if resource_id is None else str(resource_id),
        person_id=person_id,
        outcome=AuditOutcome(outcome),
        detail=dict(detail) if detail is not None else None,
    )
    session.add(event)
    session.flush()
    return event


#: The columns a list's audit events fill, in the order COPY takes them.
_COPIED = (
    "occurred_at",
    "user_id",
    "username",
    "role",
    "action",
    "resource_type",
    "resource_id",
    "person_id",
    "outcome",
    "detail",
)


def record_audits(session: Session, events: Sequence[Mapping[str, Any]]) -> None:
    """Add many audit events to `session` in one statement (a list discloses many people: one
    statement for all of them, no ids read back, rather than a round trip or an object
    each). Each mapping takes the keyword arguments of `record_audit` other than `user`;
    every event of one call shares one time.

    On PostgreSQL the rows go in by COPY on the session's own connection (so in its
    transaction): a caseload view audits about 80 people, and an INSERT per row, even
    pipelined, cost it a fifth of its time. Elsewhere one executemany INSERT.
    """
    if not events:
        return
    at = utcnow()
    rows = [
        {
            "occurred_at": at,
            "user_id": e.get("user_id"),
            "username": e.get("username"),
            "role": None if e.get("role") is None else str(e["role"]),
            "action": e["action"],
            "resource_type": e["resource_type"],
            "resource_id": None if e.get("resource_id") is None else str(e["resource_id"]),
            "person_id": e.get("person_id"),
            "outcome": AuditOutcome(e.get("outcome", AuditOutcome.success)),
            "detail": dict(e["detail"]) if e.get("detail") is not None else None,
        }
        for e in events
    ]
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        session.execute(insert(AuditEvent), rows)
        return
    from psycopg.types.json import Json

    driver = connection.connection.driver_connection
    table = AuditEvent.__table__.name
    with (
        driver.cursor() as cursor,
        cursor.copy(f"COPY {table} ({', '.join(_COPIED)}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(
                tuple(
                    (None if row[c] is None else Json(row[c]))
                    if c == "detail"
                    else (row[c].value if c == "outcome" else row[c])
                    for c in _COPIED
                )
            )


def record_audit_now(factory: sessionmaker[Session], **event: Any) -> int:
    """Record one audit event in its own committed transaction; its id.

    For refusals and failures, whose main transaction is rolled back. Takes the same keyword
    arguments as `record_audit` (a `user` must be given as user_id/username/role here).
    """
    with factory() as session, session.begin():
        return record_audit(session, **event).id


def audit_events(
    session: Session,
    *,
    person_id: int | None = None,
    user_id: int | None = None,
    resource_type: str | None = None,
    limit: int = 100,
    before_id: int | None = None,
    username: str | None = None,
    action: str | None = None,
    outcome: AuditOutcome | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> Sequence[AuditEvent]:
    """The newest events first, filtered; page with `before_id` (the last id you saw).

    `since` is inclusive and `until` exclusive (a day's events: that day's midnight to the
    next's)."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if person_id is not None:
        query = query.where(AuditEvent.person_id == person_id)
    if user_id is not None:
        query = query.where(AuditEvent.user_id == user_id)
    if resource_type is not None:
        query = query.where(AuditEvent.resource_type == resource_type)
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    if username is not None:
        query = query.where(AuditEvent.username == username)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    if outcome is not None:
        query = query.where(AuditEvent.outcome == outcome)
    if since is not None:
        query = query.where(AuditEvent.occurred_at >= since)
    if until is not None:
        query = query.where(AuditEvent.occurred_at < until)
    return session.scalars(query).all()
