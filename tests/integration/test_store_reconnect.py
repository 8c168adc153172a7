"""A pooled PostgreSQL connection cut while idle is replaced before the caller sees it
(`store.database._ping_when_idle`), and one in steady use is not pinged on every checkout."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
from sqlalchemy import text

from houseofcare.store.database import make_engine


def _terminate(url: str, pid: int) -> None:
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as con:
        con.execute("SELECT pg_terminate_backend(%s)", [pid])


def test_a_connection_cut_while_idle_is_replaced_without_an_error(
    make_postgres_database: Callable[[str], str],
) -> None:
    url = make_postgres_database("reconnect")
    engine = make_engine(url, pool_size=1, max_overflow=0, idle_before_ping=0)
    try:
        with engine.connect() as con:
            first = con.execute(text("SELECT pg_backend_pid()")).scalar_one()
        _terminate(url, first)
        with engine.connect() as con:
            second = con.execute(text("SELECT pg_backend_pid()")).scalar_one()
        assert second != first
    finally:
        engine.dispose()


def test_a_connection_in_steady_use_is_not_pinged(
    make_postgres_database: Callable[[str], str],
) -> None:
    url = make_postgres_database("steady")
    engine = make_engine(url, pool_size=1, max_overflow=0, idle_before_ping=3600)
    try:
        with engine.connect() as con:
            first = con.execute(text("SELECT pg_backend_pid()")).scalar_one()
        _terminate(url, first)
        # not pinged: the cut shows on use (the pool then drops it), which the idle rule
        # accepts for a connection that was in use a moment ago
        try:
            with engine.connect() as con:
                con.execute(text("SELECT 1"))
            pinged = True
        except Exception:
            pinged = False
        assert not pinged
        with engine.connect() as con:
            assert con.execute(text("SELECT pg_backend_pid()")).scalar_one() != first
    finally:
        engine.dispose()
