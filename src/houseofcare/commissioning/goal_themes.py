"""Goal themes: what people's goals are about, as a SQL CASE made from `goal_themes.toml`.

A goal has no theme column: the person writes what matters to them in their own words and
may add a target measure. The commissioning plan adds goals up by theme, so the theme is
worked out in the query that counts them (`theme_sql`), from the data file's measures and
keywords in its order, and runs on every engine as plain CASE / LIKE.
"""

from __future__ import annotations

import re
import tomllib
from functools import cache
from importlib.resources import files
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from houseofcare.sql_text import sql_literal

#: The theme of a goal no listed theme matches.
OTHER: Final = "other"
#: A measure or keyword: plain words, so it can sit inside a LIKE pattern as it is.
_WORD = r"^[a-z0-9][a-z0-9 '\-]*$"


class GoalThemeError(ValueError):
    """The themes file does not match its schema (the message names file and field)."""


class GoalTheme(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    words: str = Field(min_length=1)
    measures: tuple[str, ...] = ()
    keywords: tuple[str, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _plain_words(self) -> GoalTheme:
        for word in (*self.measures, *self.keywords):
            if not re.match(_WORD, word):
                raise ValueError(
                    f"theme {self.id}: {word!r} must be lower-case letters, digits, spaces, "
                    "hyphens or apostrophes"
                )
        return self


class GoalThemes(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = Field(ge=1, le=1)
    #: The heading of goals no theme matches.
    other: str = Field(min_length=1)
    theme: tuple[GoalTheme, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _distinct_ids(self) -> GoalThemes:
        ids = [t.id for t in self.theme]
        if len(set(ids)) != len(ids) or OTHER in ids:
            raise ValueError(f"theme ids must be distinct and not {OTHER!r}: {ids}")
        return self

    def words(self) -> dict[str, str]:
        """Theme id → heading, in the file's order, `other` last."""
        return {**{t.id: t.words for t in self.theme}, OTHER: self.other}


@cache
def packaged_goal_themes() -> GoalThemes:
    """The themes shipped in `goal_themes.toml` (checked against the schema)."""
    path = files("houseofcare.commissioning") / "goal_themes.toml"
    try:
        return GoalThemes.model_validate(tomllib.loads(path.read_text()))
    except ValidationError as exc:
        raise GoalThemeError(f"{path}: {exc}") from None


def theme_sql(measure: str, words: str, themes: GoalThemes | None = None) -> str:
    """The theme id of a goal as a SQL CASE over its target measure and the person's words
    (two column expressions): measures first, then keywords, each in the file's order."""
    themes = themes or packaged_goal_themes()

    def any_of(column: str, found: tuple[str, ...]) -> str:
        return " OR ".join(f"lower({column}) LIKE {sql_literal(f'%{w}%')}" for w in found)

    by_measure = [
        f"WHEN {any_of(measure, t.measures)} THEN {sql_literal(t.id)}"
        for t in themes.theme
        if t.measures
    ]
    by_words = [f"WHEN {any_of(words, t.keywords)} THEN {sql_literal(t.id)}" for t in themes.theme]
    return f"CASE {' '.join([*by_measure, *by_words])} ELSE {sql_literal(OTHER)} END"
