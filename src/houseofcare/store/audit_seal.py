"""Sealing the audit trail: a hash chain over batches of audit events (`audit_seal`).

The append-only triggers stop the application rewriting the trail; they do not stop whoever
owns the tables (or the SQLite file), who can drop or disable them. Sealing makes such a
rewrite *visible*: each seal holds a SHA-256 digest over the previous seal's digest and the
canonical form of every event it covers, so changing, removing or slipping in an event, or
removing a seal, breaks the chain (`audit_verify` finds where).

Events are sealed in batches, after the fact, by one sealer at a time (`hoc serve` runs one
every few seconds, `hoc audit seal` on demand). Nothing is added to the paths that insert
events, including the raw-SQL inserts of `careplan/pg_read.py` and `careplan/pg_update.py`, and
concurrent writers never queue on a shared row.

A seal must never cover an id whose event may still appear, or a late event would look
slipped in. How far is safe differs by database, and is kept in `SETTLED_BOUND`:

- SQLite has one writer at a time and gives a new row the next id at insert, so every
  committed id is final: seal up to the largest committed id.
- PostgreSQL takes an id from the sequence when a row is inserted, and the transaction
  may commit much later, after events with higher ids. The sealer reads the largest
  committed id M, *then* lists the transactions holding a write lock on `audit_event`
  (every INSERT takes it before drawing its id and keeps it until it ends), and waits for
  those to end. Any event with an id below M drew it before M did (the sequence is
  monotonic: its cache must stay 1), so before M committed, so its transaction was already
  holding the lock and is in the list: once the list is empty, no id up to M can appear.
  If the wait runs out (a transaction left open), nothing is sealed this time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, String, Text, cast, insert, select, text, type_coerce
from sqlalchemy.exc import IntegrityError

from houseofcare.store.models import AuditEvent, AuditSeal
from houseofcare.store.types import utcnow

events = AuditEvent.__table__
seals = AuditSeal.__table__

#: The digest a first seal links to.
GENESIS = "0" * 64
#: Events per seal at most (a large backlog becomes several seals).
MAX_EVENTS_PER_SEAL = 5000
#: Hex digits kept of each event's own digest (to name an altered event, not for security).
EVENT_DIGEST_DIGITS = 8
#: PostgreSQL advisory lock key held while a seal is written (one sealer at a time).
SEALER_LOCK = 0x686F_6361_7564_6974  # "hocaudit"

#: The event columns in canonical order. `outcome` is read as text and `detail` as its JSON
#: text, so an event altered to a value the models refuse is still read, and reported.
COLUMNS = (
    events.c.id,
    events.c.occurred_at,
    events.c.user_id,
    events.c.username,
    events.c.role,
    events.c.action,
    events.c.resource_type,
    events.c.resource_id,
    events.c.person_id,
    type_coerce(events.c.outcome, String),
    cast(events.c.detail, Text),
)


def canonical_event(values: Sequence[Any]) -> str:
    """One event as the text that is hashed: identical on SQLite and PostgreSQL.

    A JSON array of the columns in `COLUMNS` order; the timestamp in UTC to the microsecond
    (`2026-03-01T09:30:05.000120Z`); `detail` parsed and written with sorted keys and no
    spaces, so neither database's JSON spelling matters.
    """
    row = list(values)
    if isinstance(row[1], dt.datetime):
        row[1] = row[1].astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    row[9] = getattr(row[9], "value", row[9])
    row[10] = _json(row[10])
    return json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _json(raw: Any) -> Any:
    if raw is None or not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return {"unreadable JSON": raw}


def event_lines(
    connection: Connection, first: int, last: int, limit: int | None = None
) -> Iterator[tuple[int, str]]:
    """(id, canonical form) of the events with ids first..last, in id order."""
    query = select(*COLUMNS).where(events.c.id.between(first, last)).order_by(events.c.id)
    if limit is not None:
        query = query.limit(limit)
    for row in connection.execute(query):
        yield row[0], canonical_event(row)


def event_digest(line: str) -> str:
    """The short digest of one event's canonical form (names it when it changes)."""
    return hashlib.sha256(line.encode()).hexdigest()[:EVENT_DIGEST_DIGITS]


def seal_digest(previous: str, first: int, last: int, event_ids: str, lines: Iterable[str]) -> str:
    """The seal's digest: over the previous seal's, the range, the ids and every event."""
    count = 0
    body = hashlib.sha256()
    for line in lines:
        body.update(line.encode())
        body.update(b"\n")
        count += 1
    head = f"houseofcare audit seal v1\n{previous}\n{first}-{last}\n{count}\n{event_ids}\n"
    return hashlib.sha256(head.encode() + body.digest()).hexdigest()


def compress_ids(ids: Sequence[int]) -> str:
    """Ascending ids as ranges: [1, 2, 3, 5] → "1-3,5"."""
    parts: list[str] = []
    start = previous = None
    for value in ids:
        if previous is not None and value == previous + 1:
            previous = value
            continue
        if start is not None:
            parts.append(f"{start}" if start == previous else f"{start}-{previous}")
        start = previous = value
    if start is not None:
        parts.append(f"{start}" if start == previous else f"{start}-{previous}")
    return ",".join(parts)


def expand_ids(ranges: str) -> list[int]:
    """The inverse of `compress_ids`."""
    ids: list[int] = []
    for part in filter(None, ranges.split(",")):
        low, _, high = part.partition("-")
        ids.extend(range(int(low), int(high or low) + 1))
    return ids


# --- How far it is safe to seal, per database ---------------------------------------------

_WRITERS = text(
    """
    SELECT DISTINCT l.virtualtransaction FROM pg_locks l
    WHERE l.locktype = 'relation' AND l.relation = 'audit_event'::regclass
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND l.mode <> 'AccessShareLock' AND l.pid IS DISTINCT FROM pg_backend_pid()
    """
)
_SEQUENCE_CACHE = text(
    "SELECT seqcache FROM pg_sequence "
    "WHERE seqrelid = pg_get_serial_sequence('audit_event', 'id')::regclass"
)
_MAX_ID = select(events.c.id).order_by(events.c.id.desc()).limit(1)


def _committed_bound(engine: Engine, wait_seconds: float) -> int | None:
    """SQLite: one writer at a time, ids given at insert: every committed id is final."""
    with engine.connect() as connection:
        return connection.scalar(_MAX_ID) or 0


def _settled_bound(engine: Engine, wait_seconds: float) -> int | None:
    """PostgreSQL: the largest committed id, once every transaction that was writing audit
    events when it was read has ended (None if that takes longer than `wait_seconds`)."""
    deadline = time.monotonic() + wait_seconds
    with engine.connect() as connection:
        cache = connection.scalar(_SEQUENCE_CACHE)
        if cache is not None and cache != 1:
            raise RuntimeError(
                f"audit_event's id sequence caches {cache} values: ids would not be taken in "
                "order, and sealing could not be proved safe; ALTER SEQUENCE … CACHE 1"
            )
        bound = connection.scalar(_MAX_ID) or 0  # first the id, then the writers: see above
        writers = set(connection.scalars(_WRITERS).all())
        connection.rollback()
        while writers:
            if time.monotonic() > deadline:
                return None
            time.sleep(0.005)
            writers &= set(connection.scalars(_WRITERS).all())
            connection.rollback()
    return bound


def _always(connection: Connection) -> bool:
    return True


def _advisory_lock(connection: Connection) -> bool:
    return bool(
        connection.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": SEALER_LOCK})
    )


#: dialect → how far events may be sealed (the largest id that can no longer appear).
SETTLED_BOUND: dict[str, Callable[[Engine, float], int | None]] = {
    "sqlite": _committed_bound,
    "postgresql": _settled_bound,
}
#: dialect → take the right to write the next seal, or False if another sealer has it (the
#: unique `first_event_id` is what keeps the chain single; this only saves repeated work).
SEALER_TURN: dict[str, Callable[[Connection], bool]] = {
    "sqlite": _always,
    "postgresql": _advisory_lock,
}


# --- Sealing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SealResult:
    """What one sealing pass did."""

    seals: int
    events: int
    #: False when PostgreSQL transactions still writing events outlasted the wait.
    settled: bool = True


def seal(
    engine: Engine, *, wait_seconds: float = 2.0, max_events: int = MAX_EVENTS_PER_SEAL
) -> SealResult:
    """Seal every event that can no longer change, in batches of at most `max_events`.

    Safe to run from several processes at once: a seal that lost the race is rolled back.
    """
    dialect = engine.dialect.name
    if dialect not in SETTLED_BOUND:
        raise RuntimeError(f"no audit sealing for {dialect}")
    bound = SETTLED_BOUND[dialect](engine, wait_seconds)
    if bound is None:
        return SealResult(0, 0, settled=False)
    made = sealed = 0
    while True:
        try:
            count = _seal_one(engine, bound, max_events)
        except IntegrityError:
            break  # another sealer wrote this seal first
        if not count:
            break
        made, sealed = made + 1, sealed + count
    return SealResult(made, sealed)


def _seal_one(engine: Engine, bound: int, max_events: int) -> int:
    """Write the next seal (events after the last seal, up to `bound`); how many it covers."""
    with engine.begin() as connection:
        if not SEALER_TURN[engine.dialect.name](connection):
            return 0
        head = connection.execute(
            select(seals.c.last_event_id, seals.c.digest)
            .order_by(seals.c.first_event_id.desc())
            .limit(1)
        ).first()
        first, previous = (1, GENESIS) if head is None else (head[0] + 1, head[1])
        if first > bound:
            return 0
        rows = list(event_lines(connection, first, bound, limit=max_events))
        if not rows:
            return 0
        ids = [event_id for event_id, _ in rows]
        event_ids = compress_ids(ids)
        lines = [line for _, line in rows]
        connection.execute(
            insert(seals).values(
                first_event_id=first,
                last_event_id=ids[-1],
                event_count=len(ids),
                event_ids=event_ids,
                event_digests="".join(event_digest(line) for line in lines),
                previous_digest=previous,
                digest=seal_digest(previous, first, ids[-1], event_ids, lines),
                sealed_at=utcnow(),
            )
        )
        return len(ids)
