"""Answers kept per process are keyed by the store's stamp: a write means a fresh read."""

from __future__ import annotations

import pytest

from houseofcare.web.store_memo import StoreMemo


def test_an_answer_is_kept_for_its_stamp_and_read_again_under_a_new_one() -> None:
    memo: StoreMemo[int] = StoreMemo(kept=2)
    reads: list[str] = []

    def read(label: str, value: int):  # type: ignore[no-untyped-def]
        def inner() -> int:
            reads.append(label)
            return value

        return inner

    assert memo.get(("stamp-1", "q"), read("first", 1)) == 1
    assert memo.get(("stamp-1", "q"), read("again", 99)) == 1
    assert memo.get(("stamp-2", "q"), read("after a write", 2)) == 2
    assert reads == ["first", "after a write"]
    # the least recently used answer goes first when more are kept than allowed
    memo.get(("stamp-3", "q"), read("third", 3))
    assert memo.get(("stamp-1", "q"), read("evicted", 10)) == 10


def test_a_failed_read_keeps_nothing() -> None:
    memo: StoreMemo[int] = StoreMemo(kept=4)

    def fail() -> int:
        raise RuntimeError("the store is being written")

    with pytest.raises(RuntimeError):
        memo.get("k", fail)
    assert memo.get("k", lambda: 5) == 5
