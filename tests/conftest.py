"""Shared fixtures for every test kind."""

from __future__ import annotations

from pathlib import Path

import pytest

from houseofcare.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with a fresh project folder per test."""
    return Settings(data_dir=tmp_path / "hoc-data")
