"""Open Referral UK 3.0 (HSDS-UK-3.0): a feed's services into the directory's columns, and back.

A feed classifies a service with `attributes` → `taxonomy_term`. Our own vocabularies carry
what the directory needs and ORUK has no field for (the need domains, the conditions a
service suits, what kind of service it is, how to get to it, its capacity and eligibility
words); esd needs terms are mapped to need domains through `needs_map.toml`; every other term
is kept as a classification. The whole record is kept (`Service.document`), so an export gives
back what came in with our current values written over it; a service that did not come from
ORUK is built from its columns with our vocabularies as attributes, so export then import
gives the same row.

`oruk1.py` turns an ORUK 1.0 record into a 3.0 one first; `directory_import.py` reads files.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from houseofcare.datafiles import validation_problems
from houseofcare.population.rules import packaged_register_rules
from houseofcare.selfcare.directory import ServiceRecord
from houseofcare.store.models import NeedDomain, ServiceAccess, ServiceKind, ServiceStatus

#: Our vocabularies (`taxonomy_term.taxonomy`); the term is the value.
NEEDS_TAXONOMY = "houseofcare-needs"
CONDITIONS_TAXONOMY = "houseofcare-conditions"
KIND_TAXONOMY = "houseofcare-kind"
ACCESS_TAXONOMY = "houseofcare-access"
CAPACITY_TAXONOMY = "houseofcare-capacity"
ELIGIBILITY_TAXONOMY = "houseofcare-eligibility"
OUR_TAXONOMIES = (
    NEEDS_TAXONOMY,
    CONDITIONS_TAXONOMY,
    KIND_TAXONOMY,
    ACCESS_TAXONOMY,
    CAPACITY_TAXONOMY,
    ELIGIBILITY_TAXONOMY,
)
ESD_NEEDS = "esdNeeds"
ESD_NEED_URI = "http://id.esd.org.uk/need/"

#: The ORUK 3.0 API's version string and profile (the `/oruk/` answer).
API_VERSION = "HSDS-UK-3.0"
PROFILE_URL = "https://github.com/OpenReferralUK/uk-profile/blob/main/docs/index.md"

#: Ids we make for things that have none (a service from a CSV file, its location …) are
#: name-based UUIDs in this namespace, so the same service always gets the same ids.
ID_NAMESPACE = uuid.UUID("6f1c8b0e-5f2a-4b8e-9d6a-3c1e2b7a9f10")


def made_id(*parts: object) -> str:
    """A stable UUID for something we write that has no id of its own."""
    return str(uuid.uuid5(ID_NAMESPACE, "|".join(str(p) for p in parts)))


class RecordProblem(ValueError):
    """A record that cannot be read: the field (a JSON pointer) and why."""

    def __init__(self, pointer: str, reason: str) -> None:
        super().__init__(f"{pointer or '/'}: {reason}")
        self.pointer = pointer
        self.reason = reason


# --- the esd needs map (data) ---------------------------------------------------------------


class _NeedTerms(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    domain: NeedDomain
    labels: tuple[str, ...] = ()
    uris: tuple[str, ...] = ()


class NeedsMap(BaseModel):
    """`needs_map.toml`: esd needs terms → our need domains."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    self_referral: tuple[str, ...] = ()
    need: tuple[_NeedTerms, ...] = Field(min_length=1)

    def domain_of(self, label: str | None, uri: str | None) -> NeedDomain | None:
        for entry in self.need:
            if uri and uri in entry.uris:
                return entry.domain
        key = _label(label)
        for entry in self.need:
            if key and key in {_label(x) for x in entry.labels}:
                return entry.domain
        return None

    def says_self_referral(self, label: str | None) -> bool:
        key = _label(label)
        return bool(key) and key in {_label(x) for x in self.self_referral}


def _label(text: str | None) -> str:
    return re.sub(r"[^a-z0-9]+", " ", (text or "").lower()).strip()


class NeedsMapError(ValueError):
    """`needs_map.toml` is malformed."""


@cache
def needs_map() -> NeedsMap:
    """The shipped needs map, checked when first read."""
    import tomllib

    path = files("houseofcare.selfcare").joinpath("needs_map.toml")
    try:
        return NeedsMap.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        detail = validation_problems(exc) if isinstance(exc, ValidationError) else str(exc)
        raise NeedsMapError(f"selfcare/needs_map.toml: {detail}") from None


@cache
def register_ids() -> frozenset[str]:
    """The conditions a service may name: the packaged registers' ids."""
    return frozenset(rule.id for rule in packaged_register_rules())


# --- reading a feed -------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedItem:
    """One record of a feed, or why it could not be parsed, and where it is in the file."""

    where: str
    document: Any = None
    problem: RecordProblem | None = None


def feed_items(text: str) -> Iterator[FeedItem]:
    """The records of a JSON feed: one service object, a list, a page `{contents: [...]}`
    (ORUK 1.0 pages say `content`), or NDJSON (one record a line; a bad line is reported and
    the others read)."""
    stripped = text.lstrip("\ufeff").strip()
    try:
        whole = json.loads(stripped) if stripped else []
    except json.JSONDecodeError:
        whole = None
    if whole is None:
        yield from _ndjson(stripped)
        return
    if isinstance(whole, dict) and isinstance(whole.get("contents", whole.get("content")), list):
        key = "contents" if "contents" in whole else "content"
        for index, record in enumerate(whole[key]):
            yield FeedItem(f"/{key}/{index}", record)
    elif isinstance(whole, list):
        for index, record in enumerate(whole):
            yield FeedItem(f"index {index}", record)
    else:
        yield FeedItem("record", whole)


def _ndjson(text: str) -> Iterator[FeedItem]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield FeedItem(f"line {number}", json.loads(line))
        except json.JSONDecodeError as exc:
            yield FeedItem(
                f"line {number}", problem=RecordProblem("", f"not valid JSON ({exc.msg})")
            )


# --- ORUK 3.0 → columns ---------------------------------------------------------------------


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    return int(float(value))


def _physical_location(doc: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
    """The first physical location (else the first location) and its index."""
    found: list[tuple[int, dict[str, Any]]] = []
    for index, sal in enumerate(doc.get("service_at_locations") or []):
        location = (sal or {}).get("location")
        if isinstance(location, dict):
            found.append((index, location))
    for index, location in found:
        if location.get("location_type") == "physical":
            return index, location
    return found[0] if found else None


def _first_address(location: dict[str, Any] | None) -> dict[str, Any] | None:
    if not location:
        return None
    addresses = location.get("addresses") or []
    physical = [a for a in addresses if a.get("address_type") == "physical"]
    return (physical or addresses or [None])[0]


def _cost(options: list[dict[str, Any]]) -> str | None:
    words = []
    for option in options:
        amount = option.get("amount")
        parts = [_text(option.get("option"))]
        if amount is not None:
            parts.append("free" if float(amount) == 0 else f"£{float(amount):.2f}")
        parts.append(_text(option.get("amount_description")))
        shown = ", ".join(p for p in parts if p)
        if shown:
            words.append(shown)
    return "; ".join(words) or None


_DAYS = {
    "MO": "Monday",
    "TU": "Tuesday",
    "WE": "Wednesday",
    "TH": "Thursday",
    "FR": "Friday",
    "SA": "Saturday",
    "SU": "Sunday",
}
_ORDINALS = {"1": "first", "2": "second", "3": "third", "4": "fourth", "-1": "last"}


def schedule_words(schedule: dict[str, Any]) -> str | None:
    """A schedule in plain words: its description if it has one, else its rule ("Every
    Tuesday, 10:00 to 12:00"; "The second Tuesday of the month, 14:00 to 16:00")."""
    if _text(schedule.get("description")):
        return _text(schedule.get("description"))
    days = []
    for code in str(schedule.get("byday") or "").split(","):
        code = code.strip().upper()
        match = re.fullmatch(r"(-?\d)?([A-Z]{2})", code)
        if match and match.group(2) in _DAYS:
            ordinal = _ORDINALS.get(match.group(1) or "", "")
            days.append(f"{ordinal} {_DAYS[match.group(2)]}".strip())
    opens, closes = _text(schedule.get("opens_at")), _text(schedule.get("closes_at"))
    hours = f"{opens[:5]} to {closes[:5]}" if opens and closes else None
    if not days and not hours:
        return None
    interval = _int(schedule.get("interval")) or 1
    if schedule.get("freq") == "MONTHLY":
        when = f"The {' and '.join(days)} of the month" if days else "Monthly"
    elif interval == 2:
        when = f"Every other {' and '.join(days)}" if days else "Fortnightly"
    else:
        when = f"Every {', '.join(days)}" if days else None
    return ", ".join(p for p in (when, hours) if p)


def _terms(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(pointer, link_type, taxonomy_term) of each classification of the service."""
    for index, attribute in enumerate(doc.get("attributes") or []):
        term = (attribute or {}).get("taxonomy_term")
        if isinstance(term, dict):
            yield f"/attributes/{index}/taxonomy_term", attribute.get("link_type") or "", term


def _enum(kind: type[Any], value: str, where: str, what: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(v.value for v in kind)
        raise RecordProblem(where, f"unknown {what} {value!r} (one of {allowed})") from None


def _datetime(value: Any, where: str) -> dt.datetime | None:
    if not _text(value):
        return None
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise RecordProblem(where, f"{value!r} is not a date-time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def record_from_oruk(doc: dict[str, Any]) -> ServiceRecord:
    """A schema-valid ORUK 3.0 service as the directory's columns (RecordProblem if one of
    our vocabularies holds an unknown value)."""
    needs: list[str] = []
    conditions: list[str] = []
    taxonomy: list[tuple[str, str, str | None]] = []
    eligibility: list[str] = []
    kind = ServiceKind.community
    access = ServiceAccess.referral
    capacity: int | None = None
    mapping = needs_map()
    self_referral_hint = False
    access_given = False
    for where, link_type, term in _terms(doc):
        vocabulary = str(term.get("taxonomy") or "")
        value = _text(term.get("term")) or _text(term.get("name")) or ""
        uri = _text(term.get("term_uri"))
        if vocabulary == NEEDS_TAXONOMY:
            needs.append(_enum(NeedDomain, value, f"{where}/term", "need").value)
        elif vocabulary == CONDITIONS_TAXONOMY:
            if value not in register_ids():
                raise RecordProblem(f"{where}/term", f"unknown condition {value!r} (a register id)")
            conditions.append(value)
        elif vocabulary == KIND_TAXONOMY:
            kind = _enum(ServiceKind, value, f"{where}/term", "kind")
        elif vocabulary == ACCESS_TAXONOMY:
            access = _enum(ServiceAccess, value, f"{where}/term", "access")
            access_given = True
        elif vocabulary == CAPACITY_TAXONOMY:
            try:
                capacity = int(value)
            except ValueError:
                raise RecordProblem(
                    f"{where}/term", f"capacity {value!r} is not a whole number"
                ) from None
            if capacity < 0:
                raise RecordProblem(f"{where}/term", "capacity cannot be negative")
        elif vocabulary == ELIGIBILITY_TAXONOMY:
            eligibility.append(value)
        else:
            if vocabulary == ESD_NEEDS or (uri or "").startswith(ESD_NEED_URI):
                domain = mapping.domain_of(value, uri)
                if domain is not None:
                    needs.append(domain.value)
            if mapping.says_self_referral(value):
                self_referral_hint = True
            if link_type == "eligibility":
                eligibility.append(value)
            taxonomy.append((vocabulary, value, uri))
    if self_referral_hint and not access_given:
        access = ServiceAccess.self_referral
    found = _physical_location(doc)
    location = found[1] if found else None
    address = _first_address(location)
    areas = [a for a in doc.get("service_areas") or [] if isinstance(a, dict)]
    locality = _text(areas[0].get("name")) if areas else None
    locality = locality or _text((address or {}).get("city"))
    accessibility = [
        text
        for sal in doc.get("service_at_locations") or []
        for item in ((sal or {}).get("location") or {}).get("accessibility") or []
        if (text := _text(item.get("accessibility")) or _text(item.get("description")))
    ]
    languages = [
        text
        for item in doc.get("languages") or []
        if (text := _text(item.get("code")) or _text(item.get("name")))
    ]
    phones = [
        p.get("number")
        for contact in doc.get("contacts") or []
        for p in (contact or {}).get("phones") or []
    ] + [p.get("number") for p in doc.get("phones") or []]
    schedules = [w for s in doc.get("schedules") or [] if (w := schedule_words(s))]
    minimum_age, maximum_age = _int(doc.get("minimum_age")), _int(doc.get("maximum_age"))
    if minimum_age is not None and maximum_age is not None and minimum_age > maximum_age:
        raise RecordProblem("/minimum_age", "minimum_age is above maximum_age")
    organization = doc.get("organization") or {}
    return ServiceRecord(
        oruk_id=str(doc["id"]),
        name=str(doc["name"]).strip(),
        organisation_name=_text(organization.get("name")) or "",
        status=_enum(ServiceStatus, doc["status"], "/status", "status"),
        kind=kind,
        access=access,
        description=_text(doc.get("description")),
        needs=tuple(dict.fromkeys(needs)),
        conditions=tuple(dict.fromkeys(conditions)),
        taxonomy=tuple(dict.fromkeys(taxonomy)),
        locality=locality,
        address=_text((address or {}).get("address_1")),
        postcode=_text((address or {}).get("postal_code")),
        latitude=None if location is None else location.get("latitude"),
        longitude=None if location is None else location.get("longitude"),
        eligibility="; ".join(eligibility) or None,
        minimum_age=minimum_age,
        maximum_age=maximum_age,
        capacity_per_month=capacity,
        cost=_cost(doc.get("cost_options") or []),
        accessibility=tuple(dict.fromkeys(accessibility)),
        languages=tuple(dict.fromkeys(languages)),
        email=_text(doc.get("email")),
        phone=next((str(p) for p in phones if p), None),
        url=_text(doc.get("url")),
        opening_times="; ".join(schedules) or None,
        document=doc,
        last_modified=_datetime(doc.get("last_modified"), "/last_modified"),
    )


# --- columns → ORUK 3.0 ---------------------------------------------------------------------


def _attribute(oruk_id: str, taxonomy: str, term: str, link_type: str = "service") -> dict:
    term_id = made_id("term", taxonomy, term)
    entry: dict[str, Any] = {
        "id": made_id("attribute", oruk_id, taxonomy, term),
        "link_id": oruk_id,
        "link_type": link_type,
        "taxonomy_term_id": term_id,
        "taxonomy_term": {
            "id": term_id,
            "name": term,
            "description": f"{taxonomy}: {term}",
            "taxonomy": taxonomy,
            "term": term,
        },
    }
    return entry


def _our_attributes(record: ServiceRecord) -> list[dict[str, Any]]:
    oid = record.oruk_id
    attributes = [_attribute(oid, NEEDS_TAXONOMY, n) for n in record.needs]
    attributes += [_attribute(oid, CONDITIONS_TAXONOMY, c) for c in record.conditions]
    attributes.append(_attribute(oid, KIND_TAXONOMY, record.kind.value))
    attributes.append(_attribute(oid, ACCESS_TAXONOMY, record.access.value))
    if record.capacity_per_month is not None:
        attributes.append(_attribute(oid, CAPACITY_TAXONOMY, str(record.capacity_per_month)))
    return attributes


def _is_ours(attribute: dict[str, Any]) -> bool:
    """One of the attributes an export writes from the columns (eligibility words are kept
    as they came)."""
    term = attribute.get("taxonomy_term") or {}
    return term.get("taxonomy") in OUR_TAXONOMIES and term.get("taxonomy") != ELIGIBILITY_TAXONOMY


def _location(record: ServiceRecord) -> dict[str, Any] | None:
    if not (record.address or record.postcode or record.latitude or record.accessibility):
        return None
    oid = record.oruk_id
    location: dict[str, Any] = {
        "id": made_id("location", oid),
        "location_type": "physical",
        "name": record.address or record.locality or record.name,
    }
    if record.latitude is not None and record.longitude is not None:
        location["latitude"] = record.latitude
        location["longitude"] = record.longitude
    if record.address or record.postcode:
        location["addresses"] = [
            {
                "id": made_id("address", oid),
                "address_1": record.address or "",
                "city": record.locality or "",
                "state_province": record.locality or "",
                "postal_code": record.postcode or "",
                "country": "GB",
                "address_type": "physical",
            }
        ]
    if record.accessibility:
        location["accessibility"] = [
            {"id": made_id("accessibility", oid, i), "accessibility": text}
            for i, text in enumerate(record.accessibility)
        ]
    return location


def oruk_from_record(record: ServiceRecord) -> dict[str, Any]:
    """The service as an ORUK 3.0 record: the kept document with our current values over
    it, or (for a service that did not come from ORUK) one built from the columns."""
    if record.document:
        return _updated_document(record)
    oid = record.oruk_id
    doc: dict[str, Any] = {"id": oid, "name": record.name, "status": record.status.value}
    if record.description:
        doc["description"] = record.description
    if record.url:
        doc["url"] = record.url
    if record.email:
        doc["email"] = record.email
    if record.minimum_age is not None:
        doc["minimum_age"] = record.minimum_age
    if record.maximum_age is not None:
        doc["maximum_age"] = record.maximum_age
    if record.last_modified is not None:
        doc["last_modified"] = _iso(record.last_modified)
    doc["organization"] = {
        "id": made_id("organisation", record.organisation_name),
        "name": record.organisation_name,
        "description": record.organisation_name,
    }
    if record.opening_times:
        doc["schedules"] = [{"id": made_id("schedule", oid), "description": record.opening_times}]
    if record.locality:
        doc["service_areas"] = [{"id": made_id("area", oid), "name": record.locality}]
    location = _location(record)
    if location is not None:
        doc["service_at_locations"] = [{"id": made_id("sal", oid), "location": location}]
    if record.languages:
        doc["languages"] = [
            {"id": made_id("language", oid, code), "code": code} for code in record.languages
        ]
    if record.cost:
        doc["cost_options"] = [{"id": made_id("cost", oid), "option": record.cost}]
    if record.phone:
        doc["contacts"] = [
            {
                "id": made_id("contact", oid),
                "name": "Enquiries",
                "phones": [{"id": made_id("phone", oid), "number": record.phone}],
            }
        ]
    attributes = _our_attributes(record)
    if record.eligibility:
        attributes.append(
            _attribute(oid, ELIGIBILITY_TAXONOMY, record.eligibility, link_type="eligibility")
        )
    for vocabulary, term, uri in record.taxonomy:
        attribute = _attribute(oid, vocabulary, term)
        if uri:
            attribute["taxonomy_term"]["term_uri"] = uri
        attributes.append(attribute)
    doc["attributes"] = attributes
    return doc


def _updated_document(record: ServiceRecord) -> dict[str, Any]:
    doc = json.loads(json.dumps(record.document))
    doc["id"] = record.oruk_id
    doc["name"] = record.name
    doc["status"] = record.status.value
    for key, value in (
        ("description", record.description),
        ("url", record.url),
        ("email", record.email),
        ("minimum_age", record.minimum_age),
        ("maximum_age", record.maximum_age),
    ):
        if value is None:
            doc.pop(key, None)
        else:
            doc[key] = value
    if record.last_modified is not None:
        doc["last_modified"] = _iso(record.last_modified)
    if isinstance(doc.get("organization"), dict):
        doc["organization"]["name"] = record.organisation_name
    areas = doc.get("service_areas")
    if record.locality and isinstance(areas, list) and areas and isinstance(areas[0], dict):
        areas[0]["name"] = record.locality
    kept = [a for a in doc.get("attributes") or [] if not _is_ours(a)]
    doc["attributes"] = _our_attributes(record) + kept
    return doc


def _iso(value: dt.datetime) -> str:
    value = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
