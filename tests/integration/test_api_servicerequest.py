"""FHIR ServiceRequest through the real app, on SQLite and PostgreSQL: create from the plan,
read, search by patient / status / performer, the moves as `$transition` with If-Match, a
forbidden move and a stale version refused writing nothing, and the receiver's view narrowed
to what the person consents to share.
"""

# ruff: noqa: F401, F811 (the cast fixture is imported, then requested by name)
from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from support_referrals import PASSWORD, Cast, cast

from houseofcare.careplan import SYSTEM
from houseofcare.careplan.consent import give_consent
from houseofcare.store.database import transaction
from houseofcare.store.models import AuditOutcome

FHIR = "application/fhir+json"
HOC = "https://houseofcare.org.uk/fhir"


class Api:
    def __init__(self, cast: Cast) -> None:
        self.client = TestClient(cast.app)
        self.tokens: dict[str, str] = {}

    def headers(self, who: str, **extra: str) -> dict[str, str]:
        if who not in self.tokens:
            answer = self.client.post("/auth/token", data={"username": who, "password": PASSWORD})
            assert answer.status_code == 200, answer.text
            self.tokens[who] = answer.json()["access_token"]
        return {"Authorization": f"Bearer {self.tokens[who]}", **extra}

    def get(self, who: str, url: str) -> Any:
        return self.client.get(url, headers=self.headers(who))

    def post(self, who: str, url: str, body: Any, **extra: str) -> Any:
        return self.client.post(
            url, headers=self.headers(who, **{"Content-Type": FHIR}, **extra), json=body
        )


def _body(cast: Cast, person: str = "Ada", service: str = "walk") -> dict[str, Any]:
    return {
        "resourceType": "ServiceRequest",
        "status": "active",
        "intent": "order",
        "subject": {"reference": f"Patient/{cast.people[person]}"},
        "performer": [{"reference": f"HealthcareService/{cast.services[service]}"}],
        "basedOn": [{"reference": f"CarePlan/{cast.plans[person]}"}],
        "reasonCode": [
            {"coding": [{"system": f"{HOC}/CodeSystem/need-domain", "code": "social_loneliness"}]}
        ],
        "note": [{"text": "Would like to walk with others"}],
    }


def _move(to: str, note: str | None = None) -> dict[str, Any]:
    parameter = [{"name": "businessStatus", "valueCode": to}]
    if note:
        parameter.append({"name": "note", "valueString": note})
    return {"resourceType": "Parameters", "parameter": parameter}


def test_create_read_search_and_move(cast: Cast) -> None:
    api = Api(cast)
    created = api.post("t.gp", "/fhir/ServiceRequest", _body(cast))
    assert created.status_code == 201, created.text
    sr = created.json()
    assert created.headers["ETag"] == 'W/"1"'
    assert created.headers["Location"] == f"/fhir/ServiceRequest/{sr['id']}"
    assert sr["status"] == "active" and sr["intent"] == "order"
    assert sr["subject"]["reference"] == f"Patient/{cast.people['Ada']}"
    assert sr["basedOn"] == [{"reference": f"CarePlan/{cast.plans['Ada']}"}]
    assert sr["performer"][0]["reference"] == f"HealthcareService/{cast.services['walk']}"
    assert sr["performer"][1]["reference"] == f"Organization/{cast.orgs['WT']}"
    assert sr["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] == "sent"
    assert sr["reasonCode"][0]["coding"][0]["code"] == "social_loneliness"
    url = f"/fhir/ServiceRequest/{sr['id']}"
    assert api.get("t.nurse", url).json()["id"] == sr["id"]
    found = api.get(
        "t.nurse", f"/fhir/ServiceRequest?patient=Patient/{cast.people['Ada']}&status=active"
    )
    assert [e["resource"]["id"] for e in found.json()["entry"]] == [sr["id"]]
    by_org = api.get("t.nurse", f"/fhir/ServiceRequest?performer=Organization/{cast.orgs['CC']}")
    assert by_org.json()["entry"] == []
    # the receiver without consent: the referral, but nobody named
    seen = api.get("t.vol", url).json()
    assert "reference" not in seen["subject"] and "note" not in seen and "basedOn" not in seen
    with transaction(cast.factory) as session:
        give_consent(session, cast.people["Ada"], "voluntary_group", SYSTEM)
    assert api.get("t.vol", url).json()["subject"]["display"] == "Ada Walker"
    # the moves
    missing = api.post("t.vol", f"{url}/$transition", _move("accepted"))
    assert missing.status_code == 428
    accepted = api.post("t.vol", f"{url}/$transition", _move("accepted"), **{"If-Match": 'W/"1"'})
    assert accepted.status_code == 200, accepted.text
    assert accepted.headers["ETag"] == 'W/"2"'
    before = cast.store()
    start = cast.last_event_id()
    stale = api.post("t.vol", f"{url}/$transition", _move("attended"), **{"If-Match": 'W/"1"'})
    assert stale.status_code == 412 and stale.headers["ETag"] == 'W/"2"'
    # audited once, as a conflict (by the referral service, not again by the route)
    assert [e.outcome for e in cast.events("t.vol", start)] == [AuditOutcome.conflict]
    forbidden = api.post(
        "t.vol", f"{url}/$transition", _move("declined", "x"), **{"If-Match": 'W/"2"'}
    )
    assert forbidden.status_code == 409 and "cannot become declined" in forbidden.text
    wrong_side = api.post("t.gp", f"{url}/$transition", _move("attended"), **{"If-Match": 'W/"2"'})
    assert wrong_side.status_code == 403
    assert cast.store() == before
    assert cast.events("t.gp")[-1].outcome is AuditOutcome.denied
    done = api.post(
        "t.vol", f"{url}/$transition", _move("attended", "Came every week"), **{"If-Match": 'W/"2"'}
    )
    assert done.status_code == 200
    assert {"text": "Outcome: Came every week"} in done.json()["note"]
    closed = api.post("t.gp", f"{url}/$transition", _move("closed"), **{"If-Match": 'W/"3"'})
    assert closed.json()["status"] == "completed"


def test_refusals_write_nothing(cast: Cast) -> None:
    api = Api(cast)
    before = cast.store()
    body = _body(cast)
    body["performer"] = [{"reference": "Organization/1"}]
    bad = api.post("t.gp", "/fhir/ServiceRequest", body)
    assert bad.status_code == 400 and "HealthcareService" in bad.text
    full = api.post("t.gp", "/fhir/ServiceRequest", _body(cast, service="lunch"))
    assert full.status_code == 409 and "full this month" in full.text
    closed = api.post("t.gp", "/fhir/ServiceRequest", _body(cast, service="closed"))
    assert closed.status_code == 422 and "not taking referrals" in closed.text
    assert api.post("t.vol", "/fhir/ServiceRequest", _body(cast)).status_code == 403
    assert api.post("t.commissioner", "/fhir/ServiceRequest", _body(cast)).status_code == 403
    after = cast.store()
    # only the full service's unmet need was written
    assert {k: v for k, v in after.items() if k != "unmet"} == {
        k: v for k, v in before.items() if k != "unmet"
    }
    assert after["unmet"] == before["unmet"] + 1
    assert api.get("t.gp", "/fhir/ServiceRequest/999999").status_code == 404
    assert api.get("t.gp", "/fhir/ServiceRequest?colour=red").status_code == 400
