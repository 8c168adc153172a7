"""The quarantine: what ingest could not load, with the file, line and a reason a person can act on.

A bad line never stops an ingest: it is written here (inside the same transaction as the good
rows) and the rest of the file loads. `hoc ingest --strict` turns any quarantined line into a
non-zero exit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

import duckdb

from houseofcare.ingest.sources import BadLine

#: Reason when a line is not JSON at all.
NOT_JSON: Final[str] = "line is not valid JSON"

_INSERT: Final[str] = (
    "INSERT INTO quarantine (source_file, line_number, resource_type, resource_id, reason, "
    "ingested_at) VALUES (?, ?, ?, ?, ?, ?)"
)


def classify_reason_sql(known_types_sql: str) -> str:
    """SQL (over the classified block) giving why a line cannot be staged, or NULL if it can.

    Lines of resource types without a view are not quarantined: they are counted and skipped.
    """
    return (
        "CASE WHEN k IS NULL THEN '" + NOT_JSON + ": ' || left(trim(line), 60) "
        "WHEN k[1] IS NULL OR json_type(k[1]) = 'NULL' THEN 'resourceType is missing' "
        "WHEN json_type(k[1]) <> 'VARCHAR' THEN 'resourceType is ' || left(k[1]::VARCHAR, 60) "
        "|| ', expected a string' "
        f"WHEN NOT list_contains({known_types_sql}, k[1] ->> '$') THEN NULL "
        "WHEN k[2] IS NULL OR json_type(k[2]) = 'NULL' THEN 'id is missing' "
        "WHEN json_type(k[2]) <> 'VARCHAR' THEN 'id is ' || left(k[2]::VARCHAR, 60) "
        "|| ', expected an id (string)' "
        "WHEN (k[2] ->> '$') = '' THEN 'id is empty' END"
    )


def add_unreadable_file(
    con: duckdb.DuckDBPyConnection,
    *,
    source_file: str,
    reason: str,
    ingested_at: datetime,
    line_number: int = 0,
) -> None:
    """Record a whole file that could not be read, as line 0, or the line where the reader
    found out (XML that is not well-formed, or not FHIR)."""
    con.execute(_INSERT, [source_file, line_number, None, None, reason, ingested_at])


def add_bad_lines(
    con: duckdb.DuckDBPyConnection,
    *,
    source_file: str,
    lines: Sequence[BadLine],
    ingested_at: datetime,
) -> None:
    """Record lines the reader left out of their block (not valid UTF-8, XML resources that
    could not be converted)."""
    con.executemany(
        _INSERT,
        [
            [source_file, b.line_number, b.resource_type, b.resource_id, b.reason, ingested_at]
            for b in lines
        ],
    )


def forget_file(con: duckdb.DuckDBPyConnection, *, source_file: str, ingested_at: datetime) -> None:
    """Drop this run's quarantine rows for a file that later proved unreadable as a whole."""
    con.execute(
        "DELETE FROM quarantine WHERE source_file = ? AND ingested_at = ?",
        [source_file, ingested_at],
    )


def counts_by_type(con: duckdb.DuckDBPyConnection, *, ingested_at: datetime) -> dict[str, int]:
    """Quarantined lines of this run per resource type (`(unknown)` when there was none)."""
    rows = con.execute(
        "SELECT coalesce(resource_type, '(unknown)'), count(*) FROM quarantine "
        "WHERE ingested_at = ? GROUP BY ALL",
        [ingested_at],
    ).fetchall()
    return {str(t): int(n) for t, n in rows}


def examples(
    con: duckdb.DuckDBPyConnection,
    *,
    ingested_at: datetime,
    files: list[str],
    limit: int = 10,
) -> list[tuple[str, int, str]]:
    """The first quarantined lines of this run, in the order `files` were read, then by line."""
    rows = con.execute(
        "SELECT source_file, line_number, reason FROM quarantine WHERE ingested_at = ? "
        "ORDER BY list_position(?, source_file), line_number, rowid LIMIT ?",
        [ingested_at, files, limit],
    ).fetchall()
    return [(str(f), int(n), str(r)) for f, n, r in rows]
