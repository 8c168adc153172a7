"""Sign-in throttling: failed sign-ins per username and per client address, in the store.

Without it a password could be guessed as fast as argon2 allows (issue 9: 50 wrong passwords
in 13 s, never locked). Each username and each client address has a count of recent
failures in `sign_in_throttle`, shared by every worker of `hoc serve --workers N`:

- the first `free_failures` are answered at once;
- after that the next attempt must wait `delay_seconds`, doubling with each failure; an
  attempt made sooner is refused (429 with Retry-After) *without checking the password*
  and writes nothing, so waiting is the only way on;
- at `lock_failures` the username (or address) is locked for `lock_seconds`; even the right
  password is refused until it ends. A failure is forgotten `lock_seconds` after the last.

An attempt is counted as a failure *before* its password is checked, with a compare-and-set
on the count it saw, so parallel attempts cannot all slip through on the same count. A
successful sign-in then removes the username's count and takes its attempt back off the
address's count (a clinician's success never unlocks an address for an attacker next to
them, and never counts against the address).

Rows are keyed by a keyed digest (HMAC with the app's signing key), never by the text:
what is typed into the username field is often a password.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from houseofcare.api.config import ApiSettings
from houseofcare.store.database import transaction
from houseofcare.store.models import SignInThrottle as ThrottleRow
from houseofcare.store.types import utcnow

table = ThrottleRow.__table__
#: Claims lost to concurrent attempts before this attempt is refused (the safe side).
CLAIM_TRIES = 5
#: Seconds between sweeps of forgotten counts (per worker).
SWEEP_SECONDS = 60.0


def keyed_digest(key: bytes, kind: str, text: str) -> str:
    """Hex HMAC-SHA256 of `text`: links repeats of the same text without keeping it."""
    return hmac.new(key, f"{kind}\0{text}".encode(), hashlib.sha256).hexdigest()


def username_digest(key: bytes, username: str) -> str:
    """What the audit trail keeps of a username that is nobody's: 16 hex digits of its keyed
    digest (the start of its throttle row's key, so the two can be matched)."""
    return keyed_digest(key, "username", username)[:16]


@dataclass(frozen=True)
class Limits:
    """When failures of one username (or one address) start to wait, and lock."""

    free_failures: int
    lock_failures: int
    delay_seconds: float
    lock_seconds: float

    def wait(self, failures: int, last_failure_at: dt.datetime, now: dt.datetime) -> float:
        """Seconds until the next attempt is let through (0: now)."""
        if failures < self.free_failures:
            return 0.0
        if failures >= self.lock_failures:
            pause = self.lock_seconds
        else:
            doublings = failures - self.free_failures
            pause = min(self.delay_seconds * 2.0**doublings, self.lock_seconds)
        return max(0.0, (last_failure_at - now).total_seconds() + pause)

    def remembered(self, last_failure_at: dt.datetime, now: dt.datetime) -> bool:
        """False once the last failure is older than a lock (the count starts again)."""
        return (now - last_failure_at).total_seconds() < self.lock_seconds


class Throttled(Exception):
    """Too many recent failures: refused without checking; retry after `retry_after` s."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many failed sign-ins: try again in {math.ceil(retry_after)} s")
        self.retry_after = max(1, math.ceil(retry_after))


@dataclass(frozen=True)
class Count:
    """One subject's count once this attempt is claimed."""

    scope: str  # "username" or "client"
    subject: str
    failures: int
    #: True when this attempt, if it fails, is the one that locks the subject.
    locks: bool


@dataclass(frozen=True)
class Attempt:
    """A sign-in attempt let through (and already counted as a failure)."""

    username: Count
    client: Count

    @property
    def locking(self) -> list[Count]:
        """The counts this attempt locks if its password is wrong."""
        return [count for count in (self.username, self.client) if count.locks]


class _Raced(Exception):
    """Another attempt changed a count between reading and claiming it."""


class SignInThrottle:
    """Claims and settles sign-in attempts against the counts in `sign_in_throttle`."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        key: bytes,
        *,
        username: Limits,
        client: Limits,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.factory = factory
        self.key = key
        self.limits = {"username": username, "client": client}
        self.clock = clock
        self._swept = 0.0

    @classmethod
    def from_settings(
        cls, factory: sessionmaker[Session], key: bytes, api: ApiSettings
    ) -> SignInThrottle:
        return cls(
            factory,
            key,
            username=Limits(
                api.sign_in_free_failures,
                api.sign_in_lock_failures,
                api.sign_in_delay_seconds,
                api.sign_in_lock_seconds,
            ),
            client=Limits(
                api.client_free_failures,
                api.client_lock_failures,
                api.sign_in_delay_seconds,
                api.sign_in_lock_seconds,
            ),
        )

    def subject(self, scope: str, text: str) -> str:
        """The row key of a username or address: a prefix and 128 bits of keyed digest."""
        return f"{scope[0]}:{keyed_digest(self.key, scope, text)[:32]}"

    def begin(self, username: str, client: str) -> Attempt:
        """Count this attempt as a failure of the username and of the address, or raise
        `Throttled` (having written nothing) if either must wait or is locked."""
        self._sweep()
        subjects = [("username", self.subject("username", username))]
        subjects.append(("client", self.subject("client", client)))
        for _ in range(CLAIM_TRIES):
            try:
                with transaction(self.factory) as session:
                    counts = self._claim(session, subjects, self.clock())
                return Attempt(*counts)
            except (_Raced, IntegrityError):
                time.sleep(0.005)
        raise Throttled(self.limits["username"].delay_seconds)

    def _claim(
        self, session: Session, subjects: list[tuple[str, str]], now: dt.datetime
    ) -> list[Count]:
        seen = []
        waits = [0.0]
        for scope, subject in subjects:
            row = session.execute(
                select(table.c.failures, table.c.last_failure_at).where(table.c.subject == subject)
            ).first()
            limits = self.limits[scope]
            failures = 0 if row is None or not limits.remembered(row[1], now) else row[0]
            if failures:
                waits.append(limits.wait(failures, row[1], now))  # type: ignore[index]
            seen.append((scope, subject, row, failures))
        if max(waits) > 0:
            raise Throttled(max(waits))
        counts = []
        for scope, subject, row, failures in seen:
            if row is None:
                session.execute(
                    insert(table).values(subject=subject, failures=1, last_failure_at=now)
                )
            else:
                claimed = session.execute(
                    update(table)
                    .where(
                        table.c.subject == subject,
                        table.c.failures == row[0],
                        table.c.last_failure_at == row[1],
                    )
                    .values(failures=failures + 1, last_failure_at=now)
                )
                if claimed.rowcount != 1:  # type: ignore[attr-defined]
                    raise _Raced(subject)
            locks = failures + 1 == self.limits[scope].lock_failures
            counts.append(Count(scope, subject, failures + 1, locks))
        return counts

    def succeeded(self, session: Session, attempt: Attempt) -> None:
        """In the sign-in's transaction: forget the username's failures and take this
        attempt back off the address's count."""
        session.execute(delete(table).where(table.c.subject == attempt.username.subject))
        session.execute(
            update(table)
            .where(table.c.subject == attempt.client.subject, table.c.failures > 0)
            .values(failures=table.c.failures - 1)
        )

    def failed(self, session: Session, attempt: Attempt) -> None:
        """In the failure's audit transaction: the waits run from now, when the caller is
        told, not from the claim (the password check takes a good part of a second)."""
        session.execute(
            update(table)
            .where(table.c.subject.in_([attempt.username.subject, attempt.client.subject]))
            .values(last_failure_at=self.clock())
        )

    def unlock(self, username: str) -> int:
        """Forget a username's failures now (an administrator ending a lock-out); how many
        there were (0: none recorded, or a different signing key from the server's)."""
        subject = self.subject("username", username)
        with transaction(self.factory) as session:
            failures = session.scalar(select(table.c.failures).where(table.c.subject == subject))
            session.execute(delete(table).where(table.c.subject == subject))
        return failures or 0

    def _sweep(self) -> None:
        """Delete counts nobody remembers any more (at most once a minute per worker)."""
        if time.monotonic() - self._swept < SWEEP_SECONDS:
            return
        self._swept = time.monotonic()
        longest = max(limits.lock_seconds for limits in self.limits.values())
        cutoff = self.clock() - dt.timedelta(seconds=longest)
        try:
            with transaction(self.factory) as session:
                session.execute(delete(table).where(table.c.last_failure_at < cutoff))
        except OperationalError:
            pass  # busy: the next sweep will do it
