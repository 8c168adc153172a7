"""The served app seals the audit trail in the background, every few seconds.

Each worker runs one daemon thread that calls `store.audit_seal.seal`; on PostgreSQL only one
worker writes at a time (an advisory lock), the others find nothing to do. The request paths
are untouched: sealing reads events after they are committed and writes only `audit_seal`.
`HOC_API_AUDIT_SEAL_SECONDS=0` turns it off (then run `hoc audit seal` on a schedule).
"""

from __future__ import annotations

import logging
import threading

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
