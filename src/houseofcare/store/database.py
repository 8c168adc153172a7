"""Connecting to the operational store: one engine per URL, sessions, one transaction per job.

SQLite (the default file `hoc-data/operational.sqlite`) is opened with foreign keys enforced,
write-ahead logging (readers never block the writer) and a busy timeout so concurrent writers
queue rather than fail. PostgreSQL is used as it comes (`postgresql+psycopg://…`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Engine,
    String,
    any_,
    bindparam,
    create_engine,
    event,
    exc,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from houseofcare.settings import Settings

#: Seconds a SQLite writer waits for another to finish before giving up.
SQLITE_BUSY_TIMEOUT = 30
#: Seconds a pooled PostgreSQL connection may sit unused before it is checked (`SELECT 1`)
#: on its next checkout.
IDLE_BEFORE_PING = 2.0


def database_url(settings: Settings) -> str:
    """The operational store URL (`HOC_DATABASE_URL`, else the SQLite file in the project)."""
    return settings.operational_url


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url`, with the SQLite pragmas set on every new connection.

    A `sqlite:///path` file's folder is created, so a fresh project folder just works.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {}).setdefault("timeout", SQLITE_BUSY_TIMEOUT)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    idle_before_ping = kwargs.pop("idle_before_ping", IDLE_BEFORE_PING)
    engine = create_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        _ping_when_idle(engine, idle_before_ping)
    return engine


def _ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    """Check a pooled connection before use only when it has sat unused for `idle_seconds`.

    SQLAlchemy's `pool_pre_ping` sends `SELECT 1` on every checkout: a round trip per
    transaction, which on a busy page (three transactions a view) was 9% of a worker's time.
    A connection in steady use has just proved itself; one that sat idle may have been cut
    (PostgreSQL restarted, a firewall's idle timeout), so it is pinged, and a failed ping makes
    the pool drop it and open a fresh one before the caller sees any error.
    """

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is not None and time.monotonic() - since < idle_seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            if not engine.dialect.is_disconnect(error, dbapi_connection, None):
                raise
            # the pool invalidates this connection and retries the checkout with a new one
            raise exc.DisconnectionError(str(error)) from error


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT * 1000}")
    finally:
        cursor.close()


def engine_for(settings: Settings, **kwargs: Any) -> Engine:
    """The engine for the project's operational store."""
    return make_engine(database_url(settings), **kwargs)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit (the API returns them)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit if the block finishes, roll back (write nothing) if it raises."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def among(session: Session, column: Any, values: list[str]) -> ColumnElement[bool]:
    """`column IN values` for a text column. On PostgreSQL the list is one array parameter
    (`= ANY(:values)`): a page asking about the run's hundreds of level 3 people binds one
    value, not hundreds (half the query's time went on expanding them). SQLite has no arrays,
    so there it is a plain IN."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(String)))
    return column.in_(values)
