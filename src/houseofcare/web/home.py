"""What each role can do, in plain words, for its home page.

The "what you may do, for whom" table is read from the access policy (`careplan/policy.toml`)
so the page can never promise more, or less, than the rules allow; only the words are here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from houseofcare.careplan.policy import Action, Policy, Relationship
from houseofcare.store.models import Role

#: Each action as the user would say it.
ACTION_WORDS: Final[dict[Action, str]] = {
    Action.patient_read: "See who a person is (name, NHS number, date of birth)",
    Action.record_read: "See a person's clinical record: conditions, medicines, contacts",
    Action.careplan_read: "Read a care plan",
    Action.careplan_write: "Start and change a care plan",
    Action.careplan_comment: "Comment on a care plan",
    Action.careplan_action: "Add an action you will do to a care plan",
    Action.goal_read: "Read goals",
    Action.goal_write: "Set and change goals",
    Action.risk_read: "See the risk of an emergency admission",
    Action.caregap_read: "See care gaps and the recall list",
    Action.consent_read: "See consent to share",
    Action.consent_write: "Record consent to share",
    Action.preparation_read: "See the results summary before a care-planning conversation",
    Action.preparation_comment: "Say what to talk about at the care-planning conversation",
    Action.caseload_read: "See your caseload",
    Action.caseload_write: (
        "Take level 3 people of your network onto your caseload (seeing them in brief "
        "first), and release people from it"
    ),
    Action.reviews_read: "See care plans due for review in your teams",
    Action.audit_read: "Read the audit trail: who looked at whose record, and when",
    # --- issue 12: population pages
    Action.population_read: (
        "See the population's figures (the triangle, risk, prevalence, practices compared), "
        "disclosure-controlled"
    ),
    # --- issue 12: My care plan
    Action.audit_own: "See who has looked at your record, and when",
    Action.proxy_write: "Give a carer access to your record, or take it back",
    # --- issue 13: matching
    Action.activation_read: "See a person's activation level (how ready they are to self-manage)",
    Action.activation_write: "Record an activation score",
    Action.preference_read: "See what a person prefers in support (language, ways, accessibility)",
    Action.preference_write: "Record what a person prefers in support",
    Action.support_suggest: "See the services that suit a person, with why (Suggest support)",
    Action.unmet_write: "Record a need that found no suitable service (unmet need)",
    # --- issue 13: referrals
    Action.referral_read: "See referrals to services and how each went",
    Action.referral_write: (
        "Refer to a service from the care plan, withdraw a referral, refer to social prescribing"
    ),
    Action.referral_receive: (
        "Accept or decline referrals to your services, and record attendance and the outcome"
    ),
    Action.referral_inbox: "See the referrals to your organisation's services",
    Action.socialprescribing_read: "See the people referred to you for social prescribing",
}

#: Whom a grant covers, as the user would say it.
WHOM_WORDS: Final[dict[Relationship, str]] = {
    Relationship.practice: "people registered at your practice",
    Relationship.caseload: "people on your caseload",
    Relationship.consent: "people who agreed to share their record with your organisation",
    Relationship.self: "you",
    Relationship.proxy: "people who gave you proxy access as their carer",
    Relationship.any: "your own lists",
    # --- issue 13: referrals
    Relationship.referred: "people referred to your organisation's services",
}

#: The role's name and one line on what houseofcare is for them (DESIGN.md, "Who uses it").
ROLE_INTRO: Final[dict[Role, tuple[str, str]]] = {
    Role.gp: (
        "GP",
        "Disease registers, care gaps and recall lists for your practice, and the "
        "care-planning conversation with each person.",
    ),
    Role.nurse: (
        "Practice nurse",
        "Disease registers, care gaps and recall lists for your practice, and the "
        "care-planning conversation with each person.",
    ),
    Role.case_manager: (
        "Case manager",
        "Your caseload: who is at highest risk and why, their reviews and their care plan.",
    ),
    Role.social_worker: (
        "Social worker",
        "See and contribute to a person's shared care plan, when they have agreed to share it "
        "with social care.",
    ),
    Role.voluntary_sector: (
        "Voluntary or community group",
        "See a person's shared care plan when they have agreed to share it with your group, "
        "to support them to manage their conditions.",
    ),
    # --- issue 13: social prescribing
    Role.link_worker: (
        "Social prescribing link worker",
        "The people referred to you: what matters to them, the community support that suits "
        "them, and how their referrals went.",
    ),
    Role.commissioner: (
        "Commissioner",
        "The population's figures: the triangle of need, inequalities and the commissioning "
        "plan. You never see a named person's record.",
    ),
    Role.patient: (
        "Your care",
        "See your results before your care-planning conversation, say what matters to you, "
        "and see your care plan.",
    ),
    Role.admin: (
        "Administrator",
        "The audit trail: every look at and change to a person's record, and every sign-in.",
    ),
}

#: Where the role does its work today, besides the pages: (text, where).
ROLE_TOOLS: Final[dict[Role, tuple[tuple[str, str], ...]]] = {
    Role.gp: (
        ("Care gaps by indicator and the recall list, most overdue first", "/worklists"),
        ("Care plans, goals, consent and risk (FHIR API)", "/docs"),
        ("The population's figures, practices compared", "/population"),  # issue 12
    ),
    Role.nurse: (
        ("Care gaps by indicator and the recall list, most overdue first", "/worklists"),
        ("Care plans, goals, consent and risk (FHIR API)", "/docs"),
    ),
    Role.case_manager: (
        ("Your caseload: who is at highest risk and why, who was in hospital", "/caseload"),
        ("Your due reviews (API)", "/docs"),
        ("Risk with its reasons", "hoc risk-assessments --user YOUR-NAME"),
    ),
    # --- issue 12: partners' view
    Role.social_worker: (
        ("The people who share their care plan with social care", "/partners"),
        ("Shared care plans (FHIR API)", "/docs"),
    ),
    Role.voluntary_sector: (
        ("The people who share their care plan with your group", "/partners"),
        ("Shared care plans (FHIR API)", "/docs"),
    ),
    # --- issue 13: social prescribing
    Role.link_worker: (("Shared care plans (FHIR API)", "/docs"),),
    Role.commissioner: (
        ("The population: triangle, risk, prevalence, practices, by deprivation", "/population"),
        ("Prevalence by register", "hoc prevalence"),
        ("Indicator achievement", "hoc achievement"),
        ("The triangle of need", "hoc tiers"),
    ),
    Role.patient: (
        ("My care plan: your results, your plan, who looked at your record", "/me"),
        # --- issue 12: consent page
        ("Who can see your care plan: sharing with social care and voluntary groups", "/consent"),
    ),
    Role.admin: (
        ("The audit trail (FHIR AuditEvent)", "/docs"),
        ("Check nobody changed the trail", "hoc audit verify"),
    ),
}

# --- issue 13: the directory of services, last on every role's home page (a patient's link
# opens it at the services they can refer themselves to)
for _role in Role:
    ROLE_TOOLS[_role] = (
        *ROLE_TOOLS[_role],
        (
            ("Find community support you can refer yourself to", "/services?access=self_referral")
            if _role is Role.patient
            else (
                "The directory of services: community support, groups and programmes",
                "/services",
            )
        ),
    )

# --- issue 13: referrals: the receiving organisation's inbox, the link worker's people, the
# person's referrals
ROLE_TOOLS[Role.voluntary_sector] += (
    ("Referrals to your services: accept, decline, record attendance", "/referrals/inbox"),
)
ROLE_TOOLS[Role.link_worker] += (
    ("Your people: what matters to them, their referrals, follow-up", "/social-prescribing"),
)
ROLE_TOOLS[Role.patient] += (("Your referrals to services", "/me/plan#referrals"),)


@dataclass(frozen=True)
class Permission:
    """One row of the home page's table: what the user may do, and for whom."""

    what: str
    whom: str


def permissions(policy: Policy, role: Role) -> list[Permission]:
    """Every action the policy grants the role, with whom it covers, in the policy's order."""
    if not policy.identifiable(role):
        return []
    rows = []
    for action in Action:
        granted = policy.granted(role, action)
        if not granted:
            continue
        whom = [WHOM_WORDS[r] for r in Relationship if r in granted]
        rows.append(Permission(what=ACTION_WORDS[action], whom=" or ".join(whom)))
    return rows


# --- issue 13: matching: the link worker suggests support from a person's page
ROLE_TOOLS[Role.link_worker] += (
    ("Services that suit someone referred to you", "their page, then Suggest support"),
)
