"""The access policy: which role may do what to whose identifiable record.

The rules live in `policy.toml` beside this module, as data; this module checks the file
against its schema when it is loaded and answers one question, `Policy.allows`. The code that
knows how a user relates to a person (registered at their practice, on their caseload, has
consented to share with their organisation type, is the person) lives in `access.py`; the
policy only says which of those relationships are enough for each action.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from houseofcare.datafiles import read_toml, validation_problems

#: One Role for the whole house: the store's (a user holds one), which the policy names.
from houseofcare.store.models import Role

POLICY_FILE: Final = Path(__file__).with_name("policy.toml")


class Action(StrEnum):
    """What a request does; every endpoint declares exactly one."""

    patient_read = "patient.read"
    #: The clinical record behind the plan: conditions, medicines, contacts and admissions.
    #: Apart from `patient.read` so a partner with consent sees the plan, not the record.
    record_read = "record.read"
    careplan_read = "careplan.read"
    careplan_write = "careplan.write"
    careplan_comment = "careplan.comment"
    #: Add an action to a plan (who does what, by when) without changing anything else in it:
    #: a partner's contribution (issue 12, partners' view). Never an edit of what others wrote.
    careplan_action = "careplan.action"
    goal_read = "goal.read"
    goal_write = "goal.write"
    risk_read = "risk.read"
    #: Care gaps with their evidence (the recall list).
    caregap_read = "caregap.read"
    consent_read = "consent.read"
    consent_write = "consent.write"
    preparation_read = "preparation.read"
    preparation_comment = "preparation.comment"
    caseload_read = "caseload.read"
    #: Take a level 3 person of the network onto one's own caseload, or release them; seeing
    #: the candidates (the network's unassigned level 3 people, in brief) is part of it.
    caseload_write = "caseload.write"
    reviews_read = "reviews.read"
    audit_read = "audit.read"
    # --- issue 12: population pages
    #: The population's disclosure-controlled figures (the triangle, risk, prevalence,
    #: practices compared, by IMD quintile): about no one, so the one kind of grant a role
    #: barred from identifiable data (a commissioner) may hold.
    population_read = "population.read"
    # --- issue 12: My care plan (the person's own pages)
    #: The person's own access log: who looked at their record (audit events about them).
    audit_own = "audit.own"
    #: Give a carer proxy access to one's own record, or withdraw it (the person only).
    proxy_write = "proxy.write"
    # --- issue 13: matching (selfcare/matching.py, activation.py, preferences.py)
    #: The person's patient activation (PAM-style score and level 1–4).
    activation_read = "activation.read"
    activation_write = "activation.write"
    #: What the person prefers in the support offered: language, ways, accessibility needs.
    preference_read = "preference.read"
    preference_write = "preference.write"
    #: "Suggest support": the directory's services ranked for the person's needs and goals.
    support_suggest = "support.suggest"
    #: Record a need that found no suitable service (unmet need, for commissioning).
    unmet_write = "unmet.write"
    # --- issue 13: referrals (selfcare/referrals.py; the moves in selfcare/referral_flow.toml)
    #: A person's referrals (FHIR ServiceRequest). A receiving organisation reads them through
    #: `referred`, and sees who the person is only while `patient.read` allows it (consent).
    referral_read = "referral.read"
    #: The referrer's side: send a referral from the plan, withdraw it, refer to social
    #: prescribing (a link worker's caseload), a link worker's follow-up date.
    referral_write = "referral.write"
    #: The receiving organisation's side: accept, decline (with a reason), attended or did not
    #: attend, close; only for referrals to its own services.
    referral_receive = "referral.receive"
    #: The receiving organisation's inbox: the referrals to its services (a list action).
    referral_inbox = "referral.inbox"
    #: A social prescribing link worker's caseload page (a list action: their own people).
    socialprescribing_read = "socialprescribing.read"


class Relationship(StrEnum):
    """How the signed-in user relates to the person a request is about."""

    practice = "practice"
    caseload = "caseload"
    consent = "consent"
    self = "self"
    #: The user is a carer the person has given proxy access to (issue 12, `proxy_grant`).
    proxy = "proxy"
    any = "any"
    # --- issue 13: referrals
    #: The person has a referral to a service of the user's organisation (the receiver).
    referred = "referred"


# --- issue 12: population pages
#: Actions that disclose no person at all: aggregate figures that have been through
#: disclosure control (`commissioning/disclosure.py`) before they leave the analytic store.
#: A list action (granted to `any` only), and the only grant a role with
#: `identifiable = false` may hold.
AGGREGATE_ACTIONS: Final = frozenset({Action.population_read})

#: Actions about no single person: lists the user asks for about their own work, and the
#: audit trail. Only `any` makes sense for them (the list itself is scoped by the user).
#: `caseload.write` is one: whom it may reach is fixed by the caseload service, not by a
#: relationship (a candidate has none yet): level 3 people of the latest run, on nobody's
#: caseload, shown in brief and audited per person (docs/clinical-safety, H-048).
LIST_ACTIONS: Final = (
    frozenset({Action.caseload_read, Action.caseload_write, Action.reviews_read, Action.audit_read})
    | AGGREGATE_ACTIONS
    # --- issue 13: referrals: the receiver's inbox and the link worker's caseload, each
    # scoped to the user by the referral service (their organisation's services, their own
    # caseload), each person shown audited
    | {Action.referral_inbox, Action.socialprescribing_read}
)  # issue 12: population pages


class PolicyError(ValueError):
    """The policy file is missing, malformed or breaks a rule of its schema."""


class RoleRules(BaseModel):
    """One role's entry in the policy file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = Field(min_length=1)
    #: False for roles that must never see identifiable data (commissioners).
    identifiable: bool
    grants: dict[Action, frozenset[Relationship]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> RoleRules:
        identifiable_grants = [
            a for a, r in self.grants.items() if r and a not in AGGREGATE_ACTIONS
        ]
        if not self.identifiable and identifiable_grants:
            raise ValueError(
                "a role with identifiable = false may hold no grant but an aggregate one "
                f"({', '.join(sorted(a.value for a in AGGREGATE_ACTIONS))}); "
                f"remove {', '.join(sorted(a.value for a in identifiable_grants))}"
            )
        for action, relationships in self.grants.items():
            if action in LIST_ACTIONS and relationships - {Relationship.any}:
                raise ValueError(f"{action.value}: a list action can only be granted to 'any'")
            if action not in LIST_ACTIONS and Relationship.any in relationships:
                raise ValueError(
                    f"{action.value}: 'any' would disclose every person's record; "
                    "name the relationships instead"
                )
        return self


class PolicyFile(BaseModel):
    """The whole policy file: a version and one entry per role."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = Field(ge=1)
    roles: dict[Role, RoleRules]

    @model_validator(mode="after")
    def _every_role(self) -> PolicyFile:
        missing = sorted(set(Role) - set(self.roles))
        if missing:
            raise ValueError(f"every role needs an entry; missing: {', '.join(missing)}")
        return self


@dataclass(frozen=True)
class Policy:
    """The loaded policy: ask it whether a relationship set is enough for an action."""

    source: Path
    rules: PolicyFile

    def allows(self, role: Role, action: Action, relationships: frozenset[Relationship]) -> bool:
        """True when any of the user's relationships to the person is granted for the action."""
        granted = self.rules.roles[role].grants.get(action, frozenset())
        return bool(granted & (relationships | {Relationship.any}))

    def granted(self, role: Role, action: Action) -> frozenset[Relationship]:
        """The relationships that allow `action` for `role` (empty: never)."""
        return self.rules.roles[role].grants.get(action, frozenset())

    def identifiable(self, role: Role) -> bool:
        """False for roles barred from every identifiable endpoint."""
        return self.rules.roles[role].identifiable


def load_policy(path: Path = POLICY_FILE) -> Policy:
    """Read and check a policy file; errors name the file and the field."""
    raw = read_toml(path, PolicyError, "no access policy file here")
    try:
        rules = PolicyFile.model_validate(raw)
    except ValidationError as exc:
        raise PolicyError(f"{path}: {validation_problems(exc)}") from None
    return Policy(source=path, rules=rules)


@cache
def packaged_policy() -> Policy:
    """The policy shipped with houseofcare, loaded once."""
    return load_policy()
