"""The consent page's work: what the person shares with partners, and recording a change.

The person (patient role, relationship `self`) or a professional with them (holding
`consent.write` in `careplan/policy.toml`) sees which partner organisation types the care
plan is shared with, what those partners see and never see, and the whole history; and
gives or withdraws consent. Everything goes through the one access decision (`guard`) and
the consent service the FHIR Consent API uses (`careplan/partners.py` over
`careplan/consent.py`). Every view is audited as a `read` of Consent, every change as a
`create` (given) or `update` (withdrawn) in the same transaction, and every refusal or
mistake on its own with nothing written. A withdrawal takes effect at once: partners' access
is decided from the consent rows on each request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from houseofcare.api.deps import Services
from houseofcare.careplan import partners
from houseofcare.careplan.access import decide_for_person
from houseofcare.careplan.errors import InvalidChange, NotFound
from houseofcare.careplan.guard import AccessRefused, Guard
from houseofcare.careplan.policy import Action
from houseofcare.store.database import transaction
from houseofcare.store.models import AuditOutcome, Person
from houseofcare.web.page import guard
from houseofcare.web.person_banner import PersonBanner
from houseofcare.web.session import PageSession

RT = "Consent"
Errors = list[tuple[str, str]]


@dataclass
class ConsentPage:
    """What the consent page shows."""

    banner: PersonBanner
    overview: partners.ConsentOverview
    #: May the signed-in user give and withdraw this person's consent?
    can_write: bool
    #: The person's own page (the words say "you"), or a professional's view of it.
    own: bool
    shared: tuple[str, ...] = partners.SHARED_PARTS
    never: tuple[str, ...] = partners.NOT_SHARED
    errors: Errors = field(default_factory=list)


def own_person(services: Services, signed_in: PageSession) -> int:
    """The person the signed-in user is (the person's own consent page takes no id from the
    address); anyone else is refused, audited."""
    person_id = signed_in.actor.person_id
    if person_id is None:
        raise guard(signed_in, services).deny(
            "This page is for the person whose plan it is. To see someone's consent, open "
            "their page and choose Consent to share.",
            action="read",
            resource_type=RT,
        )
    return person_id


def _build(
    services: Services,
    signed_in: PageSession,
    session: Session,
    person_id: int,
    *,
    own: bool,
    errors: Errors | None = None,
) -> ConsentPage:
    person = session.get(Person, person_id)
    if person is None:  # allowed only with a relationship, so never reached
        raise AccessRefused("no such person")
    decision = decide_for_person(
        session, services.policy, signed_in.actor, Action.consent_write, person_id
    )
    return ConsentPage(
        banner=PersonBanner.of(person),
        overview=partners.consent_overview(session, person_id),
        can_write=decision.allowed,
        own=own,
        errors=errors or [],
    )


def consent_page(
    services: Services, signed_in: PageSession, person_id: int, *, own: bool
) -> ConsentPage:
    """The person's consents as the page shows them (audited as a read of Consent)."""
    checks = guard(signed_in, services)
    with transaction(services.factory) as session:
        checks.authorise(
            session, Action.consent_read, person_id, audit_action="read", resource_type=RT
        )
        page = _build(services, signed_in, session, person_id, own=own)
        checks.audit(
            session, action="read", resource_type=RT, person_id=person_id, detail={"page": True}
        )
    return page


@dataclass
class ConsentAnswer:
    """How a change went: `given`, `withdrawn`, or `invalid` (with the page and mistakes)."""

    outcome: str
    page: ConsentPage | None = None


def _value(form: Mapping[str, Any], name: str) -> str | None:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else None


def change_consent(
    services: Services,
    signed_in: PageSession,
    person_id: int,
    form: Mapping[str, Any],
    *,
    own: bool,
) -> ConsentAnswer:
    """Give (`do=give`, `organisation_type`) or withdraw (`do=withdraw`, `consent_id`) consent,
    decided by `consent.write` for the person; audited in the same transaction. A mistake
    writes nothing and answers the page with the mistake named."""
    checks = guard(signed_in, services)
    giving = _value(form, "do") == "give"
    audit_action = "create" if giving else "update"
    try:
        with transaction(services.factory) as session:
            checks.authorise(
                session,
                Action.consent_write,
                person_id,
                audit_action=audit_action,
                resource_type=RT,
            )
            if giving:
                kind = _value(form, "organisation_type")
                consent_id = partners.give(session, person_id, kind, checks.actor)
            elif _value(form, "do") == "withdraw":
                consent_id = partners.withdraw(
                    session, person_id, _number(_value(form, "consent_id")), checks.actor
                )
            else:
                raise InvalidChange("organisation_type", "Choose what to change")
            checks.audit(
                session,
                action=audit_action,
                resource_type=RT,
                resource_id=consent_id,
                person_id=person_id,
                detail={"organisation_type": _value(form, "organisation_type")} if giving else None,
            )
    except (InvalidChange, NotFound) as exc:
        return _invalid(services, signed_in, checks, person_id, exc, audit_action, own=own)
    return ConsentAnswer("given" if giving else "withdrawn")


def _number(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdigit() and len(text) < 12 else None


def _invalid(
    services: Services,
    signed_in: PageSession,
    checks: Guard,
    person_id: int,
    exc: Exception,
    audit_action: str,
    *,
    own: bool,
) -> ConsentAnswer:
    if isinstance(exc, InvalidChange):
        errors: Errors = [("organisation_type", exc.args[0].split(": ", 1)[-1])]
        outcome = AuditOutcome.invalid
    else:
        errors = [("", "That consent is not one of this person's: nothing was changed")]
        outcome = AuditOutcome.not_found
    checks.audit_now(
        action=audit_action,
        resource_type=RT,
        outcome=outcome,
        person_id=person_id,
        detail={"reason": errors[0][1]},
    )
    with services.factory() as session:
        page = _build(services, signed_in, session, person_id, own=own, errors=errors)
    return ConsentAnswer("invalid", page)
