"""Consent to share: which types of organisation may see the person's plan, and since when.

Consent is given per organisation type (a practice, a community trust, social care …) and
withdrawn by stamping `withdrawn_at`; giving it again is a new row, so the whole history of
what the person agreed to stays. Access rules (houseofcare.api) ask `has_consent`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from houseofcare.careplan.actor import SYSTEM, Actor
from houseofcare.careplan.errors import InvalidChange, NotFound
from houseofcare.careplan.people import get_person
from houseofcare.store.models import ConsentToShare, OrganisationType
from houseofcare.store.types import utcnow


def _org_type(value: OrganisationType | str) -> OrganisationType:
    try:
        return OrganisationType(value)
    except ValueError:
        raise InvalidChange("organisation_type", f"{value!r} is not an organisation type") from None


def give_consent(
    session: Session,
    person_id: int,
    organisation_type: OrganisationType | str,
    actor: Actor = SYSTEM,
    *,
    given_at: dt.datetime | None = None,
) -> ConsentToShare:
    """Record consent to share with `organisation_type`; an existing current consent is kept."""
    org_type = _org_type(organisation_type)
    get_person(session, person_id)
    current = current_consent(session, person_id, org_type)
    if current is not None:
        return current
    consent = ConsentToShare(
        person_id=person_id,
        organisation_type=org_type,
        given_at=given_at or utcnow(),
        recorded_by_id=actor.user_id,
    )
    session.add(consent)
    session.flush()
    return consent


def withdraw_consent(
    session: Session,
    consent_id: int,
    actor: Actor = SYSTEM,
    *,
    withdrawn_at: dt.datetime | None = None,
) -> ConsentToShare:
    """Withdraw a consent from now (or `withdrawn_at`); withdrawing twice changes nothing."""
    consent = session.get(ConsentToShare, consent_id)
    if consent is None:
        raise NotFound("Consent", consent_id)
    if consent.withdrawn_at is None:
        when = withdrawn_at or utcnow()
        if when < consent.given_at:
            raise InvalidChange("withdrawn_at", "cannot be before the consent was given")
        consent.withdrawn_at = when
        consent.withdrawn_by_id = actor.user_id
        session.flush()
    return consent


def current_consent(
    session: Session, person_id: int, organisation_type: OrganisationType | str
) -> ConsentToShare | None:
    """The consent in force for this person and organisation type, if any."""
    return session.scalar(
        select(ConsentToShare).where(
            ConsentToShare.person_id == person_id,
            ConsentToShare.organisation_type == _org_type(organisation_type),
            ConsentToShare.withdrawn_at.is_(None),
        )
    )


def has_consent(
    session: Session, person_id: int, organisation_type: OrganisationType | str
) -> bool:
    """True when the person currently consents to share with this organisation type."""
    return current_consent(session, person_id, organisation_type) is not None


def consents_of(session: Session, person_id: int) -> Sequence[ConsentToShare]:
    """Every consent the person has given, current and withdrawn, oldest first."""
    return session.scalars(
        select(ConsentToShare)
        .where(ConsentToShare.person_id == person_id)
        .order_by(ConsentToShare.given_at, ConsentToShare.id)
    ).all()


def get_consent(session: Session, consent_id: int) -> ConsentToShare:
    consent = session.get(ConsentToShare, consent_id)
    if consent is None:
        raise NotFound("Consent", consent_id)
    return consent
