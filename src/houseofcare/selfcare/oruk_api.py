"""The directory served read-only in the shape of the ORUK 3.0 API (`/oruk/`).

So that other local tools (a council's directory, a social prescribing platform) can read it
with the ORUK client they already have. Every answer validates against the shipped ORUK
schemas (the tests check it). The directory holds no patient data, so the API is open like a
public ORUK feed: no sign-in, no audit of reads (`api/route_access.py`, `Open.public`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from houseofcare.selfcare.directory import (
    MAX_PAGE_SIZE,
    PAGE_SIZE,
    ServiceQuery,
    get_service_by_oruk_id,
    record_of,
    search_services,
)
from houseofcare.selfcare.oruk import (
    API_VERSION,
    NEEDS_TAXONOMY,
    PROFILE_URL,
    made_id,
    oruk_from_record,
)
from houseofcare.store.models import NeedDomain

#: Where the profile's OpenAPI description is published.
OPENAPI_URL = "https://docs.openreferraluk.org/en/latest/openapi30.json"


class OrukQueryError(ValueError):
    """A query parameter that cannot be read (the API answers 400 naming it)."""


def api_details() -> dict[str, str]:
    """The `/` answer: which version and profile this API serves."""
    return {"version": API_VERSION, "profile": PROFILE_URL, "openapi_url": OPENAPI_URL}


def need_term_ids() -> dict[str, str]:
    """Our need terms' ids (as written in the attributes) → the need domain."""
    return {made_id("term", NEEDS_TAXONOMY, n.value): n.value for n in NeedDomain}


@dataclass(frozen=True)
class OrukQuery:
    """`/oruk/services` query parameters, as sent."""

    search: str | None = None
    page: str | None = None
    per_page: str | None = None
    taxonomy_term_id: str | None = None
    need: str | None = None
    modified_after: str | None = None
    full: str | None = None
    format: str | None = None


def _positive(name: str, value: str | None, default: int, most: int) -> int:
    if value is None or value == "":
        return default
    if not value.isdigit() or int(value) < 1:
        raise OrukQueryError(f"{name} must be a whole number of 1 or more, not {value!r}")
    return min(int(value), most)


def _modified_after(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise OrukQueryError(f"modified_after must be a date-time, not {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _list_item(document: dict[str, Any]) -> dict[str, Any]:
    """A service as `/services` lists it: its one-to-one fields and its organisation."""
    return {k: v for k, v in document.items() if not isinstance(v, list)}


#: `format` values: the page object (JSON), or every matching service one per line.
FORMATS = ("json", "ndjson")


def wants_ndjson(query: OrukQuery) -> bool:
    """Whether the query asks for the whole result as NDJSON (an unknown format is an error)."""
    chosen = (query.format or "json").lower()
    if chosen not in FORMATS:
        raise OrukQueryError(f"format must be one of {', '.join(FORMATS)}, not {query.format!r}")
    return chosen == "ndjson"


def _service_query(query: OrukQuery, page: int, per_page: int) -> ServiceQuery:
    """The directory search an ORUK query means (its need terms read as our need domains)."""
    need = query.need
    if need is not None and need not in {n.value for n in NeedDomain}:
        raise OrukQueryError(f"need must be one of {', '.join(n.value for n in NeedDomain)}")
    term = query.taxonomy_term_id
    if term and term in need_term_ids():
        need, term = need_term_ids()[term], None
    return ServiceQuery(
        text=query.search,
        need=need,
        taxonomy_term_id=term or None,
        include_inactive=True,
        modified_after=_modified_after(query.modified_after),
        page=page,
        per_page=per_page,
    )


def services_page(session: Session, query: OrukQuery) -> dict[str, Any]:
    """One page of `/oruk/services`: the ORUK page object."""
    page = _positive("page", query.page, 1, 1_000_000)
    per_page = _positive("per_page", query.per_page, PAGE_SIZE, MAX_PAGE_SIZE)
    found = search_services(session, _service_query(query, page, per_page))
    full = (query.full or "").lower() in ("true", "1", "yes")
    documents = [oruk_from_record(record_of(s)) for s in found.services]
    contents = documents if full else [_list_item(d) for d in documents]
    return {
        "total_items": found.total,
        "total_pages": found.pages,
        "page_number": found.page,
        "size": len(contents),
        "first_page": found.page == 1,
        "last_page": found.page >= found.pages,
        "empty": not contents,
        "contents": contents,
    }


def every_service(factory: Callable[[], Session], query: OrukQuery) -> Iterator[str]:
    """`format=ndjson`: every matching service, fully nested, one JSON document per line.

    The ORUK way for a tool to take the whole directory in one request (a nightly harvest)
    rather than page by page. Read a page at a time in its own session, so a large directory
    is streamed in steady memory; `page` and `per_page` are ignored. The query is checked
    before the first line, so a bad one is a 400, not a cut-short stream."""
    _service_query(query, 1, MAX_PAGE_SIZE)
    page = 1
    while True:
        with factory() as session:
            found = search_services(session, _service_query(query, page, MAX_PAGE_SIZE))
            lines = [
                json.dumps(oruk_from_record(record_of(s)), ensure_ascii=False) + "\n"
                for s in found.services
            ]
        yield from lines
        if page >= found.pages:
            return
        page += 1


def service_document(session: Session, oruk_id: str) -> dict[str, Any] | None:
    """`/oruk/services/{id}`: the fully nested service, or None."""
    service = get_service_by_oruk_id(session, oruk_id)
    return None if service is None else oruk_from_record(record_of(service))
