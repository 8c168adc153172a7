"""The generated history's calendar: as-of date, the four yearly windows before it, day numbers.

Dates are held as days since 1970-01-01 (int64) while generating, so every date calculation is
vectorised arithmetic; they become Arrow ``date32``/``timestamp`` only when tables are written.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from itertools import pairwise

EPOCH = dt.date(1970, 1, 1)
DAYS_PER_YEAR = 365.25
#: Sentinel "day" for an event that never happens (later than any real date).
NEVER = 10_000_000
HISTORY_YEARS = 4


def day_number(date: dt.date) -> int:
    return (date - EPOCH).days


def years_before(date: dt.date, years: int) -> dt.date:
    """The same calendar day ``years`` earlier (29 February becomes 28 February)."""
    try:
        return date.replace(year=date.year - years)
    except ValueError:
        return date.replace(year=date.year - years, day=28)


def years_after(date: dt.date, years: int) -> dt.date:
    return years_before(date, -years)


@dataclass(frozen=True)
class Timeline:
    """The as-of date and the yearly windows ``(start, end]`` of the generated history."""

    as_of: dt.date

    @property
    def end(self) -> int:
        return day_number(self.as_of)

    @property
    def start(self) -> int:
        return day_number(years_before(self.as_of, HISTORY_YEARS))

    @property
    def windows(self) -> list[tuple[int, int]]:
        """Yearly windows oldest first; the last one is (as-of − 12 months, as-of]."""
        bounds = [day_number(years_before(self.as_of, k)) for k in range(HISTORY_YEARS, -1, -1)]
        return list(pairwise(bounds))
