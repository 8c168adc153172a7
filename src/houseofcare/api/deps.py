"""What every route needs: the stores, the signed-in user, and the guard with its audit.

Routes stay thin: they declare `CallerDep`, open one transaction, and ask the caller to
`authorise` an action on a person before reading or writing anything about them. A refusal is
audited in its own transaction (the work's transaction is rolled back) and answered 403; an
allowed action is audited in the same transaction as the work, so the audit row exists
exactly when the work does.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from houseofcare.api.config import ApiSettings
from houseofcare.api.credentials import CredentialCache, CredentialKind, SignedIn, resolve
from houseofcare.api.errors import Forbidden, Unauthorised
from houseofcare.api.throttle import SignInThrottle
from houseofcare.api.tokens import unsign
from houseofcare.careplan.actor import Actor
from houseofcare.careplan.guard import Guard
from houseofcare.careplan.pg_read import PlanReader
from houseofcare.careplan.pg_update import PlanUpdater
from houseofcare.careplan.policy import Policy
from houseofcare.settings import Settings

SESSION_COOKIE = "hoc_session"


@dataclass(frozen=True)
class Services:
    """Everything the app was built with; one per app, shared by every request."""

    settings: Settings
    api: ApiSettings
    engine: Engine
    factory: sessionmaker[Session]
    policy: Policy
    signing_key: bytes
    credentials: CredentialCache
    #: Failed sign-ins per username and client address, shared by every worker.
    throttle: SignInThrottle
    #: The one-statement CarePlan read (PostgreSQL only; None takes the portable path).
    plan_reader: PlanReader | None = None
    #: The two-round-trip CarePlan update of the plan's own fields (PostgreSQL only).
    plan_updater: PlanUpdater | None = None


def get_services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


ServicesDep = Annotated[Services, Depends(get_services)]


@dataclass(kw_only=True)
class Caller(Guard):
    """The signed-in user of this request: the shared `careplan.guard.Guard` (the one access
    decision and its audit) with what an API route also needs. A refusal is a FHIR 403."""

    user: SignedIn
    services: Services
    request: Request

    def refusal(self, reason: str) -> Exception:
        error = Forbidden(reason)
        error.audited = True
        return error


def _token_from(request: Request, services: Services) -> tuple[str, CredentialKind] | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorised("Authorization header must be 'Bearer <token>'")
        return token.strip(), CredentialKind.bearer
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        token = unsign(cookie, services.signing_key)
        if token is None:
            raise Unauthorised("the session cookie is not valid; sign in again")
        return token, CredentialKind.session
    return None


async def current_caller(request: Request, services: ServicesDep) -> Caller:
    """The signed-in user (bearer token or session cookie), or 401.

    Async so that a token this worker checked moments ago (the credential cache) costs no
    thread hop at all; only a cache miss goes to the database, in the thread pool.
    """
    found = _token_from(request, services)
    if found is None:
        raise Unauthorised("sign in first: send 'Authorization: Bearer <token>' from /auth/token")
    token, kind = found
    user = services.credentials.get(token, kind)
    if user is None:
        user = await run_in_threadpool(_resolve, services, token, kind)
        if user is not None:
            services.credentials.put(token, kind, user)
    if user is None:
        raise Unauthorised("the token is unknown, expired or revoked; sign in again")
    if kind is CredentialKind.session and request.method not in SAFE_METHODS:
        _require_csrf(request, services, token)
    actor = Actor.signed_in(user)
    return Caller(
        actor=actor,
        factory=services.factory,
        policy=services.policy,
        user=user,
        services=services,
        request=request,
    )


#: Methods that change nothing: a page session may call them without a CSRF token.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: The header a request signed in with the page session cookie sends its CSRF token in.
CSRF_HEADER = "X-CSRF-Token"


def _require_csrf(request: Request, services: Services, token: str) -> None:
    """A change requested with the page session cookie must carry the session's CSRF token
    (the one in the pages' forms, `web/security.py`): a browser sends the cookie with any
    request, whoever's page made it; bearer tokens are never sent by a browser on its own."""
    from houseofcare.web.security import csrf_ok, session_binding

    sent = request.headers.get(CSRF_HEADER)
    if not csrf_ok(services.signing_key, session_binding(token), sent):
        raise Forbidden(
            f"{CSRF_HEADER}: a change made with the page session cookie needs the session's "
            "CSRF token (or use a bearer token)"
        )


def _resolve(services: Services, token: str, kind: CredentialKind) -> SignedIn | None:
    with services.factory() as session:
        return resolve(session, token, kind)


CallerDep = Annotated[Caller, Depends(current_caller)]


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
