"""Answers read from the analytic store, kept per server process while the store is unchanged.

A pipeline run's rows never change once written, and any write to the store (a run, an
ingest) changes its file or write-ahead log (`runs.store_stamp`), so an answer keyed by the
stamp it was read under is never stale: the next view after a write misses and reads again.
Opening the DuckDB file and scanning a whole table cost far more than a page's other work,
and the same case manager opens the same caseload many times a day. Only reads are kept;
every view is still decided and audited.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class StoreMemo(Generic[T]):
    """A small least-recently-used map of answers, safe across the server's threads."""

    def __init__(self, kept: int) -> None:
        self._kept = kept
        self._answers: OrderedDict[Hashable, T] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, read: Callable[[], T]) -> T:
        """The answer kept for `key` (which must include the store's stamp, or name rows that
        never change, such as a run's), else `read()`'s, kept. An exception from `read` is
        raised and nothing is kept."""
        with self._lock:
            if key in self._answers:
                self._answers.move_to_end(key)
                return self._answers[key]
        answer = read()
        with self._lock:
            self._answers[key] = answer
            while len(self._answers) > self._kept:
                self._answers.popitem(last=False)
        return answer
