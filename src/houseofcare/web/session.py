"""Who is signed in to the pages: the `hoc_session` cookie the API's sign-in issues.

The cookie holds an opaque session token, HMAC-signed (`api/tokens.py`); the token's digest is
a row of `api_credential` with its expiry (`api/credentials.py`). The pages read only the
cookie, never an `Authorization` header: a page is a browser's, and its forms are protected
by the CSRF token tied to this session (`web/security.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from starlette.responses import Response

from houseofcare.api.credentials import CredentialKind, SignedIn, resolve
from houseofcare.api.deps import SESSION_COOKIE, Services
from houseofcare.api.tokens import sign, unsign
from houseofcare.careplan.actor import Actor
from houseofcare.web.security import session_binding


@dataclass(frozen=True)
class PageSession:
    """The signed-in user of a page request, with the session their forms are tied to."""

    user: SignedIn
    token: str

    @property
    def actor(self) -> Actor:
        """The same user as the access decision sees them."""
        return Actor.signed_in(self.user)

    @property
    def binding(self) -> str:
        return session_binding(self.token)


def page_session(request: Request, services: Services) -> PageSession | None:
    """The live page session of this request, or None (no cookie, a tampered one, or one
    expired, revoked or of a deactivated user). Uses the same per-worker credential cache
    as the API, so a page costs no extra round trip for a session checked moments ago."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    token = unsign(cookie, services.signing_key)
    if token is None:
        return None
    user = services.credentials.get(token, CredentialKind.session)
    if user is None:
        with services.factory() as session:
            user = resolve(session, token, CredentialKind.session)
        if user is None:
            return None
        services.credentials.put(token, CredentialKind.session, user)
    return PageSession(user=user, token=token)


def secure_cookies(request: Request, services: Services) -> bool:
    """Cookies are `Secure` when the service is configured for TLS or this request came over
    HTTPS (behind a proxy, uvicorn's `--forwarded-allow-ips` makes the scheme the client's)."""
    return services.api.cookie_secure or request.url.scheme == "https"


def set_session_cookie(
    response: Response, request: Request, services: Services, token: str
) -> None:
    """The session cookie as the API's `/auth/login` sets it: signed, HttpOnly, SameSite=Lax."""
    response.set_cookie(
        SESSION_COOKIE,
        sign(token, services.signing_key),
        max_age=services.api.session_minutes * 60,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request, services),
        path="/",
    )
