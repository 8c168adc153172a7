"""Password hashing with argon2id (argon2-cffi's recommended parameters).

Only the hash is stored. Verification never raises on a wrong password; it answers False, so
the login route can give one message for unknown user and wrong password alike.
"""

from __future__ import annotations

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


def needs_rehash(password_hash: str) -> bool:
    """True when the hash used weaker parameters than today's (rehash at next login)."""
    return _hasher.check_needs_rehash(password_hash)
