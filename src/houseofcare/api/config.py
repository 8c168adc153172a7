"""Settings of the web service alone (the analytics core never needs them).

They come from `HOC_API_*` environment variables or keyword arguments. The signing key for
page sessions is read from `HOC_API_SECRET_KEY`, or else generated once and kept in the
project folder (`session.key`, readable by its owner only) so sessions survive a restart.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    """How the API guards itself."""

    model_config = SettingsConfigDict(env_prefix="HOC_API_", extra="forbid")

    #: Largest request body accepted, in bytes; larger bodies get 413 and are never parsed.
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    #: How long a bearer token from `POST /auth/token` lives.
    token_minutes: int = Field(default=12 * 60, ge=1)
    #: How long a page session (cookie) lives.
    session_minutes: int = Field(default=8 * 60, ge=1)
    #: Seconds a worker trusts a token it has checked (revocation elsewhere waits this long).
    credential_cache_seconds: float = Field(default=5.0, ge=0)
    #: PostgreSQL connections per worker for the CarePlan read's and update's fast paths.
    read_pool_size: int = Field(default=8, ge=1, le=64)
    #: Key that signs the session cookie; generated and kept in the project folder if unset.
    secret_key: str | None = None
    #: Send the session cookie only over HTTPS (set true behind TLS).
    cookie_secure: bool = False
    #: Failed sign-ins of one username answered at once; after that each further attempt
    #: waits (429 with Retry-After) `sign_in_delay_seconds`, doubling with every failure.
    sign_in_free_failures: int = Field(default=3, ge=1)
    #: Failed sign-ins of one username that lock it for `sign_in_lock_seconds`.
    sign_in_lock_failures: int = Field(default=10, ge=1)
    #: The same per client address. Higher: a practice's staff may share one address (NAT).
    client_free_failures: int = Field(default=20, ge=1)
    client_lock_failures: int = Field(default=100, ge=1)
    #: The first wait after the free failures; it doubles with each further failure.
    sign_in_delay_seconds: float = Field(default=1.0, gt=0)
    #: How long a lock lasts; a failure is forgotten this long after the last one.
    sign_in_lock_seconds: float = Field(default=15 * 60.0, gt=0)
    #: Seconds between the sealing process's passes over the audit trail (0: never; then seal with
    #: `hoc audit seal`).
    audit_seal_seconds: float = Field(default=5.0, ge=0)

    #: The service's public URL, the start of every Bundle `fullUrl` and `link` (never taken
    #: from the request's Host header, which the client chooses). Behind a proxy, its URL.
    base_url: str = "http://127.0.0.1:8000"

    @field_validator("base_url")
    @classmethod
    def _absolute_http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                "must be an absolute http:// or https:// URL, e.g. https://hoc.example"
            )
        if parts.query or parts.fragment:
            raise ValueError("must not have a query or fragment")
        return value.rstrip("/")


#: A generated key is 64 hex characters; a shorter file was cut short or edited.
MIN_KEY_CHARACTERS = 32


def signing_key(api: ApiSettings, data_dir: Path) -> bytes:
    """The session signing key: configured, or generated once into `data_dir/session.key`.

    `hoc serve --workers N` starts N processes that all come here at once on a new project
    folder. The key is written whole to a private temporary file and then linked into place,
    which fails if another process got there first: every worker reads the one complete key.
    (Creating the file in place let a second worker read it before the first had written,
    and sign its sessions with an empty key, which every other worker then refused.)
    """
    if api.secret_key:
        return api.secret_key.encode()
    path = data_dir / "session.key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".session.key.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
                handle.flush()
                os.fsync(handle.fileno())
            # FileExistsError: another worker's key is in place; use it
            with contextlib.suppress(FileExistsError):
                os.link(draft, path)
        finally:
            draft.unlink(missing_ok=True)
    key = path.read_text().strip()
    if len(key) < MIN_KEY_CHARACTERS:
        raise RuntimeError(
            f"{path} holds no usable session key ({len(key)} characters): remove it and "
            "start again, or set HOC_API_SECRET_KEY"
        )
    return key.encode()
