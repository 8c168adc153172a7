"""A small per-worker pool of raw psycopg connections for the PostgreSQL fast paths.

The one-statement CarePlan read (`pg_read`) and the two-round-trip CarePlan update
(`pg_update`) skip the ORM and talk to PostgreSQL directly. They share this pool:
connections are opened on first use (at most `size`), autocommit (a write opens its own
transaction with BEGIN and ends it with COMMIT or ROLLBACK), in UTC, with JSON read by
orjson. A connection handed back inside a transaction is rolled back, or closed if that
fails, so the next user never inherits half a write.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import psycopg
from psycopg.pq import TransactionStatus
from psycopg.types.json import set_json_loads
from sqlalchemy import Engine


class PgPool:
    """At most `size` autocommit psycopg connections to one database, opened on use."""

    def __init__(self, conninfo: str, *, size: int = 8) -> None:
        self.conninfo = conninfo
        self.size = size
        self._idle: queue.LifoQueue[psycopg.Connection[Any]] = queue.LifoQueue()
        self._opened = 0
        self._lock = threading.Lock()

    @classmethod
    def for_engine(cls, engine: Engine, *, size: int = 8) -> PgPool | None:
        """A pool for a PostgreSQL store; None for any other (they take the portable path)."""
        if engine.dialect.name != "postgresql":
            return None
        url = engine.url.set(drivername="postgresql")
        return cls(url.render_as_string(hide_password=False), size=size)

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection for the block; back to the pool after (rolled back if need be)."""
        try:
            connection = self._idle.get_nowait()
        except queue.Empty:
            connection = self._open_or_wait()
        broken = False
        try:
            yield connection
        except psycopg.OperationalError:
            broken = True
            raise
        finally:
            if not broken and not connection.closed:
                broken = not _idle_again(connection)
            if broken or connection.closed:
                connection.close()
                with self._lock:
                    self._opened -= 1
            else:
                self._idle.put(connection)

    def _open_or_wait(self) -> psycopg.Connection[Any]:
        with self._lock:
            opening = self._opened < self.size
            if opening:
                self._opened += 1
        if not opening:
            return self._idle.get(timeout=30)
        try:
            connection = psycopg.connect(self.conninfo, autocommit=True)
        except BaseException:
            with self._lock:
                self._opened -= 1
            raise
        connection.execute("SET TIME ZONE 'UTC'")
        set_json_loads(orjson.loads, connection)
        return connection

    def close(self) -> None:
        """Close the idle connections (at shutdown)."""
        while True:
            try:
                connection = self._idle.get_nowait()
            except queue.Empty:
                return
            connection.close()
            with self._lock:
                self._opened -= 1


def _idle_again(connection: psycopg.Connection[Any]) -> bool:
    """Leave the connection outside any transaction; False if it cannot be (close it)."""
    status = connection.info.transaction_status
    if status == TransactionStatus.IDLE:
        return True
    if status in (TransactionStatus.INTRANS, TransactionStatus.INERROR):
        try:
            connection.execute("ROLLBACK")
        except psycopg.Error:
            return False
        return connection.info.transaction_status == TransactionStatus.IDLE
    return False
