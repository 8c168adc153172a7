"""The holes an outside attack found in access (issue 9), each proved closed on SQLite and
PostgreSQL: a plan's care team must care for the person; a consent update is authorised on the
stored consent; writes decide access before anything looks at the record."""

# ruff: noqa: F811 (the api_world fixture is imported, then requested by name)
from __future__ import annotations

from typing import Any

from test_api_support import (  # noqa: F401 (fixture)
    World,
    api_world,
    careplan_body,
    consent_body,
)

from houseofcare.careplan.people import create_care_team
from houseofcare.store.database import transaction
from houseofcare.store.models import AuditEvent, AuditOutcome, CarePlan, Organisation


def _team_of(w: World, ods_code: str, name: str) -> int:
    with transaction(w.factory) as session:
        org = session.query(Organisation).filter_by(ods_code=ods_code).one()
        return create_care_team(session, name=name, organisation_id=org.id).id


def test_a_plan_cannot_be_put_on_another_organisation_s_team(api_world: World) -> None:
    w = api_world
    other_team = _team_of(w, "Y0002", "Practice B's frailty team")
    before = w.clinical_snapshot()
    body = careplan_body(w, "related", careTeam=[{"reference": f"CareTeam/{other_team}"}])
    version = w.version_of(CarePlan, w.plans["related"])
    refused = w.put("gp", f"/fhir/CarePlan/{w.plans['related']}", body, version)
    assert refused.status_code == 422, refused.text
    issue = refused.json()["issue"][0]
    assert issue["expression"] == ["CarePlan.careTeam[0].reference"]
    assert "neither the person's practice nor your organisation" in issue["diagnostics"]
    assert w.clinical_snapshot() == before
    assert w.last_audit("gp").outcome is AuditOutcome.invalid
    # nor on a new plan
    person = w.new_person("A")
    created = w.post(
        "gp",
        "/fhir/CarePlan",
        {
            "resourceType": "CarePlan",
            "status": "draft",
            "intent": "plan",
            "title": "x",
            "subject": {"reference": f"Patient/{person}"},
            "careTeam": [{"reference": f"CareTeam/{other_team}"}],
        },
    )
    assert created.status_code == 422, created.text


def test_a_plan_may_go_to_the_practice_s_or_the_writer_s_own_team(api_world: World) -> None:
    w = api_world
    practice_team = _team_of(w, "Y0001", "Practice A's long-term conditions team")
    trust_team = _team_of(w, "CT1", "Community matrons")
    for who, team in (("gp", practice_team), ("case_manager", trust_team)):
        body = careplan_body(w, "related", careTeam=[{"reference": f"CareTeam/{team}"}])
        version = w.version_of(CarePlan, w.plans["related"])
        moved = w.put(who, f"/fhir/CarePlan/{w.plans['related']}", body, version)
        assert moved.status_code == 200, moved.text
        assert moved.json()["careTeam"] == [{"reference": f"CareTeam/{team}"}]
    # put it back on the cast's team, for the other tests of the session
    body = careplan_body(w, "related", careTeam=[{"reference": f"CareTeam/{w.team_id}"}])
    version = w.version_of(CarePlan, w.plans["related"])
    assert w.put("gp", f"/fhir/CarePlan/{w.plans['related']}", body, version).status_code == 200


def test_a_consent_update_is_authorised_on_the_stored_consent(api_world: World) -> None:
    """gp_b may write for the unrelated person, but not for the related one: naming the
    unrelated person in the body must not open the related person's consent."""
    w = api_world
    consent_id = w.consents["related"]
    body = w.get("gp", f"/fhir/Consent/{consent_id}").json()
    disguised = {**body, "patient": {"reference": f"Patient/{w.people['unrelated']}"}}
    before = w.clinical_snapshot()
    for version in (1, 2, 7):
        answer = w.put("gp_b", f"/fhir/Consent/{consent_id}", disguised, version)
        assert answer.status_code == 403, answer.text
        text = answer.text
        # nothing about the stored consent leaks: neither its version nor its organisation
        assert "version" not in text and "social_care" not in text
    assert w.clinical_snapshot() == before
    event = w.last_audit("gp_b")
    assert event.outcome is AuditOutcome.denied
    assert event.person_id == w.people["related"]


def test_a_consent_cannot_move_to_another_person(api_world: World) -> None:
    w = api_world
    consent_id = w.consents["related"]
    body = w.get("gp", f"/fhir/Consent/{consent_id}").json()
    moved = {**body, "patient": {"reference": f"Patient/{w.people['unrelated']}"}}
    answer = w.put("gp", f"/fhir/Consent/{consent_id}", moved, 1)
    assert answer.status_code == 422, answer.text
    assert answer.json()["issue"][0]["expression"] == ["Consent.patient.reference"]
    assert w.last_audit("gp").person_id == w.people["related"]


def _bodies(w: World, person: int, nhs: str) -> dict[str, dict[str, Any]]:
    subject = {
        "reference": f"Patient/{person}",
        "identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": nhs},
    }
    return {
        "/fhir/CarePlan": {
            "resourceType": "CarePlan",
            "status": "draft",
            "intent": "plan",
            "title": "probe",
            "subject": subject,
        },
        "/fhir/Goal": {
            "resourceType": "Goal",
            "lifecycleStatus": "active",
            "description": {"text": "probe"},
            "subject": subject,
        },
        "/fhir/Consent": consent_body(subject, "acute_trust"),
    }


def test_a_write_decides_access_before_it_looks_at_the_record(api_world: World) -> None:
    """A user who may not write for a person cannot learn whether an NHS number is theirs, nor
    whether a Patient id exists: the right number, a wrong one and no such person all answer
    the same 403."""
    w = api_world
    unrelated = w.people["unrelated"]
    before = w.clinical_snapshot()
    for url in ("/fhir/CarePlan", "/fhir/Goal", "/fhir/Consent"):
        answers = []
        for person, nhs in (
            (unrelated, w.nhs["unrelated"]),  # the right number
            (unrelated, w.nhs["related"]),  # somebody else's
            (2_000_000_000, w.nhs["related"]),  # nobody at all
        ):
            answer = w.post("nurse", url, _bodies(w, person, nhs)[url])
            assert answer.status_code == 403, (url, answer.text)
            answers.append(answer.json()["issue"][0]["diagnostics"])
        assert len(set(answers)) == 1, (url, answers)
    assert w.clinical_snapshot() == before
    with w.factory() as session:
        last = session.query(AuditEvent).order_by(AuditEvent.id.desc()).first()
        assert last is not None and last.outcome is AuditOutcome.denied
