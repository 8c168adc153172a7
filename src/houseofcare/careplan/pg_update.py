"""The CarePlan update on PostgreSQL in two round trips: a change to the plan's own fields.

A whole-plan update through the care-plan services (`reconcile`) costs about 16 round trips and
most of its time in the ORM's Python. Most updates change only the plan's own fields (title,
status, description, dates …) and send the parts (participants, needs, actions) back as they
are; this path does exactly that case on a raw connection from the read's pool (`pgpool`),
and writes exactly what the services would:

1. one pipelined round trip: `BEGIN`; the plan `FOR UPDATE` (the row lock the services'
   compare-and-set takes; a concurrent writer's commit is waited for and its version seen)
   with the person's NHS number, the lead's name and the user's relationships to the person
   (`careplan.access`'s own predicates, as every route's check evaluates them); the plan's
   participants, goals, actions and needs (every column, for the version's snapshot); and
   its comments (for the answer);
2. in Python: the version is the one the client sent (`If-Match`), `access.decide` allows
   `careplan.write` on those facts (the same function every route asks), the subject is
   this plan's person with this NHS number, the plan is open, the parts are unchanged
   (`reconcile.parts_unchanged`) and the field changes pass the services' own checks
   (`plans.checked_plan_changes`); the diff and snapshot are built as
   `plans._change_plan` builds them (`versioning.columns_of`, `diff`);
3. one pipelined round trip: a single statement whose data-modifying CTEs update the plan
   (`… WHERE id = :id AND version = :expected`, under the lock), insert the version row
   (who, when, the diff, the full snapshot) and the `update` audit event only if the plan
   row was updated, then `COMMIT`. A body that changes nothing writes only the audit event,
   as the services' path does.

Anything else (a stale version, a refusal, no such plan, a wrong subject, a closed plan, a
change to a part, a new lead or care team, making a plan active, a constraint the database
refuses) is rolled back with nothing written, and the route takes the portable path, which
answers and audits it exactly as before. SQLite always takes the portable path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg.types.json import Json

from houseofcare.careplan.access import (
    actor_parameters,
    decide,
    relationship_flags_sql,
    relationships_from_flags,
)
from houseofcare.careplan.actor import Actor
from houseofcare.careplan.errors import CarePlanError
from houseofcare.careplan.plans import CLOSED_STATUSES, PLAN_PARTS, checked_plan_changes
from houseofcare.careplan.policy import Action, Policy, Relationship
from houseofcare.careplan.reconcile import parts_unchanged, plan_field_changes
from houseofcare.careplan.records import CarePlanContent, CarePlanRecord, careplan_record_from_parts
from houseofcare.careplan.versioning import diff, json_value
from houseofcare.nhs_number import InvalidNHSNumber, normalise_nhs_number
from houseofcare.store.models import AuditOutcome, CarePlan, CarePlanStatus, ChangeKind
from houseofcare.store.pgpool import PgPool
from houseofcare.store.types import utcnow

#: The plan's columns in table order (the keys and order of `versioning.columns_of`).
_PLAN_KEYS = [column.key for column in CarePlan.__table__.columns]
#: Each part's columns but `care_plan_id`, in table order (`plans.plan_part`'s rows).
_PART_KEYS = {
    key: [c.key for c in model.__table__.columns if c.key != "care_plan_id"]
    for key, model in PLAN_PARTS.items()
}
#: The plan's own fields a body sets (`reconcile._plan_fields`), written on a change.
_FIELDS = [
    "status",
    "title",
    "description",
    "care_team_id",
    "lead_user_id",
    "period_start",
    "period_end",
    "review_date",
]

GATHER = f"""
SELECT {", ".join(f"cp.{key}" for key in _PLAN_KEYS)},
    p.nhs_number, lead.display_name,
    {relationship_flags_sql(person="p", style="pyformat")}
FROM care_plan cp
JOIN person p ON p.id = cp.person_id
LEFT JOIN user_account lead ON lead.id = cp.lead_user_id
WHERE cp.id = %(plan_id)s
FOR UPDATE OF cp
"""

PARTS = {
    key: f"SELECT {', '.join(keys)} FROM {PLAN_PARTS[key].__tablename__} "
    "WHERE care_plan_id = %(plan_id)s ORDER BY id"
    for key, keys in _PART_KEYS.items()
}

COMMENTS = """
SELECT x.text, x.created_at, u.display_name
FROM care_plan_comment x JOIN user_account u ON u.id = x.author_id
WHERE x.care_plan_id = %(plan_id)s ORDER BY x.id
"""

_AUDIT_COLUMNS = """INSERT INTO audit_event (occurred_at, user_id, username, role, action,
        resource_type, resource_id, person_id, outcome, detail)"""

WRITE_CHANGE = f"""
WITH changed AS (
    UPDATE care_plan SET {", ".join(f"{name} = %({name})s" for name in _FIELDS)},
        version = version + 1, updated_at = %(at)s
    WHERE id = %(plan_id)s AND version = %(expected)s
    RETURNING id, version
), version_row AS (
    INSERT INTO care_plan_version (care_plan_id, version, change, changed_at, changed_by_id,
        changed_by_role, changes, snapshot)
    SELECT id, version, %(change)s, %(at)s, %(user_id)s, %(role)s, %(changes)s, %(snapshot)s
    FROM changed
    RETURNING version
), audit AS (
    {_AUDIT_COLUMNS}
    SELECT %(at)s, %(user_id)s, %(username)s, %(role)s, 'update', 'CarePlan', %(resource_id)s,
        %(person_id)s, %(outcome)s, %(detail)s
    FROM changed
    RETURNING id
)
SELECT (SELECT version FROM changed), (SELECT version FROM version_row), (SELECT id FROM audit)
"""

WRITE_AUDIT_ONLY = f"""
{_AUDIT_COLUMNS}
VALUES (%(at)s, %(user_id)s, %(username)s, %(role)s, 'update', 'CarePlan', %(resource_id)s,
    %(person_id)s, %(outcome)s, %(detail)s)
RETURNING NULL, NULL, id
"""


class PlanUpdater:
    """The two-round-trip CarePlan update, on the worker's pool of connections."""

    def __init__(self, pool: PgPool, policy: Policy) -> None:
        self.pool = pool
        self.policy = policy

    def update(
        self, actor: Actor, plan_id: int, expected: int, content: CarePlanContent
    ) -> CarePlanRecord | None:
        """Bring the plan's own fields to `content` if it is at `expected` and only they
        change: the plan as it now is, its version row and audit event committed. None when
        anything else is asked or refused, with nothing written (take the portable path)."""
        # the pool rolls back a transaction left open (every None before the COMMIT) as the
        # connection goes back, so the row lock is gone before the portable path runs
        with self.pool.connection() as connection:
            try:
                return self._update(connection, actor, plan_id, expected, content)
            except (psycopg.IntegrityError, psycopg.DataError):
                # a constraint the services check first, with a clearer answer: let them
                return None

    def _update(
        self,
        connection: psycopg.Connection[Any],
        actor: Actor,
        plan_id: int,
        expected: int,
        content: CarePlanContent,
    ) -> CarePlanRecord | None:
        key = {"plan_id": plan_id}
        with connection.pipeline():
            connection.execute("BEGIN")
            head_cursor = connection.execute(GATHER, key | actor_parameters(actor), prepare=True)
            part_cursors = {
                name: connection.execute(sql, key, prepare=True) for name, sql in PARTS.items()
            }
            comment_cursor = connection.execute(COMMENTS, key, prepare=True)
            row = head_cursor.fetchone()
            parts = {name: cursor.fetchall() for name, cursor in part_cursors.items()}
            comments = comment_cursor.fetchall()
        if row is None:
            return None
        plan = dict(zip(_PLAN_KEYS, row[: len(_PLAN_KEYS)], strict=True))
        nhs_number, lead_name, *flags = row[len(_PLAN_KEYS) :]
        have = relationships_from_flags(flags)
        values = self._changes(actor, expected, content, plan, nhs_number, have, parts)
        if values is None:
            return None
        at = utcnow()
        new_version = expected + 1 if values else expected
        # the version's snapshot and diff exactly as `plans._change_plan` builds them
        snapshot_parts = {
            name: [
                {k: json_value(v) for k, v in zip(_PART_KEYS[name], part, strict=True)}
                for part in rows
            ]
            for name, rows in parts.items()
        }
        before = {**{k: json_value(v) for k, v in plan.items()}, **snapshot_parts}
        after_plan = {**plan, **values, "version": new_version}
        if values:
            after_plan["updated_at"] = at
        after = {**before, **{k: json_value(v) for k, v in after_plan.items()}}
        parameters: dict[str, Any] = {
            "plan_id": plan_id,
            "expected": expected,
            "at": at,
            "user_id": actor.user_id,
            "username": actor.username,
            "role": actor.role.value,
            "resource_id": str(plan_id),
            "person_id": plan["person_id"],
            "outcome": AuditOutcome.success.value,
            "detail": Json({"version": new_version}),
        }
        statement = WRITE_AUDIT_ONLY
        if values:
            statement = WRITE_CHANGE
            parameters |= {name: _bind(after_plan[name]) for name in _FIELDS}
            parameters |= {
                "change": ChangeKind.updated.value,
                "changes": Json(diff(before, after)),
                "snapshot": Json(after),
            }
        with connection.pipeline():
            cursor = connection.execute(statement, parameters, prepare=True)
            connection.execute("COMMIT")
            written = cursor.fetchone()
        if (
            written is None
            or written[2] is None
            or written[:2] != ((new_version, new_version) if values else (None, None))
        ):
            # the plan row did not match under the lock after all, so the CTEs wrote nothing
            # (no version row, no audit event: an empty commit): the services decide
            return None
        if "lead_user_id" in values:
            lead_name = None  # only a cleared lead comes this way (a new one is checked)
        return _record(after_plan, nhs_number, lead_name, parts, comments)

    def _changes(
        self,
        actor: Actor,
        expected: int,
        content: CarePlanContent,
        plan: Mapping[str, Any],
        nhs_number: str,
        have: frozenset[Relationship],
        parts: Mapping[str, list[tuple[Any, ...]]],
    ) -> dict[str, Any] | None:
        """The checked changes to the plan's fields ({} for none), or None to leave this
        update to the portable path (which answers and audits every refusal)."""
        if plan["version"] != expected:
            return None  # 412 (or a concurrent winner): the portable path answers it
        if not decide(self.policy, actor, Action.careplan_write, have).allowed:
            return None
        if content.person_id != plan["person_id"]:
            return None
        if content.nhs_number is not None:
            try:
                if normalise_nhs_number(content.nhs_number) != nhs_number:
                    return None
            except InvalidNHSNumber:
                return None
        if CarePlanStatus(plan["status"]) in CLOSED_STATUSES:
            return None
        participant_keys = _PART_KEYS["participants"]
        participants = [dict(zip(participant_keys, p, strict=True)) for p in parts["participants"]]
        if not parts_unchanged(
            content,
            participants=[(p["role"], p["name"], p["user_id"]) for p in participants],
            agreed_with_person=plan["agreed_with_person"],
            needs=_by_id("needs", parts["needs"]),
            actions=_by_id("actions", parts["actions"]),
        ):
            return None
        changes = plan_field_changes(plan, content)
        if not changes:
            return {}
        try:
            values = checked_plan_changes(changes)
        except CarePlanError:
            return None
        if values.get("care_team_id") is not None or values.get("lead_user_id") is not None:
            return None  # the services check the team or user exists
        if values.get("status") is CarePlanStatus.active:
            return None  # the services refuse a second active plan for the person
        return values


def _by_id(name: str, rows: list[tuple[Any, ...]]) -> dict[int, dict[str, Any]]:
    keys = _PART_KEYS[name]
    return {row[0]: dict(zip(keys, row, strict=True)) for row in rows}


def _bind(value: Any) -> Any:
    """A field value as psycopg binds it (codes as their text)."""
    return getattr(value, "value", value)


def _record(
    plan: Mapping[str, Any],
    nhs_number: str,
    lead_name: str | None,
    parts: Mapping[str, list[tuple[Any, ...]]],
    comments: list[tuple[Any, ...]],
) -> CarePlanRecord:
    """The answer: the plan as now written, from what was read and written (no re-read)."""
    head = {k: _bind(v) for k, v in plan.items()} | {
        "nhs_number": nhs_number,
        "lead_name": lead_name,
    }
    participant_keys = _PART_KEYS["participants"]
    return careplan_record_from_parts(
        head,
        participants=[
            {k: v for k, v in zip(participant_keys, p, strict=True) if k != "id"}
            for p in parts["participants"]
        ],
        goal_ids=[goal[0] for goal in parts["goals"]],
        actions=list(_by_id("actions", parts["actions"]).values()),
        needs=list(_by_id("needs", parts["needs"]).values()),
        comments=comments,
    )
