"""Statistical disclosure control for counts that leave the identifiable zone.

Rule (NHS Digital HES/ECDS sub-national practice, shared/reference/disclosure-control.md):
a count of 1-7 is suppressed; any other count is rounded to the nearest 5. Zero stays zero.
Rates computed from controlled counts use the controlled values, so a rate cannot be used to
recover a suppressed count.
"""

from __future__ import annotations

SUPPRESS_AT_OR_BELOW = 7
ROUND_TO = 5


def controlled_count_sql(column: str) -> str:
    """SQL for the disclosure-controlled value of an integer count column (NULL = suppressed)."""
    return (
        f"CASE WHEN {column} = 0 THEN 0 "
        f"WHEN {column} <= {SUPPRESS_AT_OR_BELOW} THEN NULL "
        f"ELSE CAST(round({column} / {float(ROUND_TO)}) * {ROUND_TO} AS BIGINT) END"
    )


def controlled_count(value: int) -> int | None:
    """The same rule in Python, for single figures and tests."""
    if value == 0:
        return 0
    if value <= SUPPRESS_AT_OR_BELOW:
        return None
    return int(round(value / ROUND_TO) * ROUND_TO)
