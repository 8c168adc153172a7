"""Goal themes as data: the packaged file checks, its order decides, and a word that could
break out of its LIKE pattern is refused when the file is read."""

from __future__ import annotations

import duckdb
import pytest
from pydantic import ValidationError

from houseofcare.commissioning.goal_themes import (
    OTHER,
    GoalThemes,
    packaged_goal_themes,
    theme_sql,
)


def themes_of(goals: list[tuple[str | None, str]]) -> list[str]:
    con = duckdb.connect()
    values = ", ".join(
        f"({'NULL' if m is None else repr(m)}, {w!r}, {i})" for i, (m, w) in enumerate(goals)
    )
    return [
        r[0]
        for r in con.execute(
            f"SELECT {theme_sql('m', 'w')} FROM (VALUES {values}) AS g(m, w, i) ORDER BY i"
        ).fetchall()
    ]


def test_measures_first_then_words_in_the_files_order() -> None:
    assert themes_of(
        [
            ("HbA1c (mmol/mol)", "Walk the dog every day"),
            (None, "Stop smoking so I can breathe better"),
            (None, "Get out of the house and meet people again"),
            (None, "Lose some weight by walking more"),
            ("Blood pressure", "Feel less tired"),
            (None, "See my grandchildren grow up"),
            (None, "Something nobody listed"),
        ]
    ) == [
        "blood_sugar",
        "smoking",
        "social_connection",
        "weight",
        "blood_pressure",
        "social_connection",
        OTHER,
    ]


def test_the_packaged_themes_name_every_heading() -> None:
    words = packaged_goal_themes().words()
    assert list(words)[-1] == OTHER
    assert {"physical_activity", "weight", "smoking", "blood_pressure", "blood_sugar",
            "breathing", "mood_wellbeing", "social_connection", "independence_at_home",
            "managing_medicines"} <= set(words)  # fmt: skip


@pytest.mark.parametrize("word", ["50%", "o'clock'; DROP", "Walk", "a_b"])
def test_a_word_that_is_not_plain_is_refused(word: str) -> None:
    with pytest.raises(ValidationError):
        GoalThemes.model_validate(
            {
                "version": 1,
                "other": "Other",
                "theme": [{"id": "t", "words": "T", "keywords": [word]}],
            }
        )
