"""Ctrl-C reported by DuckDB mid-query must read as an interrupt, not a crash."""

from __future__ import annotations

import duckdb
import pytest

from houseofcare.interrupts import interrupts_as_keyboard, is_interrupt


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (KeyboardInterrupt(), True),
        (duckdb.InterruptException("INTERRUPT Error: Interrupted!"), True),
        (RuntimeError("Query interrupted"), True),
        (RuntimeError("Binder Error: column x not found"), False),
        (ValueError("interrupted"), False),
    ],
)
def test_is_interrupt(exc: BaseException, expected: bool) -> None:
    assert is_interrupt(exc) is expected


def test_engine_interrupt_becomes_keyboard_interrupt_with_its_cause() -> None:
    cause = RuntimeError("Query interrupted")
    with pytest.raises(KeyboardInterrupt) as caught, interrupts_as_keyboard():
        raise cause
    assert caught.value.__cause__ is cause


def test_other_errors_pass_through_unchanged() -> None:
    with pytest.raises(RuntimeError, match="Binder"), interrupts_as_keyboard():
        raise RuntimeError("Binder Error")


def test_a_real_duckdb_interrupt_is_recognised() -> None:
    import threading

    con = duckdb.connect()
    timer = threading.Timer(0.2, con.interrupt)
    timer.start()
    with pytest.raises(KeyboardInterrupt), interrupts_as_keyboard():
        con.execute("SELECT count(*) FROM range(10000000000) a").fetchall()
    timer.cancel()
