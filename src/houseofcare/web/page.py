"""What every page route shares: the layout's context, the redirect after a form, a refusal.

The menu is drawn from the access policy, like the home page: a link is shown only to roles
whose grants reach the page, so the menu never offers what the rules would refuse.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from houseofcare.careplan.guard import Guard
from houseofcare.careplan.partners import partner_roles
from houseofcare.careplan.policy import Action, Relationship
from houseofcare.store.audit import record_audit_now
from houseofcare.store.models import AuditOutcome, Role
from houseofcare.web.security import CSRF_FIELD, PAGE_HEADERS, csrf_ok, csrf_token
from houseofcare.web.session import PageSession
from houseofcare.web.templates import render


def redirect(url: str) -> RedirectResponse:
    """303 See Other: after a form, the browser GETs the next page."""
    return RedirectResponse(url, status_code=303, headers=PAGE_HEADERS)


def guard(signed_in: PageSession, services: Any) -> Guard:
    """The one access decision and its audit, for the page's user (events say `via: pages`)."""
    return Guard(
        actor=signed_in.actor, factory=services.factory, policy=services.policy, via="pages"
    )


def chrome(request: Request, signed_in: PageSession | None, services: Any) -> dict[str, Any]:
    """What the layout needs on every page: who is signed in, the sign-out form's token, and
    which menu links their role's grants reach."""
    if signed_in is None:
        return {"user": None}
    role = Role(signed_in.user.role)
    policy = services.policy
    return {
        "user": signed_in.user,
        "csrf": csrf_token(services.signing_key, signed_in.binding),
        # the worklists are the practice team's: shown to roles granted a practice's care gaps
        "has_worklists": Relationship.practice in policy.granted(role, Action.caregap_read),
        # the caseload is a case manager's own list of people
        "has_caseload": Relationship.caseload in policy.granted(role, Action.patient_read)
        and bool(policy.granted(role, Action.caseload_read))
        and Relationship.practice not in policy.granted(role, Action.patient_read),
        "has_audit": bool(policy.granted(role, Action.audit_read)),
        # --- issue 12: partners' view (roles reading plans only through consent) and the
        # consent page (roles that may see consent: the link on the person page)
        "has_partners": role in partner_roles(policy),
        "has_consent_page": bool(policy.granted(role, Action.consent_read)),
        # --- issue 12: population pages: roles granted the population's figures
        "has_population": bool(policy.granted(role, Action.population_read)),
        # --- issue 13: matching: roles that may open "Suggest support" (the person page's link)
        "has_support_page": bool(policy.granted(role, Action.support_suggest)),
        # --- issue 13: referrals: the receiving organisation's inbox, the link worker's people
        "has_referral_inbox": bool(policy.granted(role, Action.referral_inbox)),
        "has_social_prescribing": bool(policy.granted(role, Action.socialprescribing_read)),
        "has_referrals": bool(policy.granted(role, Action.referral_read)),
    }


def refused(request: Request, signed_in: PageSession, services: Any, reason: str) -> Response:
    """The 403 page: the reason in words (the refusal is audited by whoever refused)."""
    return render(
        "refused.html",
        {
            **chrome(request, signed_in, services),
            "title": "You cannot see this page",
            "reason": reason,
        },
        status=403,
    )


def csrf_refused(
    request: Request, signed_in: PageSession, services: Any, person_id: int, what: str
) -> Response:
    """A form without this session's token: audited, nothing written, the user still in
    (every page form that writes answers its refusal with this)."""
    user = signed_in.user
    record_audit_now(
        services.factory,
        action="update",
        resource_type=what,
        outcome=AuditOutcome.denied,
        user_id=user.user_id,
        username=user.username,
        role=user.role,
        person_id=person_id,
        detail={"reason": "the form's CSRF token was missing or wrong", "via": "pages"},
    )
    return render(
        "refused.html",
        {
            **chrome(request, signed_in, services),
            "title": "The form could not be sent",
            "reason": "The form did not come from this page, or it had expired. "
            "Nothing was saved. Go back, open the form again and send it.",
        },
        status=403,
    )


def form_token_ok(services: Any, signed_in: PageSession, form: FormData) -> bool:
    """Whether a posted form carries this session's CSRF token."""
    sent = form.get(CSRF_FIELD)
    return csrf_ok(services.signing_key, signed_in.binding, sent if isinstance(sent, str) else "")
