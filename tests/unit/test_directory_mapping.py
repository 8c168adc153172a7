"""Reading a service from ORUK 3.0, ORUK 1.0 and the directory CSV into the directory's
columns, writing it back, and the schema's messages with the failing field's path (issue 13).
No store: the mapping and the validation are pure."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from houseofcare.selfcare.directory import ServiceRecord
from houseofcare.selfcare.directory_csv import CsvHeaderError, csv_row, read_csv
from houseofcare.selfcare.oruk import (
    ACCESS_TAXONOMY,
    CAPACITY_TAXONOMY,
    CONDITIONS_TAXONOMY,
    KIND_TAXONOMY,
    NEEDS_TAXONOMY,
    RecordProblem,
    feed_items,
    needs_map,
    oruk_from_record,
    record_from_oruk,
    schedule_words,
)
from houseofcare.selfcare.oruk1 import looks_like_oruk1, oruk3_from_oruk1
from houseofcare.selfcare.oruk_schema import SCHEMA_FILES, schema_problems, validator
from houseofcare.store.models import ServiceAccess, ServiceKind, ServiceStatus

SERVICE_ID = "5b0f2c1e-8a57-4f43-9d7e-2f6f1b7c9a10"


def term(taxonomy: str, value: str, index: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"00000000-0000-4000-8000-{index:012d}",
        "link_id": SERVICE_ID,
        "link_type": extra.pop("link_type", "service"),
        "taxonomy_term": {
            "id": f"10000000-0000-4000-8000-{index:012d}",
            "name": value,
            "description": value,
            "taxonomy": taxonomy,
            "term": value,
            **extra,
        },
    }


def breathe_easy() -> dict[str, Any]:
    """The reference note's example service, with our vocabularies and an esd need added."""
    return {
        "id": SERVICE_ID,
        "name": "Breathe Easy Northtown - COPD peer support group",
        "description": "Monthly peer support group for people living with COPD.",
        "url": "https://www.example.org.uk/breathe-easy-northtown",
        "email": "breatheeasy.northtown@example.org.uk",
        "status": "active",
        "minimum_age": 18,
        "maximum_age": 120,
        "last_modified": "2025-05-01T09:14:22.512Z",
        "organization": {
            "id": "c3d1a9e0-47b2-4f0e-a1c5-6e2b8d4f7a31",
            "name": "Northtown Lung Health Volunteers",
            "description": "Volunteer-run charity.",
        },
        "schedules": [
            {
                "id": "7e1d4c2b-3a59-4f68-9b0c-1d2e3f4a5b6c",
                "freq": "MONTHLY",
                "interval": 1,
                "byday": "2TU",
                "opens_at": "14:00:00",
                "closes_at": "16:00:00",
            }
        ],
        "service_areas": [{"id": "9c8b7a6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", "name": "Northtown"}],
        "service_at_locations": [
            {
                "id": "2f3e4d5c-6b7a-4c8d-9e0f-a1b2c3d4e5f6",
                "location": {
                    "id": "4a5b6c7d-8e9f-4a0b-9c1d-2e3f4a5b6c7d",
                    "location_type": "physical",
                    "latitude": 53.4808,
                    "longitude": -2.2426,
                    "addresses": [
                        {
                            "id": "6c7d8e9f-0a1b-4c2d-8e3f-4a5b6c7d8e9f",
                            "address_1": "12 High Street",
                            "city": "Northtown City",
                            "state_province": "Greater Manchester",
                            "postal_code": "NT1 2AB",
                            "country": "GB",
                            "address_type": "physical",
                        }
                    ],
                    "accessibility": [
                        {
                            "id": "8e9f0a1b-2c3d-4e5f-9a6b-7c8d9e0f1a2b",
                            "accessibility": "Hearing loop",
                        },
                        {"id": "8e9f0a1b-2c3d-4e5f-9a6b-7c8d9e0f1a2c", "description": "Step-free"},
                    ],
                },
            }
        ],
        "languages": [
            {"id": "1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e", "code": "pa", "name": "Punjabi"}
        ],
        "cost_options": [
            {"id": "5f6a7b8c-9d0e-4f1a-8b2c-3d4e5f6a7b8c", "option": "All", "amount": 0},
        ],
        "attributes": [
            term(NEEDS_TAXONOMY, "self_management", 1),
            term(CONDITIONS_TAXONOMY, "COPD", 2),
            term(KIND_TAXONOMY, "self_help", 3),
            term(CAPACITY_TAXONOMY, "15", 4),
            term("esdNeeds", "Social isolation", 5, term_uri="http://id.esd.org.uk/need/99"),
            term("esdServiceTypes", "Support groups", 6, term_uri="http://id.esd.org.uk/service/1"),
        ],
    }


def test_an_oruk_3_service_maps_to_every_column() -> None:
    doc = breathe_easy()
    assert schema_problems(doc) == []
    record = record_from_oruk(doc)
    assert record.oruk_id == SERVICE_ID
    assert record.organisation_name == "Northtown Lung Health Volunteers"
    assert record.needs == ("self_management", "social_loneliness")  # ours, then esd mapped
    assert record.conditions == ("COPD",)
    assert record.kind is ServiceKind.self_help
    assert record.access is ServiceAccess.referral  # the default without a term or hint
    assert record.capacity_per_month == 15
    assert record.locality == "Northtown"  # the service area before the address's city
    assert (record.address, record.postcode) == ("12 High Street", "NT1 2AB")
    assert (record.latitude, record.longitude) == (53.4808, -2.2426)
    assert record.accessibility == ("Hearing loop", "Step-free")
    assert record.languages == ("pa",)
    assert record.cost == "All, free"
    assert record.opening_times == "The second Tuesday of the month, 14:00 to 16:00"
    assert (record.minimum_age, record.maximum_age) == (18, 120)
    assert (
        "esdServiceTypes",
        "Support groups",
        "http://id.esd.org.uk/service/1",
    ) in record.taxonomy
    assert record.last_modified is not None and record.last_modified.year == 2025
    assert record.document == doc


def test_locality_falls_back_to_the_address_city_and_an_esd_hint_makes_it_self_referral() -> None:
    doc = breathe_easy()
    del doc["service_areas"]
    doc["attributes"].append(term("esdCircumstances", "Self-referral", 7))
    record = record_from_oruk(doc)
    assert record.locality == "Northtown City"
    assert record.access is ServiceAccess.self_referral
    doc["attributes"].append(term(ACCESS_TAXONOMY, "referral", 8))
    assert record_from_oruk(doc).access is ServiceAccess.referral  # our term wins


@pytest.mark.parametrize(
    ("vocabulary", "value", "reason"),
    [
        (NEEDS_TAXONOMY, "happiness", "unknown need 'happiness'"),
        (CONDITIONS_TAXONOMY, "FLU", "unknown condition 'FLU'"),
        (KIND_TAXONOMY, "charity", "unknown kind 'charity'"),
        (CAPACITY_TAXONOMY, "lots", "capacity 'lots' is not a whole number"),
        (CAPACITY_TAXONOMY, "-2", "capacity cannot be negative"),
    ],
)
def test_an_unknown_value_of_our_vocabularies_names_its_attribute(
    vocabulary: str, value: str, reason: str
) -> None:
    doc = breathe_easy()
    doc["attributes"] = [term(vocabulary, value, 1)]
    with pytest.raises(RecordProblem) as caught:
        record_from_oruk(doc)
    assert caught.value.pointer == "/attributes/0/taxonomy_term/term"
    assert reason in caught.value.reason


def test_export_of_an_imported_service_keeps_the_document_with_current_values() -> None:
    doc = breathe_easy()
    record = record_from_oruk(doc)
    from dataclasses import replace

    changed = replace(record, name="Breathe Easy (new name)", capacity_per_month=10)
    out = oruk_from_record(changed)
    assert schema_problems(out) == []
    assert out["name"] == "Breathe Easy (new name)"
    assert out["service_at_locations"] == doc["service_at_locations"]
    capacity = [a for a in out["attributes"] if a["taxonomy_term"]["taxonomy"] == CAPACITY_TAXONOMY]
    assert [a["taxonomy_term"]["term"] for a in capacity] == ["10"]
    # the esd classifications are kept, ours written once
    assert sum(a["taxonomy_term"]["taxonomy"] == "esdServiceTypes" for a in out["attributes"]) == 1
    assert record_from_oruk(out).capacity_per_month == 10


def test_a_service_built_from_columns_round_trips_losslessly() -> None:
    record = ServiceRecord(
        oruk_id="csv-1",
        name="Chair-based exercise",
        organisation_name="Demo Breathe Easy Group",
        status=ServiceStatus.temporarily_closed,
        kind=ServiceKind.community,
        access=ServiceAccess.both,
        description="Gentle seated exercise.",
        needs=("physical_health", "mobility"),
        conditions=("COPD", "HF"),
        taxonomy=(("esdServiceTypes", "Exercise", "http://id.esd.org.uk/service/2"),),
        locality="Leeds",
        address="2 Mill Street",
        postcode="LS1 1AA",
        latitude=53.8,
        longitude=-1.55,
        eligibility="Adults who find standing hard",
        minimum_age=18,
        maximum_age=99,
        capacity_per_month=0,
        cost="£2 per session",
        accessibility=("Wheelchair accessible", "Hearing loop"),
        languages=("en", "ur"),
        email="chair@example.org.uk",
        phone="0113 496 0000",
        url="https://example.org.uk/chair",
        opening_times="Every Friday, 11:00 to 12:00",
    )
    out = oruk_from_record(record)
    assert schema_problems(out) == []
    again = record_from_oruk(json.loads(json.dumps(out)))
    assert again == record  # every column (the document aside) as it was


def test_schedules_in_plain_words() -> None:
    assert (
        schedule_words(
            {"freq": "WEEKLY", "byday": "MO,TH", "opens_at": "10:00:00", "closes_at": "12:00:00"}
        )
        == "Every Monday, Thursday, 10:00 to 12:00"
    )
    assert (
        schedule_words({"freq": "WEEKLY", "interval": 2, "byday": "WE"}) == "Every other Wednesday"
    )
    assert schedule_words({"freq": "MONTHLY", "byday": "-1FR"}) == "The last Friday of the month"
    assert schedule_words({"description": "By appointment"}) == "By appointment"
    assert schedule_words({"id": "x"}) is None


def test_schema_problems_name_the_failing_field_by_json_pointer() -> None:
    doc = breathe_easy()
    doc["name"] = 7
    doc["status"] = "open"
    del doc["service_at_locations"][0]["location"]["addresses"][0]["postal_code"]
    problems = {str(p) for p in schema_problems(doc)}
    assert "/name: 7 is not of type 'string'" in problems
    assert any(p.startswith("/status: 'open' is not one of") for p in problems)
    assert "/service_at_locations/0/location/addresses/0: 'postal_code' is required" in problems
    missing = schema_problems({"id": SERVICE_ID, "status": "active"})
    assert [str(p) for p in missing] == ["/: 'name' is required"]


def test_every_shipped_schema_is_a_valid_draft_7_schema() -> None:
    for version, name in SCHEMA_FILES:
        assert validator(version, name) is not None


def test_feeds_are_read_as_an_object_a_list_a_page_or_ndjson() -> None:
    one = json.dumps({"id": "a"})
    assert [i.where for i in feed_items(one)] == ["record"]
    assert [i.where for i in feed_items(json.dumps([{"id": "a"}, {"id": "b"}]))] == [
        "index 0",
        "index 1",
    ]
    page = json.dumps({"total_items": 1, "contents": [{"id": "a"}]})
    assert [i.document for i in feed_items(page)] == [{"id": "a"}]
    items = list(feed_items('{"id": "a"}\n\n{"id": \n{"id": "c"}\n'))
    assert [i.where for i in items] == ["line 1", "line 3", "line 4"]
    assert items[1].problem is not None and "not valid JSON" in items[1].problem.reason
    assert items[2].document == {"id": "c"}


def oruk1_service() -> dict[str, Any]:
    return {
        "id": "e6b8f9ae-4f8b-4a1a-9a53-1f7c7a2b0c11",
        "name": "Wellbeing walks",
        "description": "Weekly walks.",
        "status": "active",
        "attending_access": "drop-in",
        "organization": {
            "id": "0b8e7f4e-2d6c-4a3b-9c1d-3e2f1a0b9c8d",
            "name": "Leeds Walkers",
            "description": "A walking charity.",
        },
        "regular_schedules": [
            {"id": "s1", "weekday": 2, "opens_at": "10:00", "closes_at": "11:00"}
        ],
        "eligibilitys": [
            {"id": "e1", "minimum_age": 50, "maximum_age": 99, "eligibility": "adult"}
        ],
        "service_taxonomys": [
            {
                "id": "t1",
                "taxonomy": {
                    "id": "http://id.esd.org.uk/need/12",
                    "name": "Loneliness",
                    "vocabulary": "esdNeeds",
                },
            }
        ],
        "fundings": [{"id": "f1", "source": "Council grant"}],
        "languages": [{"id": "l1", "language": "English"}],
        "service_at_locations": [
            {
                "id": "sal1",
                "location": {
                    "id": "loc1",
                    "name": "Park gates",
                    "latitude": 53.8,
                    "longitude": -1.5,
                    "physical_addresses": [
                        {
                            "id": "a1",
                            "address_1": "Park Road",
                            "city": "Leeds",
                            "state_province": "West Yorkshire",
                            "postal_code": "LS6 1AA",
                            "country": "GB",
                        }
                    ],
                    "accessibility_for_disabilities": [
                        {"id": "acc1", "accessibility": "Flat route"}
                    ],
                },
            }
        ],
    }


def test_an_oruk_1_service_maps_to_3_and_then_to_the_columns() -> None:
    old = oruk1_service()
    assert looks_like_oruk1(old)
    assert not looks_like_oruk1(breathe_easy())
    assert schema_problems(old, "1.0") == []
    new = oruk3_from_oruk1(old)
    assert schema_problems(new) == []
    assert new["schedules"][0]["byday"] == "TU" and new["funding"][0]["source"] == "Council grant"
    record = record_from_oruk(new)
    assert record.needs == ("social_loneliness",)  # esd need through needs_map.toml
    assert record.access is ServiceAccess.self_referral  # drop-in
    assert (record.minimum_age, record.maximum_age) == (50, 99)
    assert record.eligibility == "adult"
    assert (record.locality, record.postcode) == ("Leeds", "LS6 1AA")
    assert record.accessibility == ("Flat route",)
    assert record.languages == ("English",)
    assert record.opening_times == "Every Tuesday, 10:00 to 11:00"
    # the 1.0 spelling of the plurals is read too
    spelled = copy.deepcopy(old)
    spelled["service_taxonomies"] = spelled.pop("service_taxonomys")
    spelled["eligibilities"] = spelled.pop("eligibilitys")
    assert record_from_oruk(oruk3_from_oruk1(spelled)).needs == ("social_loneliness",)


def test_an_oruk_1_service_without_its_organisation_breaks_the_1_0_schema() -> None:
    old = oruk1_service()
    del old["organization"]["description"]
    assert [str(p) for p in schema_problems(old, "1.0")] == [
        "/organization: 'description' is required"
    ]


def test_the_needs_map_maps_esd_labels_to_need_domains() -> None:
    mapping = needs_map()
    assert mapping.domain_of("Debt advice", None) == "social_finance"
    assert mapping.domain_of("CARERS", None) == "social_carer"
    assert mapping.domain_of("Something else", None) is None
    assert mapping.says_self_referral("Drop-in")


CSV_HEADER = "id,name,organisation,needs,conditions,capacity_per_month,status,access,languages\n"


def test_csv_rows_are_read_and_a_bad_row_is_reported_with_its_line() -> None:
    text = CSV_HEADER + (
        "w1,Walking group,Walkers,social_loneliness;physical_health,,20,active,"
        "self_referral,en;ur\n"
        ",No organisation,,,,,,,\n"
        "w3,Bad capacity,Walkers,,,many,,,\n"
        "w4,Bad need,Walkers,happiness,,,,,\n"
        "w5,Bad condition,Walkers,,FLU,,,,\n"
        "w6,Bad status,Walkers,,,,open,,\n"
        "w7,Too many,Walkers,,,,,,,extra\n"
    )
    rows = list(read_csv(text))
    good = rows[0].record
    assert good is not None
    assert good.needs == ("social_loneliness", "physical_health")
    assert good.languages == ("en", "ur") and good.capacity_per_month == 20
    assert good.access is ServiceAccess.self_referral
    problems = {r.line: str(r.problem) for r in rows if r.problem is not None}
    assert problems == {
        3: "organisation: organisation is required",
        4: "capacity_per_month: 'many' is not a whole number",
        5: "need: unknown need 'happiness' (one of physical_health, mental_health, "
        "self_management, social_housing, social_finance, social_loneliness, social_carer, "
        "mobility, medicines)",
        6: "conditions: unknown condition(s) FLU",
        7: "status: unknown status 'open' (one of active, inactive, defunct, temporarily closed)",
        8: "/: more values than columns",
    }


def test_a_csv_without_a_required_column_cannot_be_read() -> None:
    with pytest.raises(CsvHeaderError, match="no column organisation"):
        list(read_csv("id,name\n1,x\n"))
    with pytest.raises(CsvHeaderError, match="unknown column"):
        list(read_csv("name,organisation,colour\nx,y,z\n"))


def test_a_csv_row_round_trips() -> None:
    rows = list(read_csv(CSV_HEADER + "w1,Walk,Walkers,mobility,COPD;HF,3,inactive,both,en\n"))
    record = rows[0].record
    assert record is not None
    import csv
    import io

    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(csv_row(record)))
    writer.writeheader()
    writer.writerow(csv_row(record))
    again = next(iter(read_csv(out.getvalue()))).record
    assert again == record
