"""The generated history's calendar: as-of date, the yearly windows before it, day numbers.

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
#: Years of history written by default. Five, so that the admission-risk model's 36-month
#: look-back is complete at its training date (as-of − 24 months): see docs/risk-model.md.
DEFAULT_HISTORY_YEARS = 5
#: Issue 2 asks for at least three years of history; more than ten adds nothing the model uses.
MIN_HISTORY_YEARS, MAX_HISTORY_YEARS = 3, 10


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
    history_years: int = DEFAULT_HISTORY_YEARS

    @property
    def end(self) -> int:
        return day_number(self.as_of)

    @property
    def start(self) -> int:
        return day_number(years_before(self.as_of, self.history_years))

    @property
    def windows(self) -> list[tuple[int, int]]:
        """Yearly windows oldest first; the last one is (as-of − 12 months, as-of]."""
        years = range(self.history_years, -1, -1)
        bounds = [day_number(years_before(self.as_of, k)) for k in years]
        return list(pairwise(bounds))
