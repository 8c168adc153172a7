"""The "Suggest support" page's work: a person's needs, goals, activation and preferences, the
directory's services ranked for them with why, and recording what found no service.

Opened by whoever holds `support.suggest` for the person (GPs and practice nurses for their
practice's people and caseload, case managers and social prescribing link workers for their
caseload). Everything goes through the one access decision (`guard`): the page is audited as
a `read` of SupportSuggestion (with the services suggested), the activation and preferences
it shows as reads of their own; each form is decided by its own action (`activation.write`,
`preference.write`, `unmet.write`) and audited in the same transaction as its row, and a
refused, invalid or forged form writes nothing.

A role that may not see the clinical record (`record.read`: the link worker) is never shown
the person's conditions, so matching runs without them: services for a particular condition
are then not suggested at all (they would name the condition, and could not be checked as
suitable), and the page says so (hazard H-060).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import duckdb
from sqlalchemy import select
from sqlalchemy.orm import Session

from houseofcare.api.deps import Services
from houseofcare.careplan.access import decide, relationships_to
from houseofcare.careplan.errors import InvalidChange
from houseofcare.careplan.guard import AccessRefused, Guard
from houseofcare.careplan.policy import Action
from houseofcare.results import AnalyticResults, ResultsUnavailable
from houseofcare.selfcare import activation as activation_service
from houseofcare.selfcare import preferences as preference_service
from houseofcare.selfcare.activation import ActivationLevel, packaged_activation_rules
from houseofcare.selfcare.capacity import month_start
from houseofcare.selfcare.matching import (
    LANGUAGE_WORDS,
    NEED_WORDS,
    AnalyticFacts,
    Match,
    analytic_facts,
    match,
    person_facts,
)
from houseofcare.selfcare.preferences import ACCESSIBILITY, WAYS, Preferences
from houseofcare.selfcare.unmet import record_unmet_need
from houseofcare.store.database import transaction
from houseofcare.store.models import (
    Activation,
    AuditOutcome,
    NeedDomain,
    Person,
    UnmetNeed,
    UnmetNeedReason,
)
from houseofcare.web.page import guard
from houseofcare.web.person_banner import PersonBanner
from houseofcare.web.runs import RunStatus, latest_run
from houseofcare.web.session import PageSession

RT = "SupportSuggestion"
Errors = list[tuple[str, str]]
#: The most suggestions a page lists (the rest are counted, not shown).
SHOWN = 25


@dataclass
class SupportPage:
    """What the suggest-support page shows."""

    banner: PersonBanner
    run: RunStatus
    match: Match
    activation: Activation | None
    level: ActivationLevel | None
    preferences: Preferences
    #: The person's conditions were used (the user may see the record).
    with_conditions: bool
    #: Why the analytic store gave no conditions or locality, else None.
    analytic_missing: str | None
    can_record_activation: bool
    can_save_preferences: bool
    can_record_unmet: bool
    #: Need domains recorded as unmet for the person this month (no second button).
    recorded_unmet: frozenset[str] = frozenset()
    errors: Errors = field(default_factory=list)
    #: What was typed into a form that failed, to show it again.
    typed: Mapping[str, Any] = field(default_factory=dict)

    @property
    def shown(self) -> tuple[Any, ...]:
        """The suggestions listed (the best `SHOWN`)."""
        return self.match.suggestions


def _analytic(services: Services, patient_id: str | None) -> tuple[AnalyticFacts, str | None]:
    if patient_id is None:
        return AnalyticFacts(), (
            "This person is not linked to a clinical record yet, so their conditions and "
            "where they live are not known: services of every locality are considered."
        )
    try:
        with AnalyticResults.open(services.settings) as results:
            return analytic_facts(results, patient_id), None
    except (ResultsUnavailable, duckdb.Error):
        return AnalyticFacts(), (
            "The analytic store cannot be read now, so the person's conditions and where "
            "they live are not used: services of every locality are considered."
        )


def _allowed(
    services: Services, signed_in: PageSession, have: frozenset[Any], action: Action
) -> bool:
    """One of the page's decisions, on the relationships read once for the view (the same
    policy and facts as `decide_for_person`, without reading them four times)."""
    return decide(services.policy, signed_in.actor, action, have).allowed


def _recorded_unmet(session: Session, person_id: int) -> frozenset[str]:
    return frozenset(
        d
        for d in session.scalars(
            select(UnmetNeed.need_domain).where(
                UnmetNeed.person_id == person_id, UnmetNeed.recorded_at >= month_start()
            )
        )
        if d
    )


def _build(
    services: Services,
    signed_in: PageSession,
    checks: Guard,
    session: Session,
    person_id: int,
    analytic: AnalyticFacts,
    missing: str | None,
    *,
    errors: Errors | None = None,
    typed: Mapping[str, Any] | None = None,
) -> SupportPage:
    person = session.get(Person, person_id)
    if person is None:  # allowed only with a relationship, so never reached
        raise AccessRefused("no such person")
    have = relationships_to(session, signed_in.actor, person_id)
    with_conditions = _allowed(services, signed_in, have, Action.record_read)
    if not with_conditions:
        analytic = replace(analytic, registers=frozenset())
    activation = activation_service.read_latest(session, checks, person_id)
    preferences = preference_service.read_preferences(session, checks, person_id)
    facts = person_facts(session, person_id, analytic)
    found = match(session, facts, limit=SHOWN)
    return SupportPage(
        banner=PersonBanner.of(person),
        run=latest_run(services.settings),
        match=found,
        activation=activation,
        level=None if activation is None else packaged_activation_rules().level(activation.level),
        preferences=preferences,
        with_conditions=with_conditions,
        analytic_missing=missing,
        can_record_activation=_allowed(services, signed_in, have, Action.activation_write),
        can_save_preferences=_allowed(services, signed_in, have, Action.preference_write),
        can_record_unmet=_allowed(services, signed_in, have, Action.unmet_write),
        recorded_unmet=_recorded_unmet(session, person_id),
        errors=errors or [],
        typed=typed or {},
    )


def _patient_id(session: Session, person_id: int) -> str | None:
    person = session.get(Person, person_id)
    return None if person is None else person.patient_id


def support_page(
    services: Services,
    signed_in: PageSession,
    person_id: int,
    *,
    errors: Errors | None = None,
    typed: Mapping[str, Any] | None = None,
) -> SupportPage:
    """The page for the person (audited as a read of SupportSuggestion naming what was
    suggested), or `AccessRefused` (audited)."""
    checks = guard(signed_in, services)
    checks.require_identifiable(audit_action="read", resource_type=RT)
    with transaction(services.factory) as session:
        checks.authorise(
            session, Action.support_suggest, person_id, audit_action="read", resource_type=RT
        )
        patient_id = _patient_id(session, person_id)
    analytic, missing = _analytic(services, patient_id)
    with transaction(services.factory) as session:
        page = _build(
            services,
            signed_in,
            checks,
            session,
            person_id,
            analytic,
            missing,
            errors=errors,
            typed=typed,
        )
        checks.audit(
            session,
            action="read",
            resource_type=RT,
            person_id=person_id,
            detail={
                "page": "support",
                "suggested": [s.service_id for s in page.shown],
                "unmet": [u.domain for u in page.match.unmet],
                "conditions_used": page.with_conditions,
            },
        )
    return page


@dataclass
class SupportAnswer:
    """How a form went: `saved` (with what), or `invalid` with the page and its mistakes."""

    outcome: str
    page: SupportPage | None = None


def _text(form: Mapping[str, Any], name: str) -> str | None:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else None


def _all(form: Any, name: str) -> list[str]:
    values = form.getlist(name) if hasattr(form, "getlist") else [form.get(name)]
    return [v for v in values if isinstance(v, str)]


def _invalid(
    services: Services,
    signed_in: PageSession,
    checks: Guard,
    person_id: int,
    exc: InvalidChange,
    resource_type: str,
    audit_action: str,
    typed: Mapping[str, Any],
) -> SupportAnswer:
    fieldname = exc.field
    message = str(exc.args[0]).split(": ", 1)[-1]
    checks.audit_now(
        action=audit_action,
        resource_type=resource_type,
        outcome=AuditOutcome.invalid,
        person_id=person_id,
        detail={"reason": message},
    )
    page = support_page(services, signed_in, person_id, errors=[(fieldname, message)], typed=typed)
    return SupportAnswer("invalid", page)


def record_activation(
    services: Services, signed_in: PageSession, person_id: int, form: Mapping[str, Any]
) -> SupportAnswer:
    """Record an activation score (`score`); the level comes from activation.toml."""
    checks = guard(signed_in, services)
    try:
        with transaction(services.factory) as session:
            activation_service.record_activation(session, checks, person_id, _text(form, "score"))
    except InvalidChange as exc:
        typed = {"score": _text(form, "score") or ""}
        return _invalid(services, signed_in, checks, person_id, exc, "Activation", "create", typed)
    return SupportAnswer("activation")


def save_preferences(
    services: Services, signed_in: PageSession, person_id: int, form: Any
) -> SupportAnswer:
    """Replace the person's support preferences (`language`, `ways`, `accessibility`, and
    `accessibility_other`: more needs, separated by commas)."""
    checks = guard(signed_in, services)
    other = [a for a in (_text(form, "accessibility_other") or "").split(",") if a.strip()]
    try:
        with transaction(services.factory) as session:
            preference_service.save_preferences(
                session,
                checks,
                person_id,
                language=_text(form, "language"),
                ways=_all(form, "ways"),
                accessibility=_all(form, "accessibility") + other,
            )
    except InvalidChange as exc:
        typed = {"language": _text(form, "language") or ""}
        return _invalid(
            services, signed_in, checks, person_id, exc, "SupportPreference", "update", typed
        )
    return SupportAnswer("preferences")


def record_unmet(
    services: Services, signed_in: PageSession, person_id: int, form: Mapping[str, Any]
) -> SupportAnswer:
    """Record, as a professional's confirmation, that one of the person's needs found no
    suitable service (or only full ones): an unmet need for the commissioning plan. The need
    must be one matching finds unmet now; one already recorded this month is not recorded
    twice."""
    checks = guard(signed_in, services)
    domain = _text(form, "need_domain") or ""
    try:
        with transaction(services.factory) as session:
            checks.authorise(
                session,
                Action.unmet_write,
                person_id,
                audit_action="create",
                resource_type="UnmetNeed",
            )
            if domain not in set(NeedDomain):
                raise InvalidChange("need_domain", "Choose one of the person's needs")
            patient_id = _patient_id(session, person_id)
        analytic, _ = _analytic(services, patient_id)
        with transaction(services.factory) as session:
            have = relationships_to(session, signed_in.actor, person_id)
            if not _allowed(services, signed_in, have, Action.record_read):
                analytic = replace(analytic, registers=frozenset())
            facts = person_facts(session, person_id, analytic)
            unmet = {u.domain: u for u in match(session, facts, limit=0).unmet}
            if domain not in unmet:
                raise InvalidChange(
                    "need_domain",
                    "A service now suits this need, or it is not one of the person's: "
                    "nothing was recorded",
                )
            if domain in _recorded_unmet(session, person_id):
                # recorded already this month: counted once for commissioning
                checks.audit(
                    session,
                    action="create",
                    resource_type="UnmetNeed",
                    outcome=AuditOutcome.conflict,
                    person_id=person_id,
                    detail={"need_domain": domain, "reason": "already recorded this month"},
                )
                return SupportAnswer("unmet")
            row = record_unmet_need(
                session,
                checks.actor,
                UnmetNeedReason.service_full
                if unmet[domain].only_full
                else UnmetNeedReason.no_suitable_service,
                person_id=person_id,
                need_domain=domain,
                locality=None if facts.locality is None else facts.locality.name,
            )
            checks.audit(
                session,
                action="create",
                resource_type="UnmetNeed",
                resource_id=row.id,
                person_id=person_id,
                detail={"need_domain": domain, "reason": row.reason.value},
            )
    except InvalidChange as exc:
        return _invalid(services, signed_in, checks, person_id, exc, "UnmetNeed", "create", {})
    return SupportAnswer("unmet")


#: What the page says after each form.
SAVED_WORDS = {
    "activation": "Saved. The activation level is recorded and the suggestions below use it.",
    "preferences": "Saved. The suggestions below use the person's preferences.",
    "unmet": "Recorded as unmet need, for the commissioning plan.",
}


def template_context(page: SupportPage) -> dict[str, Any]:
    """What the template needs besides the page: the forms' choices in words."""
    return {
        "p": page,
        "ways": WAYS,
        "accessibility_choices": ACCESSIBILITY,
        "need_words": NEED_WORDS,
        "languages": sorted(LANGUAGE_WORDS.items(), key=lambda kv: kv[1]),
        "language_words": LANGUAGE_WORDS,
        "levels": packaged_activation_rules().levels,
        "today": dt.date.today(),
    }
