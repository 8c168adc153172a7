"""The one access decision: how a user relates to a person, and what the policy allows on it.

Every way in asks this module, and nothing else, whom a user may see: the API routes, the
PostgreSQL fast paths (`careplan/pg_read.py`, `careplan/pg_update.py`), the work lists (caseload,
due reviews) and the identifiable `hoc` commands. The rules come from `policy.toml` (data);
the relationships are defined here ONCE, as SQL predicates over a person row
(`RELATIONSHIP_SQL`), and every caller derives its check from them:

- one person (a read or write): `relationships_to` evaluates each predicate for that person
  and `decide` applies the policy to the answer;
- many people (a search or a list): `visible_people` ORs the predicates the policy grants,
  as a filter on the `person` table, so a list never shows someone a read would refuse;
- raw SQL on PostgreSQL: `visibility_sql(style="pyformat")` gives the same predicates with
  psycopg placeholders.

Having a single definition is the point: the due-review lists once listed people their reader
could not open, because the relationships were written out four or five times.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from sqlalchemy import ColumnElement, select, text
from sqlalchemy.orm import Session

from houseofcare.careplan.actor import Actor
from houseofcare.careplan.policy import AGGREGATE_ACTIONS, Action, Policy, Relationship
from houseofcare.people_scope import PeopleScope
from houseofcare.store.models import CareTeam, Organisation, OrganisationType, Person

#: How a user relates to the person row `{p}`: one SQL predicate per relationship, portable
#: (SQLite and PostgreSQL), with the actor's facts as named parameters. A NULL fact (no
#: organisation, not a patient) makes its predicate NULL, which every caller reads as false.
RELATIONSHIP_SQL: Final[Mapping[Relationship, str]] = {
    Relationship.practice: "{p}.practice_id = :organisation_id",
    Relationship.caseload: (
        "EXISTS (SELECT 1 FROM caseload_assignment ca WHERE ca.person_id = {p}.id"
        " AND ca.case_manager_id = :user_id AND ca.ended_at IS NULL)"
    ),
    Relationship.consent: (
        "EXISTS (SELECT 1 FROM consent_to_share cs WHERE cs.person_id = {p}.id"
        " AND cs.organisation_type = :organisation_type AND cs.withdrawn_at IS NULL)"
    ),
    Relationship.self: "{p}.id = :self_person_id",
    # issue 12: a carer holding the person's live proxy grant (careplan/proxy.py)
    Relationship.proxy: (
        "EXISTS (SELECT 1 FROM proxy_grant pg WHERE pg.person_id = {p}.id"
        " AND pg.proxy_user_id = :user_id AND pg.withdrawn_at IS NULL)"
    ),
    # --- issue 13: referrals: a referral of the person to a service of the user's organisation
    Relationship.referred: (
        "EXISTS (SELECT 1 FROM referral rf JOIN service sv ON sv.id = rf.service_id"
        " WHERE rf.person_id = {p}.id AND sv.organisation_id = :organisation_id)"
    ),
}
#: The person relationships in a fixed order (`any` is not about a person).
PERSON_RELATIONSHIPS: Final = tuple(RELATIONSHIP_SQL)
_PARAMETER = re.compile(r":(\w+)")


def actor_parameters(actor: Actor) -> dict[str, Any]:
    """The actor's facts, named as `RELATIONSHIP_SQL` uses them."""
    return {
        "organisation_id": actor.organisation_id,
        "user_id": actor.user_id,
        "organisation_type": actor.organisation_type,
        "self_person_id": actor.person_id,
    }


def _styled(sql: str, style: Literal["named", "pyformat"]) -> str:
    return sql if style == "named" else _PARAMETER.sub(r"%(\1)s", sql)


def visibility_sql(
    relationships: Iterable[Relationship],
    *,
    person: str = "person",
    style: Literal["named", "pyformat"] = "named",
) -> str:
    """One SQL condition, true for the people related to the actor by any of `relationships`
    (false when there are none). `person` is the alias of the person row."""
    wanted = set(relationships)
    parts = [
        f"({RELATIONSHIP_SQL[r].format(p=person)})" for r in PERSON_RELATIONSHIPS if r in wanted
    ]
    return _styled(" OR ".join(parts) if parts else "1 = 0", style)


def relationship_flags_sql(
    *, person: str = "person", style: Literal["named", "pyformat"] = "named"
) -> str:
    """One 0/1 column per person relationship (named after it), for a SELECT over `person`."""
    columns = [
        f"CASE WHEN {RELATIONSHIP_SQL[r].format(p=person)} THEN 1 ELSE 0 END AS rel_{r.value}"
        for r in PERSON_RELATIONSHIPS
    ]
    return _styled(", ".join(columns), style)


def relationships_from_flags(flags: Iterable[Any]) -> frozenset[Relationship]:
    """The relationships whose `relationship_flags_sql` column came back true."""
    return frozenset(
        r for r, flag in zip(PERSON_RELATIONSHIPS, flags, strict=True) if flag in (1, True)
    )


def relationships_to(session: Session, actor: Actor, person_id: int) -> frozenset[Relationship]:
    """Every way the user is connected to the person, in one round trip (empty if there is
    no such person)."""
    row = session.execute(
        text(f"SELECT {relationship_flags_sql()} FROM person WHERE person.id = :person_id"),
        {**actor_parameters(actor), "person_id": person_id},
    ).first()
    return frozenset() if row is None else relationships_from_flags(row)


def visible_people(policy: Policy, actor: Actor, action: Action) -> ColumnElement[bool]:
    """A filter on the `person` table: the people this user may see for `action`.

    Join `Person` (unaliased) into the query it filters. Built from the policy's grants and
    the same predicates a single read uses, so a search or a list never returns someone a
    read would refuse.
    """
    granted = policy.granted(actor.role, action) if _identifiable(policy, actor) else set()
    return _related_by(actor, granted)


def _identifiable(policy: Policy, actor: Actor) -> bool:
    """Whether the actor's role may ever see identifiable data (the system, no role: never)."""
    return actor.role is not None and policy.identifiable(actor.role)


def _related_by(actor: Actor, relationships: Iterable[Relationship]) -> ColumnElement[bool]:
    """`visibility_sql` as a SQLAlchemy filter, bound to the actor's facts."""
    sql = visibility_sql(relationships)
    used = set(_PARAMETER.findall(sql))
    values = {k: v for k, v in actor_parameters(actor).items() if k in used}
    # parenthesised: a text clause is not grouped when ANDed with other conditions, and the
    # relationships are ORed ("a AND b OR c" would let c through whatever a and b say)
    return text(f"({sql})").bindparams(**values)  # type: ignore[return-value]


@dataclass(frozen=True)
class Decision:
    """The outcome of one access check, with the reason shown to the user and the audit."""

    allowed: bool
    reason: str


def decide(
    policy: Policy, actor: Actor, action: Action, have: frozenset[Relationship] | None
) -> Decision:
    """Allow or deny `action` for a user related to the person by `have` (None: a list
    action, about no single person)."""
    if actor.role is None:
        return Decision(False, "the system acts for no one: it never sees identifiable data")
    # --- issue 12: population pages
    if action in AGGREGATE_ACTIONS:
        # disclosure-controlled figures about no one: decided before the identifiable bar,
        # as the one grant a commissioner may hold; never about a single person
        granted = policy.granted(actor.role, action)
        if have is not None or Relationship.any not in granted:
            return Decision(False, f"role {actor.role.value} may not {action.value}")
        return Decision(True, "allowed: aggregate figures, disclosure-controlled")
    if not policy.identifiable(actor.role):
        return Decision(False, f"role {actor.role.value} never sees identifiable data")
    granted = policy.granted(actor.role, action)
    if not granted:
        return Decision(False, f"role {actor.role.value} may not {action.value}")
    if have is None:
        allowed = Relationship.any in granted
        return Decision(
            allowed, "allowed" if allowed else f"{action.value} needs a person to check against"
        )
    if policy.allows(actor.role, action, have):
        matched = sorted(r.value for r in have & granted)
        return Decision(True, "allowed: " + ", ".join(matched))
    needed = " or ".join(sorted(r.value for r in granted))
    return Decision(
        False, f"role {actor.role.value} may {action.value} only for people related by {needed}"
    )


def decide_for_person(
    session: Session, policy: Policy, actor: Actor, action: Action, person_id: int
) -> Decision:
    """`decide` for one person, their relationships read from the store (barred roles are
    refused before anything is looked up)."""
    if not _identifiable(policy, actor):
        return decide(policy, actor, action, frozenset())
    return decide(policy, actor, action, relationships_to(session, actor, person_id))


def care_team_problem(
    session: Session, care_team_id: int, person_id: int, writer_organisation_id: int | None
) -> str | None:
    """Why this care team may not hold this person's plan, or None if it may.

    A plan's care team decides whose team lists show the person, so it must be part of the
    person's care: a team of their registered practice, or one run by the writer's own
    organisation (a community trust's case-management team). Anything else would expose the
    person to another organisation's lists.
    """
    team = session.get(CareTeam, care_team_id)
    if team is None:
        return f"care team {care_team_id} does not exist"
    practice = session.scalar(select(Person.practice_id).where(Person.id == person_id))
    if team.organisation_id == practice:
        return None
    if writer_organisation_id is not None and team.organisation_id == writer_organisation_id:
        return None
    return (
        f"care team {care_team_id} belongs to neither the person's practice nor your "
        "organisation; choose a team that cares for this person"
    )


def people_scope(session: Session, policy: Policy, actor: Actor, action: Action) -> PeopleScope:
    """Whom the user may see for `action`, as the analytic store knows people (practice ODS
    codes and analytic patient ids): the filter of every identifiable `hoc` list.

    The practice grant becomes the user's practice's code (its registered list may be far
    larger than the people in the operational store); every other grant becomes the ids of
    the people it relates the user to, through the same predicates as `visible_people`.
    """
    if not _identifiable(policy, actor):
        return PeopleScope()
    assert actor.role is not None
    granted = policy.granted(actor.role, action)
    practices: frozenset[str] = frozenset()
    if Relationship.practice in granted and actor.organisation_id is not None:
        practice = session.get(Organisation, actor.organisation_id)
        if practice is not None and practice.type is OrganisationType.practice:
            practices = frozenset({practice.ods_code})
    others = granted - {Relationship.practice, Relationship.any}
    ids = session.scalars(
        select(Person.patient_id).where(Person.patient_id.is_not(None), _related_by(actor, others))
    ).all()
    return PeopleScope(practices=practices, patient_ids=frozenset(str(i) for i in ids))
