"""Checking the audit trail's hash chain: the first broken link, and exactly what broke.

Every seal is checked in chain order (`first_event_id`): it must link to the previous
seal's digest and start where that one ended; the events now in its range must be exactly
the ones it sealed (an id gone was removed, an id not listed was slipped in), each with the
same short digest (else it was altered); and its own digest must come out the same (else the
seal row itself was changed). The first problem is reported with the seal, its event range
and the event concerned. Events after the last seal are counted (not yet sealed).

A chain rewritten from some point to its end by someone who can write every table is
consistent in itself; a head recorded elsewhere (`expect_head`, printed by `hoc audit
verify`) shows it. Events not yet sealed can be changed unseen: sealing every few seconds
keeps that window short.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from houseofcare.store.audit_seal import (
    EVENT_DIGEST_DIGITS,
    GENESIS,
    event_digest,
    event_lines,
    events,
    expand_ids,
    seal_digest,
    seals,
)


@dataclass(frozen=True)
class Break:
    """The first place the chain does not hold."""

    seal_id: int
    first_event_id: int
    last_event_id: int
    #: What differs, in words ("event 42 was altered").
    what: str
    #: The event concerned, when it is one event.
    event_id: int | None = None


@dataclass(frozen=True)
class Verification:
    seals: int
    sealed_events: int
    unsealed_events: int
    #: The newest seal (id, digest): record it elsewhere to catch a rewritten chain later.
    head: tuple[int, str] | None
    broken: Break | None

    @property
    def ok(self) -> bool:
        return self.broken is None


def verify(engine: Engine, *, expect_head: tuple[int, str] | None = None) -> Verification:
    """Check every seal; stop at the first break. `expect_head` is a head recorded earlier."""
    previous_id, previous = 0, GENESIS
    expected_first = 1
    count = sealed = 0
    head_seen = False
    with engine.connect() as connection:
        chain = connection.execute(select(seals).order_by(seals.c.first_event_id))
        for seal in chain.mappings().all():
            count += 1
            broken = _check(connection, seal, previous_id, previous, expected_first)
            if broken is not None:
                return Verification(count - 1, sealed, 0, None, broken)
            if expect_head is not None and seal["id"] == expect_head[0]:
                head_seen = seal["digest"] == expect_head[1]
            sealed += seal["event_count"]
            previous_id, previous = seal["id"], seal["digest"]
            expected_first = seal["last_event_id"] + 1
        unsealed = connection.scalar(
            select(func.count()).select_from(events).where(events.c.id >= expected_first)
        )
    head = (previous_id, previous) if count else None
    broken = None
    if expect_head is not None and not head_seen:
        broken = Break(
            expect_head[0],
            0,
            0,
            f"the recorded head seal {expect_head[0]} ({expect_head[1][:12]}…) is no longer "
            "in the chain: the newest seals and events were removed or rewritten",
        )
    return Verification(count, sealed, unsealed or 0, head, broken)


def _check(
    connection: Connection, seal: Any, previous_id: int, previous: str, expected_first: int
) -> Break | None:
    first, last = seal["first_event_id"], seal["last_event_id"]

    def broken(what: str, event_id: int | None = None) -> Break:
        return Break(seal["id"], first, last, what, event_id)

    if seal["previous_digest"] != previous:
        where = f"seal {previous_id}" if previous_id else "the start of the chain"
        return broken(
            f"the link to the previous seal is broken: it names {seal['previous_digest'][:12]}…,"
            f" {where} is {previous[:12]}… (a seal was removed, altered or slipped in)"
        )
    if first != expected_first:
        return broken(
            f"it starts at event {first}, but the previous seal ended at event "
            f"{expected_first - 1} (a seal was removed)"
        )
    sealed_ids = expand_ids(seal["event_ids"])
    digests = seal["event_digests"]
    if len(sealed_ids) != seal["event_count"] or len(digests) != len(sealed_ids) * (
        EVENT_DIGEST_DIGITS
    ):
        return broken("the seal's own fields were altered (its counts do not agree)")
    try:
        present = list(event_lines(connection, first, last))
    except (SQLAlchemyError, ValueError, TypeError) as exc:
        return broken(f"its events cannot be read any more ({type(exc).__name__}: {exc})")
    expected = {
        event_id: digests[i * EVENT_DIGEST_DIGITS : (i + 1) * EVENT_DIGEST_DIGITS]
        for i, event_id in enumerate(sealed_ids)
    }
    now = {event_id: line for event_id, line in present}
    for event_id in sorted(expected.keys() | now.keys()):
        if event_id not in now:
            return broken(f"event {event_id} was removed", event_id)
        if event_id not in expected:
            return broken(f"event {event_id} is not in the seal: it was slipped in", event_id)
        if event_digest(now[event_id]) != expected[event_id]:
            return broken(f"event {event_id} was altered", event_id)
    digest = seal_digest(previous, first, last, seal["event_ids"], (line for _, line in present))
    if digest != seal["digest"]:
        return broken("the seal's own fields were altered (its digest does not match)")
    return None
