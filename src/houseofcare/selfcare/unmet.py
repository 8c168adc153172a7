"""Unmet need: every need that found no service, with its reason, for the commissioning plan.

Recorded when a search for a person's need finds no suitable service, when a referral is
refused because the service is full, and when a service declines a referral. Issue 14 adds
these up by locality and need (through commissioning/, disclosure-controlled); here they are
only written, in the caller's transaction, so a refused request writes none.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from houseofcare.careplan.actor import Actor
from houseofcare.store.models import UnmetNeed, UnmetNeedReason


def record_unmet_need(
    session: Session,
    actor: Actor,
    reason: UnmetNeedReason,
    *,
    person_id: int | None = None,
    need_domain: str | None = None,
    locality: str | None = None,
    service_id: int | None = None,
    referral_id: int | None = None,
    detail: str | None = None,
) -> UnmetNeed:
    """Add one unmet-need row (flushed, not committed)."""
    row = UnmetNeed(
        person_id=person_id,
        need_domain=need_domain,
        locality=locality,
        service_id=service_id,
        referral_id=referral_id,
        reason=reason,
        detail=detail,
        recorded_by_id=actor.user_id,
    )
    session.add(row)
    session.flush()
    return row
