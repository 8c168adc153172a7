"""Password hashing with argon2id (argon2-cffi's recommended parameters).

Only the hash is stored. Verification never raises on a wrong password; it answers False, so
the login route can give one message for unknown user and wrong password alike.

A sign-in for a username that does not exist is checked against `unusable_hash()` (a hash of
a random secret, made with today's parameters), so it costs the same argon2 work as a real
user's: otherwise the time of the answer tells an attacker which usernames are real.
"""

from __future__ import annotations

import secrets
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    """An argon2id hash of `password` (salted; two calls give different hashes)."""
    if not password:
        raise ValueError("password: must not be empty")
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when `password` matches `password_hash`."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@cache
def unusable_hash() -> str:
    """A hash no password matches (of a random secret, never stored): verify against it for
    an unknown or inactive user so every failed sign-in costs one real verification."""
    return _hasher.hash(secrets.token_urlsafe(32))


def needs_rehash(password_hash: str) -> bool:
    """True when the hash used weaker parameters than today's (rehash at next login)."""
    return _hasher.check_needs_rehash(password_hash)
