"""The CarePlan read on PostgreSQL in one round trip: access check, audit row and the plan.

A read is the API's hottest path, and through the ORM it cost about eight round trips
(BEGIN, the plan, the person's relationships, the parts, the comments, the audit INSERT,
COMMIT). Here ONE statement, on an autocommit connection, does all of it:

- `target` reads the plan, the person's NHS number and the lead's name, and decides access
  with `careplan.access`'s own relationship predicates (practice, caseload, consent, self),
  those the policy grants the caller's role for `careplan.read` (one prepared statement per
  role);
- `audit` is a data-modifying CTE: it inserts the `read` audit event only when access is
  allowed. PostgreSQL runs it exactly once, in the statement's own transaction, so the
  audit row is committed if and only if the plan is returned;
- the outer SELECT returns the plan with its participants, goals, actions, needs and
  comments as JSON arrays, and the new audit event's id (proof the read was audited).

Anything but "found and allowed" (no such plan, refused) answers None and the route takes
the portable path, which audits the 404 or the refusal in its own transaction exactly as
before, so those answers stay byte-for-byte the ones the tests pin. SQLite always takes the
portable path.

Connections come from a small pool per worker (`pgpool.PgPool`, shared with the CarePlan
update's fast path), opened on first use, autocommit, UTC, and statements are prepared on
first execution.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Engine

from houseofcare.careplan.access import actor_parameters, visibility_sql
from houseofcare.careplan.actor import Actor
from houseofcare.careplan.policy import Action, Policy, Relationship, Role
from houseofcare.careplan.records import PLAN_COLUMNS, CarePlanRecord, careplan_record_from_parts
from houseofcare.store.models import AuditOutcome
from houseofcare.store.pgpool import PgPool


def _parts(guard: str) -> str:
    """The plan's parts as JSON arrays, each in id order, for the plan aliased `t`;
    `guard` (SQL) decides whether they are read at all."""
    return f"""
    CASE WHEN {guard} THEN (
        SELECT json_agg(json_build_array(x.role, x.name, x.user_id) ORDER BY x.id)
        FROM care_plan_participant x WHERE x.care_plan_id = t.id) END AS participants,
    CASE WHEN {guard} THEN (
        SELECT json_agg(x.id ORDER BY x.id) FROM goal x WHERE x.care_plan_id = t.id)
        END AS goals,
    CASE WHEN {guard} THEN (
        SELECT json_agg(json_build_array(x.id, x.performer, x.description, x.status,
            x.performer_name, x.performer_user_id, x.due_date, x.goal_id) ORDER BY x.id)
        FROM care_action x WHERE x.care_plan_id = t.id) END AS actions,
    CASE WHEN {guard} THEN (
        SELECT json_agg(json_build_array(x.id, x.domain, x.description, x.status)
            ORDER BY x.id)
        FROM need x WHERE x.care_plan_id = t.id) END AS needs,
    CASE WHEN {guard} THEN (
        SELECT json_agg(json_build_array(x.text, x.created_at, u.display_name) ORDER BY x.id)
        FROM care_plan_comment x JOIN user_account u ON u.id = x.author_id
        WHERE x.care_plan_id = t.id) END AS comments"""


#: The head of a plan row: its own columns, the person's NHS number, the lead's name.
HEAD = [*PLAN_COLUMNS, "nhs_number", "lead_name"]
#: How many JSON part arrays follow the head (participants, goals, actions, needs, comments).
PARTS = 5

_PLAN_COLUMNS = ", ".join(
    [*(f"cp.{c}" for c in PLAN_COLUMNS), "p.nhs_number", "lead.display_name AS lead_name"]
)


def read_plan_sql(granted: frozenset[Relationship]) -> str:
    """The one-statement read for a role granted `granted` on `careplan.read`: the access
    condition is `careplan.access`'s own predicates, so it cannot drift from the portable
    path's decision."""
    allowed = visibility_sql(granted, person="p", style="pyformat")
    return f"""
WITH target AS (
    SELECT {_PLAN_COLUMNS}, COALESCE({allowed}, false) AS allowed
    FROM care_plan cp
    JOIN person p ON p.id = cp.person_id
    LEFT JOIN user_account lead ON lead.id = cp.lead_user_id
    WHERE cp.id = %(plan_id)s
), audit AS (
    INSERT INTO audit_event (occurred_at, user_id, username, role, action, resource_type,
        resource_id, person_id, outcome, detail)
    SELECT %(at)s, %(user_id)s, %(username)s, %(role)s, 'read', 'CarePlan',
        %(resource_id)s, target.person_id, %(outcome)s, NULL
    FROM target WHERE target.allowed
    RETURNING id
)
SELECT {", ".join(f"t.{c}" for c in HEAD)}, t.allowed,
    (SELECT id FROM audit) AS audit_id,{_parts("t.allowed")}
FROM target t
"""


#: The plan with its parts, nothing else (no access check, no audit): for the answer to a
#: write, inside the write's own transaction, whose access check and audit are the route's.
PLAN_WITH_PARTS = f"""
SELECT {_PLAN_COLUMNS},{_parts("true")}
FROM care_plan cp
JOIN person p ON p.id = cp.person_id
LEFT JOIN user_account lead ON lead.id = cp.lead_user_id
CROSS JOIN LATERAL (SELECT cp.id) AS t(id)
WHERE cp.id = %(plan_id)s
"""


def record_from_row(head: Any, parts: Any) -> CarePlanRecord:
    """A record from the plan's `HEAD` columns and its `PARTS` JSON part arrays."""
    participants, goals, actions, needs, comments = parts
    return careplan_record_from_parts(
        dict(zip(HEAD, head, strict=True)),
        participants=[{"role": r, "name": n, "user_id": u} for r, n, u in participants or ()],
        goal_ids=goals or [],
        actions=[
            {
                "id": a[0],
                "performer": a[1],
                "description": a[2],
                "status": a[3],
                "performer_name": a[4],
                "performer_user_id": a[5],
                "due_date": a[6],
                "goal_id": a[7],
            }
            for a in actions or ()
        ],
        needs=[
            {"id": n[0], "domain": n[1], "description": n[2], "status": n[3]} for n in needs or ()
        ],
        comments=[tuple(comment) for comment in comments or ()],
    )


class PlanReader:
    """The one-statement CarePlan read, on this worker's pool of autocommit connections."""

    def __init__(
        self, conninfo: str, policy: Policy, *, size: int = 8, pool: PgPool | None = None
    ) -> None:
        self.policy = policy
        self.pool = pool or PgPool(conninfo, size=size)
        #: The statement per role (the grants differ), built on first use.
        self._statements: dict[Role, str] = {}

    @classmethod
    def for_engine(cls, engine: Engine, policy: Policy, *, size: int = 8) -> PlanReader | None:
        """A reader for a PostgreSQL store; None for any other (they take the portable path)."""
        pool = PgPool.for_engine(engine, size=size)
        return None if pool is None else cls(pool.conninfo, policy, pool=pool)

    def read(self, actor: Actor, plan_id: int) -> CarePlanRecord | None:
        """The plan, read and audited in one statement; None when it is missing or refused
        (nothing was written: the caller takes the portable path, which audits that)."""
        statement = self._statements.get(actor.role)
        if statement is None:
            granted = self.policy.granted(actor.role, Action.careplan_read)
            statement = self._statements[actor.role] = read_plan_sql(granted)
        parameters = {
            **actor_parameters(actor),
            "plan_id": plan_id,
            "resource_id": str(plan_id),
            "username": actor.username,
            "role": actor.role.value,
            "at": dt.datetime.now(dt.UTC),
            "outcome": AuditOutcome.success.value,
        }
        with self.pool.connection() as connection:
            row = connection.execute(statement, parameters, prepare=True).fetchone()
        head = len(HEAD)  # then `allowed`, the audit event's id and the parts
        if row is None or not row[head]:
            return None
        if row[head + 1] is None:  # allowed but not audited: never serve it
            raise RuntimeError(f"the read of CarePlan/{plan_id} was not audited")
        return record_from_row(row[:head], row[head + 2 : head + 2 + PARTS])

    def close(self) -> None:
        """Close the pool's idle connections (at shutdown)."""
        self.pool.close()
