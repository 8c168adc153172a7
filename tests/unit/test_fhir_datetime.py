"""The `YYYY-MM-DDThh:mm:ssZ` shortcut in dateTime parsing must agree with the general path.

The shortcut exists for speed only (docs/ingest.md); any value where the two differ would
be a silent change to an event date, so they are compared on hand-picked edge cases and on
generated near-misses of the shape.
"""

from __future__ import annotations

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from houseofcare.ingest import fhirtypes

_GENERAL = (
    f"CASE WHEN NOT regexp_matches(x, '{fhirtypes._DATE_SHAPE}') THEN NULL "
    f"WHEN strlen(x) <= 10 THEN try_cast({fhirtypes._padded_date('x')} AS TIMESTAMP) "
    "ELSE try_cast(try_cast(x AS TIMESTAMPTZ) AS TIMESTAMP) END"
)


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    return connection


def _both(con: duckdb.DuckDBPyConnection, value: str) -> tuple[object, object]:
    [(fast, general)] = con.execute(
        f"SELECT {fhirtypes._datetime_value('x')}, {_GENERAL} FROM (SELECT ?::VARCHAR AS x)",
        [value],
    ).fetchall()
    return fast, general


@pytest.mark.parametrize(
    "value",
    [
        "2025-01-31T10:20:30Z",
        "2024-02-29T23:59:59Z",
        "2025-02-29T10:00:00Z",  # no such day
        "2025-13-01T10:00:00Z",
        "2025-01-01T24:00:00Z",
        "2025-01-01T10:60:00Z",
        "2025/01/01T10:00:00Z",
        "2025-01-01 10:00:00Z",
        "2025-01-01T10:00:00z",
        "+025-01-01T10:00:00Z",
        "2025-01-01T10:00:0aZ",
        "2025-01-01T10:00:00+01:00",
        "2025-01-01T10:00:00.123Z",
        "2025-01-01",
        " 025-06-15T08:30:45Z",
        "0000-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "2025-01",
        "2025",
        "",
    ],
)
def test_shortcut_agrees_with_the_general_path(con: duckdb.DuckDBPyConnection, value: str) -> None:
    fast, general = _both(con, value)
    assert fast == general


_SHARED = duckdb.connect()
_SHARED.execute("SET TimeZone = 'UTC'")
_CHARS = st.sampled_from("0123456789-T:Z+ ./a\t")


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 19), _CHARS), max_size=3).map(
        lambda edits: _edit("2025-06-15T08:30:45Z", edits)
    )
)
def test_near_misses_of_the_shape_agree(value: str) -> None:
    fast, general = _both(_SHARED, value)
    assert fast == general, value


def _edit(base: str, edits: list[tuple[int, str]]) -> str:
    chars = list(base)
    for position, char in edits:
        chars[position] = char
    return "".join(chars)
