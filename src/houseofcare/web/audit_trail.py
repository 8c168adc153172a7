"""The administrator's audit trail page: who looked at whom, when, and whether it was allowed.

Thin over the audit store: the rows are `store.audit.audit_events` (the query the FHIR
AuditEvent search uses), newest first, paged by the last id seen (keyset, so a busy trail
never shifts a page under the reader). Reading the trail discloses people (each row names
whom an event was about, with their NHS number), so it goes through the one access decision
(`audit.read`, administrators only) and is itself audited: a `search` of the trail for the
page, an `export` for the CSV, with the filters used and how many rows were shown. Filters
travel in the URL, so they hold ids only: the person filter is the operational person id,
never an NHS number.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from houseofcare.api.deps import Services
from houseofcare.careplan.policy import Action
from houseofcare.nhs_number import normalise_nhs_number
from houseofcare.store.audit import audit_events
from houseofcare.store.database import transaction
from houseofcare.store.models import AuditEvent, AuditOutcome, AuditSeal, Person
from houseofcare.web.page import guard
from houseofcare.web.session import PageSession

#: Events per page.
PAGE_SIZE = 50
#: Rows in one CSV export at most: narrow the filters (or use `hoc audit`) for more.
EXPORT_ROWS = 50_000
#: The actions offered in the filter (the trail's own words; see `store.audit`).
ACTIONS = (
    "read",
    "search",
    "create",
    "update",
    "delete",
    "comment",
    "history",
    "vread",
    "export",
    "login",
    "logout",
)
RESOURCE = "AuditEvent"
CSV_COLUMNS = (
    "event_id",
    "occurred_at",
    "username",
    "role",
    "action",
    "resource_type",
    "resource_id",
    "person_id",
    "nhs_number",
    "outcome",
    "via",
)


@dataclass(frozen=True)
class TrailFilter:
    """The filters, checked; `errors` name each field the reader got wrong."""

    username: str | None = None
    person_id: int | None = None
    action: str | None = None
    outcome: AuditOutcome | None = None
    since: dt.date | None = None
    until: dt.date | None = None
    before_id: int | None = None
    errors: tuple[tuple[str, str], ...] = ()

    def query(self) -> dict[str, Any]:
        """The keyword arguments of `audit_events` (the date range as UTC instants)."""
        return {
            "username": self.username,
            "person_id": self.person_id,
            "action": self.action,
            "outcome": self.outcome,
            "since": _midnight(self.since),
            "until": _midnight(self.until + dt.timedelta(days=1)) if self.until else None,
            "before_id": self.before_id,
        }

    def params(self) -> dict[str, str]:
        """The filters as URL parameters (ids and words only; the page links keep them)."""
        pairs = {
            "user": self.username,
            "person": self.person_id,
            "action": self.action,
            "outcome": None if self.outcome is None else self.outcome.value,
            "from": self.since,
            "to": self.until,
        }
        return {k: str(v) for k, v in pairs.items() if v is not None}

    def audited(self) -> dict[str, str]:
        """What the audit event records of the filters used."""
        kept = self.params()
        if self.before_id is not None:
            kept["before"] = str(self.before_id)
        return kept


def _midnight(day: dt.date | None) -> dt.datetime | None:
    return None if day is None else dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def _whole(text: str) -> int | None:
    return int(text) if text.isdigit() and 0 < len(text) <= 12 else None


def parse_filter(params: dict[str, str]) -> TrailFilter:
    """The page's filters from its query string; a value that cannot be used is an error
    naming its field (and is then left out, so the page still shows the trail)."""
    errors: list[tuple[str, str]] = []
    value = {k: (params.get(k) or "").strip() for k in params}

    username = value.get("user") or None
    if username is not None and (len(username) > 64 or not username.isprintable()):
        errors.append(("user", "Enter a username of up to 64 characters"))
        username = None
    person_id = None
    if value.get("person"):
        person_id = _whole(value["person"])
        if person_id is None:
            errors.append(
                ("person", "Enter the person's id (a whole number), not their NHS number or name")
            )
    action = value.get("action") or None
    if action is not None and action not in ACTIONS:
        errors.append(("action", "Choose an action from the list"))
        action = None
    outcome = None
    if value.get("outcome"):
        try:
            outcome = AuditOutcome(value["outcome"])
        except ValueError:
            errors.append(("outcome", "Choose an outcome from the list"))
    days: dict[str, dt.date | None] = {"from": None, "to": None}
    for name, label in (("from", "From"), ("to", "To")):
        if value.get(name):
            try:
                days[name] = dt.date.fromisoformat(value[name])
            except ValueError:
                errors.append((name, f"{label} date must be a real date, like 2026-03-31"))
    if days["from"] and days["to"] and days["from"] > days["to"]:
        errors.append(("to", "To date must be the same as or after the from date"))
        days["to"] = None
    before_id = _whole(value.get("before", "")) if value.get("before") else None
    return TrailFilter(
        username=username,
        person_id=person_id,
        action=action,
        outcome=outcome,
        since=days["from"],
        until=days["to"],
        before_id=before_id,
        errors=tuple(errors),
    )


@dataclass(frozen=True)
class TrailRow:
    event_id: int
    occurred_at: dt.datetime
    username: str | None
    role: str | None
    action: str
    resource_type: str
    resource_id: str | None
    person_id: int | None
    nhs_number: str | None
    outcome: str
    via: str


@dataclass(frozen=True)
class SealStatus:
    """How far the hash chain reaches (cheap: the newest seal only; `hoc audit verify`
    checks every link)."""

    #: The last event the newest seal covers (None: nothing sealed yet).
    sealed_to: int | None
    #: About how many events came after the newest seal.
    unsealed: int


@dataclass
class Trail:
    filters: TrailFilter
    rows: list[TrailRow] = field(default_factory=list)
    #: The id to page on from (None: this is the oldest page).
    older_than: int | None = None
    seal: SealStatus | None = None


def _cell(text: str | None) -> str:
    """A CSV cell a spreadsheet will not run as a formula (usernames tried at sign-in and
    resource ids are whatever was typed)."""
    text = text or ""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _via(event: AuditEvent) -> str:
    """Which way in: the pages and the CLI say so; a command such as `hoc db seed-demo`
    names itself as the source; the API's own events say nothing."""
    detail = event.detail or {}
    via = detail.get("via") or detail.get("source")
    return str(via) if via else "api"


def _rows(session: Session, events: list[AuditEvent]) -> list[TrailRow]:
    """Each event with the NHS number of whom it was about (one lookup for the page)."""
    ids = {e.person_id for e in events if e.person_id is not None}
    numbers: dict[int, str] = (
        dict(session.execute(select(Person.id, Person.nhs_number).where(Person.id.in_(ids))).all())  # type: ignore[arg-type]
        if ids
        else {}
    )
    return [
        TrailRow(
            event_id=e.id,
            occurred_at=e.occurred_at,
            username=e.username,
            role=e.role,
            action=e.action,
            resource_type=e.resource_type,
            resource_id=e.resource_id,
            person_id=e.person_id,
            nhs_number=numbers.get(e.person_id) if e.person_id is not None else None,
            outcome=e.outcome.value,
            via=_via(e),
        )
        for e in events
    ]


def seal_status(session: Session) -> SealStatus:
    """The newest seal and how many events came after it (by id, so about: an id is skipped
    when a transaction that took it was rolled back). Two index lookups, whatever the size
    of the trail."""
    sealed_to = session.scalar(  # the chain's order: first_event_id (unique, so indexed)
        select(AuditSeal.last_event_id).order_by(AuditSeal.first_event_id.desc()).limit(1)
    )
    newest = session.scalar(select(func.max(AuditEvent.id))) or 0
    return SealStatus(sealed_to=sealed_to, unsealed=max(0, newest - (sealed_to or 0)))


def trail(services: Services, signed_in: PageSession, filters: TrailFilter) -> Trail:
    """One page of the trail, newest first; raises `AccessRefused` (audited) for a role
    without `audit.read`. Audited as a `search` of the trail, with the filters used."""
    checker = guard(signed_in, services)
    with transaction(services.factory) as session:
        checker.authorise(
            session, Action.audit_read, None, audit_action="search", resource_type=RESOURCE
        )
        events = list(audit_events(session, limit=PAGE_SIZE + 1, **filters.query()))
        shown = _rows(session, events[:PAGE_SIZE])
        result = Trail(
            filters=filters,
            rows=shown,
            older_than=shown[-1].event_id if len(events) > PAGE_SIZE else None,
            seal=seal_status(session),
        )
        checker.audit(
            session,
            action="search",
            resource_type=RESOURCE,
            detail={
                "filters": filters.audited(),
                "rows": len(shown),
                "people": len({r.person_id for r in shown if r.person_id is not None}),
            },
        )
    return result


def trail_csv(services: Services, signed_in: PageSession, filters: TrailFilter) -> str:
    """The filtered trail as CSV (newest first, at most `EXPORT_ROWS`); audited as an
    `export` of the trail."""
    checker = guard(signed_in, services)
    with transaction(services.factory) as session:
        checker.authorise(
            session, Action.audit_read, None, audit_action="export", resource_type=RESOURCE
        )
        rows = _rows(session, list(audit_events(session, limit=EXPORT_ROWS, **filters.query())))
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow(CSV_COLUMNS)
        for r in rows:
            writer.writerow(
                [
                    r.event_id,
                    r.occurred_at.isoformat(),
                    _cell(r.username),
                    _cell(r.role),
                    _cell(r.action),
                    _cell(r.resource_type),
                    _cell(r.resource_id),
                    "" if r.person_id is None else r.person_id,
                    r.nhs_number or "",
                    r.outcome,
                    r.via,
                ]
            )
        checker.audit(
            session,
            action="export",
            resource_type=RESOURCE,
            detail={"filters": filters.audited(), "rows": len(rows)},
        )
    return text.getvalue()


class PersonNotFound(Exception):
    """The NHS number is valid but nobody in this service has it (the message says so)."""


def find_person(services: Services, signed_in: PageSession, nhs_number: str) -> int:
    """The person id for an NHS number typed into the audit page's lookup form (sent by POST,
    so the number never appears in a URL); the page then filters on the id. Refused
    (`AccessRefused`, audited) for a role without `audit.read`; the lookup is audited as a
    `search` of the trail with the id found, never the number. `InvalidNHSNumber` or
    `PersonNotFound` for a number that cannot be used."""
    checker = guard(signed_in, services)
    number = normalise_nhs_number(nhs_number)
    with transaction(services.factory) as session:
        checker.authorise(
            session, Action.audit_read, None, audit_action="search", resource_type=RESOURCE
        )
        person_id = session.scalar(select(Person.id).where(Person.nhs_number == number))
        checker.audit(
            session,
            action="search",
            resource_type=RESOURCE,
            person_id=person_id,
            detail={"lookup": "nhs number", "found": person_id is not None},
        )
    if person_id is None:
        raise PersonNotFound("No one with this NHS number is known to this service")
    return int(person_id)
