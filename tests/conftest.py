"""Shared fixtures for every test kind."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from houseofcare.settings import Settings

#: The PostgreSQL server the tests use (trust auth); each session makes its own databases.
POSTGRES_SERVER = os.environ.get(
    "HOC_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432"
)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with a fresh project folder per test."""
    return Settings(data_dir=tmp_path / "hoc-data")


@pytest.fixture(scope="session")
def make_postgres_database() -> Iterator[Callable[[str], str]]:
    """A factory of fresh, uniquely named PostgreSQL databases (one per call); its URL.

    Names carry the xdist worker and a random part so concurrent runs never collide; every
    database made is dropped when the test session ends.
    """
    import psycopg

    admin_url = POSTGRES_SERVER.replace("postgresql+psycopg://", "postgresql://") + "/test"
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    made: list[str] = []

    def make(label: str) -> str:
        name = f"hoc_{label}_{worker}_{uuid.uuid4().hex[:10]}".lower()
        with psycopg.connect(admin_url, autocommit=True) as con:
            con.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        return f"{POSTGRES_SERVER}/{name}"

    yield make
    with psycopg.connect(admin_url, autocommit=True) as con:
        for name in made:
            con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
