"""The directory of services: find one, search them, and write imported records in.

Services are not patient data: reading them needs no access decision and leaves no audit
event (anyone signed in may browse the directory; `/oruk/` serves it openly). Writing them is
an import: `upsert_services` matches records on their ORUK id, so importing the same feed twice
changes nothing and a changed record updates its row; when a user is known, the import is
audited (who, when, how many) like any other change to the store.

Matching and referrals read services through `get_service`, `search_services` and
`all_active_services` only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

from sqlalchemy import String, cast, func, insert, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from houseofcare.careplan.actor import Actor
from houseofcare.store.audit import record_audit
from houseofcare.store.models import (
    NeedDomain,
    Service,
    ServiceAccess,
    ServiceKind,
    ServiceStatus,
)
from houseofcare.store.types import utcnow

#: Services on one page of a search (the pages and the default of `/oruk/services`).
PAGE_SIZE = 25
#: The most a caller may ask for on one page.
MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class ServiceRecord:
    """One service as an import reads it: the `Service` columns, before they are stored.

    `organisation_id` (the receiving organisation in this store) is not in a feed: None
    leaves whatever the row has, so re-importing a feed keeps a link made locally.
    """

    oruk_id: str
    name: str
    organisation_name: str
    status: ServiceStatus = ServiceStatus.active
    kind: ServiceKind = ServiceKind.community
    access: ServiceAccess = ServiceAccess.referral
    description: str | None = None
    needs: tuple[str, ...] = ()
    conditions: tuple[str, ...] = ()
    taxonomy: tuple[tuple[str, str, str | None], ...] = ()
    locality: str | None = None
    address: str | None = None
    postcode: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    eligibility: str | None = None
    minimum_age: int | None = None
    maximum_age: int | None = None
    capacity_per_month: int | None = None
    cost: str | None = None
    accessibility: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    email: str | None = None
    phone: str | None = None
    url: str | None = None
    opening_times: str | None = None
    document: dict[str, Any] | None = field(default=None, compare=False)
    last_modified: dt.datetime | None = None
    organisation_id: int | None = None
    #: A record from a flat file (CSV) that cannot carry the ORUK document or other
    #: vocabularies' classifications: a stored row keeps its own.
    partial: bool = field(default=False, compare=False)

    def columns(self) -> dict[str, Any]:
        """The values as the `Service` columns hold them (lists, not tuples)."""
        values: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "partial" or (self.partial and f.name in ("document", "taxonomy")):
                continue
            value = getattr(self, f.name)
            if f.name == "taxonomy":
                value = [{"taxonomy": t, "term": term, "uri": uri} for t, term, uri in value]
            elif isinstance(value, tuple):
                value = list(value)
            values[f.name] = value
        if self.organisation_id is None:
            del values["organisation_id"]
        return values


def record_of(service: Service) -> ServiceRecord:
    """A stored service as a record (for export, and to tell an unchanged re-import)."""
    return ServiceRecord(
        oruk_id=service.oruk_id,
        name=service.name,
        organisation_name=service.organisation_name,
        status=ServiceStatus(service.status),
        kind=ServiceKind(service.kind),
        access=ServiceAccess(service.access),
        description=service.description,
        needs=tuple(service.needs or ()),
        conditions=tuple(service.conditions or ()),
        taxonomy=tuple(
            (str(t.get("taxonomy", "")), str(t.get("term", "")), t.get("uri"))
            for t in service.taxonomy or ()
        ),
        locality=service.locality,
        address=service.address,
        postcode=service.postcode,
        latitude=service.latitude,
        longitude=service.longitude,
        eligibility=service.eligibility,
        minimum_age=service.minimum_age,
        maximum_age=service.maximum_age,
        capacity_per_month=service.capacity_per_month,
        cost=service.cost,
        accessibility=tuple(service.accessibility or ()),
        languages=tuple(service.languages or ()),
        email=service.email,
        phone=service.phone,
        url=service.url,
        opening_times=service.opening_times,
        document=service.document,
        last_modified=_aware(service.last_modified),
        organisation_id=service.organisation_id,
    )


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class ServiceQuery:
    """A directory search: free text and filters, all optional; active services only unless
    `include_inactive` (a closed service must not be suggested as if it were open)."""

    text: str | None = None
    #: A NeedDomain value.
    need: str | None = None
    #: A register id (e.g. "COPD"): services for that condition and services for any.
    condition: str | None = None
    locality: str | None = None
    kind: ServiceKind | None = None
    #: `self_referral`: services a person can go to themselves (self-referral or both).
    access: ServiceAccess | None = None
    include_inactive: bool = False
    modified_after: dt.datetime | None = None
    #: Any ORUK taxonomy term's id: services whose kept ORUK record carries it.
    taxonomy_term_id: str | None = None
    page: int = 1
    per_page: int = PAGE_SIZE


@dataclass(frozen=True)
class ServicePage:
    """One page of a search, in name order."""

    services: list[Service]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max((self.total + self.per_page - 1) // self.per_page, 1)


def get_service(session: Session, service_id: int) -> Service | None:
    """One service by its id in this store."""
    return session.get(Service, service_id)


def get_service_by_oruk_id(session: Session, oruk_id: str) -> Service | None:
    """One service by its ORUK id (as in a feed and in `/oruk/services/{id}`)."""
    return session.scalar(select(Service).where(Service.oruk_id == oruk_id))


def _json_has(column: Any, value: str) -> ColumnElement[bool]:
    """A JSON list of strings holds `value` (the quoted value in its text, on both engines:
    values are codes without quotes)."""
    return cast(column, String).like(f'%"{value}"%')


def service_filters(query: ServiceQuery) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if not query.include_inactive:
        where.append(Service.status == ServiceStatus.active)
    if query.text and query.text.strip():
        for word in query.text.split():
            pattern = f"%{word.replace('%', '').replace('_', '')}%"
            where.append(
                or_(
                    Service.name.ilike(pattern),
                    Service.description.ilike(pattern),
                    Service.organisation_name.ilike(pattern),
                )
            )
    if query.need:
        where.append(_json_has(Service.needs, query.need))
    if query.condition:
        where.append(
            or_(
                _json_has(Service.conditions, query.condition),
                cast(Service.conditions, String).in_(["[]", "null"]),
            )
        )
    if query.locality:
        where.append(func.lower(Service.locality) == query.locality.lower())
    if query.kind is not None:
        where.append(Service.kind == query.kind)
    if query.access is ServiceAccess.self_referral:
        where.append(Service.access.in_([ServiceAccess.self_referral, ServiceAccess.both]))
    elif query.access is not None:
        where.append(Service.access.in_([query.access, ServiceAccess.both]))
    if query.modified_after is not None:
        where.append(Service.updated_at > query.modified_after)
    if query.taxonomy_term_id:
        term = query.taxonomy_term_id
        for quoted in ('"', "\\", "%", "_"):
            term = term.replace(quoted, "" if quoted == '"' else "\\" + quoted)
        where.append(cast(Service.document, String).like(f'%"{term}"%', escape="\\"))
    return where


def search_services(session: Session, query: ServiceQuery) -> ServicePage:
    """The services matching `query`, one page of them in name order, and how many in all."""
    per_page = min(max(query.per_page, 1), MAX_PAGE_SIZE)
    page = max(query.page, 1)
    where = service_filters(query)
    total = session.scalar(select(func.count()).select_from(Service).where(*where)) or 0
    rows = session.scalars(
        select(Service)
        .where(*where)
        .order_by(Service.name, Service.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return ServicePage(list(rows), int(total), page, per_page)


def all_active_services(session: Session) -> list[Service]:
    """Every active service (what matching ranks), in id order."""
    return list(
        session.scalars(
            select(Service).where(Service.status == ServiceStatus.active).order_by(Service.id)
        ).all()
    )


def localities(session: Session) -> list[str]:
    """The localities services are in (the search form's choices)."""
    rows = session.scalars(
        select(Service.locality).where(Service.locality.is_not(None)).distinct()
    ).all()
    return sorted({r for r in rows if r})


@dataclass
class UpsertCounts:
    """What an import did to the directory."""

    imported: int = 0
    updated: int = 0
    unchanged: int = 0

    def add(self, other: UpsertCounts) -> None:
        self.imported += other.imported
        self.updated += other.updated
        self.unchanged += other.unchanged


_CHUNK = 500


def upsert_services(
    session: Session, records: Sequence[ServiceRecord], actor: Actor | None = None
) -> UpsertCounts:
    """Insert new services and update changed ones, matched on `oruk_id` (flushed, not
    committed: the caller's transaction holds the whole file). A record equal to its row
    (the document aside, whose key order may differ) leaves the row as it is.
    """
    counts = UpsertCounts()
    now = utcnow()
    # one row per id: a caller's list with an id twice keeps its last record
    records = list({r.oruk_id: r for r in records}.values())
    new_rows: list[dict[str, Any]] = []
    for start in range(0, len(records), _CHUNK):
        chunk = records[start : start + _CHUNK]
        existing = {
            s.oruk_id: s
            for s in session.scalars(
                select(Service).where(Service.oruk_id.in_([r.oruk_id for r in chunk]))
            ).all()
        }
        for record in chunk:
            row = existing.get(record.oruk_id)
            if row is None:
                new_rows.append({**record.columns(), "created_at": now, "updated_at": now})
                counts.imported += 1
            elif _same(record_of(row), record) and (
                record.partial or row.document == record.document
            ):
                counts.unchanged += 1
            else:
                for name, value in record.columns().items():
                    setattr(row, name, value)
                row.updated_at = now
                counts.updated += 1
    if new_rows:
        session.execute(insert(Service), new_rows)
    session.flush()
    if actor is not None:
        record_import(session, actor, counts)
    return counts


def record_import(
    session: Session, actor: Actor, counts: UpsertCounts, source: str | None = None
) -> None:
    """Audit an import by a known user (who, when, how many); nothing for the system or an
    import that changed nothing."""
    if actor.user_id is None or not (counts.imported or counts.updated):
        return
    detail: dict[str, Any] = {"imported": counts.imported, "updated": counts.updated}
    if source:
        detail["source"] = source
    record_audit(
        session,
        action="import",
        resource_type="Service",
        user_id=actor.user_id,
        username=actor.username,
        role=actor.role,
        detail=detail,
    )


def _same(stored: ServiceRecord, record: ServiceRecord) -> bool:
    """Equal in every column the record sets (a kept local organisation link aside)."""
    if record.organisation_id is None:
        stored = replace(stored, organisation_id=None)
    if record.partial:
        stored = replace(stored, taxonomy=record.taxonomy)
    return stored == record


def link_organisation(session: Session, oruk_ids: Iterable[str], organisation_id: int) -> int:
    """Make an organisation of this store the receiver of these services (its users see the
    referrals to them); how many services were linked."""
    rows = session.scalars(select(Service).where(Service.oruk_id.in_(list(oruk_ids)))).all()
    for row in rows:
        row.organisation_id = organisation_id
    session.flush()
    return len(rows)


def need_words(need: str) -> str:
    """A need domain in words for the pages ("social_loneliness" → "Loneliness")."""
    return NEED_WORDS.get(need, need.replace("_", " ").capitalize())


NEED_WORDS: dict[str, str] = {
    NeedDomain.physical_health: "Physical health",
    NeedDomain.mental_health: "Mental health and wellbeing",
    NeedDomain.self_management: "Managing my condition",
    NeedDomain.social_housing: "Housing",
    NeedDomain.social_finance: "Money and benefits",
    NeedDomain.social_loneliness: "Loneliness and isolation",
    NeedDomain.social_carer: "Support for carers",
    NeedDomain.mobility: "Getting about and falls",
    NeedDomain.medicines: "Medicines",
}

KIND_WORDS: dict[str, str] = {
    ServiceKind.statutory: "NHS or council service",
    ServiceKind.voluntary: "Voluntary organisation",
    ServiceKind.community: "Community group",
    ServiceKind.self_help: "Self-help group",
    ServiceKind.education: "Structured education",
    ServiceKind.rehabilitation: "Rehabilitation",
}

ACCESS_WORDS: dict[str, str] = {
    ServiceAccess.self_referral: "You can refer yourself",
    ServiceAccess.referral: "Needs a referral",
    ServiceAccess.both: "Refer yourself or be referred",
}
