"""Versions: every change is a new numbered version with who, when, what changed and a snapshot.

Optimistic concurrency is a compare-and-set in the database: ``UPDATE … SET version =
version + 1 WHERE id = :id AND version = :expected``. Only one of two concurrent writers that
read the same version can match; the other matches no row and gets `StaleVersion` having
written nothing. On PostgreSQL the UPDATE takes the row lock (held to commit), so the loser
re-checks against the winner's committed version; on SQLite the UPDATE takes the database
write lock, which has the same effect.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from enum import Enum
from typing import Any

from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from houseofcare.careplan.errors import NotFound, StaleVersion
from houseofcare.store.models import Action, Base, CarePlan, Goal
from houseofcare.store.types import utcnow

Versioned = type[CarePlan] | type[Goal] | type[Action]

#: The FHIR-facing name of each versioned record, for messages.
RESOURCE_NAME: dict[type[Base], str] = {CarePlan: "CarePlan", Goal: "Goal", Action: "Action"}


def json_value(value: Any) -> Any:
    """A column value as JSON: dates as ISO text, enums as their code."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def columns_of(record: Base, *, exclude: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Every column of `record` as JSON values (the record's own fields, no relationships)."""
    return {
        column.key: json_value(getattr(record, column.key))
        for column in record.__table__.columns  # type: ignore[attr-defined]
        if column.key not in exclude
    }


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """{field: [old, new]} for every field whose value changed (version and updated_at aside)."""
    ignore = {"version", "updated_at"}
    keys = (set(before) | set(after)) - ignore
    return {
        key: [before.get(key), after.get(key)]
        for key in sorted(keys)
        if before.get(key) != after.get(key)
    }


def bump_version(session: Session, model: Versioned, record_id: int, expected: int | None) -> int:
    """Advance a record's version by one, if it is still at `expected`; the new version.

    `expected=None` advances whatever the version is (for a plan whose goal changed): still
    atomic, so two such bumps never share a number. Raises `NotFound` or `StaleVersion`
    (nothing written) otherwise. Call it before changing the record's fields, so the row is
    locked while the change is computed.
    """
    statement = update(model).where(model.id == record_id)
    if expected is not None:
        statement = statement.where(model.version == expected)
    statement = statement.values(version=model.version + 1, updated_at=utcnow()).returning(
        model.version
    )
    new_version = session.execute(
        statement, execution_options={"synchronize_session": False}
    ).scalar_one_or_none()
    if new_version is not None:
        return new_version
    current = session.scalar(select(model.version).where(model.id == record_id))
    name = RESOURCE_NAME[model]
    if current is None:
        raise NotFound(name, record_id)
    assert expected is not None
    raise StaleVersion(name, record_id, expected, current)


def compare_and_set(session: Session, record: CarePlan, expected: int) -> int:
    """`bump_version` for a record this session holds; its new version.

    Every change to a versioned record advances its version, so if the copy held here was
    read at `expected` and the compare-and-set from `expected` succeeded, the copy *is* the
    row: only its version and `updated_at` moved, and they come back from the UPDATE itself.
    Only a copy read at another version is read again (`reload`). Either way the record is
    current, under the row lock, without the extra SELECT on the common path.
    """
    model = type(record)
    statement = (
        update(model)
        .where(model.id == record.id, model.version == expected)
        .values(version=model.version + 1, updated_at=utcnow())
        .returning(model.version, model.updated_at)
    )
    held = sa_inspect(record).dict.get("version")
    row = session.execute(statement, execution_options={"synchronize_session": False}).first()
    if row is None:
        current = session.scalar(select(model.version).where(model.id == record.id))
        name = RESOURCE_NAME[model]
        if current is None:
            raise NotFound(name, record.id)
        raise StaleVersion(name, record.id, expected, current)
    if held == expected:
        set_committed_value(record, "version", row[0])
        set_committed_value(record, "updated_at", row[1])
    else:
        reload(session, record)
    return int(row[0])


def reload(session: Session, record: Base) -> None:
    """Re-read `record` from the database (after a compare-and-set, under its lock).

    Its columns are read now, in one query; its related rows (a plan's goals, actions …)
    are expired and read again only if they are used, instead of eagerly, one query per
    relationship, on every change.
    """
    mapper = sa_inspect(record).mapper
    session.refresh(record, attribute_names=[attribute.key for attribute in mapper.column_attrs])
    relationships = [relationship.key for relationship in mapper.relationships]
    if relationships:
        session.expire(record, relationships)
