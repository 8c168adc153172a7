"""Importing directory feeds into the store, on SQLite and PostgreSQL (issue 13).

Good feeds of every format; each kind of bad record (a line that is not JSON, a schema
violation, a missing required field, a wrong type, a duplicate id in one feed, an unknown
status) rejected with where and why while the rest of the feed is kept; re-importing changes
nothing and a changed record updates its row; an interrupted import leaves the directory as
it was; export then import gives the same directory."""

# ruff: noqa: F401, F811 (the directory fixture is imported, then requested by name)
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from support_directory import Directory, demo_documents, directory

from houseofcare.careplan.actor import Actor
from houseofcare.progress import NullProgress
from houseofcare.selfcare.directory import (
    ServiceQuery,
    all_active_services,
    get_service,
    get_service_by_oruk_id,
    search_services,
)
from houseofcare.selfcare.directory_import import (
    FeedError,
    FeedFormat,
    export_csv,
    export_oruk,
    import_path,
    import_text,
)
from houseofcare.selfcare.oruk_schema import schema_problems
from houseofcare.store.models import (
    AuditEvent,
    Role,
    Service,
    ServiceAccess,
    ServiceKind,
    ServiceStatus,
)

DEMO_COUNT = 43


def _feed(docs: list[dict[str, Any]]) -> str:
    return json.dumps({"contents": docs})


def test_the_demo_directory_is_in_and_reimporting_it_changes_nothing(
    directory: Directory,
) -> None:
    before = directory.services()
    assert len(before) == DEMO_COUNT
    summary = import_text(directory.factory, _feed(demo_documents()))
    assert (summary.counts.imported, summary.counts.updated) == (0, 0)
    assert summary.counts.unchanged == DEMO_COUNT and summary.rejected == []
    assert directory.services() == before
    with directory.factory() as session:
        walk = session.scalar(select(Service).where(Service.name == "Health Walks Manchester"))
        assert walk is not None and walk.organisation_id is not None  # the group receives it
        assert walk.needs == ["social_loneliness", "physical_health", "self_management"]
        assert (walk.access, walk.capacity_per_month) == (ServiceAccess.self_referral, 20)


def test_a_changed_record_updates_its_row_and_the_import_is_audited(directory: Directory) -> None:
    docs = demo_documents()
    walk = next(d for d in docs if d["name"] == "Health Walks Manchester")
    walk["description"] = "Now on Saturdays too."
    actor = Actor(user_id=None, username=None, role=None)
    summary = import_text(directory.factory, json.dumps(walk), actor=actor)
    assert (summary.counts.imported, summary.counts.updated, summary.counts.unchanged) == (0, 1, 0)
    with directory.factory() as session:
        row = get_service_by_oruk_id(session, walk["id"])
        assert row is not None and row.description == "Now on Saturdays too."
        assert row.organisation_id is not None  # the local link is kept
    # with a signed-in user, who imported what is in the audit trail
    with directory.factory() as session:
        user_id = session.scalar(select(func.min(AuditEvent.id)))
    walk["description"] = "And on Sundays."
    person = Actor(user_id=1, username="d.gp", role=Role.gp)
    import_text(directory.factory, json.dumps(walk), actor=person)
    with directory.factory() as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.resource_type == "Service")
        ).one()
        assert (event.action, event.username, event.detail) == (
            "import",
            "d.gp",
            {"imported": 0, "updated": 1, "source": "feed.json"},
        )
    assert user_id is None or user_id >= 0


def _bad_feed() -> tuple[str, list[dict[str, Any]]]:
    """An NDJSON feed: good records with one of every kind of bad one among them."""
    docs = demo_documents()[:5]
    missing = copy.deepcopy(docs[0])
    missing["id"] = "11111111-1111-4111-8111-111111111111"
    del missing["name"]
    wrong_type = copy.deepcopy(docs[0])
    wrong_type["id"] = "22222222-2222-4222-8222-222222222222"
    wrong_type["minimum_age"] = "eighteen"
    unknown_status = copy.deepcopy(docs[0])
    unknown_status["id"] = "33333333-3333-4333-8333-333333333333"
    unknown_status["status"] = "open"
    nested = copy.deepcopy(docs[0])
    nested["id"] = "44444444-4444-4444-8444-444444444444"
    del nested["service_at_locations"][0]["location"]["location_type"]
    unknown_need = copy.deepcopy(docs[0])
    unknown_need["id"] = "55555555-5555-4555-8555-555555555555"
    unknown_need["attributes"][0]["taxonomy_term"]["term"] = "happiness"
    lines = [json.dumps(d) for d in docs[:3]]
    lines += [
        '{"id": "broken", "name": ',
        json.dumps(missing),
        json.dumps(wrong_type),
        json.dumps(docs[1]),  # a duplicate id in the same feed
        json.dumps(unknown_status),
        json.dumps(nested),
        json.dumps(unknown_need),
        json.dumps(["not", "a", "service"]),
    ]
    lines += [json.dumps(d) for d in docs[3:]]
    return "\n".join(lines) + "\n", docs


def test_each_kind_of_bad_record_is_rejected_with_where_and_why_and_the_rest_kept(
    directory: Directory, tmp_path: Path
) -> None:
    text, docs = _bad_feed()
    path = tmp_path / "feed.ndjson"
    path.write_text(text)
    with directory.factory() as session:
        session.execute(Service.__table__.delete())
        session.commit()
    summary = import_path(directory.factory, path)
    assert summary.counts.imported == 5
    reasons = {r.where: r.reason for r in summary.rejected}
    assert reasons == {
        "feed.ndjson line 4": "not valid JSON (Expecting value)",
        "feed.ndjson line 5": "'name' is required (against the ORUK 3.0 schema)",
        "feed.ndjson line 6 /minimum_age": "'eighteen' is not of type 'number' (against the "
        "ORUK 3.0 schema)",
        "feed.ndjson line 7 /id": f"duplicate id {docs[1]['id']!r} (first at feed.ndjson line 2)",
        "feed.ndjson line 8 /status": "'open' is not one of ['active', 'inactive', 'defunct', "
        "'temporarily closed'] (against the ORUK 3.0 schema)",
        "feed.ndjson line 9 /service_at_locations/0/location": "'location_type' is required "
        "(against the ORUK 3.0 schema)",
        "feed.ndjson line 10 /attributes/0/taxonomy_term/term": "unknown need 'happiness' (one of "
        "physical_health, mental_health, self_management, social_housing, social_finance, "
        "social_loneliness, social_carer, mobility, medicines)",
        "feed.ndjson line 11": "a service must be a JSON object, not list",
    }
    stored = directory.services()
    assert set(stored) == {d["id"] for d in docs}


def test_an_interrupted_import_leaves_the_directory_as_it_was(
    directory: Directory, tmp_path: Path
) -> None:
    before = directory.services()
    docs = demo_documents()
    for doc in docs:
        doc["description"] = "Changed by the feed that was interrupted."
    docs.append({**copy.deepcopy(docs[0]), "id": "66666666-6666-4666-8666-666666666666"})
    path = tmp_path / "big.json"
    path.write_text(_feed(docs))

    class CtrlC(NullProgress):
        def advance(self, task_id: int, amount: float = 1) -> None:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        import_path(directory.factory, path, progress=CtrlC())
    assert directory.services() == before


def test_a_folder_of_feeds_in_every_format(directory: Directory, tmp_path: Path) -> None:
    folder = tmp_path / "feeds"
    folder.mkdir()
    (folder / "a.csv").write_text(
        "id,name,organisation,needs,locality,access,capacity_per_month\n"
        "csv-1,Leeds lunch club,Leeds Lunches,social_loneliness,Leeds,self_referral,12\n"
        ",,no name,,,,\n"
    )
    old = {
        "id": "e6b8f9ae-4f8b-4a1a-9a53-1f7c7a2b0c11",
        "name": "Wellbeing walks (1.0 feed)",
        "organization": {
            "id": "0b8e7f4e-2d6c-4a3b-9c1d-3e2f1a0b9c8d",
            "name": "Leeds Walkers",
            "description": "A walking charity.",
        },
        "regular_schedules": [{"id": "s1", "weekday": 1, "opens_at": "10:00"}],
    }
    (folder / "b.json").write_text(json.dumps([old]))
    (folder / "notes.txt").write_text("not a feed")
    summary = import_path(directory.factory, folder)
    assert summary.files == 2 and summary.counts.imported == 2
    assert [str(r) for r in summary.rejected] == ["a.csv line 3 name: name is required"]
    with directory.factory() as session:
        club = get_service_by_oruk_id(session, "csv-1")
        assert club is not None and club.capacity_per_month == 12
        walks = get_service_by_oruk_id(session, old["id"])
        assert walks is not None and walks.status == ServiceStatus.active
        # kept as its 3.0 mapping, so an export is valid 3.0
        assert walks.document["schedules"][0]["byday"] == "MO"
        assert walks.opening_times == "Every Monday"
    with pytest.raises(FeedError, match="no such file"):
        import_path(directory.factory, tmp_path / "missing.json")


def test_a_forced_format_reads_a_file_as_told(directory: Directory, tmp_path: Path) -> None:
    path = tmp_path / "directory.txt"
    path.write_text("name,organisation\nA club,Somebody\n")
    summary = import_path(directory.factory, path, version=FeedFormat.csv)
    assert summary.counts.imported == 1


def test_export_is_schema_valid_and_imports_back_to_the_same_directory(
    directory: Directory,
) -> None:
    with directory.factory() as session:
        text = export_oruk(session)
        table = export_csv(session)
    page = json.loads(text)
    assert page["total_items"] == DEMO_COUNT
    assert schema_problems(page, name="service_list") == []
    for doc in page["contents"]:
        assert schema_problems(doc) == [], doc["name"]
    before = directory.services()
    with directory.factory() as session:
        session.execute(Service.__table__.delete())
        session.commit()
    import_text(directory.factory, text)
    after = directory.services()
    for columns in (*before.values(), *after.values()):
        for volatile in ("document", "updated_at", "organisation_id"):
            columns.pop(volatile)
    assert after == before
    # and the CSV export reads back to the same columns too
    with directory.factory() as session:
        session.execute(Service.__table__.delete())
        session.commit()
    summary = import_text(directory.factory, table, "directory.csv")
    assert summary.counts.imported == DEMO_COUNT and summary.rejected == []
    # over the rows it came from, the CSV changes nothing (they keep their ORUK documents)
    with directory.factory() as session:
        session.execute(Service.__table__.delete())
        session.commit()
    import_text(directory.factory, text)
    over = import_text(directory.factory, table, "directory.csv")
    assert (over.counts.unchanged, over.counts.updated) == (DEMO_COUNT, 0)
    with directory.factory() as session:
        session.execute(Service.__table__.delete())
        session.commit()
    import_text(directory.factory, table, "directory.csv")
    again = directory.services()
    for columns in again.values():
        for volatile in ("document", "updated_at", "organisation_id", "taxonomy"):
            columns.pop(volatile)
    for columns in before.values():
        columns.pop("taxonomy")
    assert again == before


def test_search_filters_and_pages(directory: Directory) -> None:
    with directory.factory() as session:
        everyone = search_services(session, ServiceQuery())
        assert everyone.total == DEMO_COUNT - 1  # the temporarily closed one is left out
        assert len(everyone.services) == 25 and everyone.pages == 2
        second = search_services(session, ServiceQuery(page=2))
        assert len(second.services) == DEMO_COUNT - 1 - 25
        names = [s.name for s in everyone.services + second.services]
        assert names == sorted(names)
        closed = search_services(session, ServiceQuery(text="memory", include_inactive=True))
        assert [s.status for s in closed.services] == [ServiceStatus.temporarily_closed]
        assert search_services(session, ServiceQuery(text="memory")).total == 0
        walks = search_services(session, ServiceQuery(text="health walks", locality="leeds"))
        assert [s.name for s in walks.services] == ["Health Walks Leeds"]
        copd = search_services(
            session, ServiceQuery(condition="COPD", kind=ServiceKind.rehabilitation)
        )
        assert [s.name for s in copd.services] == ["Pulmonary rehabilitation"]
        money = search_services(session, ServiceQuery(need="social_finance", locality="Manchester"))
        assert {s.name for s in money.services} == {
            "Citizens Advice money and benefits advice",
            "Shelter housing advice",
        }
        yourself = search_services(
            session, ServiceQuery(access=ServiceAccess.self_referral, locality="Manchester")
        )
        assert all(s.access != ServiceAccess.referral for s in yourself.services)
        assert "Pulmonary rehabilitation" not in {s.name for s in yourself.services}
        # a condition filter keeps services for any condition
        any_condition = search_services(session, ServiceQuery(condition="DM", need="social_carer"))
        assert any_condition.total > 0
        assert len(all_active_services(session)) == DEMO_COUNT - 1
        first = everyone.services[0]
        assert get_service(session, first.id) is first
        assert get_service(session, 999_999) is None
