"""How DuckDB and Spark differ for the analytic SQL, read from `engine_dialect.toml`.

The analytic queries are written once, in DuckDB's dialect, and run on Spark after SQLGlot
transpiles them (`engine.spark_sql`). That is only safe when they keep to constructs both
engines mean alike, so the differences are declared as data with a reason each (Ibis keeps
its backends' differences the same way), not as `if engine == ...` in the queries: fragments
the analytic SQL must not hold, constructs SQLGlot carries that the queries rely on, the Spark
settings they need, the code that is DuckDB's alone, and the differences that remain.
tests/unit/test_engine_dialect.py builds every analytic query and fails on a forbidden fragment.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from houseofcare.datafiles import read_toml, validation_problems

DIALECT_FILE = Path(__file__).with_name("engine_dialect.toml")


class DialectError(ValueError):
    """The engine dialect file does not match its schema (the message names file and field)."""


def _compiles(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"not a regular expression: {exc}") from None
    return pattern


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
    reason: str = Field(min_length=20)


class Forbidden(_Entry):
    """A fragment the analytic SQL must not hold, and the spelling both engines mean alike."""

    pattern: Annotated[str, AfterValidator(_compiles)] = Field(min_length=1)
    instead: str = Field(min_length=1)

    def found_in(self, sql: str) -> list[str]:
        """The fragments of `sql` (string literals and comments blanked) this entry forbids."""
        return [m.group(0) for m in re.finditer(self.pattern, code_only(sql), flags=re.IGNORECASE)]


class Carried(_Entry):
    """A DuckDB construct the queries use because SQLGlot turns it into the same on Spark."""

    duckdb: str = Field(min_length=1)
    spark: str = Field(min_length=1)


class Setting(BaseModel):
    """A Spark setting the queries rely on (houseofcare.spark_session makes it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(pattern=r"^spark\.")
    value: str
    reason: str = Field(min_length=20)


class DuckDBOnly(_Entry):
    """Code that talks to DuckDB itself, never to Spark, and why."""

    modules: tuple[str, ...] = Field(min_length=1)


class Accepted(_Entry):
    """A difference that remains between the engines, what it can change, and its hazard."""

    difference: str = Field(min_length=1)
    hazard: str | None = Field(default=None, pattern=r"^H-\d{3}$")


class EngineDialect(BaseModel):
    """The whole file. There is deliberately no table of rewrites: `engine.spark_sql` adds
    nothing to SQLGlot's transpile, and an undeclared table is refused rather than ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = Field(ge=1, le=1)
    forbidden: tuple[Forbidden, ...] = Field(min_length=1)
    carried: tuple[Carried, ...] = ()
    setting: tuple[Setting, ...] = ()
    duckdb_only: tuple[DuckDBOnly, ...] = ()
    accepted: tuple[Accepted, ...] = ()

    def fragments(self, sql: str) -> list[tuple[Forbidden, str]]:
        """Each forbidden fragment in `sql`, with the entry that forbids it (none: portable)."""
        return [(entry, found) for entry in self.forbidden for found in entry.found_in(sql)]

    def duckdb_only_modules(self) -> frozenset[str]:
        return frozenset(m for entry in self.duckdb_only for m in entry.modules)


def load_dialect(path: Path = DIALECT_FILE) -> EngineDialect:
    raw = read_toml(path, DialectError, "engine dialect file not found")
    try:
        dialect = EngineDialect.model_validate(raw)
    except ValidationError as exc:
        raise DialectError(f"{path}: {validation_problems(exc)}") from None
    for kind in ("forbidden", "carried", "duckdb_only", "accepted"):
        ids = [entry.id for entry in getattr(dialect, kind)]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise DialectError(f"{path}: {kind}: id {', '.join(repeated)} declared twice")
    return dialect


@cache
def packaged_dialect() -> EngineDialect:
    return load_dialect()


_CODE_PARTS = re.compile(
    r"""(?P<string>'(?:[^']|'')*')|(?P<quoted>"(?:[^"]|"")*")"""
    r"""|(?P<line>--[^\n]*)|(?P<block>/\*.*?\*/)""",
    re.DOTALL,
)


def code_only(sql: str) -> str:
    """`sql` with string literals emptied and comments blanked, quoted names kept: what a
    forbidden pattern is matched against (a `$` inside a quoted regular expression, or a
    word in a comment, is not SQL)."""

    def blank(match: re.Match[str]) -> str:
        if match.group("string") is not None:
            return "''"
        if match.group("quoted") is not None:
            return match.group(0)
        return " "

    return _CODE_PARTS.sub(blank, sql)
