"""How many more referrals a service can accept this month: a full service is shown as full.

A service's `capacity_per_month` counts the referrals it accepts in a calendar month (UTC);
a referral counts against the month it was accepted in, whatever happens to it afterwards,
since the place was taken. `None` means the service sets no limit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from houseofcare.store.models import Referral, Service
from houseofcare.store.types import utcnow


@dataclass(frozen=True)
class Capacity:
    """A service's places this month: `left` is None when it sets no limit."""

    service_id: int
    per_month: int | None
    taken: int

    @property
    def left(self) -> int | None:
        return None if self.per_month is None else max(self.per_month - self.taken, 0)

    @property
    def full(self) -> bool:
        return self.left == 0


def month_start(now: dt.datetime | None = None) -> dt.datetime:
    """The first instant of `now`'s calendar month, UTC."""
    now = (now or utcnow()).astimezone(dt.UTC)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _next_month(start: dt.datetime) -> dt.datetime:
    return (start + dt.timedelta(days=32)).replace(day=1)


def capacities(
    session: Session, service_ids: Iterable[int], now: dt.datetime | None = None
) -> dict[int, Capacity]:
    """Each service's capacity this month, in one query for the accepted counts."""
    ids = sorted(set(service_ids))
    if not ids:
        return {}
    start = month_start(now)
    taken = dict(
        session.execute(
            select(Referral.service_id, func.count())
            .where(
                Referral.service_id.in_(ids),
                Referral.accepted_at >= start,
                Referral.accepted_at < _next_month(start),
            )
            .group_by(Referral.service_id)
        ).all()
    )
    limits = dict(
        session.execute(
            select(Service.id, Service.capacity_per_month).where(Service.id.in_(ids))
        ).all()
    )
    return {sid: Capacity(sid, limits[sid], int(taken.get(sid, 0))) for sid in ids if sid in limits}


def capacity(session: Session, service_id: int, now: dt.datetime | None = None) -> Capacity:
    """One service's capacity this month (KeyError for an unknown service)."""
    return capacities(session, [service_id], now)[service_id]
