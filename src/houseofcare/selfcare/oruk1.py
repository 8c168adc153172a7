"""Open Referral UK 1.0 (HSDS-UK-1.0) records as ORUK 3.0 ones, so one importer reads both.

Many council feeds still serve 1.0: nested JSON with the LGA's key names. The mapping is the
one the reference note gives (`shared/reference/open-referral-uk.md`, "Map 1.0 → 3.0"):
`regular_schedules` → `schedules` (weekday → byday), `physical_addresses` → `addresses`,
`eligibilitys`/`eligibilities` ages → the service's ages, `service_taxonomys`/
`service_taxonomies` → `attributes` with their `taxonomy_term`, `fundings` → `funding`,
`accessibility_for_disabilities` → `accessibility`. Reviews, holiday schedules and
`deliverable_type` have no 3.0 UK place and are left out: the directory keeps the 3.0
record it made, so its export is valid 3.0.
"""

from __future__ import annotations

from typing import Any

from houseofcare.selfcare.oruk import made_id

#: Keys only a 1.0 record has (how a feed's version is told when it does not say).
ORUK1_KEYS = frozenset(
    {
        "regular_schedules",
        "service_taxonomys",
        "service_taxonomies",
        "eligibilitys",
        "eligibilities",
        "fundings",
        "holiday_schedules",
        "attending_access",
        "attending_type",
        "deliverable_type",
        "reviews",
    }
)

#: 1.0 weekday numbers (1 = Monday … 7 = Sunday; 0 is Sunday in some feeds) → RRULE days.
_WEEKDAYS = {0: "SU", 1: "MO", 2: "TU", 3: "WE", 4: "TH", 5: "FR", 6: "SA", 7: "SU"}


def looks_like_oruk1(record: Any) -> bool:
    """A record with any key only 1.0 has, or 1.0's nested addresses."""
    if not isinstance(record, dict):
        return False
    if ORUK1_KEYS & record.keys():
        return True
    return any(
        "physical_addresses" in ((sal or {}).get("location") or {})
        for sal in record.get("service_at_locations") or []
        if isinstance(sal, dict)
    )


def _schedule(item: dict[str, Any]) -> dict[str, Any]:
    out = {
        k: item[k]
        for k in ("id", "opens_at", "closes_at", "valid_from", "valid_to", "dtstart", "freq")
        if item.get(k) not in (None, "")
    }
    out.setdefault("id", made_id("schedule1", item))
    if item.get("interval") not in (None, ""):
        out["interval"] = item["interval"]
    weekday = item.get("weekday")
    if item.get("byday"):
        out["byday"] = str(item["byday"])
    elif isinstance(weekday, int | str) and str(weekday).strip().isdigit():
        out["byday"] = _WEEKDAYS.get(int(weekday), "")
        out.setdefault("freq", "WEEKLY")
    if item.get("description"):
        out["description"] = item["description"]
    return out


def _address(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(item.get("id") or made_id("address1", item)),
        "address_1": str(item.get("address_1") or ""),
        "city": str(item.get("city") or ""),
        "state_province": str(item.get("state_province") or ""),
        "postal_code": str(item.get("postal_code") or ""),
        "country": str(item.get("country") or "GB"),
        "address_type": "physical",
    }


def _location(location: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": str(location.get("id") or made_id("location1", location)),
        "location_type": "physical",
    }
    for key in ("name", "description"):
        if location.get(key):
            out[key] = location[key]
    for key in ("latitude", "longitude"):
        if isinstance(location.get(key), int | float):
            out[key] = location[key]
    addresses = location.get("physical_addresses") or location.get("addresses") or []
    if addresses:
        out["addresses"] = [_address(a) for a in addresses if isinstance(a, dict)]
    access = location.get("accessibility_for_disabilities") or []
    if access:
        out["accessibility"] = [
            {
                "id": str(a.get("id") or made_id("access1", a)),
                **({"accessibility": a["accessibility"]} if a.get("accessibility") else {}),
                **({"description": a["details"]} if a.get("details") else {}),
            }
            for a in access
            if isinstance(a, dict)
        ]
    return out


def _taxonomy_attribute(service_id: str, item: dict[str, Any], link_type: str) -> dict:
    taxonomy = item.get("taxonomy") or {}
    term_id = str(taxonomy.get("id") or made_id("term1", item))
    name = str(taxonomy.get("name") or term_id)
    term: dict[str, Any] = {
        "id": term_id,
        "name": name,
        "description": name,
        "term": name,
    }
    if taxonomy.get("vocabulary"):
        term["taxonomy"] = str(taxonomy["vocabulary"])
    if term_id.startswith("http"):
        term["term_uri"] = term_id
    return {
        "id": str(item.get("id") or made_id("attribute1", service_id, term_id)),
        "link_id": service_id,
        "link_type": link_type,
        "taxonomy_term_id": term_id,
        "taxonomy_term": term,
    }


def oruk3_from_oruk1(record: dict[str, Any]) -> dict[str, Any]:
    """One 1.0 service as a 3.0 service (validated as 1.0 before, as 3.0 after)."""
    service_id = str(record["id"])
    doc: dict[str, Any] = {"id": service_id, "name": record.get("name")}
    doc["status"] = record.get("status") or "active"
    for key in ("description", "url", "email", "fees", "accreditations", "assured_date"):
        if record.get(key) not in (None, ""):
            doc[key] = record[key]
    organization = record.get("organization")
    if isinstance(organization, dict):
        doc["organization"] = {
            k: organization[k]
            for k in ("id", "name", "description", "email", "logo", "uri")
            if organization.get(k) not in (None, "")
        }
        if organization.get("url"):
            doc["organization"]["website"] = organization["url"]
    eligibilities = record.get("eligibilitys") or record.get("eligibilities") or []
    ages = [e for e in eligibilities if isinstance(e, dict)]
    minimums = [e["minimum_age"] for e in ages if isinstance(e.get("minimum_age"), int | float)]
    maximums = [e["maximum_age"] for e in ages if isinstance(e.get("maximum_age"), int | float)]
    if minimums:
        doc["minimum_age"] = min(minimums)
    if maximums:
        doc["maximum_age"] = max(maximums)
    schedules = record.get("regular_schedules") or []
    if schedules:
        doc["schedules"] = [_schedule(s) for s in schedules if isinstance(s, dict)]
    areas = record.get("service_areas") or []
    if areas:
        doc["service_areas"] = [
            {
                "id": str(a.get("id") or made_id("area1", a)),
                **({"name": a["service_area"]} if a.get("service_area") else {}),
                **({"service_area": a["service_area"]} if a.get("service_area") else {}),
                **({"uri": a["uri"]} if a.get("uri") else {}),
            }
            for a in areas
            if isinstance(a, dict)
        ]
    locations = [
        {"id": str(sal.get("id") or made_id("sal1", sal)), "location": _location(sal["location"])}
        for sal in record.get("service_at_locations") or []
        if isinstance(sal, dict) and isinstance(sal.get("location"), dict)
    ]
    if locations:
        doc["service_at_locations"] = locations
    languages = record.get("languages") or []
    if languages:
        doc["languages"] = [
            {"id": str(x.get("id") or made_id("language1", x)), "name": x["language"]}
            for x in languages
            if isinstance(x, dict) and x.get("language")
        ]
    fundings = record.get("fundings") or record.get("funding") or []
    if fundings:
        doc["funding"] = [
            {"id": str(f.get("id") or made_id("funding1", f)), "source": str(f.get("source", ""))}
            for f in fundings
            if isinstance(f, dict)
        ]
    costs = record.get("cost_options") or []
    if costs:
        doc["cost_options"] = [
            {
                "id": str(c.get("id") or made_id("cost1", c)),
                **{
                    k: c[k]
                    for k in ("option", "amount", "amount_description", "valid_from", "valid_to")
                    if c.get(k) not in (None, "")
                },
            }
            for c in costs
            if isinstance(c, dict)
        ]
    contacts = record.get("contacts") or []
    if contacts:
        doc["contacts"] = [
            {
                "id": str(c.get("id") or made_id("contact1", c)),
                **{k: c[k] for k in ("name", "title") if c.get(k)},
                "phones": [
                    {"id": str(p.get("id") or made_id("phone1", p)), "number": str(p["number"])}
                    for p in c.get("phones") or []
                    if isinstance(p, dict) and p.get("number")
                ],
            }
            for c in contacts
            if isinstance(c, dict)
        ]
    attributes = [
        _taxonomy_attribute(service_id, item, "service")
        for item in record.get("service_taxonomys") or record.get("service_taxonomies") or []
        if isinstance(item, dict)
    ]
    for eligibility in ages:
        if eligibility.get("eligibility"):
            words = {"taxonomy": {"id": made_id("eligibility1", eligibility["eligibility"])}}
            words["taxonomy"]["name"] = str(eligibility["eligibility"])
            attributes.append(_taxonomy_attribute(service_id, words, "eligibility"))
        for item in eligibility.get("taxonomys") or eligibility.get("taxonomies") or []:
            if isinstance(item, dict):
                attributes.append(
                    _taxonomy_attribute(service_id, {"taxonomy": item}, "eligibility")
                )
    if record.get("attending_access") == "drop-in":
        attributes.append(
            _taxonomy_attribute(
                service_id,
                {"taxonomy": {"id": made_id("drop-in"), "name": "drop-in"}},
                "service",
            )
        )
    if attributes:
        doc["attributes"] = attributes
    return doc
