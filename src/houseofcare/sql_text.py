"""SQL literals both engines read alike: a leaf module (no engine imported), so the access
decision and the API can build SQL text without loading DuckDB."""

from __future__ import annotations

import datetime as dt


def sql_literal(value: str | int | float | dt.date | None) -> str:
    """A value as a SQL literal both dialects read alike (DATE 'YYYY-MM-DD', floats as DOUBLE).

    Parameters are inlined as literals because bind-parameter syntax differs between engines;
    strings are quoted with embedded quotes doubled, so a value can never end the literal.
    """
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        raise TypeError("booleans are not used as query parameters")
    if isinstance(value, dt.datetime):
        raise TypeError("timestamps are not used as query parameters; pass a date")
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # a bare 2.5 is DOUBLE on DuckDB but DECIMAL on Spark
        return f"CAST({value!r} AS DOUBLE)"
    return "'" + value.replace("'", "''") + "'"
