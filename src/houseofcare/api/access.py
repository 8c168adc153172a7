"""How a signed-in user relates to a person, and the decision the policy makes on it.

The facts come from the operational store (where the person is registered, whose caseload they
are on, which organisation types they have consented to share with); the rules come from
`policy.toml`. Keeping the two apart means a change of rule is a change of data, and the
relationship code can be tested on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from houseofcare.api.policy import Action, Policy, Relationship, Role


@dataclass(frozen=True)
class Actor:
    """The signed-in user, as the access rules see them."""

    user_id: int
    username: str
    role: Role
    organisation_id: int | None
    organisation_type: str | None
    #: For the patient role: the person this user is.
    person_id: int | None = None


@dataclass(frozen=True)
class PersonFacts:
    """What the access rules need to know about a person."""

    person_id: int
    practice_id: int | None
    caseload_user_ids: frozenset[int]
    consented_organisation_types: frozenset[str]


def relationships(actor: Actor, facts: PersonFacts) -> frozenset[Relationship]:
    """Every way the user is connected to the person."""
    found: set[Relationship] = set()
    if actor.organisation_id is not None and actor.organisation_id == facts.practice_id:
        found.add(Relationship.practice)
    if actor.user_id in facts.caseload_user_ids:
        found.add(Relationship.caseload)
    if (
        actor.organisation_type is not None
        and actor.organisation_type in facts.consented_organisation_types
    ):
        found.add(Relationship.consent)
    if actor.person_id is not None and actor.person_id == facts.person_id:
        found.add(Relationship.self)
    return frozenset(found)


@dataclass(frozen=True)
class Decision:
    """The outcome of one access check, with the reason shown to the user and the audit."""

    allowed: bool
    reason: str


def decide(policy: Policy, actor: Actor, action: Action, facts: PersonFacts | None) -> Decision:
    """Allow or deny `action` on the person described by `facts` (None: a list action)."""
    if not policy.identifiable(actor.role):
        return Decision(False, f"role {actor.role.value} never sees identifiable data")
    granted = policy.granted(actor.role, action)
    if not granted:
        return Decision(False, f"role {actor.role.value} may not {action.value}")
    if facts is None:
        allowed = Relationship.any in granted
        return Decision(
            allowed, "allowed" if allowed else f"{action.value} needs a person to check against"
        )
    have = relationships(actor, facts)
    if policy.allows(actor.role, action, have):
        matched = sorted(r.value for r in have & granted)
        return Decision(True, "allowed: " + ", ".join(matched))
    needed = " or ".join(sorted(r.value for r in granted))
    return Decision(
        False, f"role {actor.role.value} may {action.value} only for people related by {needed}"
    )
