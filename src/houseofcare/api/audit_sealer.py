"""`hoc serve` seals the audit trail every few seconds, in one process beside the workers.

Sealing hashes every new event (about 20 µs of Python each): at a thousand reads a second a
pass holds the interpreter for ~100 ms. Run inside a worker it stalled that worker's requests
(the CarePlan read's p99 went from 6 ms to 40–90 ms, throughput fell a third), so the workers
never seal: `run_in_process` starts one sealing process (its own interpreter, its own
connections) that calls `store.audit_seal.seal` in a loop. Several at once would be safe (on
PostgreSQL an advisory lock lets one write at a time) but one is enough. The request paths are
untouched: sealing reads events after they are committed and writes only `audit_seal`.
`HOC_API_AUDIT_SEAL_SECONDS=0` turns it off (then run `hoc audit seal` on a schedule).
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from multiprocessing.process import BaseProcess

from sqlalchemy import Engine

from houseofcare.store.audit_seal import seal

log = logging.getLogger(__name__)


class AuditSealer:
    """Seals the trail every `seconds` until stopped."""

    def __init__(self, engine: Engine, seconds: float) -> None:
        self.engine = engine
        self.seconds = seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="hoc-audit-sealer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self.run()

    def run(self) -> None:
        """Seal every `seconds` until `stop` (in the calling thread)."""
        while not self._stop.wait(self.seconds):
            try:
                # wait for open writers no longer than a round: the next round tries again
                result = seal(self.engine, wait_seconds=min(self.seconds, 2.0))
            except Exception:  # a sealing pass must never take the worker down
                log.exception("sealing the audit trail failed; trying again next round")
                continue
            if not result.settled:
                log.warning("audit events still being written; sealing them next round")

    def stop(self) -> None:
        """Stop after the current pass (at shutdown)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


def _seal_forever(seconds: float) -> None:
    """The sealing process: the store from the environment (as the workers build theirs)."""
    from houseofcare.settings import Settings
    from houseofcare.store.database import engine_for

    engine = engine_for(Settings())
    sealer = AuditSealer(engine, seconds)
    try:
        sealer.run()
    finally:
        engine.dispose()


def run_in_process(seconds: float) -> BaseProcess:
    """Start the sealing process (a daemon: it ends with `hoc serve`)."""
    process = multiprocessing.get_context("spawn").Process(
        target=_seal_forever, args=(seconds,), name="hoc-audit-sealer", daemon=True
    )
    process.start()
    return process
