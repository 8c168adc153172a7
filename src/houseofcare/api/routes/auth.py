"""Signing in and out: bearer tokens for API clients, a session cookie for the pages."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import JSONResponse, Response

from houseofcare.api.credentials import CredentialKind, issue, revoke
from houseofcare.api.deps import SESSION_COOKIE, CallerDep, Services, ServicesDep
from houseofcare.api.errors import InvalidResource, Unauthorised
from houseofcare.api.inputs import CleanStr
from houseofcare.api.tokens import sign, unsign
from houseofcare.careplan.people import authenticate
from houseofcare.store.audit import record_audit, record_audit_now
from houseofcare.store.database import transaction
from houseofcare.store.models import AuditOutcome

router = APIRouter(prefix="/auth", tags=["sign in"])


def _sign_in(services: Services, username: str, password: str, kind: CredentialKind) -> tuple:
    if not username or not password:
        raise InvalidResource([("username" if not username else "password", "required")])
    lifetime = dt.timedelta(
        minutes=services.api.token_minutes
        if kind is CredentialKind.bearer
        else services.api.session_minutes
    )
    with transaction(services.factory) as session:
        user = authenticate(session, username, password)
        if user is not None:
            token, expires = issue(session, user_id=user.id, kind=kind, lifetime=lifetime)
            record_audit(
                session, action="login", resource_type="User", user=user, resource_id=user.id
            )
            return user, token, expires
    record_audit_now(
        services.factory,
        action="login",
        resource_type="User",
        username=username[:64],
        outcome=AuditOutcome.denied,
    )
    raise Unauthorised("unknown username or wrong password")


@router.post("/token", summary="Sign in for the API: a bearer token")
def token(
    services: ServicesDep,
    username: Annotated[CleanStr, Form()],
    password: Annotated[CleanStr, Form()],
) -> dict[str, Any]:
    """OAuth2 password form (`username`, `password`); answers a bearer token and its expiry."""
    user, token, expires = _sign_in(services, username, password, CredentialKind.bearer)
    return {
        "access_token": token,
        "token_type": "bearer",
        "expires_at": expires.isoformat(),
        "role": user.role.value,
    }


@router.post("/login", summary="Sign in for the pages: a session cookie")
def login(
    services: ServicesDep,
    username: Annotated[CleanStr, Form()],
    password: Annotated[CleanStr, Form()],
) -> Response:
    """Sets the `hoc_session` cookie (signed, HttpOnly, SameSite=Lax)."""
    user, token, _expires = _sign_in(services, username, password, CredentialKind.session)
    response = JSONResponse({"username": user.username, "role": user.role.value})
    response.set_cookie(
        SESSION_COOKIE,
        sign(token, services.signing_key),
        max_age=services.api.session_minutes * 60,
        httponly=True,
        samesite="lax",
        secure=services.api.cookie_secure,
        path="/",
    )
    return response


@router.post("/logout", summary="Sign out: revoke this token or session")
def logout(caller: CallerDep, request: Request) -> Response:
    services = caller.services
    header = request.headers.get("authorization", "")
    raw = header.partition(" ")[2].strip() if header else None
    if not raw:
        raw = unsign(request.cookies.get(SESSION_COOKIE, ""), services.signing_key)
    with transaction(services.factory) as session:
        if raw:
            revoke(session, raw)
            services.credentials.forget(raw)
        caller.audit(
            session, action="logout", resource_type="User", resource_id=caller.user.user_id
        )
    response = JSONResponse({"signed_out": True})
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/me", summary="Who is signed in")
def me(caller: CallerDep) -> dict[str, Any]:
    user = caller.user
    return {
        "user_id": user.user_id,
        "username": user.username,
        "display_name": user.display_name,
        "role": user.role,
        "organisation_id": user.organisation_id,
        "organisation_type": user.organisation_type,
        "person_id": user.person_id,
        "expires_at": user.expires_at.isoformat(),
    }
