"""Every endpoint × every role: each access rule proved, allowed and denied, with its audit.

The expectations are written out here from the rules (not read from policy.toml), so a change
to the policy file that breaks a rule fails this test:

- clinicians (gp, nurse) see and change people registered at their practice (or on their
  caseload); case managers their caseload;
- social workers and the voluntary sector read a person's record and plan only with that
  person's active consent to share with their organisation type (the related person consents
  to local authority social care, not to the voluntary sector), and never change it: with
  that consent they only add actions and notes (issue 12, the partners' view);
- commissioners get 403 on every identifiable endpoint;
- a patient sees their own record and plan, comments on it, writes "what I want to talk
  about" and records or withdraws their own consent to share, and nothing of anybody else's;
- only admins read the audit trail.

Every case also checks that an audit event was appended for the user with the right person
and outcome, and every refused write leaves the clinical store exactly as it was.
"""

# ruff: noqa: F811 (the api_world fixture is imported, then requested by name)
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from test_api_support import (  # noqa: F401 (fixture)
    CAST,
    PASSWORD,
    World,
    api_world,
    consent_body,
    form_token,
    page_client,
    page_sign_in,
)

from houseofcare.api.route_access import (
    ROUTE_ACCESS,
    UndeclaredRoute,
    app_routes,
    require_declared,
)
from houseofcare.careplan import SYSTEM as SYSTEM_ACTOR
from houseofcare.careplan.people import assign_to_caseload
from houseofcare.store.database import transaction
from houseofcare.store.models import AuditOutcome, CarePlan, Goal

READERS_OF_RECORD = {"gp", "nurse", "case_manager", "social_worker", "patient"}
ROLES_IN_CAST = [name for name in CAST if name != "gp_b"]
CLINICAL = {"gp", "nurse", "case_manager"}


@dataclass(frozen=True)
class Endpoint:
    name: str
    #: The route it calls: (method, path) as declared in `api/route_access.py`.
    route: tuple[str, str]
    call: Callable[[World, str, str], Any]
    #: Roles allowed on the related person (nobody in the cast may act on the unrelated one).
    allowed: frozenset[str]
    writes: bool = False
    #: An allowed call answers one of these (404: allowed, but there is nothing to show).
    ok: frozenset[int] = frozenset({200})
    #: False for lists about the user's own work (no person in the URL).
    person_scoped: bool = True
    #: For a list or search: the people (Patient ids) an answer shows. Every one of them must
    #: be someone the caller may read, whatever the list is of.
    listed: Callable[[Any], set[int]] | None = None
    #: False for the routes that touch no record (who am I, liveness, docs).
    audited: bool = True
    #: Run before the store is snapshotted (makes what the call changes, e.g. a consent).
    prepare: Callable[[World, str], None] | None = None
    #: A search that answers 200 but hides (and audits as denied) whom it may not show.
    hides_refused: bool = False
    #: A page: a refusal is a 403 HTML page, not an OperationOutcome.
    page: bool = False


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
    body = consent_body({"reference": f"Patient/{w.people[target]}"}, "acute_trust")
    return w.post(who, "/fhir/Consent", body)


def _subjects(bundle: Any) -> set[int]:
    """The Patient ids a searchset Bundle shows (subject, or the Patient itself)."""
    found = set()
    for entry in bundle.get("entry", []):
        resource = entry["resource"]
        if resource["resourceType"] == "Patient":
            found.add(int(resource["id"]))
        else:
            found.add(int(resource["subject"]["reference"].split("/")[1]))
    return found


def _due_people(answer: Any) -> set[int]:
    teams = answer.get("teams", [answer])
    return {d["person_id"] for team in teams for d in team["due"]}


def _fresh_consent(w: World, target: str) -> None:
    w.scratch[f"consent-{target}"] = w.fresh_consent(target)


def _consent_put(w: World, who: str, target: str) -> Any:
    """Withdraw the consent `_fresh_consent` made for this case (the shared ones must stay
    live)."""
    consent_id = w.scratch[f"consent-{target}"]
    body = w.get("gp" if target == "related" else "gp_b", f"/fhir/Consent/{consent_id}").json()
    body["status"] = "inactive"
    body["provision"]["period"]["end"] = "2099-01-01T00:00:00+00:00"
    return w.put(who, f"/fhir/Consent/{consent_id}", body, 1)


def _logout(w: World, who: str, target: str) -> Any:
    """Sign out a token of its own (the shared ones must stay signed in)."""
    token = w.client.post("/auth/token", data={"username": f"t.{who}", "password": PASSWORD})
    assert token.status_code == 200, token.text
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    return w.client.post("/auth/logout", headers=headers)


def _page_session(w: World, who: str, *, fresh: bool = False) -> Any:
    """A browser of its own, signed in to the pages as `who` (the shared client's cookie jar
    must not carry a page session into the API cases). One sign-in per role is kept for the
    module and handed to each new browser (signing in hashes a password: ~1,800 cases would
    spend minutes on it); `fresh` signs in anew, for a case that ends its session."""
    key = f"page-session-{who}"
    if not fresh and key in w.scratch:
        return TestClient(
            w.client.app, follow_redirects=False, cookies={"hoc_session": w.scratch[key]}
        )
    browser = page_client(w)
    answer = page_sign_in(browser, f"t.{who}", PASSWORD)
    assert answer.status_code == 303, answer.text
    if not fresh:
        w.scratch[key] = browser.cookies["hoc_session"]
    return browser


def _page_sign_out(w: World, who: str, target: str) -> Any:
    browser = _page_session(w, who, fresh=True)
    home = browser.get("/")
    return browser.post("/sign-out", data={"csrf_token": form_token(home.text)})


def _planning_form(w: World, who: str, target: str, fields: dict[str, Any]) -> dict[str, Any]:
    """A care-planning form as `who`'s browser would send it: their session's CSRF token (the
    home page's) and the plan's version now, so an allowed user's form is a valid one."""
    browser = _page_session(w, who)
    w.scratch["planning-browser"] = browser
    token = form_token(browser.get("/").text)
    version = w.version_of(CarePlan, w.plans[target])
    return {"csrf_token": token, "version": str(version), **fields}


def _planning_post(path: str, fields: dict[str, Any]) -> Callable[[World, str, str], Any]:
    def call(w: World, who: str, target: str) -> Any:
        data = _planning_form(w, who, target, fields)
        return w.scratch["planning-browser"].post(path.format(p=w.people[target]), data=data)

    return call


_NEXT_YEAR = str(dt.date.today().year + 1)
_TODAY = dt.date.today()
_CONVERSATION = {
    "goal-1-text": "Get back to the allotment",
    "review_date[day]": "1",
    "review_date[month]": "6",
    "review_date[year]": _NEXT_YEAR,
    "took_part": ["person", "me"],
    "agreed": "yes",
}
_REVIEW = {"next_review[day]": "2", "next_review[month]": "6", "next_review[year]": _NEXT_YEAR}
_SENT = {
    "sent_on[day]": str(_TODAY.day),
    "sent_on[month]": str(_TODAY.month),
    "sent_on[year]": str(_TODAY.year),
}


def _planning_get(path: str) -> Callable[[World, str, str], Any]:
    return lambda w, who, t: _page_session(w, who).get(path.format(p=w.people[t]))


def _caseload_assign(w: World, who: str, target: str) -> Any:
    """Ask to take on the person nobody holds: the world has no pipeline run, so nobody is at
    level 3 and a case manager is refused with the reason (400), writing nothing; other roles
    get 403."""
    browser = _page_session(w, who)
    token = form_token(browser.get("/").text)
    return browser.post(
        "/caseload/assign", data={"person_id": w.people["unrelated"], "csrf_token": token}
    )


def _caseload_release(w: World, who: str, target: str) -> Any:
    """Release someone: a case manager releases a person of their own, put on their caseload
    for this case (the shared ones must stay); other roles ask for the related person."""
    person_id = w.people[target]
    if who == "case_manager":
        person_id = w.new_person("A")
        with transaction(w.factory) as session:
            assign_to_caseload(
                session, case_manager_id=w.user_ids["case_manager"], person_id=person_id
            )
    browser = _page_session(w, who)
    token = form_token(browser.get("/").text)
    return browser.post(
        "/caseload/release",
        data={"person_id": person_id, "reason": "stepped-down", "csrf_token": token},
    )


EVERYONE = frozenset(ROLES_IN_CAST)
ENDPOINTS = [
    Endpoint(
        "Health",
        ("GET", "/health"),
        lambda w, who, t: w.client.get("/health"),
        EVERYONE,
        person_scoped=False,
        audited=False,
    ),
    Endpoint(
        "OpenAPI",
        ("GET", "/openapi.json"),
        lambda w, who, t: w.client.get("/openapi.json"),
        EVERYONE,
        person_scoped=False,
        audited=False,
    ),
    Endpoint(
        "Docs",
        ("GET", "/docs"),
        lambda w, who, t: w.client.get("/docs"),
        EVERYONE,
        person_scoped=False,
        audited=False,
    ),
    Endpoint(
        "Docs redirect",
        ("GET", "/docs/oauth2-redirect"),
        lambda w, who, t: w.client.get("/docs/oauth2-redirect"),
        EVERYONE,
        person_scoped=False,
        audited=False,
    ),
    Endpoint(
        "Sign in (token)",
        ("POST", "/auth/token"),
        lambda w, who, t: w.client.post(
            "/auth/token", data={"username": f"t.{who}", "password": PASSWORD}
        ),
        EVERYONE,
        person_scoped=False,
    ),
    Endpoint(
        "Sign in (page session)",
        ("POST", "/auth/login"),
        lambda w, who, t: w.client.post(
            "/auth/login", data={"username": f"t.{who}", "password": PASSWORD}
        ),
        EVERYONE,
        person_scoped=False,
    ),
    Endpoint("Sign out", ("POST", "/auth/logout"), _logout, EVERYONE, person_scoped=False),
    Endpoint(
        "Who am I",
        ("GET", "/auth/me"),
        lambda w, who, t: w.get(who, "/auth/me"),
        EVERYONE,
        person_scoped=False,
        audited=False,
    ),
    Endpoint(
        "Patient read",
        ("GET", "/fhir/Patient/{person_id}"),
        lambda w, who, t: w.get(who, f"/fhir/Patient/{w.people[t]}"),
        frozenset(READERS_OF_RECORD),
    ),
    Endpoint(
        "Patient search by NHS number",
        ("GET", "/fhir/Patient"),
        lambda w, who, t: w.get(
            who, f"/fhir/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|{w.nhs[t]}"
        ),
        # a search answers 200 with nobody in it when the person may not be seen
        EVERYONE - {"commissioner"},
        person_scoped=False,
        listed=_subjects,
        hides_refused=True,
    ),
    Endpoint(
        "CarePlan read",
        ("GET", "/fhir/CarePlan/{plan_id}"),
        lambda w, who, t: w.get(who, f"/fhir/CarePlan/{w.plans[t]}"),
        frozenset(READERS_OF_RECORD),
    ),
    Endpoint(
        "CarePlan search by patient",
        ("GET", "/fhir/CarePlan"),
        lambda w, who, t: w.get(who, f"/fhir/CarePlan?patient=Patient/{w.people[t]}"),
        frozenset(READERS_OF_RECORD),
        listed=_subjects,
    ),
    Endpoint(
        "CarePlan search, everyone I may see",
        ("GET", "/fhir/CarePlan"),
        lambda w, who, t: w.get(who, "/fhir/CarePlan?status=active"),
        # every role with any careplan.read grant may search; the list is what is checked
        frozenset(READERS_OF_RECORD | {"voluntary_sector"}),
        person_scoped=False,
        listed=_subjects,
    ),
    Endpoint(
        "CarePlan history",
        ("GET", "/fhir/CarePlan/{plan_id}/_history"),
        lambda w, who, t: w.get(who, f"/fhir/CarePlan/{w.plans[t]}/_history"),
        frozenset(READERS_OF_RECORD),
    ),
    Endpoint(
        "CarePlan vread",
        ("GET", "/fhir/CarePlan/{plan_id}/_history/{version}"),
        lambda w, who, t: w.get(who, f"/fhir/CarePlan/{w.plans[t]}/_history/1"),
        frozenset(READERS_OF_RECORD),
    ),
    Endpoint(
        "CarePlan update",
        ("PUT", "/fhir/CarePlan/{plan_id}"),
        _plan_put,
        frozenset(CLINICAL),
        writes=True,
    ),
    Endpoint(
        "CarePlan create",
        ("POST", "/fhir/CarePlan"),
        _plan_post,
        frozenset(CLINICAL),
        writes=True,
        ok=frozenset({201}),
    ),
    Endpoint(
        "CarePlan comment",
        ("POST", "/app/careplans/{plan_id}/comments"),
        lambda w, who, t: w.post(
            who,
            f"/app/careplans/{w.plans[t]}/comments",
            {"text": f"from {who}"},
            content_type="application/json",
        ),
        # issue 12: a partner with the person's consent adds notes (careplan.comment)
        frozenset(CLINICAL | {"patient", "social_worker"}),
        writes=True,
        ok=frozenset({201}),
    ),
    Endpoint(
        "Goal read",
        ("GET", "/fhir/Goal/{goal_id}"),
        lambda w, who, t: w.get(who, f"/fhir/Goal/{w.goals[t]}"),
        frozenset(READERS_OF_RECORD),
    ),
    Endpoint(
        "Goal search by patient",
        ("GET", "/fhir/Goal"),
        lambda w, who, t: w.get(who, f"/fhir/Goal?patient={w.people[t]}"),
        frozenset(READERS_OF_RECORD),
        listed=_subjects,
    ),
    Endpoint(
        "Goal history",
        ("GET", "/fhir/Goal/{goal_id}/_history"),
        lambda w, who, t: w.get(who, f"/fhir/Goal/{w.goals[t]}/_history"),
        frozenset(READERS_OF_RECORD),
    ),
    Endpoint(
        "Goal vread",
        ("GET", "/fhir/Goal/{goal_id}/_history/{version}"),
        lambda w, who, t: w.get(who, f"/fhir/Goal/{w.goals[t]}/_history/1"),
        frozenset(READERS_OF_RECORD),
    ),
    Endpoint(
        "Goal update", ("PUT", "/fhir/Goal/{goal_id}"), _goal_put, frozenset(CLINICAL), writes=True
    ),
    Endpoint(
        "Goal create",
        ("POST", "/fhir/Goal"),
        _goal_post,
        frozenset(CLINICAL),
        writes=True,
        ok=frozenset({201}),
    ),
    Endpoint(
        "RiskAssessment read",
        ("GET", "/fhir/RiskAssessment/{person_id}"),
        lambda w, who, t: w.get(who, f"/fhir/RiskAssessment/{w.people[t]}"),
        frozenset(CLINICAL | {"patient"}),
        ok=frozenset({404}),
    ),
    Endpoint(
        "Consent read",
        ("GET", "/fhir/Consent/{consent_id}"),
        lambda w, who, t: w.get(who, f"/fhir/Consent/{w.consents[t]}"),
        frozenset(CLINICAL | {"patient"}),
    ),
    Endpoint(
        "Consent search",
        ("GET", "/fhir/Consent"),
        lambda w, who, t: w.get(who, f"/fhir/Consent?patient={w.people[t]}"),
        frozenset(CLINICAL | {"patient"}),
    ),
    Endpoint(
        "Consent create",
        ("POST", "/fhir/Consent"),
        _consent_post,
        # issue 12: the person records their own consent (consent.write for self)
        frozenset(CLINICAL | {"patient"}),
        writes=True,
        ok=frozenset({201}),
    ),
    Endpoint(
        "Consent withdraw",
        ("PUT", "/fhir/Consent/{consent_id}"),
        _consent_put,
        frozenset(CLINICAL | {"patient"}),
        writes=True,
        prepare=_fresh_consent,
    ),
    Endpoint(
        "Preparation summary",
        ("GET", "/app/people/{person_id}/preparation"),
        lambda w, who, t: w.get(who, f"/app/people/{w.people[t]}/preparation"),
        frozenset(CLINICAL | {"patient"}),
    ),
    Endpoint(
        "What I want to talk about",
        ("POST", "/app/people/{person_id}/preparation/talk-about"),
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
        ("GET", "/app/caseload"),
        lambda w, who, t: w.get(who, "/app/caseload"),
        frozenset(CLINICAL),
        person_scoped=False,
        listed=lambda answer: {p["person_id"] for p in answer["people"]},
    ),
    Endpoint(
        "Due reviews",
        ("GET", "/app/due-reviews"),
        lambda w, who, t: w.get(who, "/app/due-reviews"),
        frozenset(CLINICAL),
        person_scoped=False,
        listed=_due_people,
    ),
    Endpoint(
        "One team's due reviews",
        ("GET", "/app/care-teams/{team_id}/due-reviews"),
        lambda w, who, t: w.get(who, f"/app/care-teams/{w.team_id}/due-reviews"),
        frozenset(CLINICAL),
        person_scoped=False,
        listed=_due_people,
    ),
    Endpoint(
        "Home page",
        ("GET", "/"),
        lambda w, who, t: _page_session(w, who).get("/"),
        EVERYONE,
        person_scoped=False,
        audited=False,
    ),
    Endpoint(
        "Sign-in page",
        ("GET", "/sign-in"),
        lambda w, who, t: page_client(w).get("/sign-in"),
        EVERYONE,
        person_scoped=False,
        audited=False,
    ),
    Endpoint(
        "Sign in (pages)",
        ("POST", "/sign-in"),
        lambda w, who, t: page_sign_in(page_client(w), f"t.{who}", PASSWORD),
        EVERYONE,
        person_scoped=False,
        ok=frozenset({303}),
    ),
    Endpoint(
        "Sign out (pages)",
        ("POST", "/sign-out"),
        _page_sign_out,
        EVERYONE,
        person_scoped=False,
        ok=frozenset({303}),
    ),
    Endpoint(
        "Worklists page",
        ("GET", "/worklists"),
        lambda w, who, t: _page_session(w, who).get("/worklists"),
        # the practice team's own practice: a case manager's caseload-only grant is not enough
        frozenset({"gp", "nurse"}),
        person_scoped=False,
        page=True,
    ),
    Endpoint(
        "Recall list CSV export",
        ("GET", "/worklists/recall.csv"),
        lambda w, who, t: _page_session(w, who).get("/worklists/recall.csv"),
        frozenset({"gp", "nurse"}),
        person_scoped=False,
        page=True,
        # the world has no pipeline run: allowed, audited, and nothing to export
        ok=frozenset({200, 404}),
    ),
    # --- caseload pages
    Endpoint(
        "Caseload page",
        ("GET", "/caseload"),
        lambda w, who, t: _page_session(w, who).get("/caseload"),
        # the case manager's own page (caseload.write): not the practice team's
        frozenset({"case_manager"}),
        person_scoped=False,
        page=True,
    ),
    Endpoint(
        "Take someone onto my caseload",
        ("POST", "/caseload/assign"),
        _caseload_assign,
        frozenset({"case_manager"}),
        writes=True,
        person_scoped=False,
        page=True,
        ok=frozenset({400}),
    ),
    Endpoint(
        "Release someone from my caseload",
        ("POST", "/caseload/release"),
        _caseload_release,
        frozenset({"case_manager"}),
        writes=True,
        person_scoped=False,
        page=True,
        ok=frozenset({303}),
    ),
    # --- person page
    Endpoint(
        "Person page",
        ("GET", "/people/{person_id}"),
        lambda w, who, t: _page_session(w, who).get(f"/people/{w.people[t]}"),
        # patient.read: the practice, the caseload, consent to share (social care only), self
        frozenset(READERS_OF_RECORD),
        page=True,
    ),
    # --- care-planning pages
    Endpoint(
        "Care plan page",
        ("GET", "/people/{person_id}/plan"),
        _planning_get("/people/{p}/plan"),
        frozenset(READERS_OF_RECORD),
        page=True,
    ),
    Endpoint(
        "Care plan history page",
        ("GET", "/people/{person_id}/plan/history"),
        _planning_get("/people/{p}/plan/history"),
        frozenset(READERS_OF_RECORD),
        page=True,
    ),
    Endpoint(
        "Conversation form",
        ("GET", "/people/{person_id}/plan/conversation"),
        _planning_get("/people/{p}/plan/conversation"),
        frozenset(CLINICAL),
        page=True,
    ),
    Endpoint(
        "Conversation recorded",
        ("POST", "/people/{person_id}/plan/conversation"),
        _planning_post("/people/{p}/plan/conversation", _CONVERSATION),
        frozenset(CLINICAL),
        writes=True,
        ok=frozenset({303}),
        page=True,
    ),
    Endpoint(
        "Review form",
        ("GET", "/people/{person_id}/plan/review"),
        _planning_get("/people/{p}/plan/review"),
        frozenset(CLINICAL),
        page=True,
    ),
    Endpoint(
        "Review recorded",
        ("POST", "/people/{person_id}/plan/review"),
        _planning_post("/people/{p}/plan/review", _REVIEW),
        frozenset(CLINICAL),
        writes=True,
        ok=frozenset({303}),
        page=True,
    ),
    Endpoint(
        "Results letter page",
        ("GET", "/people/{person_id}/preparation"),
        _planning_get("/people/{p}/preparation"),
        frozenset(CLINICAL | {"patient"}),
        page=True,
    ),
    Endpoint(
        "Results letter prepared",
        ("POST", "/people/{person_id}/preparation"),
        _planning_post("/people/{p}/preparation", {}),
        frozenset(CLINICAL),
        writes=True,
        # the world has no pipeline run: allowed, audited, and nothing to prepare from
        ok=frozenset({303, 409}),
        page=True,
    ),
    Endpoint(
        "Results letter marked sent",
        ("POST", "/people/{person_id}/preparation/sent"),
        _planning_post("/people/{p}/preparation/sent", _SENT),
        frozenset(CLINICAL),
        writes=True,
        ok=frozenset({303}),
        page=True,
    ),
    Endpoint(
        "Results letter PDF",
        ("GET", "/people/{person_id}/preparation/letter.pdf"),
        _planning_get("/people/{p}/preparation/letter.pdf"),
        frozenset(CLINICAL | {"patient"}),
        page=True,
    ),
    # --- audit page
    Endpoint(
        "Audit trail page",
        ("GET", "/audit"),
        lambda w, who, t: _page_session(w, who).get("/audit?outcome=denied"),
        frozenset({"admin"}),
        person_scoped=False,
        page=True,
    ),
    Endpoint(
        "Audit trail: find a person by NHS number (POST)",
        ("POST", "/audit/person"),
        # the NHS number goes in the form's body; the answer is a redirect to the id
        lambda w, who, t: (b := _page_session(w, who)).post(
            "/audit/person",
            data={"nhs_number": w.nhs[t], "csrf_token": form_token(b.get("/").text)},
        ),
        frozenset({"admin"}),
        person_scoped=False,
        page=True,
        ok=frozenset({303}),
    ),
    Endpoint(
        "Audit trail CSV export",
        ("GET", "/audit/export.csv"),
        lambda w, who, t: _page_session(w, who).get("/audit/export.csv?action=read"),
        frozenset({"admin"}),
        person_scoped=False,
        page=True,
    ),
    Endpoint(
        "AuditEvent search",
        ("GET", "/fhir/AuditEvent"),
        lambda w, who, t: w.get(who, "/fhir/AuditEvent?_count=5"),
        frozenset({"admin"}),
        person_scoped=False,
    ),
    Endpoint(
        "AuditEvent read",
        ("GET", "/fhir/AuditEvent/{event_id}"),
        lambda w, who, t: w.get(who, "/fhir/AuditEvent/1"),
        frozenset({"admin"}),
        person_scoped=False,
    ),
    # --- issue 12: consent page. The person's own (no id: the signed-in patient) and a
    # person's (consent.read / consent.write). The changes withdraw a consent made for the
    # case (`_fresh_consent`), so the shared consents stay live.
    Endpoint(
        "Consent page (the person's own)",
        ("GET", "/consent"),
        lambda w, who, t: _page_session(w, who).get("/consent"),
        frozenset({"patient"}),
        person_scoped=False,
        page=True,
    ),
    Endpoint(
        "Consent changed (the person's own)",
        ("POST", "/consent"),
        lambda w, who, t: (b := _page_session(w, who)).post(
            "/consent",
            data={
                "do": "withdraw",
                "consent_id": w.scratch[f"consent-{t}"],
                "csrf_token": form_token(b.get("/").text),
            },
        ),
        frozenset({"patient"}),
        writes=True,
        person_scoped=False,
        page=True,
        ok=frozenset({303}),
        prepare=_fresh_consent,
    ),
    Endpoint(
        "Consent page",
        ("GET", "/people/{person_id}/consent"),
        _planning_get("/people/{p}/consent"),
        frozenset(CLINICAL | {"patient"}),
        page=True,
    ),
    Endpoint(
        "Consent changed",
        ("POST", "/people/{person_id}/consent"),
        lambda w, who, t: (b := _page_session(w, who)).post(
            f"/people/{w.people[t]}/consent",
            data={
                "do": "withdraw",
                "consent_id": w.scratch[f"consent-{t}"],
                "csrf_token": form_token(b.get("/").text),
            },
        ),
        frozenset(CLINICAL | {"patient"}),
        writes=True,
        page=True,
        ok=frozenset({303}),
        prepare=_fresh_consent,
    ),
    # --- issue 12: partners' view. Only the partners, and one person's plan only with their
    # consent (the related person shares with social care, not with the voluntary sector)
    Endpoint(
        "Partners' list",
        ("GET", "/partners"),
        lambda w, who, t: _page_session(w, who).get("/partners"),
        frozenset({"social_worker", "voluntary_sector"}),
        person_scoped=False,
        page=True,
    ),
    Endpoint(
        "Partners' view of a person",
        ("GET", "/partners/people/{person_id}"),
        _planning_get("/partners/people/{p}"),
        frozenset({"social_worker"}),
        page=True,
    ),
    Endpoint(
        "Partner adds an action",
        ("POST", "/partners/people/{person_id}/actions"),
        lambda w, who, t: (b := _page_session(w, who)).post(
            f"/partners/people/{w.people[t]}/actions",
            data={"description": f"Visit ({who})", "csrf_token": form_token(b.get("/").text)},
        ),
        frozenset({"social_worker"}),
        writes=True,
        page=True,
        ok=frozenset({303}),
    ),
    Endpoint(
        "Partner adds a note",
        ("POST", "/partners/people/{person_id}/notes"),
        lambda w, who, t: (b := _page_session(w, who)).post(
            f"/partners/people/{w.people[t]}/notes",
            data={"note": f"Note ({who})", "csrf_token": form_token(b.get("/").text)},
        ),
        frozenset({"social_worker"}),
        writes=True,
        page=True,
        ok=frozenset({303}),
    ),
    # --- issue 12: population and help pages
    Endpoint(
        "Population page",
        ("GET", "/population"),
        lambda w, who, t: _page_session(w, who).get("/population"),
        # population.read: disclosure-controlled figures about no one; the commissioner's one
        # grant, and the GP's as practice lead
        frozenset({"gp", "commissioner"}),
        person_scoped=False,
        page=True,
    ),
    Endpoint(
        "Help page",
        ("GET", "/help"),
        lambda w, who, t: _page_session(w, who).get("/help"),
        frozenset(ROLES_IN_CAST),
        person_scoped=False,
        page=True,
        audited=False,
    ),
    Endpoint(
        "Help page for a role",
        ("GET", "/help/{role}"),
        lambda w, who, t: _page_session(w, who).get("/help/commissioner"),
        frozenset(ROLES_IN_CAST),
        person_scoped=False,
        page=True,
        audited=False,
    ),
]


# --- issue 12: My care plan (the person's own pages and a carer's proxy view)


def _carer(w: World) -> tuple[int, str]:
    """A new person with a sign-in of their own, to be someone's carer: (user id, username)."""
    from houseofcare.careplan.people import create_user
    from houseofcare.store.models import Role

    person_id = w.new_person("A")
    username = f"t.carer.{person_id}"
    with transaction(w.factory) as session:
        user = create_user(
            session,
            username=username,
            password=PASSWORD,
            role=Role.patient,
            display_name="A carer",
            person_id=person_id,
        )
        return user.id, username


def _my_post(path: str, fields: dict[str, Any]) -> Callable[[World, str, str], Any]:
    """A My care plan form as `who`'s browser sends it (their session's CSRF token)."""

    def call(w: World, who: str, target: str) -> Any:
        browser = _page_session(w, who)
        data = {"csrf_token": form_token(browser.get("/").text), **fields}
        return browser.post(path.format(p=w.people[target]), data=data)

    return call


def _new_carer(w: World, target: str) -> None:
    """A new person with a sign-in of their own, made before the store is snapshotted."""
    w.scratch["carer"] = _carer(w)[1]


def _my_carer_add(w: World, who: str, target: str) -> Any:
    return _my_post("/me/carers", {"username": w.scratch["carer"]})(w, who, target)


def _new_grant(w: World, target: str) -> None:
    """A grant the related person gave a new carer (for a case that withdraws it)."""
    from houseofcare.careplan.proxy import give_proxy

    _, username = _carer(w)
    with transaction(w.factory) as session:
        grant = give_proxy(session, w.people["related"], username, SYSTEM_ACTOR)
        w.scratch["grant"] = grant.id


def _my_carer_withdraw(w: World, who: str, target: str) -> Any:
    """Withdraw it: only the person may; anyone else is refused before it is looked up."""
    return _my_post(f"/me/carers/{w.scratch['grant']}/withdraw", {})(w, who, target)


def _my_get(path: str) -> Callable[[World, str, str], Any]:
    return lambda w, who, t: _page_session(w, who).get(path.format(p=w.people[t]))


_ME = frozenset({"patient"})
_MY_CARE = [
    # (name, method, path, call, writes, ok)
    ("My results", "GET", "{base}", None, False, {200}),
    ("My talk about", "GET", "{base}/talk-about", None, False, {200}),
    (
        "My talk about saved",
        "POST",
        "{base}/talk-about",
        {"talk_about": "my breathing"},
        True,
        {303},
    ),
    ("My plan", "GET", "{base}/plan", None, False, {200}),
    ("My comment", "POST", "{base}/plan/comments", {"comment": "hello team"}, True, {303}),
    ("My access log", "GET", "{base}/access-log", None, False, {200}),
]
MY_CARE_ENDPOINTS = [
    Endpoint(
        f"{name} ({'own' if own else 'cared for'})",
        (method, path.format(base="/me" if own else "/cared-for/{person_id}")),
        (_my_post if method == "POST" else lambda pth, _f: _my_get(pth))(
            path.format(base="/me" if own else "/cared-for/{p}"), fields
        ),
        _ME,
        writes=writes,
        ok=frozenset(ok),
        # /me has no id: the person is the signed-in user's own
        person_scoped=not own,
        page=True,
    )
    for name, method, path, fields, writes, ok in _MY_CARE
    for own in (True, False)
] + [
    Endpoint(
        "My carers",
        ("GET", "/me/carers"),
        _my_get("/me/carers"),
        _ME,
        person_scoped=False,
        page=True,
    ),
    Endpoint(
        "My carers: give access",
        ("POST", "/me/carers"),
        _my_carer_add,
        _ME,
        prepare=_new_carer,
        writes=True,
        ok=frozenset({303}),
        person_scoped=False,
        page=True,
    ),
    Endpoint(
        "My carers: take back access",
        ("POST", "/me/carers/{grant_id}/withdraw"),
        _my_carer_withdraw,
        _ME,
        prepare=_new_grant,
        writes=True,
        ok=frozenset({303}),
        person_scoped=False,
        page=True,
    ),
]
ENDPOINTS += MY_CARE_ENDPOINTS

# --- issue 13: the directory of services. Nothing about any person: the ORUK API is open to
# anyone (no sign-in; `test_the_directory_is_open_to_nobody_signed_in` below), the pages to
# every signed-in role; reads are not audited. The cast's store has no services, so a
# service's own route answers 404 to everyone allowed.
DIRECTORY_ENDPOINTS = [
    Endpoint(name, route, call, EVERYONE, person_scoped=False, audited=False, ok=frozenset(ok))
    for name, route, call, ok in (
        ("ORUK API details", ("GET", "/oruk/"), lambda w, who, t: w.get(who, "/oruk/"), {200}),
        (
            "ORUK services",
            ("GET", "/oruk/services"),
            lambda w, who, t: w.get(who, "/oruk/services"),
            {200},
        ),
        (
            "ORUK service",
            ("GET", "/oruk/services/{service_id}"),
            lambda w, who, t: w.get(who, "/oruk/services/no-such-service"),
            {404},
        ),
        (
            "Directory search page",
            ("GET", "/services"),
            lambda w, who, t: _page_session(w, who).get("/services"),
            {200},
        ),
        (
            "Service page",
            ("GET", "/services/{service_id}"),
            lambda w, who, t: _page_session(w, who).get("/services/1"),
            {404},
        ),
    )
]
ENDPOINTS += DIRECTORY_ENDPOINTS


# --- issue 13: matching ("Suggest support" and its forms). Allowed: the clinical team for
# their people, and the link worker for their caseload (`link_worker` in the cast when it
# joins). The person's plan gets a need no service suits (the directory is empty), so the
# unmet-need form records it (once; a second post is answered the same, writing nothing).
def _plan_need(w: World, target: str) -> None:
    from houseofcare.careplan.plans import add_need

    if f"need-{target}" not in w.scratch:
        with transaction(w.factory) as session:
            add_need(
                session,
                w.plans[target],
                {"domain": "social_housing", "description": "Damp flat"},
                SYSTEM_ACTOR,
            )
        w.scratch[f"need-{target}"] = True


def _support_post(path: str, fields: dict[str, Any]) -> Callable[[World, str, str], Any]:
    def call(w: World, who: str, target: str) -> Any:
        browser = _page_session(w, who)
        return browser.post(
            path.format(p=w.people[target]),
            data={**fields, "csrf_token": form_token(browser.get("/").text)},
        )

    return call


_SUPPORTERS = frozenset(CLINICAL | {"link_worker"})
#: The person records their own activation (a PAM is self-completed) and preferences.
_SUPPORTERS_AND_SELF = _SUPPORTERS | {"patient"}
ENDPOINTS += [
    Endpoint(
        "Suggest support",
        ("GET", "/people/{person_id}/support"),
        _planning_get("/people/{p}/support"),
        _SUPPORTERS,
        page=True,
    ),
    Endpoint(
        "Suggest support: activation score",
        ("POST", "/people/{person_id}/support/activation"),
        _support_post("/people/{p}/support/activation", {"score": "58.5"}),
        _SUPPORTERS_AND_SELF,
        writes=True,
        page=True,
        ok=frozenset({303}),
    ),
    Endpoint(
        "Suggest support: preferences",
        ("POST", "/people/{person_id}/support/preferences"),
        _support_post("/people/{p}/support/preferences", {"language": "en", "ways": "group"}),
        _SUPPORTERS_AND_SELF,
        writes=True,
        page=True,
        ok=frozenset({303}),
    ),
    Endpoint(
        "Suggest support: unmet need",
        ("POST", "/people/{person_id}/support/unmet"),
        _support_post("/people/{p}/support/unmet", {"need_domain": "social_housing"}),
        _SUPPORTERS,
        writes=True,
        page=True,
        ok=frozenset({303}),
        prepare=_plan_need,
    ),
]


# --- issue 13: referrals. The related person is referred to a service of the cast's
# voluntary group (so that group is `referred` to them); the unrelated person only to a
# service of no organisation in the store, so no user of the cast is related to them.


def _referral_service(w: World, target: str) -> int:
    """A directory service: the voluntary group's for the related person, no one's else."""
    import uuid

    from houseofcare.store.models import Service, ServiceAccess, ServiceKind, ServiceStatus

    key = f"service-{target}"
    if key not in w.scratch:
        with transaction(w.factory) as session:
            org = w._orgs["VG"] if target == "related" else None
            service = Service(
                oruk_id=str(uuid.uuid4()),
                name=f"Walking group ({target})",
                organisation_name="Breathe Easy",
                organisation_id=org,
                status=ServiceStatus.active,
                kind=ServiceKind.voluntary,
                access=ServiceAccess.referral,
            )
            session.add(service)
            session.flush()
            w.scratch[key] = service.id
    return int(w.scratch[key])


def _fresh_referral(w: World, target: str) -> None:
    """A referral of the target, just sent (version 1), made before the store is snapshotted."""
    from houseofcare.store.models import Referral, ReferralEvent, ReferralStatus

    service_id = _referral_service(w, target)
    with transaction(w.factory) as session:
        referral = Referral(
            person_id=w.people[target],
            care_plan_id=w.plans[target],
            service_id=service_id,
            status=ReferralStatus.sent,
            reason="Company on walks",
            version=1,
        )
        session.add(referral)
        session.flush()
        session.add(ReferralEvent(referral_id=referral.id, to_status=ReferralStatus.sent))
        w.scratch[f"referral-{target}"] = referral.id


def _link_worker(w: World, target: str) -> None:
    """A social prescribing link worker to refer people to (one for the module)."""
    from houseofcare.careplan.people import create_user
    from houseofcare.store.models import Role

    _referral_service(w, target)
    _fresh_referral(w, "related")  # the voluntary group is `referred` to the related person
    if "link-worker" in w.scratch:
        return
    with transaction(w.factory) as session:
        w.scratch["link-worker"] = create_user(
            session,
            username="t.linkworker",
            password=PASSWORD,
            role=Role.link_worker,
            display_name="A link worker",
            organisation_id=w._orgs["CT"],
        ).id


def _referral_page_post(path: str, fields: Callable[[World, str, str], dict[str, Any]]) -> Any:
    def call(w: World, who: str, target: str) -> Any:
        browser = _page_session(w, who)
        data = {"csrf_token": form_token(browser.get("/").text), **fields(w, who, target)}
        url = path.format(p=w.people[target], r=w.scratch.get(f"referral-{target}"))
        return browser.post(url, data=data)

    return call


def _transition(w: World, who: str, target: str) -> Any:
    """The receiver accepts; a referrer withdraws with a reason; anyone else is refused."""
    to = "accepted" if who == "voluntary_sector" else "closed"
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "businessStatus", "valueCode": to},
            {"name": "note", "valueString": "No longer needed"},
        ],
    }
    headers = w.headers(who, **{"Content-Type": "application/fhir+json", "If-Match": 'W/"1"'})
    url = f"/fhir/ServiceRequest/{w.scratch[f'referral-{target}']}/$transition"
    return w.client.post(url, headers=headers, json=body)


def _sr_post(w: World, who: str, target: str) -> Any:
    body = {
        "resourceType": "ServiceRequest",
        "intent": "order",
        "subject": {"reference": f"Patient/{w.people[target]}"},
        "performer": [{"reference": f"HealthcareService/{_referral_service(w, target)}"}],
        "note": [{"text": f"Referred by {who}"}],
    }
    return w.post(who, "/fhir/ServiceRequest", body)


_REFERRAL_READERS = frozenset(CLINICAL | {"voluntary_sector", "patient"})
REFERRAL_ENDPOINTS = [
    Endpoint(
        "A person's referrals",
        ("GET", "/people/{person_id}/referrals"),
        _planning_get("/people/{p}/referrals"),
        _REFERRAL_READERS,
        page=True,
        prepare=_fresh_referral,
    ),
    Endpoint(
        "Refer form",
        ("GET", "/people/{person_id}/referrals/new"),
        _planning_get("/people/{p}/referrals/new"),
        frozenset(CLINICAL),
        page=True,
    ),
    Endpoint(
        "Referral sent",
        ("POST", "/people/{person_id}/referrals/new"),
        _referral_page_post(
            "/people/{p}/referrals/new",
            lambda w, who, t: {
                "service_id": str(_referral_service(w, t)),
                "need_domain": "social_loneliness",
                "reason": f"Company ({who})",
                "action_id": "new",
            },
        ),
        frozenset(CLINICAL),
        writes=True,
        page=True,
        ok=frozenset({303}),
    ),
    Endpoint(
        "Referral withdrawn by the referrer",
        ("POST", "/people/{person_id}/referrals/{referral_id}/move"),
        _referral_page_post(
            "/people/{p}/referrals/{r}/move",
            lambda w, who, t: {"to": "closed", "version": "1", "note": "Moved away"},
        ),
        frozenset(CLINICAL),
        writes=True,
        page=True,
        ok=frozenset({303}),
        prepare=_fresh_referral,
    ),
    Endpoint(
        "Referred to social prescribing",
        ("POST", "/people/{person_id}/social-prescribing"),
        _referral_page_post(
            "/people/{p}/social-prescribing",
            lambda w, who, t: {
                "link_worker_id": str(w.scratch["link-worker"]),
                "what_matters": "Gardening again",
            },
        ),
        frozenset(CLINICAL),
        writes=True,
        page=True,
        ok=frozenset({303}),
        prepare=_link_worker,
    ),
    Endpoint(
        "Referrals inbox",
        ("GET", "/referrals/inbox"),
        lambda w, who, t: _page_session(w, who).get("/referrals/inbox"),
        frozenset({"voluntary_sector"}),
        person_scoped=False,
        page=True,
    ),
    Endpoint(
        "Referral accepted from the inbox",
        ("POST", "/referrals/inbox/{referral_id}"),
        _referral_page_post(
            "/referrals/inbox/{r}", lambda w, who, t: {"to": "accepted", "version": "1"}
        ),
        frozenset({"voluntary_sector"}),
        writes=True,
        page=True,
        ok=frozenset({303}),
        prepare=_fresh_referral,
    ),
    Endpoint(
        "Social prescribing caseload",
        ("GET", "/social-prescribing"),
        lambda w, who, t: _page_session(w, who).get("/social-prescribing"),
        # the link worker's own (no link worker in the cast: tests/integration/test_pages_referrals)
        frozenset(),
        person_scoped=False,
        page=True,
    ),
    Endpoint(
        "Follow-up date set",
        ("POST", "/social-prescribing/{person_id}/follow-up"),
        _referral_page_post(
            "/social-prescribing/{p}/follow-up",
            lambda w, who, t: {
                "follow-up[day]": "14",
                "follow-up[month]": "1",
                "follow-up[year]": "2027",
            },
        ),
        frozenset(),
        writes=True,
        page=True,
        ok=frozenset({303}),
    ),
    Endpoint(
        "ServiceRequest read",
        ("GET", "/fhir/ServiceRequest/{referral_id}"),
        lambda w, who, t: w.get(who, f"/fhir/ServiceRequest/{w.scratch[f'referral-{t}']}"),
        _REFERRAL_READERS,
        prepare=_fresh_referral,
    ),
    Endpoint(
        "ServiceRequest search",
        ("GET", "/fhir/ServiceRequest"),
        lambda w, who, t: w.get(who, f"/fhir/ServiceRequest?patient=Patient/{w.people[t]}"),
        _REFERRAL_READERS,
        prepare=_fresh_referral,
    ),
    Endpoint(
        "ServiceRequest create",
        ("POST", "/fhir/ServiceRequest"),
        _sr_post,
        frozenset(CLINICAL),
        writes=True,
        ok=frozenset({201}),
    ),
    Endpoint(
        "ServiceRequest $transition",
        ("POST", "/fhir/ServiceRequest/{referral_id}/$transition"),
        _transition,
        # the receiver accepts, a referrer withdraws; the person may read but never move
        frozenset(CLINICAL | {"voluntary_sector"}),
        writes=True,
        prepare=_fresh_referral,
    ),
]
ENDPOINTS += REFERRAL_ENDPOINTS

# --- issue 13: the social prescribing link worker, in the cast with the related person on
# their caseload (referred to social prescribing). careplan/policy.toml grants them, for their
# caseload only: patient.read, careplan.read, careplan.action, careplan.comment, goal.read,
# consent.read and the referral actions; never record.read, risk.read or any write to the
# plan's goals (so the clinical record, risk, the planning forms stay refused: the cast's
# cases check that too). Each route below is one of those grants.
LINK_WORKER_ALLOWED = frozenset(
    {
        "CarePlan comment",  # careplan.comment
        "Goal read",  # goal.read
        "Goal search by patient",
        "Goal history",
        "Goal vread",
        "Consent read",  # consent.read
        "Consent search",
        "Patient read",  # patient.read
        "CarePlan read",  # careplan.read
        "CarePlan search by patient",
        "CarePlan search, everyone I may see",
        "CarePlan history",
        "CarePlan vread",
        "Person page",  # patient.read (the sections the policy allows)
        "Care plan page",  # careplan.read
        "Care plan history page",
        "Consent page",  # consent.read (reads only)
        "A person's referrals",  # referral.read
        "Refer form",  # referral.write
        "Referral sent",
        "Referral withdrawn by the referrer",
        "Referred to social prescribing",  # referral.write: to another link worker
        "Social prescribing caseload",  # their own list
        "Follow-up date set",
        "ServiceRequest read",  # referral.read
        "ServiceRequest create",  # referral.write
        "ServiceRequest search",
        "ServiceRequest $transition",  # a referrer's withdrawal
    }
)
ENDPOINTS = [
    replace(e, allowed=e.allowed | {"link_worker"}) if e.name in LINK_WORKER_ALLOWED else e
    for e in ENDPOINTS
]
assert {e.name for e in ENDPOINTS} >= LINK_WORKER_ALLOWED

# --- issue 14: the commissioners' page (the local commissioning plan) and its downloads:
# population.read, as the population page (commissioners, and GPs as practice leads). The
# cast's store has no pipeline run, so the page says so (200) and a download has no plan
# to give (404); both audited, and refused (403, audited) for every other role.
COMMISSIONING_ENDPOINTS = [
    Endpoint(
        "Commissioning plan page",
        ("GET", "/commissioning"),
        lambda w, who, t: _page_session(w, who).get("/commissioning"),
        frozenset({"gp", "commissioner"}),
        person_scoped=False,
        page=True,
    ),
    Endpoint(
        "Commissioning plan download",
        ("GET", "/commissioning/plan.{fmt}"),
        lambda w, who, t: _page_session(w, who).get("/commissioning/plan.csv"),
        frozenset({"gp", "commissioner"}),
        person_scoped=False,
        page=True,
        ok=frozenset({404}),
    ),
]
ENDPOINTS += COMMISSIONING_ENDPOINTS

ROLES = ROLES_IN_CAST
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
    if endpoint.prepare is not None:
        endpoint.prepare(w, target)
    before = w.clinical_snapshot() if endpoint.writes and not allowed else None
    audits_before = w.audit_count()
    response = endpoint.call(w, role, target)
    if endpoint.audited:
        assert w.audit_count() > audits_before, "no audit event appended"
    if allowed:
        assert response.status_code in endpoint.ok, response.text
    else:
        assert response.status_code == 403, response.text
        if endpoint.page:
            assert response.headers["content-type"].startswith("text/html")
            assert "You cannot see this page" in response.text
        else:
            assert response.json()["resourceType"] == "OperationOutcome"
            assert response.json()["issue"][0]["code"] == "forbidden"
        if before is not None:
            assert w.clinical_snapshot() == before, "a refused write changed the store"
    if allowed and endpoint.listed is not None:
        # whom a list shows is checked, not only who may call it: every person listed is
        # one the caller may open
        for person_id in endpoint.listed(response.json()):
            opened = w.get(role, f"/fhir/Patient/{person_id}")
            assert opened.status_code == 200, f"{endpoint.name} listed Patient/{person_id}"
    if not endpoint.audited:
        return
    event = w.last_audit(role)
    if endpoint.route[1].startswith(("/fhir", "/app", "/worklists", "/audit")):
        expected = AuditOutcome.denied if not allowed else None
        if expected is None:
            outcomes = {AuditOutcome.success, AuditOutcome.not_found}
            if endpoint.hides_refused:
                outcomes.add(AuditOutcome.denied)
            assert event.outcome in outcomes
        else:
            assert event.outcome is expected
    if endpoint.person_scoped and event.person_id is not None:
        assert event.person_id == w.people[target]
    assert event.role == {"gp_b": "gp"}.get(role, role)


def test_every_route_is_declared_and_has_a_case_for_every_role(api_world: World) -> None:
    """A new route without an access rule stops the app at start; one without a case in this
    matrix (every role, allowed and refused) fails here."""
    app = w_app(api_world)
    routes = set(app_routes(app))
    assert routes == set(ROUTE_ACCESS), "routes and declared access rules differ"
    covered = {endpoint.route for endpoint in ENDPOINTS}
    assert routes - covered == set(), "routes without a case in the role x route matrix"
    cased_roles = {case.values[1] for case in CASES}
    assert cased_roles == set(ROLES) == {r for r in CAST if r != "gp_b"}
    for endpoint in ENDPOINTS:
        assert {c.values[1] for c in CASES if c.values[0] is endpoint} == set(ROLES)


def test_an_undeclared_route_stops_the_app(api_world: World) -> None:
    app = w_app(api_world)

    @app.get("/fhir/Secret/{ident}")
    def secret(ident: int) -> dict[str, int]:
        return {"ident": ident}

    try:
        with pytest.raises(UndeclaredRoute, match="GET /fhir/Secret/"):
            require_declared(app)
    finally:
        app.router.routes.pop()


def w_app(world: World) -> Any:
    return world.client.app


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
    body = consent_body({"reference": f"Patient/{person}"}, "local_authority_social_care")
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


# --- issue 13: the directory of services, with nobody signed in
def test_the_directory_is_open_to_nobody_signed_in(api_world: World) -> None:
    """The ORUK API answers anyone (a public directory feed); the pages send them to sign in."""
    nobody = TestClient(api_world.client.app, follow_redirects=False)
    audits = api_world.audit_count()
    assert nobody.get("/oruk/").status_code == 200
    # the shared world may hold services other cases made (the referrals'): any number is fine
    listed = nobody.get("/oruk/services")
    assert listed.status_code == 200
    assert isinstance(listed.json()["total_items"], int)
    assert nobody.get("/oruk/services/x").status_code == 404
    for path in ("/services", "/services/1"):
        answer = nobody.get(path)
        assert (answer.status_code, answer.headers["location"]) == (303, "/sign-in")
    assert api_world.audit_count() == audits
