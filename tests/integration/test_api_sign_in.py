"""Signing in under attack (issue 9, items 7 and 8), on SQLite and PostgreSQL.

A real app over a real store, with small thresholds so the tests run in seconds: a username
or a client address that keeps failing first waits longer and longer, then is locked (429
with Retry-After), in counts every worker shares (they are in the store). Only verified
failures and the lock itself are audited, never each refused attempt; a refused attempt
writes nothing at all. A password typed into the username field is never stored.

Each test uses its own usernames and its own client address, so they stay independent.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import String, cast, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from houseofcare.api.app import create_app
from houseofcare.api.config import ApiSettings
from houseofcare.api.throttle import SignInThrottle, Throttled
from houseofcare.careplan.people import create_user
from houseofcare.settings import Settings
from houseofcare.store.database import make_engine, session_factory, transaction
from houseofcare.store.migrate import upgrade_engine
from houseofcare.store.models import AuditEvent, Role
from houseofcare.store.models import SignInThrottle as ThrottleRow

PASSWORD = "correct horse battery staple"
LIMITS = ApiSettings(
    sign_in_free_failures=2,
    sign_in_lock_failures=4,
    client_free_failures=5,
    client_lock_failures=7,
    sign_in_delay_seconds=0.4,
    sign_in_lock_seconds=2.0,
    audit_seal_seconds=0,
)
_addresses = (f"10.9.{n // 250}.{n % 250 + 1}" for n in itertools.count())
_names = (f"user{n}" for n in itertools.count())


@dataclass
class Caller:
    """An HTTP client from one address."""

    http: TestClient
    address: str

    def token(self, username: str, password: str) -> Any:
        return self.http.post("/auth/token", data={"username": username, "password": password})

    def login(self, username: str, password: str) -> Any:
        return self.http.post("/auth/login", data={"username": username, "password": password})


@dataclass
class SignIn:
    app: Any
    factory: sessionmaker[Session]

    def client(self) -> Caller:
        """A client from an address no other test uses."""
        address = next(_addresses)
        return Caller(TestClient(self.app, client=(address, 40000)), address)

    def user(self) -> str:
        """A new admin user (password PASSWORD); their username."""
        username = next(_names)
        with transaction(self.factory) as session:
            create_user(
                session, username=username, password=PASSWORD, role=Role.admin, display_name="A"
            )
        return username

    def events(self, client: Caller) -> list[AuditEvent]:
        """The audit events written about sign-ins from this client's address, oldest first."""
        address = client.address
        with self.factory() as session:
            return list(
                session.scalars(
                    select(AuditEvent)
                    .where(cast(AuditEvent.detail, String).contains(f'"{address}"'))
                    .order_by(AuditEvent.id)
                )
            )

    def rows(self) -> tuple[int, int]:
        """How many audit events and throttle rows the store holds."""
        with self.factory() as session:
            audit = session.scalar(select(func.count()).select_from(AuditEvent)) or 0
            throttle = session.scalar(select(func.count()).select_from(ThrottleRow)) or 0
            return audit, throttle


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def sign_in(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    make_postgres_database: Callable[[str], str],
) -> Iterator[SignIn]:
    folder: Path = tmp_path_factory.mktemp(f"signin-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{folder / 'operational.sqlite'}"
    else:
        url = make_postgres_database("signin")
    engine = make_engine(url)
    upgrade_engine(engine)
    app = create_app(Settings(data_dir=folder / "hoc-data", database_url=url), api_settings=LIMITS)
    yield SignIn(app=app, factory=session_factory(engine))
    app.state.services.engine.dispose()
    engine.dispose()


def _assert_throttled(response: Any, *, at_least: int = 1) -> None:
    assert response.status_code == 429, response.text
    assert int(response.headers["Retry-After"]) >= at_least
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "throttled"
    assert "try again in" in outcome["issue"][0]["diagnostics"]


def test_failures_of_one_username_wait_longer_and_longer_then_lock_it(sign_in: SignIn) -> None:
    """Issue 9 item 7: 50 wrong passwords in 13 s and never locked. Now: two free failures,
    then a wait that doubles, then a lock that even the right password does not open; only
    the four verified failures and the lock are audited, never the refused attempts."""
    client, username = sign_in.client(), sign_in.user()
    assert client.token(username, "wrong 1").status_code == 401
    assert client.token(username, "wrong 2").status_code == 401
    before = sign_in.rows()
    _assert_throttled(client.token(username, "wrong 3"))
    _assert_throttled(client.token(username, PASSWORD))
    assert sign_in.rows() == before, "a refused attempt writes nothing"
    time.sleep(0.45)  # the first wait: 0.4 s
    assert client.token(username, "wrong 3").status_code == 401
    _assert_throttled(client.token(username, "wrong 4"))
    time.sleep(0.45)
    _assert_throttled(client.token(username, "wrong 4"))  # the second wait is longer: 0.8 s
    time.sleep(0.4)
    assert client.token(username, "wrong 4").status_code == 401  # the fourth: locked
    for _ in range(3):
        _assert_throttled(client.token(username, PASSWORD), at_least=2)
    events = sign_in.events(client)
    assert [(e.action, e.outcome.value) for e in events] == [("login", "denied")] * 4 + [
        ("lock", "denied")
    ]
    lock = events[-1]
    assert lock.username == username and lock.resource_type == "User"
    assert lock.detail is not None
    assert lock.detail["failures"] == 4 and lock.detail["scope"] == "username"


def test_a_lock_ends_and_a_successful_sign_in_resets_the_username(sign_in: SignIn) -> None:
    client, username = sign_in.client(), sign_in.user()
    for n in range(2):
        assert client.token(username, f"wrong {n}").status_code == 401
    _assert_throttled(client.token(username, PASSWORD))
    time.sleep(0.45)
    assert client.token(username, PASSWORD).status_code == 200
    # the count started again: two more free failures
    assert client.token(username, "wrong a").status_code == 401
    assert client.token(username, "wrong b").status_code == 401
    _assert_throttled(client.token(username, "wrong c"))
    # a lock lasts sign_in_lock_seconds (2 s here), then the right password works
    for pause in (0.45, 0.85):
        time.sleep(pause)
        assert client.token(username, "wrong").status_code == 401
    _assert_throttled(client.token(username, PASSWORD))
    time.sleep(2.1)
    assert client.token(username, PASSWORD).status_code == 200


def test_one_client_trying_many_usernames_is_locked_for_every_username(sign_in: SignIn) -> None:
    """Throttled by client too: rotating usernames from one address does not escape it,
    and the lock is audited once, as a Client lock."""
    client, other = sign_in.client(), sign_in.client()
    real = sign_in.user()
    for n in range(5):
        assert client.token(f"guess{n}.{id(client)}", "pw").status_code == 401
    _assert_throttled(client.token(f"guess5.{id(client)}", "pw"))
    time.sleep(0.45)
    assert client.token(f"guess6.{id(client)}", "pw").status_code == 401
    time.sleep(0.85)
    assert client.token(f"guess7.{id(client)}", "pw").status_code == 401  # 7th: locked
    _assert_throttled(client.token(real, PASSWORD), at_least=2)
    assert other.token(real, PASSWORD).status_code == 200, "another address is not locked"
    locks = [e for e in sign_in.events(client) if e.action == "lock"]
    assert len(locks) == 1
    assert locks[0].resource_type == "Client" and locks[0].detail is not None
    assert locks[0].detail["failures"] == 7 and locks[0].detail["scope"] == "client"


def test_the_page_sign_in_shares_the_api_sign_in_s_counts(sign_in: SignIn) -> None:
    client, username = sign_in.client(), sign_in.user()
    assert client.token(username, "wrong").status_code == 401
    assert client.login(username, "wrong").status_code == 401
    _assert_throttled(client.login(username, PASSWORD))


def test_a_password_typed_as_the_username_is_never_stored(sign_in: SignIn) -> None:
    """Issue 9 item 8: a failed sign-in stored the raw username, which is often the
    password typed into the wrong field. An unknown username is kept only as a short keyed
    digest (the same text gives the same digest, so repeated guesses can be linked)."""
    client = sign_in.client()
    secret = "Tr0ub4dor&3-secret"
    for n in range(3):
        if n == 2:
            time.sleep(0.45)
        response = client.token(secret, "x")
        assert response.status_code == 401
    known = sign_in.user()
    assert client.token(known, "wrong").status_code == 401
    with sign_in.factory() as session:
        leaked = session.scalars(
            select(AuditEvent.id).where(
                or_(
                    AuditEvent.username.contains("Tr0ub4dor"),
                    cast(AuditEvent.detail, String).contains("Tr0ub4dor"),
                    AuditEvent.resource_id.contains("Tr0ub4dor"),
                )
            )
        ).all()
        assert leaked == []
        assert not session.scalars(
            select(ThrottleRow.subject).where(ThrottleRow.subject.contains("Tr0ub4dor"))
        ).all()
    events = sign_in.events(client)
    unknown = [e for e in events if e.username is None]
    assert len(unknown) == 3
    digests = {e.detail["username_digest"] for e in unknown if e.detail is not None}
    assert len(digests) == 1 and len(next(iter(digests))) == 16
    failed_known = [e for e in events if e.username == known]
    assert len(failed_known) == 1 and failed_known[0].user_id is not None


def test_concurrent_attempts_cannot_slip_past_the_count(sign_in: SignIn) -> None:
    """Eight attempts at once on one username: the count is claimed before the password is
    checked, with a compare-and-set, so exactly the free failures get through."""
    services = sign_in.app.state.services
    throttle: SignInThrottle = services.throttle
    username, address = f"racer.{next(_names)}", next(_addresses)
    outcomes: list[str] = []
    start = threading.Barrier(8)

    def attempt() -> None:
        start.wait()
        try:
            throttle.begin(username, address)
            outcomes.append("let through")
        except Throttled:
            outcomes.append("throttled")

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["let through"] * 2 + ["throttled"] * 6


def test_an_administrator_can_end_a_lock_at_once(sign_in: SignIn) -> None:
    """The mitigation of a deliberate lock-out (hazard H-031): `hoc db unlock USERNAME`."""
    from typer.testing import CliRunner

    from houseofcare.cli import app as hoc

    client, username = sign_in.client(), sign_in.user()
    for pause in (0, 0, 0.45, 0.85):
        time.sleep(pause)
        assert client.token(username, "wrong").status_code == 401
    _assert_throttled(client.token(username, PASSWORD), at_least=1)
    services = sign_in.app.state.services
    env = {"HOC_DATABASE_URL": services.settings.operational_url}
    result = CliRunner().invoke(
        hoc, ["db", "unlock", username, "--data-dir", str(services.settings.data_dir)], env=env
    )
    assert result.exit_code == 0, result.output
    assert "4 failed sign-ins forgotten" in result.output
    assert client.token(username, PASSWORD).status_code == 200
    with sign_in.factory() as session:
        unlock = session.scalar(select(AuditEvent).where(AuditEvent.action == "unlock"))
        assert unlock is not None and unlock.username == username
