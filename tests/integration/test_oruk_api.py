"""The directory as a read-only ORUK 3.0 API (`/oruk/`), on SQLite and PostgreSQL (issue 13).

Every answer is checked against the shipped ORUK schemas: the API details, each page of
`/oruk/services` (and every service listed), and each fully nested `/oruk/services/{id}`.
The API is open without sign-in, like a public ORUK feed, and writes no audit event."""

# ruff: noqa: F401, F811 (the directory fixture is imported, then requested by name)
from __future__ import annotations

from sqlalchemy import func, select
from support_directory import Directory, demo_documents, directory

from houseofcare.selfcare.oruk import NEEDS_TAXONOMY, made_id
from houseofcare.selfcare.oruk_schema import schema_problems
from houseofcare.store.models import AuditEvent

DEMO_COUNT = 43


def _audit_count(directory: Directory) -> int:
    with directory.factory() as session:
        return session.scalar(select(func.count()).select_from(AuditEvent)) or 0


def test_the_api_details_page_and_service_validate_against_the_published_schemas(
    directory: Directory,
) -> None:
    anonymous = directory.browser()
    audits = _audit_count(directory)
    details = anonymous.get("/oruk/")
    assert details.status_code == 200
    assert details.json()["version"] == "HSDS-UK-3.0"
    assert schema_problems(details.json(), name="api_details") == []
    first = anonymous.get("/oruk/services").json()
    assert schema_problems(first, name="service_list") == []
    assert first["total_items"] == DEMO_COUNT  # every status: the feed says which are open
    assert (first["page_number"], first["size"], first["total_pages"]) == (1, 25, 2)
    assert first["first_page"] and not first["last_page"] and not first["empty"]
    for item in first["contents"]:
        assert schema_problems(item, name="service_list_item") == []
        assert "attributes" not in item and "organization" in item  # one-to-one fields only
    last = anonymous.get("/oruk/services", params={"page": 2}).json()
    assert last["last_page"] and last["size"] == DEMO_COUNT - 25
    ids = [s["id"] for s in first["contents"] + last["contents"]]
    assert sorted(ids) == sorted(d["id"] for d in demo_documents())
    for service_id in ids:
        full = anonymous.get(f"/oruk/services/{service_id}")
        assert full.status_code == 200
        assert schema_problems(full.json()) == [], service_id
    walk = next(d for d in demo_documents() if d["name"] == "Health Walks Manchester")
    answer = anonymous.get(f"/oruk/services/{walk['id']}").json()
    terms = {
        (a["taxonomy_term"]["taxonomy"], a["taxonomy_term"]["term"]) for a in answer["attributes"]
    }
    assert {("houseofcare-needs", "social_loneliness"), ("houseofcare-capacity", "20")} <= terms
    assert _audit_count(directory) == audits  # nothing identifiable: no audit


def test_searching_the_api(directory: Directory) -> None:
    client = directory.browser()
    walks = client.get("/oruk/services", params={"search": "health walks", "per_page": 3}).json()
    assert walks["total_items"] == 6 and walks["size"] == 3 and walks["total_pages"] == 2
    by_need = client.get("/oruk/services", params={"need": "social_carer"}).json()
    names = {s["name"] for s in by_need["contents"]}
    assert "Carers Manchester: support for unpaid carers" in names
    term = made_id("term", NEEDS_TAXONOMY, "social_carer")
    by_term = client.get("/oruk/services", params={"taxonomy_term_id": term}).json()
    assert {s["name"] for s in by_term["contents"]} == names
    full = client.get("/oruk/services", params={"need": "social_carer", "full": "true"}).json()
    assert all("attributes" in s for s in full["contents"])
    assert schema_problems(full, name="service_list") == []
    later = client.get("/oruk/services", params={"modified_after": "2999-01-01T00:00:00Z"})
    assert later.json()["empty"] and later.json()["total_items"] == 0


def test_bad_queries_and_unknown_services_answer_json_errors(directory: Directory) -> None:
    client = directory.browser()
    for params, word in (
        ({"page": "zero"}, "page"),
        ({"per_page": "0"}, "per_page"),
        ({"need": "happiness"}, "need"),
        ({"modified_after": "yesterday"}, "modified_after"),
    ):
        answer = client.get("/oruk/services", params=params)
        assert answer.status_code == 400
        assert word in answer.json()["error"]
    missing = client.get("/oruk/services/00000000-0000-4000-8000-000000000000")
    assert missing.status_code == 404
    assert missing.json() == {"error": "no service 00000000-0000-4000-8000-000000000000"}


def test_every_role_and_nobody_read_the_same_open_api(directory: Directory) -> None:
    """The open routes answer the same to anyone signed in as to nobody (the matrix test
    covers every role; this checks the anonymous case, which the matrix has no role for)."""
    anonymous = directory.browser().get("/oruk/services").json()
    for username in ("d.patient", "d.commissioner", "d.gp"):
        assert directory.browser(username).get("/oruk/services").json() == anonymous


def test_any_taxonomy_term_of_a_kept_record_finds_its_service(directory: Directory) -> None:
    import json

    from houseofcare.selfcare.directory_import import import_text

    doc = next(d for d in demo_documents() if d["name"] == "Shelter housing advice")
    term_id = "7d1f3c2a-0b9e-4c8d-a6f5-e4d3c2b1a0f9"
    doc["attributes"].append(
        {
            "id": "8d1f3c2a-0b9e-4c8d-a6f5-e4d3c2b1a0f9",
            "link_id": doc["id"],
            "taxonomy_term_id": term_id,
            "taxonomy_term": {
                "id": term_id,
                "name": "Housing advice",
                "description": "LGA service type",
                "taxonomy": "esdServiceTypes",
            },
        }
    )
    import_text(directory.factory, json.dumps(doc))
    client = directory.browser()
    found = client.get("/oruk/services", params={"taxonomy_term_id": term_id}).json()
    assert [s["name"] for s in found["contents"]] == ["Shelter housing advice"]
    wild = client.get("/oruk/services", params={"taxonomy_term_id": "%"}).json()
    assert wild["total_items"] == 0  # a LIKE wildcard is a character, not "anything"


def test_the_whole_directory_as_ndjson(directory: Directory) -> None:
    """`format=ndjson`: every matching service, fully nested and schema-valid, one per line,
    whatever the page size; a bad query is still a JSON 400 before any line."""
    import json

    client = directory.browser()
    answer = client.get("/oruk/services", params={"format": "ndjson", "per_page": 2})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/x-ndjson")
    lines = answer.text.splitlines()
    assert len(lines) == DEMO_COUNT
    documents = [json.loads(line) for line in lines]
    assert sorted(d["id"] for d in documents) == sorted(d["id"] for d in demo_documents())
    for document in documents:
        assert schema_problems(document) == [], document["id"]
    carers = client.get("/oruk/services", params={"format": "ndjson", "need": "social_carer"})
    paged = client.get("/oruk/services", params={"need": "social_carer", "per_page": 100})
    assert [json.loads(x)["id"] for x in carers.text.splitlines()] == [
        s["id"] for s in paged.json()["contents"]
    ]
    for params, word in (
        ({"format": "xml"}, "format"),
        ({"format": "ndjson", "need": "x"}, "need"),
    ):
        bad = client.get("/oruk/services", params=params)
        assert bad.status_code == 400 and word in bad.json()["error"]
