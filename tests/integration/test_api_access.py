"""Every endpoint × every role: each access rule proved, allowed and denied, with its audit.

The expectations are written out here from the rules (not read from policy.toml), so a change
to the policy file that breaks a rule fails this test:

- clinicians (gp, nurse) see and change people registered at their practice (or on their
  caseload); case managers their caseload;
- social workers and the voluntary sector read a person's record and plan only with that
  person's active consent to share with their organisation type (the related person consents
  to local authority social care, not to the voluntary sector), and never change it;
- commissioners get 403 on every identifiable endpoint;
- a patient sees their own record and plan, comments on it and writes "what I want to talk
  about", and nothing of anybody else's;
- only admins read the audit trail.

Every case also checks that an audit event was appended for the user with the right person
and outcome, and every refused write leaves the clinical store exactly as it was.
"""

# ruff: noqa: F811 (the api_world fixture is imported, then requested by name)
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from test_api_support import CAST, World, api_world  # noqa: F401 (fixture)

from houseofcare.store.models import AuditOutcome, CarePlan, Goal

READERS_OF_RECORD = {"gp", "nurse", "case_manager", "social_worker", "patient"}
CLINICAL = {"gp", "nurse", "case_manager"}


@dataclass(frozen=True)
class Endpoint:
    name: str
    call: Callable[[World, str, str], Any]
    #: Roles allowed on the related person (nobody in the cast may act on the unrelated one).
    allowed: frozenset[str]
    writes: bool = False
    #: An allowed call answers one of these (404: allowed, but there is nothing to show).
    ok: frozenset[int] = frozenset({200})
    #: False for lists about the user's own work (no person in the URL).
    person_scoped: bool = True


def _plan_put(w: World, who: str, target: str) -> Any:
    plan_id = w.plans[target]
    body = w.get("gp" if target == "related" else "gp_b", f"/fhir/CarePlan/{plan_id}").json()
    body["title"] = f"Changed by {who}"
    return w.put(who, f"/fhir/CarePlan/{plan_id}", body, w.version_of(CarePlan, plan_id))


def _plan_post(w: World, who: str, target: str) -> Any:
    body = {
        "resourceType": "CarePlan",
        "status": "draft",
        "intent": "plan",
        "title": f"Draft by {who}",
        "subject": {"reference": f"Patient/{w.people[target]}"},
    }
    return w.post(who, "/fhir/CarePlan", body)


def _goal_put(w: World, who: str, target: str) -> Any:
    goal_id = w.goals[target]
    body = w.get("gp" if target == "related" else "gp_b", f"/fhir/Goal/{goal_id}").json()
    body["description"] = {"text": f"Walk further ({who})"}
    return w.put(who, f"/fhir/Goal/{goal_id}", body, w.version_of(Goal, goal_id))


def _goal_post(w: World, who: str, target: str) -> Any:
    body = {
        "resourceType": "Goal",
        "lifecycleStatus": "active",
        "description": {"text": f"See my grandchildren ({who})"},
        "subject": {"reference": f"Patient/{w.people[target]}"},
    }
    return w.post(who, "/fhir/Goal", body)


def _consent_post(w: World, who: str, target: str) -> Any:
    body = {
        "resourceType": "Consent",
        "status": "active",
        "scope": {"coding": [{"code": "patient-privacy"}]},
        "category": [{"coding": [{"code": "59284-0"}]}],
        "patient": {"reference": f"Patient/{w.people[target]}"},
        "provision": {
            "type": "permit",
            "actor": [
                {
                    "role": {"coding": [{"code": "IRCP"}]},
                    "reference": {
                        "identifier": {
                            "system": "https://houseofcare.org.uk/fhir/CodeSystem/organisation-type",
                            "value": "acute_trust",
                        }
                    },
                }
            ],
        },
    }
    return w.post(who, "/fhir/Consent", body)


ENDPOINTS = [
    Endpoint(
        "Patient read",
        lambda w, who, t: w.get(who, f"/fhir/Patient/{w.people[t]}"),
        frozenset(READERS_OF_RECORD),
    ),
    Endpoint(
        "CarePlan read",
        lambda w, who, t: w.get(who, f"/fhir/CarePlan/{w.plans[t]}"),
        frozenset(READERS_OF_RECORD),
    ),
    Endpoint(
        "CarePlan search by patient",
        lambda w, who, t: w.get(who, f"/fhir/CarePlan?patient=Patient/{w.people[t]}"),
        frozenset(READERS_OF_RECORD),
    ),
    Endpoint(
        "CarePlan history",
        lambda w, who, t: w.get(who, f"/fhir/CarePlan/{w.plans[t]}/_history"),
        frozenset(READERS_OF_RECORD),
    ),
    Endpoint(
        "CarePlan vread",
        lambda w, who, t: w.get(who, f"/fhir/CarePlan/{w.plans[t]}/_history/1"),
        frozenset(READERS_OF_RECORD),
    ),
    Endpoint("CarePlan update", _plan_put, frozenset(CLINICAL), writes=True),
    Endpoint("CarePlan create", _plan_post, frozenset(CLINICAL), writes=True, ok=frozenset({201})),
    Endpoint(
        "CarePlan comment",
        lambda w, who, t: w.post(
            who,
            f"/app/careplans/{w.plans[t]}/comments",
            {"text": f"from {who}"},
            content_type="application/json",
        ),
        frozenset(CLINICAL | {"patient"}),
        writes=True,
        ok=frozenset({201}),
    ),
    Endpoint(
        "Goal read",
        lambda w, who, t: w.get(who, f"/fhir/Goal/{w.goals[t]}"),
        frozenset(READERS_OF_RECORD),
    ),
    Endpoint(
        "Goal search by patient",
        lambda w, who, t: w.get(who, f"/fhir/Goal?patient={w.people[t]}"),
        frozenset(READERS_OF_RECORD),
    ),
    Endpoint(
        "Goal history",
        lambda w, who, t: w.get(who, f"/fhir/Goal/{w.goals[t]}/_history"),
        frozenset(READERS_OF_RECORD),
    ),
    Endpoint("Goal update", _goal_put, frozenset(CLINICAL), writes=True),
    Endpoint("Goal create", _goal_post, frozenset(CLINICAL), writes=True, ok=frozenset({201})),
    Endpoint(
        "RiskAssessment read",
        lambda w, who, t: w.get(who, f"/fhir/RiskAssessment/{w.people[t]}"),
        frozenset(CLINICAL | {"patient"}),
        ok=frozenset({404}),
    ),
    Endpoint(
        "Consent read",
        lambda w, who, t: w.get(who, f"/fhir/Consent/{w.consents[t]}"),
        frozenset(CLINICAL | {"patient"}),
    ),
    Endpoint(
        "Consent search",
        lambda w, who, t: w.get(who, f"/fhir/Consent?patient={w.people[t]}"),
        frozenset(CLINICAL | {"patient"}),
    ),
    Endpoint(
        "Consent create", _consent_post, frozenset(CLINICAL), writes=True, ok=frozenset({201})
    ),
    Endpoint(
        "Preparation summary",
        lambda w, who, t: w.get(who, f"/app/people/{w.people[t]}/preparation"),
        frozenset(CLINICAL | {"patient"}),
    ),
    Endpoint(
        "What I want to talk about",
        lambda w, who, t: w.post(
            who,
            f"/app/people/{w.people[t]}/preparation/talk-about",
            {"text": f"my breathing ({who})"},
            content_type="application/json",
        ),
        frozenset(CLINICAL | {"patient"}),
        writes=True,
    ),
    Endpoint(
        "Caseload",
        lambda w, who, t: w.get(who, "/app/caseload"),
        frozenset(CLINICAL),
        person_scoped=False,
    ),
    Endpoint(
        "Due reviews",
        lambda w, who, t: w.get(who, "/app/due-reviews"),
        frozenset(CLINICAL),
        person_scoped=False,
    ),
    Endpoint(
        "AuditEvent search",
        lambda w, who, t: w.get(who, "/fhir/AuditEvent?_count=5"),
        frozenset({"admin"}),
        person_scoped=False,
    ),
    Endpoint(
        "AuditEvent read",
        lambda w, who, t: w.get(who, "/fhir/AuditEvent/1"),
        frozenset({"admin"}),
        person_scoped=False,
    ),
]

ROLES = [name for name in CAST if name != "gp_b"]
CASES = [
    pytest.param(endpoint, role, target, id=f"{endpoint.name}-{role}-{target}")
    for endpoint in ENDPOINTS
    for role in ROLES
    for target in (("related", "unrelated") if endpoint.person_scoped else ("related",))
]


@pytest.mark.parametrize(("endpoint", "role", "target"), CASES)
def test_access_rule(api_world: World, endpoint: Endpoint, role: str, target: str) -> None:
    w = api_world
    allowed = role in endpoint.allowed and (target == "related" or not endpoint.person_scoped)
    before = w.clinical_snapshot() if endpoint.writes and not allowed else None
    audits_before = w.audit_count()
    response = endpoint.call(w, role, target)
    event = w.last_audit(role)
    assert w.audit_count() > audits_before, "no audit event appended"
    if allowed:
        assert response.status_code in endpoint.ok, response.text
        assert event.outcome in (AuditOutcome.success, AuditOutcome.not_found)
    else:
        assert response.status_code == 403, response.text
        assert response.json()["resourceType"] == "OperationOutcome"
        assert response.json()["issue"][0]["code"] == "forbidden"
        assert event.outcome is AuditOutcome.denied
        if before is not None:
            assert w.clinical_snapshot() == before, "a refused write changed the store"
    if endpoint.person_scoped and event.person_id is not None:
        assert event.person_id == w.people[target]
    assert event.role == {"gp_b": "gp"}.get(role, role)


def test_a_gp_at_the_other_practice_sees_that_practice_s_people(api_world: World) -> None:
    w = api_world
    assert w.get("gp_b", f"/fhir/CarePlan/{w.plans['unrelated']}").status_code == 200
    assert w.get("gp_b", f"/fhir/CarePlan/{w.plans['related']}").status_code == 403


def test_a_search_without_a_patient_returns_only_people_the_user_may_see(api_world: World) -> None:
    w = api_world
    for role, expected in (
        ("social_worker", {w.people["related"]}),
        ("voluntary_sector", set()),
        ("patient", {w.people["related"]}),
        ("gp_b", {w.people["unrelated"]}),
    ):
        bundle = w.get(role, "/fhir/CarePlan?status=active").json()
        subjects = {
            int(e["resource"]["subject"]["reference"].split("/")[1]) for e in bundle["entry"]
        }
        assert subjects == expected, role
    assert w.get("commissioner", "/fhir/CarePlan?status=active").status_code == 403


def test_patient_search_by_nhs_number_hides_people_the_user_may_not_see(api_world: World) -> None:
    w = api_world
    query = f"/fhir/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|{w.nhs['related']}"
    found = w.get("nurse", query).json()
    assert [e["resource"]["id"] for e in found["entry"]] == [str(w.people["related"])]
    assert found["entry"][0]["resource"]["identifier"][0]["value"] == w.nhs["related"]
    hidden = w.get("voluntary_sector", query).json()
    assert hidden["entry"] == []
    assert w.last_audit("voluntary_sector").outcome is AuditOutcome.denied
    assert w.get("commissioner", query).status_code == 403


def test_withdrawn_consent_stops_sharing_at_once(api_world: World) -> None:
    w = api_world
    person = w.new_person("A")
    plan = w.post(
        "gp",
        "/fhir/CarePlan",
        {
            "resourceType": "CarePlan",
            "status": "active",
            "intent": "plan",
            "title": "Consent test",
            "subject": {"reference": f"Patient/{person}"},
        },
    )
    assert plan.status_code == 201, plan.text
    plan_url = f"/fhir/CarePlan/{plan.json()['id']}"
    assert w.get("social_worker", plan_url).status_code == 403
    body = {
        "resourceType": "Consent",
        "status": "active",
        "scope": {"coding": [{"code": "patient-privacy"}]},
        "category": [{"coding": [{"code": "59284-0"}]}],
        "patient": {"reference": f"Patient/{person}"},
        "provision": {
            "type": "permit",
            "actor": [
                {
                    "role": {"coding": [{"code": "IRCP"}]},
                    "reference": {
                        "identifier": {
                            "system": "https://houseofcare.org.uk/fhir/CodeSystem/organisation-type",
                            "value": "local_authority_social_care",
                        }
                    },
                }
            ],
        },
    }
    given = w.post("gp", "/fhir/Consent", body)
    assert given.status_code == 201, given.text
    assert given.headers["ETag"] == 'W/"1"'
    assert w.get("social_worker", plan_url).status_code == 200
    withdrawn = given.json()
    withdrawn["status"] = "inactive"
    withdrawn["provision"]["period"]["end"] = "2099-01-01T00:00:00+00:00"
    response = w.put("gp", f"/fhir/Consent/{withdrawn['id']}", withdrawn, 1)
    assert response.status_code == 200, response.text
    assert response.headers["ETag"] == 'W/"2"'
    # withdrawal dated in the future is still recorded now as withdrawn (no longer current)
    assert w.get("social_worker", plan_url).status_code == 403
