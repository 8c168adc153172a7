"""The sign-in throttle's arithmetic: when the next attempt is let through."""

from __future__ import annotations

import datetime as dt

from houseofcare.api.throttle import Limits

LIMITS = Limits(free_failures=3, lock_failures=10, delay_seconds=1.0, lock_seconds=900.0)
NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


def test_the_wait_doubles_after_the_free_failures_then_locks() -> None:
    waits = [LIMITS.wait(failures, NOW, NOW) for failures in range(11)]
    assert waits == [0, 0, 0, 1, 2, 4, 8, 16, 32, 64, 900]


def test_the_wait_runs_from_the_last_failure_and_is_never_longer_than_a_lock() -> None:
    earlier = NOW - dt.timedelta(seconds=3)
    assert LIMITS.wait(5, earlier, NOW) == 1.0  # 4 s wait, 3 s gone
    assert LIMITS.wait(4, earlier, NOW) == 0.0
    assert Limits(1, 100, 1.0, 60.0).wait(50, NOW, NOW) == 60.0


def test_failures_are_forgotten_a_lock_period_after_the_last() -> None:
    assert LIMITS.remembered(NOW - dt.timedelta(seconds=899), NOW)
    assert not LIMITS.remembered(NOW - dt.timedelta(seconds=900), NOW)
