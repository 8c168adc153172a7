"""Connecting to the operational store: one engine per URL, sessions, one transaction per job.

SQLite (the default file `hoc-data/operational.sqlite`) is opened with foreign keys enforced,
write-ahead logging (readers never block the writer) and a busy timeout so concurrent writers
queue rather than fail. PostgreSQL is used as it comes (`postgresql+psycopg://…`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Engine, String, any_, bindparam, create_engine, event
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from houseofcare.settings import Settings

#: Seconds a SQLite writer waits for another to finish before giving up.
SQLITE_BUSY_TIMEOUT = 30


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
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


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
