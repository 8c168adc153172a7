"""Proxy access: a carer the person lets see and use their record as they do (issue 12).

The person gives a carer proxy access by the carer's username and withdraws it when they
choose; giving it again is a new row, so the history stays (like consent to share). A carer
is someone with a sign-in of their own as a person (role `patient`), as NHS App proxy access
works: the access policy grants the relationship `proxy` to that role only, so any other
account would gain nothing and is refused here. The access decision reads live grants as the
relationship `proxy` (`careplan/access.py`); nothing else here decides access.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from houseofcare.careplan.actor import Actor
from houseofcare.careplan.errors import InvalidChange, NotFound
from houseofcare.careplan.people import get_person
from houseofcare.store.models import Person, ProxyGrant, Role, User
from houseofcare.store.types import utcnow

#: What the person is told when a username cannot be their carer: the same words whether the
#: account does not exist, is not a person's own sign-in or is closed, so the form never
#: tells anyone which usernames exist or what they are.
NOT_A_CARER = (
    "Nobody with that username can be given access. Check the username with your carer: "
    "they need their own sign-in to this service as a person."
)


@dataclass(frozen=True)
class Proxy:
    """A live grant as the person's page lists it."""

    grant_id: int
    username: str
    display_name: str
    granted_at: object


@dataclass(frozen=True)
class CaredFor:
    """Someone who gave the signed-in carer proxy access."""

    person_id: int
    given_name: str | None
    family_name: str | None


def give_proxy(session: Session, person_id: int, username: str, actor: Actor) -> ProxyGrant:
    """Give the user called `username` proxy access to the person's record (a live grant for
    the same carer is kept, not doubled)."""
    get_person(session, person_id)
    name = (username or "").strip()
    if not name:
        raise InvalidChange("username", "Enter your carer's username")
    carer = session.scalar(select(User).where(User.username == name))
    if (
        carer is None
        or not carer.is_active
        or carer.role is not Role.patient
        or carer.person_id == person_id
    ):
        raise InvalidChange("username", NOT_A_CARER)
    current = session.scalar(
        select(ProxyGrant).where(
            ProxyGrant.person_id == person_id,
            ProxyGrant.proxy_user_id == carer.id,
            ProxyGrant.withdrawn_at.is_(None),
        )
    )
    if current is not None:
        return current
    grant = ProxyGrant(
        person_id=person_id,
        proxy_user_id=carer.id,
        granted_at=utcnow(),
        granted_by_id=actor.user_id,
    )
    session.add(grant)
    session.flush()
    return grant


def withdraw_proxy(session: Session, person_id: int, grant_id: int, actor: Actor) -> ProxyGrant:
    """Withdraw one of the person's grants (another person's grant is `NotFound`: a person
    can only ever withdraw their own)."""
    grant = session.get(ProxyGrant, grant_id)
    if grant is None or grant.person_id != person_id:
        raise NotFound("ProxyGrant", grant_id)
    if grant.withdrawn_at is None:
        grant.withdrawn_at = utcnow()
        grant.withdrawn_by_id = actor.user_id
        session.flush()
    return grant


def proxies_of(session: Session, person_id: int) -> Sequence[Proxy]:
    """The person's live grants, oldest first."""
    rows = session.execute(
        select(ProxyGrant.id, User.username, User.display_name, ProxyGrant.granted_at)
        .join(User, User.id == ProxyGrant.proxy_user_id)
        .where(ProxyGrant.person_id == person_id, ProxyGrant.withdrawn_at.is_(None))
        .order_by(ProxyGrant.id)
    ).all()
    return [Proxy(*row) for row in rows]


def cared_for_by(session: Session, user_id: int) -> Sequence[CaredFor]:
    """The people who gave this user proxy access and have not withdrawn it."""
    rows = session.execute(
        select(Person.id, Person.given_name, Person.family_name)
        .join(ProxyGrant, ProxyGrant.person_id == Person.id)
        .where(ProxyGrant.proxy_user_id == user_id, ProxyGrant.withdrawn_at.is_(None))
        .order_by(Person.id)
    ).all()
    return [CaredFor(*row) for row in rows]
