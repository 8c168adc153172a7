"""The pages' routes: thin, like the API's, over the same sign-in, credentials and policy.

Every route is declared in `api/route_access.py` with the rule it is checked against, and has
a case in the role × route matrix (`tests/integration/test_api_access.py`). Page routes are
left out of /openapi.json: they answer HTML, not the API's FHIR.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from houseofcare.api.credentials import CredentialKind, revoke
from houseofcare.api.deps import SESSION_COOKIE, ServicesDep
from houseofcare.api.errors import InvalidResource, TooManyAttempts, Unauthorised
from houseofcare.api.inputs import control_character
from houseofcare.api.routes.auth import sign_in
from houseofcare.careplan.guard import AccessRefused
from houseofcare.store.audit import record_audit, record_audit_now
from houseofcare.store.database import transaction
from houseofcare.store.models import AuditOutcome, Role
from houseofcare.web.home import ROLE_INTRO, ROLE_TOOLS, permissions
from houseofcare.web.page import chrome, redirect, refused
from houseofcare.web.runs import latest_run
from houseofcare.web.security import (
    PAGE_HEADERS,
    PRE_SESSION_COOKIE,
    csrf_ok,
    csrf_token,
    new_pre_session,
    pre_session_binding,
)
from houseofcare.web.session import page_session, secure_cookies, set_session_cookie
from houseofcare.web.templates import render
from houseofcare.web.worklists import WorklistRefused, recall_csv, worklist

router = APIRouter(include_in_schema=False, tags=["pages"])

#: Page paths (the security headers and the pages' error handling key on them).
HOME, SIGN_IN, SIGN_OUT = "/", "/sign-in", "/sign-out"
WORKLISTS, RECALL_CSV = "/worklists", "/worklists/recall.csv"


@router.get(HOME)
def home(request: Request, services: ServicesDep) -> Response:
    """The signed-in user's home: what their role can do, and the run the figures are from."""
    signed_in = page_session(request, services)
    if signed_in is None:
        return redirect(SIGN_IN)
    role = Role(signed_in.user.role)
    title, intro = ROLE_INTRO[role]
    return render(
        "home.html",
        {
            **chrome(request, signed_in, services),
            "role_title": title,
            "intro": intro,
            "identifiable": services.policy.identifiable(role),
            "permissions": permissions(services.policy, role),
            "tools": ROLE_TOOLS[role],
            "run": latest_run(services.settings),
        },
    )


def _sign_in_page(
    request: Request,
    services: Any,
    *,
    status: int = 200,
    errors: list[tuple[str, str]] | None = None,
    username: str = "",
    headers: dict[str, str] | None = None,
) -> Response:
    """The sign-in form, tied to the browser's pre-session cookie (made now if missing)."""
    cookie = request.cookies.get(PRE_SESSION_COOKIE) or new_pre_session()
    response = render(
        "sign_in.html",
        {
            "user": None,
            "csrf": csrf_token(services.signing_key, pre_session_binding(cookie)),
            "errors": errors or [],
            "field_errors": dict(errors or []),
            "username": username,
            "signed_out": request.query_params.get("signed-out") == "1",
        },
        status=status,
        headers=headers,
    )
    response.set_cookie(
        PRE_SESSION_COOKIE,
        cookie,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request, services),
        path="/",
    )
    return response


@router.get(SIGN_IN)
def sign_in_form(request: Request, services: ServicesDep) -> Response:
    """The sign-in page (a signed-in user goes straight home)."""
    if page_session(request, services) is not None:
        return redirect(HOME)
    return _sign_in_page(request, services)


@router.post(SIGN_IN)
def sign_in_submit(
    request: Request,
    services: ServicesDep,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf_token_sent: Annotated[str, Form(alias="csrf_token")] = "",
) -> Response:
    """Check the form's token, then sign in through the API's own sign-in (throttle and audit
    included). A refused form writes nothing but what the API's sign-in writes (the failed
    attempt's audit event and count); no session is made."""
    cookie = request.cookies.get(PRE_SESSION_COOKIE)
    binding = pre_session_binding(cookie) if cookie else None
    if not csrf_ok(services.signing_key, binding, csrf_token_sent):
        return _sign_in_page(
            request,
            services,
            status=403,
            errors=[("", "The sign-in form had expired. Enter your details again.")],
            username="",
        )
    errors = []
    for field, value, label in (
        ("username", username, "username"),
        ("password", password, "password"),
    ):
        if not value:
            errors.append((field, f"Enter your {label}"))
        elif control_character(value) is not None:
            errors.append((field, f"Your {label} contains a character that cannot be typed"))
    if errors:
        shown = username if control_character(username) is None else ""
        return _sign_in_page(request, services, status=400, errors=errors, username=shown)
    try:
        _user, token, _expires = sign_in(
            services, request, username, password, CredentialKind.session
        )
    except TooManyAttempts as exc:
        wait = (exc.headers or {}).get("Retry-After", "a few")
        return _sign_in_page(
            request,
            services,
            status=429,
            errors=[("username", f"Too many failed sign-ins. Try again in {wait} seconds.")],
            username=username,
            headers={"Retry-After": wait},
        )
    except Unauthorised:
        return _sign_in_page(
            request,
            services,
            status=401,
            errors=[("username", "The username or password is not correct")],
            username=username,
        )
    except InvalidResource:
        return _sign_in_page(
            request, services, status=400, errors=[("username", "Enter your username")]
        )
    response = redirect(HOME)
    set_session_cookie(response, request, services, token)
    # a new pre-session for the next sign-in: a token seen before signing in is not reused
    response.delete_cookie(PRE_SESSION_COOKIE, path="/")
    return response


@router.post(SIGN_OUT)
def sign_out(
    request: Request,
    services: ServicesDep,
    csrf_token_sent: Annotated[str, Form(alias="csrf_token")] = "",
) -> Response:
    """Revoke the page session at once and audit it, as the API's `/auth/logout` does. A form
    without this session's token is refused (403), audited, and leaves the user signed in."""
    signed_in = page_session(request, services)
    if signed_in is None:
        response = redirect(SIGN_IN)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response
    user = signed_in.user
    who = {"user_id": user.user_id, "username": user.username, "role": user.role}
    if not csrf_ok(services.signing_key, signed_in.binding, csrf_token_sent):
        record_audit_now(
            services.factory,
            action="logout",
            resource_type="User",
            outcome=AuditOutcome.denied,
            resource_id=user.user_id,
            detail={"reason": "the form's CSRF token was missing or wrong"},
            **who,
        )
        return render(
            "refused.html",
            {
                **chrome(request, signed_in, services),
                "title": "The form could not be sent",
                "reason": "The form did not come from this page, or it had expired. "
                "You are still signed in. Go back and try again.",
            },
            status=403,
        )
    with transaction(services.factory) as session:
        revoke(session, signed_in.token)
        record_audit(
            session,
            action="logout",
            resource_type="User",
            resource_id=user.user_id,
            detail={"via": "pages", "at": dt.datetime.now(dt.UTC).isoformat()},
            **who,
        )
    services.credentials.forget(signed_in.token)
    response = redirect(f"{SIGN_IN}?signed-out=1")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get(WORKLISTS)
def worklists(request: Request, services: ServicesDep, indicator: str | None = None) -> Response:
    """Care gaps per indicator with achievement, and the recall list, most overdue first:
    the user's own practice, from the latest run (audited)."""
    signed_in = page_session(request, services)
    if signed_in is None:
        return redirect(SIGN_IN)
    try:
        shown = worklist(services, signed_in, indicator)
    except (WorklistRefused, AccessRefused) as exc:
        return refused(request, signed_in, services, str(exc))
    return render(
        "worklists.html",
        {**chrome(request, signed_in, services), "active": "worklists", "w": shown},
    )


@router.get(RECALL_CSV)
def recall_export(
    request: Request, services: ServicesDep, indicator: str | None = None
) -> Response:
    """The whole recall list of the user's practice as CSV (audited as an export)."""
    signed_in = page_session(request, services)
    if signed_in is None:
        return redirect(SIGN_IN)
    try:
        exported = recall_csv(services, signed_in, indicator)
    except WorklistRefused as exc:
        return refused(request, signed_in, services, str(exc))
    if exported is None:
        return render(
            "refused.html",
            {
                **chrome(request, signed_in, services),
                "title": "No recall list yet",
                "reason": "There is no pipeline run yet, so there is no recall list to export.",
            },
            status=404,
        )
    text, _rows = exported
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={
            **PAGE_HEADERS,
            "Content-Disposition": 'attachment; filename="recall-list.csv"',
        },
    )
