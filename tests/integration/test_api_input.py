"""Bad input on every endpoint, on SQLite and PostgreSQL (issue 9, items 10 and 11).

- ids are 1..2³¹−1 (the stores' integer primary keys): an id outside that range, in a path,
  a search parameter or a reference in a body, is a 400 naming the parameter or field;
- only ASCII digits are digits (`str.isdigit()` also accepts '²');
- control characters other than tab, CR and LF are refused in every request string;
- Bundle `fullUrl` and `link` URLs come from the base URL setting, never the Host header.

Each refusal is an OperationOutcome and writes nothing clinical.
"""

# ruff: noqa: F811 (the api_world fixture is imported, then requested by name)
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from test_api_support import FHIR, World, api_world, careplan_body  # noqa: F401 (fixture)

from houseofcare.api.app import create_app
from houseofcare.api.config import ApiSettings
from houseofcare.api.fhir.mapping import careplan_to_fhir, consent_to_fhir, goal_to_fhir
from houseofcare.careplan.reading import careplan_record, consent_record, goal_record
from houseofcare.store.models import AuditOutcome, CarePlan, ConsentToShare, Goal

#: Out of range on PostgreSQL (int4), out of range on both (int8), not ASCII digits, below 1.
BAD_IDS = [str(2**31), str(2**63), "²", "0"]
MAX_ID = 2**31 - 1


def _expressions(response: Any) -> set[str]:
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome", outcome
    return {e for issue in outcome["issue"] for e in issue.get("expression", [])}


def _refused(w: World, response: Any, field: str, before: dict[str, Any]) -> None:
    assert response.status_code == 400, response.text
    assert field in _expressions(response), response.text
    assert w.clinical_snapshot() == before


# --- ids in the path -----------------------------------------------------------------------

Call = Callable[[World, str], Any]


def _text(w: World, who: str, url: str) -> Any:
    return w.client.post(url, headers=w.headers(who), json={"text": "hello"})


def _stored(w: World, kind: str) -> dict[str, Any]:
    """The related person's plan, goal or consent as FHIR, read from the store (no audit)."""
    with w.factory() as session:
        if kind == "CarePlan":
            plan = session.get(CarePlan, w.plans["related"])
            return careplan_to_fhir(careplan_record(session, plan))  # type: ignore[arg-type]
        if kind == "Goal":
            goal = session.get(Goal, w.goals["related"])
            return goal_to_fhir(goal_record(session, goal))  # type: ignore[arg-type]
        consent = session.get(ConsentToShare, w.consents["related"])
        return consent_to_fhir(consent_record(session, consent))  # type: ignore[arg-type]


PATH_IDS: list[Any] = [
    pytest.param(lambda w, x: w.get("gp", f"/fhir/Patient/{x}"), "person_id", id="Patient"),
    pytest.param(lambda w, x: w.get("gp", f"/fhir/CarePlan/{x}"), "plan_id", id="CarePlan"),
    pytest.param(
        lambda w, x: w.put("gp", f"/fhir/CarePlan/{x}", _stored(w, "CarePlan") | {"id": x}, 1),
        "plan_id",
        id="CarePlan PUT",
    ),
    pytest.param(
        lambda w, x: w.get("gp", f"/fhir/CarePlan/{x}/_history"), "plan_id", id="CarePlan history"
    ),
    pytest.param(
        lambda w, x: w.get("gp", f"/fhir/CarePlan/{x}/_history/1"), "plan_id", id="CarePlan vread"
    ),
    pytest.param(
        lambda w, x: w.get("gp", f"/fhir/CarePlan/{w.plans['related']}/_history/{x}"),
        "version",
        id="CarePlan version",
    ),
    pytest.param(lambda w, x: w.get("gp", f"/fhir/Goal/{x}"), "goal_id", id="Goal"),
    pytest.param(
        lambda w, x: w.put("gp", f"/fhir/Goal/{x}", _stored(w, "Goal") | {"id": x}, 1),
        "goal_id",
        id="Goal PUT",
    ),
    pytest.param(
        lambda w, x: w.get("gp", f"/fhir/Goal/{x}/_history"), "goal_id", id="Goal history"
    ),
    pytest.param(
        lambda w, x: w.get("gp", f"/fhir/Goal/{w.goals['related']}/_history/{x}"),
        "version",
        id="Goal version",
    ),
    pytest.param(lambda w, x: w.get("gp", f"/fhir/Consent/{x}"), "consent_id", id="Consent"),
    pytest.param(
        lambda w, x: w.put("gp", f"/fhir/Consent/{x}", _stored(w, "Consent") | {"id": x}, 1),
        "consent_id",
        id="Consent PUT",
    ),
    pytest.param(
        lambda w, x: w.get("gp", f"/fhir/RiskAssessment/{x}"), "person_id", id="RiskAssessment"
    ),
    pytest.param(lambda w, x: w.get("admin", f"/fhir/AuditEvent/{x}"), "event_id", id="Audit"),
    pytest.param(
        lambda w, x: w.get("gp", f"/app/care-teams/{x}/due-reviews"), "team_id", id="team reviews"
    ),
    pytest.param(
        lambda w, x: w.get("gp", f"/app/people/{x}/preparation"), "person_id", id="preparation"
    ),
    pytest.param(
        lambda w, x: _text(w, "gp", f"/app/people/{x}/preparation/talk-about"),
        "person_id",
        id="talk-about",
    ),
    pytest.param(
        lambda w, x: _text(w, "gp", f"/app/careplans/{x}/comments"), "plan_id", id="comment"
    ),
]


@pytest.mark.parametrize(("call", "name"), PATH_IDS)
def test_a_path_id_outside_1_to_2_31_is_a_400_naming_it(
    api_world: World, call: Call, name: str
) -> None:
    w = api_world
    before, audits = w.clinical_snapshot(), w.audit_count()
    for bad in BAD_IDS:
        _refused(w, call(w, bad), f"path.{name}", before)
    assert w.audit_count() == audits, "a malformed path is refused before anything is written"


def test_the_largest_id_is_an_ordinary_404(api_world: World) -> None:
    w = api_world
    response = w.get("gp", f"/fhir/CarePlan/{MAX_ID}")
    assert response.status_code == 404, response.text
    assert w.last_audit("gp").outcome is AuditOutcome.not_found


# --- ids and counts in search parameters -----------------------------------------------------

SEARCHES = [
    pytest.param("gp", "/fhir/CarePlan?patient={}", "patient", id="CarePlan patient"),
    pytest.param("gp", "/fhir/CarePlan?subject={}", "subject", id="CarePlan subject"),
    pytest.param("gp", "/fhir/Goal?patient={}", "patient", id="Goal patient"),
    pytest.param("gp", "/fhir/Consent?patient={}", "patient", id="Consent patient"),
    pytest.param("admin", "/fhir/AuditEvent?patient={}", "patient", id="AuditEvent patient"),
]


@pytest.mark.parametrize(("who", "url", "name"), SEARCHES)
def test_a_reference_search_outside_the_id_range_is_a_400_naming_it(
    api_world: World, who: str, url: str, name: str
) -> None:
    w = api_world
    before = w.clinical_snapshot()
    for prefix in ("Patient/", ""):
        for bad in BAD_IDS:
            _refused(w, w.get(who, url.format(prefix + bad)), name, before)


def test_an_audit_agent_outside_the_id_range_is_a_400(api_world: World) -> None:
    w = api_world
    before = w.clinical_snapshot()
    for bad in BAD_IDS:
        _refused(w, w.get("admin", f"/fhir/AuditEvent?agent={bad}"), "agent", before)


@pytest.mark.parametrize(
    ("who", "url"),
    [("gp", "/fhir/CarePlan"), ("gp", "/fhir/Goal"), ("admin", "/fhir/AuditEvent")],
)
def test_a_count_that_is_not_ascii_digits_in_range_is_a_400(
    api_world: World, who: str, url: str
) -> None:
    w = api_world
    before = w.clinical_snapshot()
    for bad in ("²", "١٢", "0", "-1", "9" * 5000, str(2**63)):
        _refused(w, w.get(who, url, params={"_count": bad}), "_count", before)


# --- references in bodies --------------------------------------------------------------------


def _plan(w: World, **changes: Any) -> dict[str, Any]:
    return {
        "resourceType": "CarePlan",
        "status": "draft",
        "intent": "plan",
        "title": "x",
        "subject": {"reference": f"Patient/{w.people['related']}"},
    } | changes


def _activity(**detail: Any) -> list[dict[str, Any]]:
    return [
        {
            "detail": {
                "kind": "Task",
                "status": "scheduled",
                "description": "Walk",
                "performer": [{"type": "Patient"}],
            }
            | detail
        }
    ]


BIG_REFERENCES = [
    pytest.param(
        lambda w, x: _plan(w, subject={"reference": f"Patient/{x}"}),
        "CarePlan.subject.reference",
        id="subject",
    ),
    pytest.param(
        lambda w, x: _plan(w, careTeam=[{"reference": f"CareTeam/{x}"}]),
        "CarePlan.careTeam[0].reference",
        id="careTeam",
    ),
    pytest.param(
        lambda w, x: _plan(w, activity=_activity(goal=[{"reference": f"Goal/{x}"}])),
        "CarePlan.activity[0].detail.goal[0].reference",
        id="activity goal",
    ),
    pytest.param(
        lambda w, x: _plan(w, activity=[_activity()[0] | {"id": x}]),
        "CarePlan.activity[0].id",
        id="activity id",
    ),
    pytest.param(
        lambda w, x: _plan(
            w,
            author={
                "identifier": {"system": "https://houseofcare.org.uk/fhir/Id/user", "value": x}
            },
        ),
        "CarePlan.author.identifier",
        id="author",
    ),
]


@pytest.mark.parametrize(("make", "field"), BIG_REFERENCES)
def test_a_reference_in_a_care_plan_body_outside_the_id_range_is_a_400(
    api_world: World, make: Callable[[World, str], dict[str, Any]], field: str
) -> None:
    w = api_world
    before = w.clinical_snapshot()
    for bad in (str(2**31), str(2**40), "²"):
        _refused(w, w.post("gp", "/fhir/CarePlan", make(w, bad)), field, before)
        assert w.last_audit("gp").outcome is AuditOutcome.invalid


@pytest.mark.parametrize("bad", [str(2**31), str(2**40)])
def test_references_in_goal_and_consent_bodies_outside_the_id_range_are_400(
    api_world: World, bad: str
) -> None:
    w = api_world
    before = w.clinical_snapshot()
    goal = w.get("gp", f"/fhir/Goal/{w.goals['related']}").json()
    goal.pop("id")
    goal.pop("meta", None)
    as_subject = goal | {"subject": {"reference": f"Patient/{bad}"}}
    _refused(w, w.post("gp", "/fhir/Goal", as_subject), "Goal.subject.reference", before)
    plan_ext = [
        {
            "url": "https://houseofcare.org.uk/fhir/StructureDefinition/care-plan",
            "valueReference": {"reference": f"CarePlan/{bad}"},
        }
    ]
    response = w.post("gp", "/fhir/Goal", goal | {"extension": plan_ext})
    _refused(w, response, "Goal.extension[0].valueReference", before)
    consent = w.get("gp", f"/fhir/Consent/{w.consents['related']}").json()
    consent.pop("id")
    consent.pop("meta", None)
    consent["patient"] = {"reference": f"Patient/{bad}"}
    _refused(w, w.post("gp", "/fhir/Consent", consent), "Consent.patient.reference", before)


def test_a_care_plan_update_naming_a_person_outside_the_id_range_is_a_400(
    api_world: World,
) -> None:
    w = api_world
    before = w.clinical_snapshot()
    body = careplan_body(w, "related", subject={"reference": f"Patient/{2**31}"})
    url = f"/fhir/CarePlan/{w.plans['related']}"
    response = w.put("gp", url, body, int(body["meta"]["versionId"]))
    _refused(w, response, "CarePlan.subject.reference", before)


# --- control characters ----------------------------------------------------------------------

CONTROLS = ["\u0000", "\u0007", "\u001b", "\u007f", "\u0085"]


@pytest.mark.parametrize("char", CONTROLS, ids=lambda c: f"U+{ord(c):04X}")
def test_control_characters_in_a_fhir_body_are_refused_naming_the_field(
    api_world: World, char: str
) -> None:
    w = api_world
    before = w.clinical_snapshot()
    cases = [
        (_plan(w, title=f"a{char}b"), "CarePlan.title"),
        (_plan(w, description=f"a{char}b"), "CarePlan.description"),
        (
            _plan(w, activity=_activity(description=f"Walk{char}")),
            "CarePlan.activity[0].detail.description",
        ),
        (_plan(w, status=f"draft{char}"), "CarePlan.status"),
    ]
    for body, field in cases:
        response = w.post("gp", "/fhir/CarePlan", body)
        _refused(w, response, field, before)
        assert w.last_audit("gp").outcome is AuditOutcome.invalid
    key = w.post("gp", "/fhir/CarePlan", _plan(w) | {f"ti{char}tle": "x"})
    assert key.status_code == 400, key.text
    assert "control character" in key.text
    assert w.clinical_snapshot() == before
    url = f"/fhir/CarePlan/{w.plans['related']}"
    body = careplan_body(w, "related", title=f"x{char}")
    update = w.put("gp", url, body, int(body["meta"]["versionId"]))
    _refused(w, update, "CarePlan.title", before)
    goal = w.get("gp", f"/fhir/Goal/{w.goals['related']}").json()
    goal["description"] = {"text": f"Walk{char}"}
    response = w.put("gp", f"/fhir/Goal/{goal['id']}", goal, int(goal["meta"]["versionId"]))
    _refused(w, response, "Goal.description.text", before)


@pytest.mark.parametrize("char", CONTROLS, ids=lambda c: f"U+{ord(c):04X}")
def test_control_characters_in_app_text_forms_and_search_parameters_are_refused(
    api_world: World, char: str
) -> None:
    w = api_world
    before = w.clinical_snapshot()
    for url in (
        f"/app/careplans/{w.plans['related']}/comments",
        f"/app/people/{w.people['related']}/preparation/talk-about",
    ):
        response = w.client.post(url, headers=w.headers("gp"), json={"text": f"hi{char}"})
        _refused(w, response, "body.text", before)
    token = w.client.post("/auth/token", data={"username": f"t.gp{char}", "password": "x"})
    _refused(w, token, "body.username", before)
    for who, url, name in (
        ("admin", "/fhir/AuditEvent", "entity-type"),
        ("gp", "/fhir/CarePlan", "status"),
        ("gp", "/fhir/Patient", "identifier"),
    ):
        _refused(w, w.get(who, url, params={name: f"CarePlan{char}"}), name, before)


def test_tab_cr_and_lf_are_ordinary_text(api_world: World) -> None:
    w = api_world
    text = "first line\r\nsecond\tline"
    response = w.client.post(
        f"/app/careplans/{w.plans['related']}/comments",
        headers=w.headers("gp"),
        json={"text": text},
    )
    assert response.status_code == 201, response.text
    assert response.json()["text"] == text


# --- Bundle URLs ----------------------------------------------------------------------------


def test_bundle_urls_use_the_base_url_setting_not_the_host_header(api_world: World) -> None:
    w = api_world
    person = w.people["related"]
    headers = w.headers("gp", Host="evil.example:666")
    search = w.client.get(f"/fhir/CarePlan?patient=Patient/{person}", headers=headers)
    assert search.status_code == 200, search.text
    bundle = search.json()
    assert bundle["entry"]
    assert "evil" not in search.text
    for entry in bundle["entry"]:
        assert entry["fullUrl"] == f"http://127.0.0.1:8000/fhir/CarePlan/{entry['resource']['id']}"
    assert bundle["link"] == [
        {"relation": "self", "url": f"http://127.0.0.1:8000/fhir/CarePlan?patient=Patient/{person}"}
    ]
    history = w.client.get(f"/fhir/Goal/{w.goals['related']}/_history", headers=headers)
    assert history.status_code == 200, history.text
    assert "evil" not in history.text


def test_a_configured_base_url_is_used_for_bundle_urls(api_world: World) -> None:
    w = api_world
    services = w.client.app.state.services  # type: ignore[attr-defined]
    api = ApiSettings(base_url="https://care.example.nhs.uk/hoc/")
    app = create_app(services.settings, api_settings=api)
    with TestClient(app) as client:
        response = client.get(
            f"/fhir/CarePlan/{w.plans['related']}/_history",
            headers=w.headers("gp", Host="evil.example"),
        )
    app.state.services.engine.dispose()
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert bundle["entry"][0]["fullUrl"].startswith(
        f"https://care.example.nhs.uk/hoc/fhir/CarePlan/{w.plans['related']}/_history/"
    )
    assert bundle["link"][0]["url"] == (
        f"https://care.example.nhs.uk/hoc/fhir/CarePlan/{w.plans['related']}/_history"
    )


def test_the_base_url_setting_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ApiSettings().base_url == "http://127.0.0.1:8000"
    monkeypatch.setenv("HOC_API_BASE_URL", "https://hoc.example/")
    assert ApiSettings().base_url == "https://hoc.example"
    for bad in ("hoc.example", "ftp://hoc.example", "https://", "https://hoc.example/?a=1"):
        with pytest.raises(ValidationError):
            ApiSettings(base_url=bad)


# --- date-times --------------------------------------------------------------------------------


@pytest.mark.parametrize("when", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"])
def test_a_date_time_that_is_not_a_utc_instant_python_can_hold_is_a_400(
    api_world: World, when: str
) -> None:
    """Date-times are stored in UTC: one at the end of year 9999 in a zone behind UTC (or
    the start of year 1 ahead of it) has no UTC time to store."""
    w = api_world
    before = w.clinical_snapshot()
    consent = _stored(w, "Consent")
    consent.pop("id")
    consent.pop("meta")
    consent["provision"]["actor"][0]["reference"]["identifier"]["value"] = "voluntary_group"
    consent["provision"]["period"] = {"start": when}
    response = w.post("gp", "/fhir/Consent", consent)
    _refused(w, response, "Consent.provision.period.start", before)
    consent["provision"]["period"] = {}
    consent["dateTime"] = when
    _refused(w, w.post("gp", "/fhir/Consent", consent), "Consent.dateTime", before)


# --- what else a client controls -------------------------------------------------------------


def test_json_nested_as_deep_as_the_parser_allows_is_a_400(api_world: World) -> None:
    w = api_world
    before = w.clinical_snapshot()
    headers = w.headers("gp", **{"Content-Type": FHIR})
    for depth in (900, 1023, 1100):
        raw = '{"resourceType": "CarePlan", "note": ' + "[" * depth + "]" * depth + "}"
        response = w.client.post("/fhir/CarePlan", content=raw.encode(), headers=headers)
        assert response.status_code == 400, response.text
        comment = w.client.post(
            f"/app/careplans/{w.plans['related']}/comments",
            content=('{"text": ' + "[" * depth + "]" * depth + "}").encode(),
            headers=w.headers("gp", **{"Content-Type": "application/json"}),
        )
        assert comment.status_code == 400, comment.text
    assert w.clinical_snapshot() == before


@pytest.mark.parametrize("cookie", ["\xe9.abc", "abc.\xe9", "\xff", "."])
def test_a_garbled_session_cookie_is_a_401(api_world: World, cookie: str) -> None:
    w = api_world
    header = f"hoc_session={cookie}".encode("latin-1")
    response = w.client.get("/auth/me", headers={"Cookie": header})  # type: ignore[dict-item]
    assert response.status_code == 401, response.text
    assert _expressions(response) == set()


def test_a_care_plan_title_longer_than_the_store_holds_is_a_400(api_world: World) -> None:
    """The title column holds 200 characters: a longer title is refused naming it, on
    create (where PostgreSQL answered 500 and SQLite stored it) as on update."""
    w = api_world
    before = w.clinical_snapshot()
    _refused(w, w.post("gp", "/fhir/CarePlan", _plan(w, title="t" * 201)), "CarePlan.title", before)
    body = careplan_body(w, "related", title="t" * 201)
    update = w.put("gp", f"/fhir/CarePlan/{body['id']}", body, int(body["meta"]["versionId"]))
    assert update.status_code in (400, 422), update.text
    assert "CarePlan.title" in _expressions(update)
    assert w.clinical_snapshot() == before
    person = w.new_person("A")
    subject = {"reference": f"Patient/{person}"}
    created = w.post("gp", "/fhir/CarePlan", _plan(w, title="t" * 200, subject=subject))
    assert created.status_code == 201, created.text
    assert created.json()["title"] == "t" * 200
