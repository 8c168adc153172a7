"""Settings: defaults, environment, hoc.toml, and how paths resolve."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from houseofcare.settings import Settings


def test_defaults_keep_state_in_hoc_data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for var in ("HOC_DATA_DIR", "HOC_ANALYTIC_DB", "HOC_DATABASE_URL", "HOC_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    settings = Settings()
    assert settings.analytic_db_path == Path("hoc-data/analytic.duckdb")
    assert settings.operational_url == "sqlite:///hoc-data/operational.sqlite"


def test_environment_overrides_toml(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "hoc.toml").write_text('data_dir = "from-toml"\nthreads = 1\n')
    monkeypatch.setenv("HOC_DATA_DIR", "from-env")
    settings = Settings()
    assert settings.data_dir == Path("from-env")
    assert settings.threads == 1


def test_absolute_analytic_db_is_not_moved(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, analytic_db=tmp_path / "elsewhere.duckdb")
    assert settings.analytic_db_path == tmp_path / "elsewhere.duckdb"


def test_unknown_setting_in_toml_is_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "hoc.toml").write_text('data_dri = "typo"\n')
    with pytest.raises(ValidationError, match="data_dri"):
        Settings()


def test_database_url_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOC_DATABASE_URL", "postgresql+psycopg://127.0.0.1/test")
    assert Settings().operational_url == "postgresql+psycopg://127.0.0.1/test"


def test_migrations_use_the_owner_url_when_set_and_the_app_url_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = "postgresql+psycopg://hoc_app@127.0.0.1/hoc"
    owner = "postgresql+psycopg://hoc_owner@127.0.0.1/hoc"
    monkeypatch.delenv("HOC_DATABASE_OWNER_URL", raising=False)
    assert Settings(database_url=app).owner_url == app
    monkeypatch.setenv("HOC_DATABASE_OWNER_URL", owner)
    settings = Settings(database_url=app)
    assert (settings.operational_url, settings.owner_url) == (app, owner)
