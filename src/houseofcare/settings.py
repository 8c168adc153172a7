"""One settings object for every entry point.

Values come, in order of precedence, from keyword arguments, `HOC_*` environment variables,
an optional `hoc.toml` in the working directory (or the file named by `HOC_CONFIG`), then the
defaults below. The analytics core takes a `Settings` argument rather than reading the
environment itself, so it imports and tests without the web stack.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class Settings(BaseSettings):
    """Where houseofcare keeps its state and how it behaves."""

    model_config = SettingsConfigDict(env_prefix="HOC_", extra="forbid")

    #: The project folder: the analytic store, the operational store and exports live here.
    data_dir: Path = Path("hoc-data")
    #: The analytic store (DuckDB file). Relative paths are inside `data_dir`.
    analytic_db: Path = Path("analytic.duckdb")
    #: The operational store (SQLAlchemy URL); SQLite in the project folder unless set.
    #: On PostgreSQL the app connects with it, as a role that does not own the tables.
    database_url: str | None = None
    #: The same database as the role that owns the tables: `hoc db upgrade` migrates with it
    #: and grants the app's role (the user of `database_url`) what it needs. Unset: the
    #: migrations use `database_url` too (SQLite, or a single-role PostgreSQL).
    database_owner_url: str | None = None
    #: DuckDB threads; None lets DuckDB use every core.
    threads: int | None = None
    #: DuckDB memory limit, e.g. "4GB"; None lets DuckDB choose (80% of RAM).
    memory_limit: str | None = None
    #: A case manager's caseload capacity (a community matron holds about 50-80 people):
    #: below the minimum the caseload page says so; beyond the maximum nobody more is taken on.
    caseload_min: int = Field(default=50, ge=0)
    caseload_max: int = Field(default=80, ge=1)
    # --- issue 14: the commissioning plan's output (commissioning/plan_output/pdf.py)
    #: The headless browser that prints the plan's HTML to PDF (HOC_CHROMIUM): Debian's
    #: Chromium, which `scripts/setup` installs for the browser tests too.
    chromium: Path = Path("/usr/bin/chromium")
    # --- issue 15: Apache Spark (houseofcare/spark_session.py, docs/scaling.md)
    #: Where `--engine spark` runs (HOC_SPARK_MASTER): `local[N]` on this machine, or a
    #: cluster's master URL such as `spark://host:7077`.
    spark_master: str = "local[2]"
    #: The Spark driver's memory (HOC_SPARK_DRIVER_MEMORY), e.g. "4g"; in local mode the
    #: executors live in the driver's JVM, so this is all the memory Spark has.
    spark_driver_memory: str = "4g"
    #: Further Spark settings (HOC_SPARK_CONFIG as JSON, or a `[spark_config]` table in
    #: hoc.toml), e.g. {"spark.local.dir": "/scratch"}; they override the defaults.
    spark_config: dict[str, str] = Field(default_factory=dict)
    #: The Parquet lake (HOC_LAKE_DIR): clinical tables for Spark to read, and run results
    #: laid out by table and run. Relative paths are inside `data_dir`.
    lake_dir: Path = Path("lake")

    @model_validator(mode="after")
    def _capacity(self) -> Settings:
        if self.caseload_min > self.caseload_max:
            raise ValueError("caseload_min is above caseload_max")
        return self

    @field_validator("data_dir", mode="after")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @property
    def analytic_db_path(self) -> Path:
        """The DuckDB file, resolved against the project folder."""
        path = self.analytic_db.expanduser()
        return path if path.is_absolute() else self.data_dir / path

    @property
    def lake_path(self) -> Path:
        """The Parquet lake, resolved against the project folder."""
        path = self.lake_dir.expanduser()
        return path if path.is_absolute() else self.data_dir / path

    @property
    def operational_url(self) -> str:
        """The operational store URL, SQLite in the project folder by default."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'operational.sqlite').as_posix()}"

    @property
    def owner_url(self) -> str:
        """The URL migrations run with: the owner's if set, else the app's."""
        return self.database_owner_url or self.operational_url

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = Path(os.environ.get("HOC_CONFIG", "hoc.toml"))
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_file.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)
