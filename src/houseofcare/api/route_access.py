"""Every route's declared access rule, checked when the app is built.

A route that discloses or changes a person's record declares the policy action it is checked
against (`careplan.policy.Action`, decided by `careplan.access`); a route that does not names
why it needs no person check. The app refuses to start with a route missing here, and the
role × route matrix test (`tests/integration/test_api_access.py`) fails for a route without a
case: so a new route cannot reach users without a decision on who may call it and whom it
may show.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from enum import StrEnum
from typing import Final

from fastapi import FastAPI
from starlette.routing import BaseRoute, Route

from houseofcare.careplan.policy import Action


class Open(StrEnum):
    """Routes that need no person check, and why."""

    #: Anyone, signed in or not: nothing identifiable (liveness, API docs, sign-in itself).
    public = "public"
    #: Any signed-in user, about their own account only (who am I, sign out).
    own_account = "own account"
    # --- issue 13: the directory of services
    #: Any signed-in user, whatever their role: nothing identifiable (the directory's pages).
    signed_in = "signed in"


#: (method, path) → the policy action checked, or why none is needed.
ROUTE_ACCESS: Final[dict[tuple[str, str], Action | Open]] = {
    ("GET", "/health"): Open.public,
    ("GET", "/openapi.json"): Open.public,
    ("GET", "/docs"): Open.public,
    ("GET", "/docs/oauth2-redirect"): Open.public,
    ("POST", "/auth/token"): Open.public,
    ("POST", "/auth/login"): Open.public,
    ("POST", "/auth/logout"): Open.own_account,
    ("GET", "/auth/me"): Open.own_account,
    ("GET", "/fhir/Patient/{person_id}"): Action.patient_read,
    ("GET", "/fhir/Patient"): Action.patient_read,
    ("GET", "/fhir/CarePlan/{plan_id}"): Action.careplan_read,
    ("PUT", "/fhir/CarePlan/{plan_id}"): Action.careplan_write,
    ("GET", "/fhir/CarePlan"): Action.careplan_read,
    ("POST", "/fhir/CarePlan"): Action.careplan_write,
    ("GET", "/fhir/CarePlan/{plan_id}/_history"): Action.careplan_read,
    ("GET", "/fhir/CarePlan/{plan_id}/_history/{version}"): Action.careplan_read,
    ("GET", "/fhir/Goal/{goal_id}"): Action.goal_read,
    ("PUT", "/fhir/Goal/{goal_id}"): Action.goal_write,
    ("GET", "/fhir/Goal"): Action.goal_read,
    ("POST", "/fhir/Goal"): Action.goal_write,
    ("GET", "/fhir/Goal/{goal_id}/_history"): Action.goal_read,
    ("GET", "/fhir/Goal/{goal_id}/_history/{version}"): Action.goal_read,
    ("GET", "/fhir/Consent/{consent_id}"): Action.consent_read,
    ("PUT", "/fhir/Consent/{consent_id}"): Action.consent_write,
    ("GET", "/fhir/Consent"): Action.consent_read,
    ("POST", "/fhir/Consent"): Action.consent_write,
    ("GET", "/fhir/RiskAssessment/{person_id}"): Action.risk_read,
    ("GET", "/fhir/AuditEvent/{event_id}"): Action.audit_read,
    ("GET", "/fhir/AuditEvent"): Action.audit_read,
    ("GET", "/app/caseload"): Action.caseload_read,
    ("GET", "/app/due-reviews"): Action.reviews_read,
    ("GET", "/app/care-teams/{team_id}/due-reviews"): Action.reviews_read,
    ("GET", "/app/people/{person_id}/preparation"): Action.preparation_read,
    ("POST", "/app/people/{person_id}/preparation/talk-about"): Action.preparation_comment,
    ("POST", "/app/careplans/{plan_id}/comments"): Action.careplan_comment,
    # the pages (web/routes.py); each page that shows a person's record names its action
    ("GET", "/"): Open.own_account,
    ("GET", "/sign-in"): Open.public,
    ("POST", "/sign-in"): Open.public,
    ("POST", "/sign-out"): Open.own_account,
    ("GET", "/worklists"): Action.caregap_read,
    ("GET", "/worklists/recall.csv"): Action.caregap_read,
    # caseload pages (web/routes_caseload.py): a case manager's own caseload and candidates
    ("GET", "/caseload"): Action.caseload_write,
    ("POST", "/caseload/assign"): Action.caseload_write,
    ("POST", "/caseload/release"): Action.caseload_write,
    # person page (web/routes_person.py)
    ("GET", "/people/{person_id}"): Action.patient_read,
    # care-planning pages (web/routes_planning.py): the forms are the writers' pages; the
    # results letter is prepared and marked sent by the team (careplan.write) and read by
    # whoever may read the preparation (the person included)
    ("GET", "/people/{person_id}/plan"): Action.careplan_read,
    ("GET", "/people/{person_id}/plan/history"): Action.careplan_read,
    ("GET", "/people/{person_id}/plan/conversation"): Action.careplan_write,
    ("POST", "/people/{person_id}/plan/conversation"): Action.careplan_write,
    ("GET", "/people/{person_id}/plan/review"): Action.careplan_write,
    ("POST", "/people/{person_id}/plan/review"): Action.careplan_write,
    ("GET", "/people/{person_id}/preparation"): Action.preparation_read,
    ("POST", "/people/{person_id}/preparation"): Action.careplan_write,
    ("POST", "/people/{person_id}/preparation/sent"): Action.careplan_write,
    ("GET", "/people/{person_id}/preparation/letter.pdf"): Action.preparation_read,
    # audit page (web/routes_audit.py)
    ("GET", "/audit"): Action.audit_read,
    ("GET", "/audit/export.csv"): Action.audit_read,
    ("POST", "/audit/person"): Action.audit_read,
    # --- issue 12: consent page (web/routes_consent.py): the person's own (the signed-in
    # patient, no id in the address) and a person's, for a professional with them
    ("GET", "/consent"): Action.consent_read,
    ("POST", "/consent"): Action.consent_write,
    ("GET", "/people/{person_id}/consent"): Action.consent_read,
    ("POST", "/people/{person_id}/consent"): Action.consent_write,
    # --- issue 12: partners' view (web/routes_partners.py): the people who consent to share
    # with the user's organisation type (careplan.read through `consent`), one person's plan
    # as the consent allows, and adding an action (careplan.action) or a note (comment)
    ("GET", "/partners"): Action.careplan_read,
    ("GET", "/partners/people/{person_id}"): Action.careplan_read,
    ("POST", "/partners/people/{person_id}/actions"): Action.careplan_action,
    ("POST", "/partners/people/{person_id}/notes"): Action.careplan_comment,
    # --- issue 12: population and help pages (web/routes_population.py, web/routes_help.py):
    # the population's disclosure-controlled figures (an aggregate action a commissioner may
    # hold); the help says nothing about anyone, so anyone may read it
    ("GET", "/population"): Action.population_read,
    ("GET", "/help"): Open.public,
    ("GET", "/help/{role}"): Open.public,
    # --- issue 12: My care plan (web/routes_my_care.py). `/me/…`: the signed-in person's own
    # record (no id to change); `/cared-for/{person_id}/…`: the same pages for a carer with the
    # person's proxy access, refused (and audited) unless the user is that person or their proxy
    ("GET", "/me"): Action.preparation_read,
    ("GET", "/me/talk-about"): Action.preparation_read,
    ("POST", "/me/talk-about"): Action.preparation_comment,
    ("GET", "/me/plan"): Action.careplan_read,
    ("POST", "/me/plan/comments"): Action.careplan_comment,
    ("GET", "/me/access-log"): Action.audit_own,
    ("GET", "/me/carers"): Action.proxy_write,
    ("POST", "/me/carers"): Action.proxy_write,
    ("POST", "/me/carers/{grant_id}/withdraw"): Action.proxy_write,
    ("GET", "/cared-for/{person_id}"): Action.preparation_read,
    ("GET", "/cared-for/{person_id}/talk-about"): Action.preparation_read,
    ("POST", "/cared-for/{person_id}/talk-about"): Action.preparation_comment,
    ("GET", "/cared-for/{person_id}/plan"): Action.careplan_read,
    ("POST", "/cared-for/{person_id}/plan/comments"): Action.careplan_comment,
    ("GET", "/cared-for/{person_id}/access-log"): Action.audit_own,
    # --- issue 13: the directory of services. `/oruk/…`: served openly, like a public ORUK
    # feed (no patient data; no sign-in, reads not audited); `/services…`: the directory's
    # pages, for every signed-in role (patients find self-referral services there)
    ("GET", "/oruk/"): Open.public,
    ("GET", "/oruk/services"): Open.public,
    ("GET", "/oruk/services/{service_id}"): Open.public,
    ("GET", "/services"): Open.signed_in,
    ("GET", "/services/{service_id}"): Open.signed_in,
    # --- issue 13: matching (web/routes_support.py): suggest support for a person, and its
    # forms (activation score, support preferences, a need with no suitable service)
    ("GET", "/people/{person_id}/support"): Action.support_suggest,
    ("POST", "/people/{person_id}/support/activation"): Action.activation_write,
    ("POST", "/people/{person_id}/support/preferences"): Action.preference_write,
    ("POST", "/people/{person_id}/support/unmet"): Action.unmet_write,
    # --- issue 13: referrals (web/routes_referrals.py, api/routes/servicerequest.py). A
    # person's referrals and the referrer's side; the receiving organisation's inbox (a list
    # of its own services' referrals) and its moves; the link worker's caseload
    ("GET", "/people/{person_id}/referrals"): Action.referral_read,
    ("GET", "/people/{person_id}/referrals/new"): Action.referral_write,
    ("POST", "/people/{person_id}/referrals/new"): Action.referral_write,
    ("POST", "/people/{person_id}/referrals/{referral_id}/move"): Action.referral_write,
    ("POST", "/people/{person_id}/social-prescribing"): Action.referral_write,
    ("GET", "/referrals/inbox"): Action.referral_inbox,
    ("POST", "/referrals/inbox/{referral_id}"): Action.referral_receive,
    ("GET", "/social-prescribing"): Action.socialprescribing_read,
    ("POST", "/social-prescribing/{person_id}/follow-up"): Action.referral_write,
    # FHIR ServiceRequest: read and search a person's referrals (a receiver: its own
    # services' only, the person named only with consent); create from the plan; and
    # `$transition`, the moves of the flow, declared as referral.read, the least any mover
    # holds: each move is then checked against the flow's side (referral.write for the
    # referrer, referral.receive for the receiver), refused and audited otherwise
    ("GET", "/fhir/ServiceRequest/{referral_id}"): Action.referral_read,
    ("GET", "/fhir/ServiceRequest"): Action.referral_read,
    ("POST", "/fhir/ServiceRequest"): Action.referral_write,
    ("POST", "/fhir/ServiceRequest/{referral_id}/$transition"): Action.referral_read,
    # --- issue 14: the commissioners' page (web/routes_commissioning.py): the local
    # commissioning plan, aggregate and disclosure-controlled, built from identifiable rows,
    # so the population page's decision; its downloads (html, pdf, xlsx, csv) likewise
    ("GET", "/commissioning"): Action.population_read,
    ("GET", "/commissioning/plan.{fmt}"): Action.population_read,
}


def _walk(routes: Iterable[BaseRoute]) -> Iterator[tuple[str, str]]:
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:  # FastAPI keeps an included router as one entry
            yield from _walk(included.routes)
        elif isinstance(route, Route):
            for method in sorted((route.methods or set()) - {"HEAD"}):
                yield method, route.path


def app_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) the app answers (HEAD, answered with GET, left out)."""
    return sorted(set(_walk(app.routes)))


class UndeclaredRoute(RuntimeError):
    """A route has no access rule in `ROUTE_ACCESS`."""


def require_declared(app: FastAPI) -> None:
    """Refuse to build an app with a route whose access was never decided."""
    missing = [route for route in app_routes(app) if route not in ROUTE_ACCESS]
    if missing:
        named = ", ".join(f"{method} {path}" for method, path in missing)
        raise UndeclaredRoute(
            f"routes without an access rule: {named}; declare each in api/route_access.py "
            "and give it a case in tests/integration/test_api_access.py"
        )
