"""One meaning for Ctrl-C, whichever layer it lands in.

When SIGINT arrives while DuckDB is executing, DuckDB cancels the query and raises its own
error ("Query interrupted": `duckdb.InterruptException`, or a bare `RuntimeError` from some
code paths) instead of Python's `KeyboardInterrupt`. Jobs that promise "interrupted: nothing
was written" must treat both the same way, or a Ctrl-C at the wrong moment looks like a crash.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb


def is_interrupt(exc: BaseException) -> bool:
    """True when `exc` is a user interrupt, however the engine reported it."""
    if isinstance(exc, KeyboardInterrupt | duckdb.InterruptException):
        return True
    return isinstance(exc, RuntimeError) and "interrupted" in str(exc).lower()


@contextmanager
def interrupts_as_keyboard() -> Iterator[None]:
    """Re-raise an engine-reported interrupt as `KeyboardInterrupt` (the cause is kept)."""
    try:
        yield
    except Exception as exc:
        if is_interrupt(exc):
            raise KeyboardInterrupt from exc
        raise
