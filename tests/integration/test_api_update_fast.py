"""The CarePlan update's PostgreSQL fast path (`pg_update`): it must write exactly what the
care-plan services write (the version row's diff and snapshot, the audit event, the answer),
and leave everything else to them having written nothing."""

# ruff: noqa: F811 (the api_world fixture is imported, then requested by name)
from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from sqlalchemy import select
from test_api_support import World, api_world  # noqa: F401 (fixture)

from houseofcare.api.fhir.mapping import careplan_from_fhir, careplan_to_fhir
from houseofcare.api.fhir.resources import CarePlanResource
from houseofcare.careplan import pg_update
from houseofcare.careplan.actor import Actor
from houseofcare.careplan.pg_update import PlanUpdater
from houseofcare.careplan.policy import Role
from houseofcare.careplan.reading import careplan_record_from_head, plan_head
from houseofcare.careplan.reconcile import update_plan
from houseofcare.careplan.records import CarePlanContent
from houseofcare.store.models import AuditEvent, AuditOutcome, CarePlanVersion

#: The fast path is PostgreSQL's: these cases run on the PostgreSQL world only.
on_postgresql = pytest.mark.parametrize("api_world", ["postgresql"], indirect=True)


@pytest.mark.parametrize("api_world", ["sqlite"], indirect=True)
def test_sqlite_always_takes_the_services_path(api_world: World) -> None:
    assert api_world.client.app.state.services.plan_updater is None  # type: ignore[attr-defined]


def _updater(w: World) -> PlanUpdater:
    assert w.db == "postgresql"
    updater = w.client.app.state.services.plan_updater  # type: ignore[attr-defined]
    assert isinstance(updater, PlanUpdater)
    return updater


def _actor(w: World, who: str, role: Role, organisation: str | None) -> Actor:
    organisation_id = None if organisation is None else w._orgs[organisation]
    return Actor(w.user_ids[who], f"t.{who}", role, organisation_id, "practice")


def _rich_plan(w: World) -> dict[str, Any]:
    """A plan with a participant, an action, a need, a goal and a comment (as read)."""
    person = w.new_person("A")
    body = {
        "resourceType": "CarePlan",
        "status": "active",
        "intent": "plan",
        "title": "Breathe easier",
        "description": "About me",
        "subject": {"reference": f"Patient/{person}"},
        "period": {"start": "2026-02-01"},
        "careTeam": [{"reference": f"CareTeam/{w.team_id}"}],
        "contributor": [{"type": "Patient", "display": "The person"}],
        "activity": [
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
        "extension": [
            {
                "url": "https://houseofcare.org.uk/fhir/StructureDefinition/need",
                "extension": [
                    {"url": "domain", "valueCode": "mobility"},
                    {"url": "description", "valueString": "Stairs are hard"},
                ],
            }
        ],
    }
    created = w.post("gp", "/fhir/CarePlan", body)
    assert created.status_code == 201, created.text
    plan = created.json()
    goal = w.post(
        "gp",
        "/fhir/Goal",
        {
            "resourceType": "Goal",
            "lifecycleStatus": "active",
            "description": {"text": "Walk to church"},
            "subject": {"reference": f"Patient/{person}"},
            "target": [{"measure": {"text": "steps a day"}, "detailQuantity": {"value": 3000.5}}],
        },
    )
    assert goal.status_code == 201, goal.text
    comment = w.client.post(
        f"/app/careplans/{plan['id']}/comments", headers=w.headers("gp"), json={"text": "Seen"}
    )
    assert comment.status_code in (200, 201), comment.text
    read = w.get("gp", f"/fhir/CarePlan/{plan['id']}")
    assert read.status_code == 200
    return read.json()  # type: ignore[no-any-return]


def _content(body: dict[str, Any]) -> CarePlanContent:
    return careplan_from_fhir(CarePlanResource.model_validate_json(json.dumps(body)))


def _version_row(w: World, plan_id: int, version: int) -> CarePlanVersion | None:
    with w.factory() as session:
        return session.scalar(
            select(CarePlanVersion).where(
                CarePlanVersion.care_plan_id == plan_id, CarePlanVersion.version == version
            )
        )


@on_postgresql
def test_the_fast_update_writes_what_the_services_write(api_world: World) -> None:
    w = api_world
    updater = _updater(w)
    body = _rich_plan(w)
    plan_id, version = int(body["id"]), int(body["meta"]["versionId"])
    changed = body | {"title": "  Breathe easier, walk further ", "description": None}
    del changed["careTeam"]  # cleared: nothing to check, so it goes fast too
    changed["period"] = {"start": "2026-03-01", "end": "2027-03-01"}
    content = _content(changed)
    # what the services would write, in a transaction rolled back
    with w.factory() as session:
        update_plan(session, plan_id, version, content, _actor(w, "gp", Role.gp, "A"))
        session.flush()
        row = session.scalar(
            select(CarePlanVersion).where(
                CarePlanVersion.care_plan_id == plan_id, CarePlanVersion.version == version + 1
            )
        )
        assert row is not None
        services = (row.change, row.changes, row.snapshot, row.changed_by_id, row.changed_by_role)
        session.rollback()
    assert _version_row(w, plan_id, version + 1) is None

    taken: list[object] = []
    original = updater.update

    def spy(*args: Any) -> Any:
        taken.append(result := original(*args))
        return result

    updater.update = spy  # type: ignore[method-assign]
    try:
        before = w.audit_count()
        response = w.put("gp", f"/fhir/CarePlan/{plan_id}", changed, version)
    finally:
        del updater.update
    assert response.status_code == 200, response.text
    assert taken and taken[0] is not None, "the fast path was not taken"
    assert response.headers["ETag"] == f'W/"{version + 1}"'
    assert response.headers["Location"] == f"/fhir/CarePlan/{plan_id}/_history/{version + 1}"
    fast = _version_row(w, plan_id, version + 1)
    assert fast is not None
    written = (fast.change, fast.changes, fast.snapshot, fast.changed_by_id, fast.changed_by_role)
    assert written[3:] == services[3:]
    assert written[0] == services[0]
    assert written[1] == services[1]
    assert written[1]["title"] == ["Breathe easier", "Breathe easier, walk further"]
    assert written[1]["care_team_id"] == [w.team_id, None]
    assert {k: v for k, v in written[2].items() if k != "updated_at"} == {
        k: v for k, v in services[2].items() if k != "updated_at"
    }
    assert written[2]["updated_at"] != body["meta"]["lastUpdated"]
    # one audit event, the update's, in the same commit
    assert w.audit_count() == before + 1
    event = w.last_audit("gp")
    assert (event.action, event.resource_type, event.resource_id, event.outcome) == (
        "update",
        "CarePlan",
        str(plan_id),
        AuditOutcome.success,
    )
    assert event.person_id == int(body["subject"]["reference"].split("/")[1])
    assert event.detail == {"version": version + 1}
    assert (event.username, event.role) == ("t.gp", "gp")
    # the answer is the plan as the portable read builds it now
    with w.factory() as session:
        head = plan_head(session, plan_id)
        assert head is not None
        assert response.json() == careplan_to_fhir(careplan_record_from_head(session, head))
    assert w.get("gp", f"/fhir/CarePlan/{plan_id}").json() == response.json()
    history = w.get("gp", f"/fhir/CarePlan/{plan_id}/_history").json()
    assert [e["resource"]["title"] for e in history["entry"]][:2] == [
        "Breathe easier, walk further",
        "Breathe easier",
    ]


@on_postgresql
def test_a_body_that_changes_nothing_is_audited_and_writes_no_version(api_world: World) -> None:
    w = api_world
    updater = _updater(w)
    body = _rich_plan(w)
    plan_id, version = int(body["id"]), int(body["meta"]["versionId"])
    before, audits = w.clinical_snapshot(), w.audit_count()
    record = updater.update(_actor(w, "gp", Role.gp, "A"), plan_id, version, _content(body))
    assert record is not None
    assert record.version == version
    assert w.clinical_snapshot() == before
    assert w.audit_count() == audits + 1
    event = w.last_audit("gp")
    assert (event.action, event.outcome, event.detail) == (
        "update",
        AuditOutcome.success,
        {"version": version},
    )


@on_postgresql
def test_closing_a_plan_goes_fast_and_then_it_can_no_longer_be_changed(api_world: World) -> None:
    w = api_world
    updater = _updater(w)
    body = _rich_plan(w)
    plan_id, version = int(body["id"]), int(body["meta"]["versionId"])
    record = updater.update(
        _actor(w, "gp", Role.gp, "A"),
        plan_id,
        version,
        dataclasses.replace(_content(body), status="completed"),  # type: ignore[arg-type]
    )
    assert record is not None
    assert (record.version, record.content.status.value) == (version + 1, "completed")
    row = _version_row(w, plan_id, version + 1)
    assert row is not None
    assert row.changes == {"status": ["active", "completed"]}
    closed = body | {"title": "x", "status": "completed"}
    again = w.put("gp", f"/fhir/CarePlan/{plan_id}", closed, version + 1)
    assert again.status_code in (409, 422), again.text
    assert "can no longer be changed" in again.json()["issue"][0]["diagnostics"]


def _left_to_the_services(w: World, body: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    """Updates the fast path must refuse to do (None, nothing written): name → arguments."""
    plan_id, version = int(body["id"]), int(body["meta"]["versionId"])
    content = _content(body)
    gp = _actor(w, "gp", Role.gp, "A")
    action = content.actions[0]
    need = content.needs[0]
    return {
        "stale version": (gp, plan_id, version - 1, content),
        "future version": (gp, plan_id, version + 1, content),
        "no such plan": (gp, 987654321, 1, content),
        "another practice": (_actor(w, "gp_b", Role.gp, "B"), plan_id, version, content),
        "a role that may not write": (
            Actor(w.user_ids["social_worker"], "t.social_worker", Role.social_worker, None, None),
            plan_id,
            version,
            content,
        ),
        "another person": (
            gp,
            plan_id,
            version,
            dataclasses.replace(content, person_id=w.people["related"]),
        ),
        "someone else's NHS number": (
            gp,
            plan_id,
            version,
            dataclasses.replace(content, nhs_number=w.nhs["unrelated"]),
        ),
        "an invalid NHS number": (
            gp,
            plan_id,
            version,
            dataclasses.replace(content, nhs_number="9434765918"),
        ),
        "a new need": (
            gp,
            plan_id,
            version,
            dataclasses.replace(
                content, needs=(*content.needs, dataclasses.replace(need, id=None))
            ),
        ),
        "a need left out": (gp, plan_id, version, dataclasses.replace(content, needs=())),
        "a need changed": (
            gp,
            plan_id,
            version,
            dataclasses.replace(
                content, needs=(dataclasses.replace(need, description="Stairs are very hard"),)
            ),
        ),
        "an action changed": (
            gp,
            plan_id,
            version,
            dataclasses.replace(
                content,
                actions=(dataclasses.replace(action, status="completed"),),  # type: ignore[arg-type]
            ),
        ),
        "an unknown action": (
            gp,
            plan_id,
            version,
            dataclasses.replace(content, actions=(dataclasses.replace(action, id=987654),)),
        ),
        "participants changed": (
            gp,
            plan_id,
            version,
            dataclasses.replace(content, participants=()),
        ),
        "agreed with the person": (
            gp,
            plan_id,
            version,
            dataclasses.replace(content, agreed_with_person=True),
        ),
        "a new lead": (
            gp,
            plan_id,
            version,
            dataclasses.replace(content, lead_user_id=w.user_ids["nurse"]),
        ),
        "another care team": (
            gp,
            plan_id,
            version,
            dataclasses.replace(content, care_team_id=w.team_id + 1000),
        ),
        "an empty title": (gp, plan_id, version, dataclasses.replace(content, title="   ")),
        "a title too long": (gp, plan_id, version, dataclasses.replace(content, title="x" * 201)),
    }


@on_postgresql
def test_everything_else_is_left_to_the_services_with_nothing_written(api_world: World) -> None:
    w = api_world
    updater = _updater(w)
    body = _rich_plan(w)
    before, audits = w.clinical_snapshot(), w.audit_count()
    for name, arguments in _left_to_the_services(w, body).items():
        assert updater.update(*arguments) is None, name
        assert w.clinical_snapshot() == before, name
        assert w.audit_count() == audits, name
    # a draft plan made active: the services check the person has no other active plan
    draft = w.post(
        "gp",
        "/fhir/CarePlan",
        {
            "resourceType": "CarePlan",
            "status": "draft",
            "intent": "plan",
            "title": "Draft",
            "subject": {"reference": f"Patient/{w.new_person('A')}"},
        },
    ).json()
    activate = dataclasses.replace(_content(draft), status="active")  # type: ignore[arg-type]
    gp = _actor(w, "gp", Role.gp, "A")
    assert updater.update(gp, int(draft["id"]), 1, activate) is None
    # and the pool's connections are left outside any transaction (no lock held)
    response = w.put("gp", f"/fhir/CarePlan/{body['id']}", body | {"title": "Still fine"}, None)
    assert response.status_code == 428
    ok = w.put(
        "gp",
        f"/fhir/CarePlan/{body['id']}",
        body | {"title": "Still fine"},
        int(body["meta"]["versionId"]),
    )
    assert ok.status_code == 200, ok.text


@on_postgresql
def test_the_services_answer_what_the_fast_path_leaves(api_world: World) -> None:
    """Over HTTP, refusals and part changes are answered and audited as before."""
    w = api_world
    _updater(w)
    body = _rich_plan(w)
    url = f"/fhir/CarePlan/{body['id']}"
    version = int(body["meta"]["versionId"])
    refused = w.put("gp_b", url, body | {"title": "x"}, version)
    assert refused.status_code == 403
    assert w.last_audit("gp_b").outcome is AuditOutcome.denied
    stale = w.put("gp", url, body | {"title": "x"}, version - 1)
    assert stale.status_code == 412
    assert w.last_audit("gp").outcome is AuditOutcome.conflict
    agreed = [
        e if not e["url"].endswith("agreed-with-person") else e | {"valueBoolean": True}
        for e in body["extension"]
    ]
    conversation = w.put("gp", url, body | {"extension": agreed}, version)
    assert conversation.status_code == 200, conversation.text
    assert int(conversation.json()["meta"]["versionId"]) == version + 1
    row = _version_row(w, int(body["id"]), version + 1)
    assert row is not None
    assert row.change.value == "conversation"
    with w.factory() as session:
        last = session.scalar(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1))
        assert last is not None
        assert (last.action, last.outcome) == ("update", AuditOutcome.success)


@on_postgresql
def test_a_write_the_database_refuses_rolls_back_and_leaves_the_connection_usable(
    api_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = api_world
    updater = _updater(w)
    body = _rich_plan(w)
    plan_id, version = int(body["id"]), int(body["meta"]["versionId"])
    content = dataclasses.replace(_content(body), title="Refused by a CHECK")
    gp = _actor(w, "gp", Role.gp, "A")
    before, audits = w.clinical_snapshot(), w.audit_count()
    broken = pg_update.WRITE_CHANGE.replace("version = version + 1", "version = -1")
    assert broken != pg_update.WRITE_CHANGE
    monkeypatch.setattr(pg_update, "WRITE_CHANGE", broken)
    assert updater.update(gp, plan_id, version, content) is None
    assert w.clinical_snapshot() == before
    assert w.audit_count() == audits
    monkeypatch.undo()
    for _ in range(3):  # the connection went back to the pool clean: it serves again
        record = updater.update(gp, plan_id, version, content)
        assert record is not None
        version = record.version
        content = dataclasses.replace(content, title=f"{content.title}!")
