"""The directory's pages: what `/services` and `/services/{id}` show, read from the directory.

The directory holds no patient data: every signed-in role may search it (a patient finds the
services they can refer themselves to), and reads are not audited. Each service shows its
capacity left this month from `selfcare/capacity.py`, so a full service is shown as full.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from houseofcare.population.rules import packaged_register_rules
from houseofcare.selfcare.capacity import Capacity, capacities
from houseofcare.selfcare.directory import (
    ACCESS_WORDS,
    KIND_WORDS,
    NEED_WORDS,
    ServicePage,
    ServiceQuery,
    get_service,
    localities,
    need_words,
    search_services,
)
from houseofcare.store.models import (
    NeedDomain,
    Service,
    ServiceAccess,
    ServiceKind,
    ServiceStatus,
)

STATUS_WORDS = {
    ServiceStatus.active: "Open",
    ServiceStatus.inactive: "Not running at the moment",
    ServiceStatus.defunct: "Closed for good",
    ServiceStatus.temporarily_closed: "Temporarily closed",
}


@dataclass(frozen=True)
class DirectoryFilters:
    """The search form as sent (unknown values dropped, so a bad link still shows a page)."""

    q: str = ""
    need: str = ""
    locality: str = ""
    kind: str = ""
    condition: str = ""
    self_referral: bool = False
    page: int = 1

    @classmethod
    def from_query(cls, params: dict[str, str]) -> DirectoryFilters:
        need = params.get("need", "")
        kind = params.get("kind", "")
        condition = params.get("condition", "")
        page = params.get("page", "1")
        return cls(
            q=params.get("q", "")[:200].strip(),
            need=need if need in {n.value for n in NeedDomain} else "",
            locality=params.get("locality", "")[:200].strip(),
            kind=kind if kind in {k.value for k in ServiceKind} else "",
            condition=condition if condition in {r.id for r in packaged_register_rules()} else "",
            self_referral=params.get("access") == ServiceAccess.self_referral.value,
            page=int(page) if page.isdigit() and 0 < len(page) < 7 else 1,
        )

    def query(self) -> ServiceQuery:
        return ServiceQuery(
            text=self.q or None,
            need=self.need or None,
            locality=self.locality or None,
            kind=ServiceKind(self.kind) if self.kind else None,
            condition=self.condition or None,
            access=ServiceAccess.self_referral if self.self_referral else None,
            page=self.page,
        )

    def link(self, page: int) -> str:
        """This search at another page."""
        params = {
            "q": self.q,
            "need": self.need,
            "locality": self.locality,
            "kind": self.kind,
            "condition": self.condition,
            "access": ServiceAccess.self_referral.value if self.self_referral else "",
        }
        kept = {k: v for k, v in params.items() if v}
        return "/services?" + urlencode({**kept, "page": page})


@dataclass(frozen=True)
class ServiceRow:
    service: Service
    needs: list[str]
    capacity: Capacity | None
    access: str
    kind: str

    @property
    def full(self) -> bool:
        return self.capacity is not None and self.capacity.full


@dataclass(frozen=True)
class DirectorySearch:
    filters: DirectoryFilters
    found: ServicePage
    rows: list[ServiceRow]
    localities: list[str]
    needs: list[tuple[str, str]]
    kinds: list[tuple[str, str]]
    conditions: list[tuple[str, str]]

    @property
    def previous_link(self) -> str | None:
        return self.filters.link(self.found.page - 1) if self.found.page > 1 else None

    @property
    def next_link(self) -> str | None:
        return (
            self.filters.link(self.found.page + 1) if self.found.page < self.found.pages else None
        )


def _row(service: Service, capacity: Capacity | None) -> ServiceRow:
    return ServiceRow(
        service=service,
        needs=[need_words(n) for n in service.needs or []],
        capacity=capacity,
        access=ACCESS_WORDS.get(service.access, str(service.access)),
        kind=KIND_WORDS.get(service.kind, str(service.kind)),
    )


def directory_search(session: Session, filters: DirectoryFilters) -> DirectorySearch:
    """One page of the directory for the search form."""
    found = search_services(session, filters.query())
    places = capacities(session, [s.id for s in found.services])
    return DirectorySearch(
        filters=filters,
        found=found,
        rows=[_row(s, places.get(s.id)) for s in found.services],
        localities=localities(session),
        needs=[(k.value if hasattr(k, "value") else k, v) for k, v in NEED_WORDS.items()],
        kinds=[(k.value if hasattr(k, "value") else k, v) for k, v in KIND_WORDS.items()],
        conditions=[(r.id, r.name) for r in packaged_register_rules()],
    )


#: ISO 639-1 codes of the languages most often spoken in England's communities, in words
#: (a code not listed is shown as it is).
LANGUAGE_NAMES = {
    "en": "English",
    "pa": "Punjabi",
    "ur": "Urdu",
    "bn": "Bengali",
    "gu": "Gujarati",
    "pl": "Polish",
    "ar": "Arabic",
    "so": "Somali",
    "ro": "Romanian",
    "pt": "Portuguese",
    "es": "Spanish",
    "zh": "Chinese",
    "cy": "Welsh",
    "ta": "Tamil",
    "tr": "Turkish",
    "lt": "Lithuanian",
    "fa": "Persian",
    "hi": "Hindi",
}


@dataclass(frozen=True)
class ServiceView:
    row: ServiceRow
    status: str
    open: bool
    conditions: list[str]
    languages: list[str]


def service_view(session: Session, service_id: int) -> ServiceView | None:
    """Everything the directory holds about one service, or None."""
    service = get_service(session, service_id)
    if service is None:
        return None
    names = {r.id: r.name for r in packaged_register_rules()}
    return ServiceView(
        row=_row(service, capacities(session, [service.id]).get(service.id)),
        status=STATUS_WORDS.get(service.status, str(service.status)),
        open=service.status == ServiceStatus.active,
        conditions=[names.get(c, c) for c in service.conditions or []],
        languages=[LANGUAGE_NAMES.get(code.lower(), code) for code in service.languages or []],
    )
