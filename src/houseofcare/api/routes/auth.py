"""Signing in and out: bearer tokens for API clients, a session cookie for the pages.

Sign-in is throttled per username and per client address (`api/throttle.py`): a refused
attempt (429) checks nothing and writes nothing; a failed one is audited, and so is the lock
it may cause, never each refused attempt, so an anonymous caller cannot flood the trail.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from sqlalchemy import select
from starlette.responses import JSONResponse, Response

from houseofcare.api.credentials import CredentialKind, issue, revoke
from houseofcare.api.deps import SESSION_COOKIE, CallerDep, Services, ServicesDep
from houseofcare.api.errors import InvalidResource, TooManyAttempts, Unauthorised
from houseofcare.api.inputs import CleanStr
from houseofcare.api.throttle import Attempt, Throttled, username_digest
from houseofcare.api.tokens import sign, unsign
from houseofcare.careplan.people import authenticate
from houseofcare.store.audit import record_audit
from houseofcare.store.database import transaction
from houseofcare.store.models import AuditOutcome, User

router = APIRouter(prefix="/auth", tags=["sign in"])


def sign_in(
    services: Services, request: Request, username: str, password: str, kind: CredentialKind
) -> tuple:
    """Check the password, unless the username or the client must wait or is locked (429,
    nothing written); issue a credential on success, audit a failure and any lock it causes.

    The one sign-in of the house: the API's token and session routes and the pages' sign-in
    form (`web/routes.py`) all call it, so the throttle and the audit cannot differ."""
    if not username or not password:
        raise InvalidResource([("username" if not username else "password", "required")])
    client = request.client.host if request.client else "unknown"
    try:
        attempt = services.throttle.begin(username, client)
    except Throttled as exc:
        raise TooManyAttempts(str(exc), retry_after=exc.retry_after) from None
    lifetime = dt.timedelta(
        minutes=services.api.token_minutes
        if kind is CredentialKind.bearer
        else services.api.session_minutes
    )
    with transaction(services.factory) as session:
        user = authenticate(session, username, password)
        if user is not None:
            token, expires = issue(session, user_id=user.id, kind=kind, lifetime=lifetime)
            services.throttle.succeeded(session, attempt)
            record_audit(
                session,
                action="login",
                resource_type="User",
                user=user,
                resource_id=user.id,
                detail={"client": client},
            )
            return user, token, expires
    _audit_failure(services, username, client, attempt)
    raise Unauthorised("unknown username or wrong password")


def _audit_failure(services: Services, username: str, client: str, attempt: Attempt) -> None:
    """One event for the failed sign-in and one for each lock it causes (and the waits
    start from now).

    A username that is no user's is not stored, only a short keyed digest of it: it is often
    a password typed into the wrong field, and the digest still links repeated guesses.
    """
    with transaction(services.factory) as session:
        services.throttle.failed(session, attempt)
        user_id = session.scalar(select(User.id).where(User.username == username))
        detail: dict[str, Any] = {"client": client}
        if user_id is None:
            who: dict[str, Any] = {"username": None}
            detail["username_digest"] = username_digest(services.signing_key, username)
        else:
            who = {"username": username, "user_id": user_id}
        record_audit(
            session,
            action="login",
            resource_type="User",
            outcome=AuditOutcome.denied,
            resource_id=user_id,
            detail=detail | {"failures": attempt.username.failures},
            **who,
        )
        for count in attempt.locking:
            by_username = count.scope == "username"
            record_audit(
                session,
                action="lock",
                resource_type="User" if by_username else "Client",
                outcome=AuditOutcome.denied,
                resource_id=user_id if by_username else None,
                detail=detail
                | {
                    "scope": count.scope,
                    "failures": count.failures,
                    "locked_seconds": services.throttle.limits[count.scope].lock_seconds,
                },
                **(who if by_username else {}),
            )


@router.post("/token", summary="Sign in for the API: a bearer token")
def token(
    services: ServicesDep,
    request: Request,
    username: Annotated[CleanStr, Form()],
    password: Annotated[CleanStr, Form()],
) -> dict[str, Any]:
    """OAuth2 password form (`username`, `password`); answers a bearer token and its expiry."""
    user, token, expires = sign_in(services, request, username, password, CredentialKind.bearer)
    return {
        "access_token": token,
        "token_type": "bearer",
        "expires_at": expires.isoformat(),
        "role": user.role.value,
    }


@router.post("/login", summary="Sign in for the pages: a session cookie")
def login(
    services: ServicesDep,
    request: Request,
    username: Annotated[CleanStr, Form()],
    password: Annotated[CleanStr, Form()],
) -> Response:
    """Sets the `hoc_session` cookie (signed, HttpOnly, SameSite=Lax)."""
    user, token, _expires = sign_in(services, request, username, password, CredentialKind.session)
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
