"""Bearer tokens and page sessions: issued at login, stored hashed, with an expiry.

Each credential is a row of `api_credential`: the SHA-256 digest of the opaque token (never
the token), the user, whether it is an API bearer token or a page session, and when it
expires or was revoked. Signing out revokes the row, so a stolen token stops working at once.

The table holds nothing clinical; it is made by the store's migrations (revision 0002) like
every other table, so the app never creates tables at start-up.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from houseofcare.api.tokens import new_token, token_digest
from houseofcare.store.models import ApiCredential, Organisation, User
from houseofcare.store.types import utcnow

#: The store's `api_credential` table (made by migration 0002).
credential_table = ApiCredential.__table__


class CredentialKind(StrEnum):
    bearer = "bearer"
    session = "session"
    #: A personal access token for the `hoc` command, made by the user with `hoc token create`.
    personal = "personal"


@dataclass(frozen=True)
class SignedIn:
    """Who a valid credential belongs to, with what the access rules need about them."""

    user_id: int
    username: str
    display_name: str
    role: str
    organisation_id: int | None
    organisation_type: str | None
    person_id: int | None
    expires_at: dt.datetime


def issue(
    session: Session, *, user_id: int, kind: CredentialKind, lifetime: dt.timedelta
) -> tuple[str, dt.datetime]:
    """A new token for the user (returned once, to hand to the client) and its expiry."""
    token = new_token()
    now = utcnow()
    expires = now + lifetime
    session.execute(
        insert(credential_table).values(
            token_digest=token_digest(token),
            user_id=user_id,
            kind=kind.value,
            issued_at=now,
            expires_at=expires,
        )
    )
    return token, expires


def resolve(session: Session, token: str, kind: CredentialKind) -> SignedIn | None:
    """The signed-in user for a token, or None if it is unknown, expired, revoked or the
    user has been deactivated."""
    row = session.execute(
        select(
            User.id,
            User.username,
            User.display_name,
            User.role,
            User.organisation_id,
            Organisation.type,
            User.person_id,
            credential_table.c.expires_at,
        )
        .join(credential_table, credential_table.c.user_id == User.id)
        .outerjoin(Organisation, Organisation.id == User.organisation_id)
        .where(
            credential_table.c.token_digest == token_digest(token),
            credential_table.c.kind == kind.value,
            credential_table.c.revoked_at.is_(None),
            credential_table.c.expires_at > utcnow(),
            User.is_active.is_(True),
        )
    ).first()
    if row is None:
        return None
    return SignedIn(
        user_id=row[0],
        username=row[1],
        display_name=row[2],
        role=str(row[3].value if hasattr(row[3], "value") else row[3]),
        organisation_id=row[4],
        organisation_type=None if row[5] is None else str(getattr(row[5], "value", row[5])),
        person_id=row[6],
        expires_at=row[7],
    )


class CredentialCache:
    """Recently checked tokens, per worker process, for at most `seconds`.

    Checking a token costs a database round trip on every request; remembering the answer
    for a few seconds removes it from the hot path. The price is bounded and documented:
    a token revoked (or a user deactivated) through another worker keeps working for at most
    `seconds`; revoking through this worker takes effect at once. Expiry is always checked.
    """

    def __init__(self, seconds: float = 5.0, size: int = 10_000) -> None:
        self.seconds = seconds
        self.size = size
        self._entries: dict[tuple[str, str], tuple[float, SignedIn]] = {}

    def get(self, token: str, kind: CredentialKind) -> SignedIn | None:
        key = (token_digest(token), kind.value)
        entry = self._entries.get(key)
        if entry is None:
            return None
        checked_at, user = entry
        if time.monotonic() - checked_at > self.seconds or user.expires_at <= utcnow():
            self._entries.pop(key, None)
            return None
        return user

    def put(self, token: str, kind: CredentialKind, user: SignedIn) -> None:
        if len(self._entries) >= self.size:
            self._entries.clear()
        self._entries[(token_digest(token), kind.value)] = (time.monotonic(), user)

    def forget(self, token: str) -> None:
        digest = token_digest(token)
        for key in [k for k in self._entries if k[0] == digest]:
            self._entries.pop(key, None)


def revoke(session: Session, token: str) -> bool:
    """Revoke a token; True if it was live."""
    result = session.execute(
        update(credential_table)
        .where(
            credential_table.c.token_digest == token_digest(token),
            credential_table.c.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
