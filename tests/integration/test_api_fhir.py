"""The FHIR API over HTTP on SQLite and PostgreSQL: versions, history, bad input, sign-in."""

# ruff: noqa: F811 (the api_world fixture is imported, then requested by name)
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_api_support import FHIR, PASSWORD, World, api_world  # noqa: F401 (fixture)

from houseofcare.api.fhir.mapping import careplan_to_fhir
from houseofcare.careplan.reading import careplan_record_from_head, plan_head
from houseofcare.store.models import AuditOutcome


def _new_plan(w: World, **extra: Any) -> dict[str, Any]:
    person = w.new_person("A")
    body = {
        "resourceType": "CarePlan",
        "status": "active",
        "intent": "plan",
        "title": "Breathe easier",
        "subject": {"reference": f"Patient/{person}"},
        **extra,
    }
    response = w.post("gp", "/fhir/CarePlan", body)
    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith(FHIR)
    return response.json()


def test_create_read_update_history_and_vread(api_world: World) -> None:
    w = api_world
    plan = _new_plan(w)
    url = f"/fhir/CarePlan/{plan['id']}"
    read = w.get("gp", url)
    assert read.status_code == 200
    assert read.headers["ETag"] == 'W/"1"'
    assert read.json()["meta"]["versionId"] == "1"
    assert read.json()["subject"]["identifier"]["system"] == "https://fhir.nhs.uk/Id/nhs-number"
    body = read.json() | {"title": "Breathe easier and walk"}
    updated = w.put("gp", url, body, 1)
    assert updated.status_code == 200, updated.text
    assert updated.headers["ETag"] == 'W/"2"'
    assert updated.json()["title"] == "Breathe easier and walk"
    history = w.get("gp", f"{url}/_history").json()
    assert history["type"] == "history"
    assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["2", "1"]
    first = w.get("gp", f"{url}/_history/1")
    assert first.status_code == 200
    assert first.json()["title"] == "Breathe easier"
    assert w.get("gp", f"{url}/_history/9").status_code == 404


def test_a_stale_if_match_gets_412_and_writes_nothing(api_world: World) -> None:
    w = api_world
    plan = _new_plan(w)
    url = f"/fhir/CarePlan/{plan['id']}"
    assert w.put("gp", url, plan | {"title": "first"}, 1).status_code == 200
    before = w.clinical_snapshot()
    stale = w.put("nurse", url, plan | {"title": "second"}, 1)
    assert stale.status_code == 412
    assert stale.json()["issue"][0]["expression"] == ["If-Match"]
    assert "version 2, not 1" in stale.json()["issue"][0]["diagnostics"]
    assert stale.headers["ETag"] == 'W/"2"'
    assert w.clinical_snapshot() == before
    assert w.last_audit("nurse").outcome is AuditOutcome.conflict
    missing = w.put("nurse", url, plan, None)
    assert missing.status_code == 428
    assert w.clinical_snapshot() == before


def test_activities_needs_and_conversation_round_trip_over_http(api_world: World) -> None:
    w = api_world
    extension = [
        {
            "url": "https://houseofcare.org.uk/fhir/StructureDefinition/review-date",
            "valueDate": "2026-09-01",
        },
        {
            "url": "https://houseofcare.org.uk/fhir/StructureDefinition/need",
            "extension": [
                {"url": "domain", "valueCode": "social_loneliness"},
                {"url": "description", "valueString": "I don't see anyone most days"},
            ],
        },
    ]
    plan = _new_plan(
        w,
        extension=extension,
        activity=[
            {
                "detail": {
                    "kind": "Task",
                    "status": "scheduled",
                    "description": "Join the Breathe Easy group",
                    "performer": [{"type": "HealthcareService", "display": "Breathe Easy"}],
                    "scheduledPeriod": {"end": "2026-06-30"},
                }
            }
        ],
    )
    assert plan["activity"][0]["detail"]["performer"][0]["display"] == "Breathe Easy"
    needs = [e for e in plan["extension"] if e["url"].endswith("/need")]
    assert needs[0]["extension"][0]["valueCode"] == "social_loneliness"
    version = int(plan["meta"]["versionId"])
    changed = dict(plan)
    changed["activity"] = [
        plan["activity"][0] | {"detail": plan["activity"][0]["detail"] | {"status": "completed"}}
    ]
    changed["contributor"] = [
        {"type": "Patient", "display": "The person"},
        {"type": "Practitioner", "display": "Test gp"},
    ]
    changed["extension"] = [
        e if not e["url"].endswith("agreed-with-person") else e | {"valueBoolean": True}
        for e in plan["extension"]
    ]
    response = w.put("gp", f"/fhir/CarePlan/{plan['id']}", changed, version)
    assert response.status_code == 200, response.text
    after = response.json()
    assert after["activity"][0]["detail"]["status"] == "completed"
    assert [c["display"] for c in after["contributor"]] == ["The person", "Test gp"]
    assert int(after["meta"]["versionId"]) > version
    dropping = after | {"activity": []}
    refused = w.put("gp", f"/fhir/CarePlan/{plan['id']}", dropping, int(after["meta"]["versionId"]))
    assert refused.status_code == 422
    assert "never deleted" in refused.json()["issue"][0]["diagnostics"]


def test_the_one_statement_read_answers_what_the_portable_read_does_and_audits_once(
    api_world: World,
) -> None:
    """On PostgreSQL a read is one statement (access, audit row, plan and parts); it must
    answer exactly the record the ORM path builds, and leave exactly one audit event."""
    w = api_world
    reader = w.client.app.state.services.plan_reader  # type: ignore[attr-defined]
    assert (reader is not None) == (w.db == "postgresql")
    plan = _new_plan(
        w,
        contributor=[{"type": "Patient", "display": "The person"}],
        activity=[
            {
                "detail": {
                    "kind": "Task",
                    "status": "scheduled",
                    "description": "Walk to the shop",
                    "performer": [{"type": "Patient", "display": "Me"}],
                    "scheduledPeriod": {"end": "2026-07-31"},
                }
            }
        ],
        extension=[
            {
                "url": "https://houseofcare.org.uk/fhir/StructureDefinition/need",
                "extension": [
                    {"url": "domain", "valueCode": "mobility"},
                    {"url": "description", "valueString": "Stairs are hard"},
                ],
            }
        ],
    )
    commented = w.client.post(
        f"/app/careplans/{plan['id']}/comments",
        headers=w.headers("gp"),
        json={"text": "Seen today"},
    )
    assert commented.status_code in (200, 201), commented.text
    before = w.audit_count()
    read = w.get("gp", f"/fhir/CarePlan/{plan['id']}")
    assert read.status_code == 200, read.text
    assert w.audit_count() == before + 1
    event = w.last_audit("gp")
    assert (event.action, event.resource_id, event.outcome) == (
        "read",
        plan["id"],
        AuditOutcome.success,
    )
    assert event.person_id == int(plan["subject"]["reference"].split("/")[1])
    with w.factory() as session:
        head = plan_head(session, int(plan["id"]))
        assert head is not None
        portable = careplan_to_fhir(careplan_record_from_head(session, head))
    assert read.json() == portable
    assert read.json()["note"][0]["text"] == "Seen today"
    assert read.json()["activity"][0]["detail"]["scheduledPeriod"]["end"] == "2026-07-31"
    assert read.headers["ETag"] == f'W/"{plan["meta"]["versionId"]}"'
    # the answer to a write is built by one query on PostgreSQL: the same record again
    written = w.put(
        "gp", f"/fhir/CarePlan/{plan['id']}", read.json() | {"title": "Walk further"}, None
    )
    assert written.status_code == 428  # no If-Match: nothing written
    written = w.put(
        "gp",
        f"/fhir/CarePlan/{plan['id']}",
        read.json() | {"title": "Walk further"},
        int(plan["meta"]["versionId"]),
    )
    assert written.status_code == 200, written.text
    with w.factory() as session:
        head = plan_head(session, int(plan["id"]))
        assert head is not None
        assert written.json() == careplan_to_fhir(careplan_record_from_head(session, head))
    assert written.json()["title"] == "Walk further"


def test_a_refused_or_missing_read_still_gets_403_or_404_with_its_audit(api_world: World) -> None:
    """Refusals and missing plans leave the fast path and are audited as before."""
    w = api_world
    refused = w.get("gp_b", f"/fhir/CarePlan/{w.plans['related']}")
    assert refused.status_code == 403
    assert refused.json()["resourceType"] == "OperationOutcome"
    event = w.last_audit("gp_b")
    assert (event.action, event.outcome) == ("read", AuditOutcome.denied)
    missing = w.get("gp", "/fhir/CarePlan/987654321")
    assert missing.status_code == 404
    assert w.last_audit("gp").outcome == AuditOutcome.not_found


BAD_BODIES = [
    pytest.param({"titel": "x"}, 400, "CarePlan.titel", id="unknown field"),
    pytest.param({"title": 5}, 400, "CarePlan.title", id="wrong type"),
    pytest.param({"status": "finished"}, 400, "CarePlan.status", id="bad code"),
    pytest.param(
        {"subject": {"reference": "Practitioner/1"}},
        400,
        "CarePlan.subject.reference",
        id="not a patient",
    ),
    pytest.param(
        {
            "subject": {
                "reference": "PATIENT",
                "identifier": {
                    "system": "https://fhir.nhs.uk/Id/nhs-number",
                    "value": "9434765918",
                },
            }
        },
        400,
        "CarePlan.subject.reference",
        id="bad reference",
    ),
]


@pytest.mark.parametrize(("change", "status", "field"), BAD_BODIES)
def test_bad_bodies_are_refused_naming_the_field_and_write_nothing(
    api_world: World, change: dict[str, Any], status: int, field: str
) -> None:
    w = api_world
    person = w.people["related"]
    body = {
        "resourceType": "CarePlan",
        "status": "draft",
        "intent": "plan",
        "title": "x",
        "subject": {"reference": f"Patient/{person}"},
    } | change
    before = w.clinical_snapshot()
    response = w.post("gp", "/fhir/CarePlan", body)
    assert response.status_code == status, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert field in {e for issue in outcome["issue"] for e in issue.get("expression", [])}
    assert field in outcome["issue"][0]["diagnostics"]
    assert w.clinical_snapshot() == before
    assert w.last_audit("gp").outcome is AuditOutcome.invalid


def test_an_invalid_or_someone_else_s_nhs_number_is_refused(api_world: World) -> None:
    w = api_world
    before = w.clinical_snapshot()
    base = {
        "resourceType": "CarePlan",
        "status": "draft",
        "intent": "plan",
        "title": "x",
    }
    subject = {"reference": f"Patient/{w.people['related']}"}
    invalid = w.post(
        "gp",
        "/fhir/CarePlan",
        base
        | {
            "subject": subject
            | {"identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765918"}}
        },
    )
    assert invalid.status_code == 400
    assert invalid.json()["issue"][0]["expression"] == ["CarePlan.subject.identifier.value"]
    assert "modulus 11" in invalid.json()["issue"][0]["diagnostics"]
    other = w.post(
        "gp",
        "/fhir/CarePlan",
        base
        | {
            "subject": subject
            | {
                "identifier": {
                    "system": "https://fhir.nhs.uk/Id/nhs-number",
                    "value": w.nhs["unrelated"],
                }
            }
        },
    )
    assert other.status_code == 422
    assert "right person" in other.json()["issue"][0]["diagnostics"]
    search = w.get("gp", "/fhir/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|1234567890")
    assert search.status_code == 400
    assert search.json()["issue"][0]["expression"] == ["identifier"]
    assert w.clinical_snapshot() == before


def test_oversized_and_malformed_bodies(api_world: World) -> None:
    w = api_world
    before = w.clinical_snapshot()
    huge = {
        "resourceType": "CarePlan",
        "status": "draft",
        "intent": "plan",
        "title": "x",
        "description": "y" * 400_000,
        "subject": {"reference": f"Patient/{w.people['related']}"},
    }
    response = w.post("gp", "/fhir/CarePlan", huge)
    assert response.status_code == 413
    assert response.json()["issue"][0]["code"] == "too-long"
    broken = w.client.post(
        "/fhir/CarePlan",
        content=b'{"resourceType": "CarePlan",',
        headers=w.headers("gp", **{"Content-Type": FHIR}),
    )
    assert broken.status_code == 400
    assert "not valid JSON" in broken.json()["issue"][0]["diagnostics"]
    wrong_type = w.client.post(
        "/fhir/CarePlan",
        content=b"title=x",
        headers=w.headers("gp", **{"Content-Type": "text/plain"}),
    )
    assert wrong_type.status_code == 415
    assert w.clinical_snapshot() == before


def test_goal_create_update_history_and_stale(api_world: World) -> None:
    w = api_world
    plan = _new_plan(w)
    person = plan["subject"]["reference"]
    created = w.post(
        "nurse",
        "/fhir/Goal",
        {
            "resourceType": "Goal",
            "lifecycleStatus": "active",
            "description": {"text": "Walk to church on Sundays"},
            "subject": {"reference": person},
            "target": [
                {
                    "measure": {"text": "steps a day"},
                    "detailQuantity": {"value": 3000},
                    "dueDate": "2026-08-01",
                }
            ],
        },
    )
    assert created.status_code == 201, created.text
    goal = created.json()
    assert goal["description"]["text"] == "Walk to church on Sundays"
    url = f"/fhir/Goal/{goal['id']}"
    changed = goal | {"lifecycleStatus": "completed"}
    assert w.put("nurse", url, changed, 1).status_code == 200
    assert w.put("nurse", url, changed, 1).status_code == 412
    history = w.get("nurse", f"{url}/_history").json()
    assert [e["resource"]["lifecycleStatus"] for e in history["entry"]] == ["completed", "active"]
    plan_now = w.get("nurse", f"/fhir/CarePlan/{plan['id']}").json()
    assert {"reference": f"Goal/{goal['id']}"} in plan_now["goal"]
    wrong = goal | {"subject": {"reference": f"Patient/{w.people['related']}"}}
    assert w.put("nurse", url, wrong, 2).status_code == 422


def test_risk_assessment_without_risk_tables_is_a_clear_404(api_world: World) -> None:
    w = api_world
    response = w.get("gp", f"/fhir/RiskAssessment/{w.people['related']}")
    assert response.status_code == 404
    assert "no analytic store" in response.json()["issue"][0]["diagnostics"]


def test_sign_in_with_a_cookie_sign_out_and_wrong_password(api_world: World) -> None:
    w = api_world
    bad = w.client.post("/auth/token", data={"username": "t.gp", "password": "nope"})
    assert bad.status_code == 401
    assert bad.json()["resourceType"] == "OperationOutcome"
    from fastapi.testclient import TestClient

    pages = TestClient(w.client.app)
    login = pages.post("/auth/login", data={"username": "t.nurse", "password": PASSWORD})
    assert login.status_code == 200
    cookie = login.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert pages.get(f"/fhir/CarePlan/{w.plans['related']}").status_code == 200
    pages.cookies.set("hoc_session", pages.cookies.get("hoc_session") + "x")
    assert pages.get("/auth/me").status_code == 401
    token = w.client.post("/auth/token", data={"username": "t.gp", "password": PASSWORD}).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    assert w.client.get("/auth/me", headers=headers).json()["role"] == "gp"
    assert w.client.post("/auth/logout", headers=headers).status_code == 200
    assert w.client.get("/auth/me", headers=headers).status_code == 401


def test_openapi_and_docs_are_published(api_world: World) -> None:
    w = api_world
    spec = w.client.get("/openapi.json").json()
    assert "/fhir/CarePlan/{plan_id}" in spec["paths"]
    assert "/app/caseload" in spec["paths"]
    assert w.client.get("/docs").status_code == 200


def test_the_app_refuses_a_store_that_is_not_migrated(tmp_path: Path) -> None:
    from houseofcare.api.app import StoreNotReady, create_app
    from houseofcare.settings import Settings

    with pytest.raises(StoreNotReady, match="hoc db upgrade"):
        create_app(Settings(data_dir=tmp_path))
