"""Opaque credentials: bearer tokens and signed session cookies.

A bearer token is 32 random bytes; only its SHA-256 digest is stored, so a copy of the
database does not let anyone act as a user (tokens have 256 bits of entropy, so a fast hash
is enough; passwords use argon2). The page session cookie carries such a token too, signed
with HMAC so a tampered cookie is refused before any database look-up.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets


def new_token() -> str:
    """A fresh opaque token for a client to present."""
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """What the store keeps instead of the token."""
    return hashlib.sha256(token.encode()).hexdigest()


def sign(value: str, key: bytes) -> str:
    """`value.signature`, the signature an HMAC-SHA256 under `key`."""
    mac = hmac.new(key, value.encode(), hashlib.sha256).digest()
    return f"{value}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"


def unsign(signed: str, key: bytes) -> str | None:
    """The value if the signature is right, else None (compared in constant time, as bytes:
    a cookie is whatever the client sent, and `compare_digest` refuses non-ASCII text)."""
    value, dot, _ = signed.rpartition(".")
    if not dot or not value:
        return None
    expected = sign(value, key).encode("utf-8", "surrogatepass")
    return value if hmac.compare_digest(expected, signed.encode("utf-8", "surrogatepass")) else None
