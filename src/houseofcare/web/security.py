"""What every page response carries: the security headers and the CSRF token of its forms.

- **Content-Security-Policy** `default-src 'self'` with no inline script or style: a page
  runs only the scripts we serve from our own origin, so markup that slipped past escaping
  cannot run. It is set on pages only: the API's `/docs` (Swagger UI) loads its own scripts.
- **CSRF**: every form carries a token that is an HMAC, under the app's signing key, of what
  the request is tied to: the page session (the digest of its token) once signed in, or a
  random pre-session cookie (`hoc_csrf`) on the sign-in form. A POST without the right token
  is refused before anything is read or written. Another site can neither read our pages
  (same-origin policy) nor compute the HMAC, so it cannot forge a form a signed-in user's
  browser would send; the session cookie being `SameSite=Lax` is a second wall.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Final

from houseofcare.api.tokens import new_token, token_digest

#: The policy of every page: our own origin only, no inline script or style, no framing. The
#: one exception is the NHS's Frutiger font, which the NHS.UK frontend's CSS loads from
#: assets.nhs.uk (it is licensed, so it is not in the npm package); without it, Arial.
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self' https://assets.nhs.uk; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)

#: Headers on every page response. `no-store`: a page holds identifiable data that must not
#: stay in a shared computer's cache after sign-out.
PAGE_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

#: The cookie the sign-in form's CSRF token is tied to (no session exists yet).
PRE_SESSION_COOKIE: Final = "hoc_csrf"
#: The name of the hidden field every form sends its token in.
CSRF_FIELD: Final = "csrf_token"


def new_pre_session() -> str:
    """A fresh random value for the pre-session cookie."""
    return new_token()


def session_binding(session_token: str) -> str:
    """What a signed-in user's forms are tied to: their page session, never the raw token."""
    return "session:" + token_digest(session_token)


def pre_session_binding(cookie: str) -> str:
    """What the sign-in form is tied to: the browser's pre-session cookie."""
    return "pre:" + cookie


def csrf_token(key: bytes, binding: str) -> str:
    """The token a form tied to `binding` must send back."""
    mac = hmac.new(key, b"csrf\x00" + binding.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def csrf_ok(key: bytes, binding: str | None, sent: str | None) -> bool:
    """True when `sent` is the token for `binding` (compared in constant time)."""
    if not binding or not sent:
        return False
    expected = csrf_token(key, binding).encode()
    return hmac.compare_digest(expected, sent.encode("utf-8", "surrogatepass"))
