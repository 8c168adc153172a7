"""The web app's hold on the analytic store, and the way a writer asks it to let go.

Opening the DuckDB file costs about 18 ms (its catalogue and metadata are read each time),
longer than most of what a page reads from it. A process that serves pages therefore keeps
one read-only connection open (the *anchor*): while it is open, DuckDB hands every further
read-only connection to the same file the database already loaded, for well under 1 ms.

DuckDB lets a writer (`hoc ingest`, `hoc run`, `hoc train`) open the file only when no other
process has it open, and a read-only database does not see what a writer changed after it
was opened. So a writer announces itself first: it holds an exclusive `flock` on the file
`<store>.writer` while it waits for the store (`wait_to_write`). Every process that holds the
store checks for that lock before each read and ten times a second: when a writer is
waiting it closes its anchor and refuses new reads (`WriterWaiting`: the pages say the
figures are being updated), so the writer gets the file as soon as the reads in flight end.
The next read after the writer has finished opens a fresh anchor, which sees the new data.
The kernel drops a `flock` when its process ends, so a writer that is killed leaves nothing
behind that could hold the readers off.

Only the web app holds the store (`hold`); a command opens and closes it as before.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

import duckdb

#: How often a holding process looks for a waiting writer when no read comes.
POLL_SECONDS: Final = 0.1
#: An anchor nobody has read through for this long is closed (nothing is held for nothing).
IDLE_SECONDS: Final = 30.0


class WriterWaiting(duckdb.IOException):
    """A writer is waiting for the analytic store: reads are refused until it has finished.

    A DuckDB I/O error, so every reader that already says "the store is busy" when a run
    holds the file says the same now."""


def writer_path(store: Path) -> Path:
    """The file a waiting writer locks (beside the store)."""
    return store.with_name(store.name + ".writer")


def writer_waiting(store: Path) -> bool:
    """Whether some process is waiting to write the store (holds the writer lock)."""
    try:
        fd = os.open(writer_path(store), os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


@contextlib.contextmanager
def wait_to_write(store: Path) -> Iterator[None]:
    """Announce a writer for the block (the writer opens the store inside it), and make this
    process's own hold on the store let go at once."""
    store.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(writer_path(store), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        hold = _holds.get(store.resolve())
        if hold is not None:
            hold.release()
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


class Hold:
    """One process's anchor connection to one store."""

    def __init__(self, store: Path, opener: Callable[[], duckdb.DuckDBPyConnection]) -> None:
        self.store = store
        self._opener = opener
        self._lock = threading.Lock()
        self._anchor: duckdb.DuckDBPyConnection | None = None
        self._identity: tuple[int, int] | None = None
        self._last_read = 0.0
        self._watcher: threading.Thread | None = None

    @property
    def held(self) -> bool:
        return self._anchor is not None

    def before_read(self) -> None:
        """Keep the anchor open for the read about to open a connection, or refuse the read
        (`WriterWaiting`) while a writer waits. A store that cannot be opened raises
        DuckDB's own error, as an unheld open would."""
        if writer_waiting(self.store):
            self.release()
            raise WriterWaiting(f"{self.store} is being updated")
        with self._lock:
            self._last_read = time.monotonic()
            if self._anchor is not None and _identity(self.store) != self._identity:
                # the file was replaced (a restore, a new store): hold the new one
                self._anchor.close()
                self._anchor = None
            if self._anchor is None:
                self._identity = _identity(self.store)
                self._anchor = self._opener()
            if self._watcher is None or not self._watcher.is_alive():
                self._watcher = threading.Thread(
                    target=self._watch, name="analytic-store-hold", daemon=True
                )
                self._watcher.start()

    def release(self) -> None:
        """Close the anchor (reads in flight keep their own connections until they end)."""
        with self._lock:
            anchor, self._anchor = self._anchor, None
        if anchor is not None:
            anchor.close()

    def _watch(self) -> None:
        while True:
            time.sleep(POLL_SECONDS)
            if self._anchor is None:
                return
            idle = time.monotonic() - self._last_read > IDLE_SECONDS
            if idle or writer_waiting(self.store):
                self.release()
                return


def _identity(store: Path) -> tuple[int, int] | None:
    try:
        found = store.stat()
    except FileNotFoundError:
        return None
    return found.st_dev, found.st_ino


_holds: dict[Path, Hold] = {}
_holds_lock = threading.Lock()


def hold(store: Path, opener: Callable[[], duckdb.DuckDBPyConnection]) -> Hold:
    """This process holds `store` open between reads from now on (the web app calls this);
    `opener` opens the anchor (read-only, with the settings' configuration)."""
    key = store.resolve()
    with _holds_lock:
        found = _holds.get(key)
        if found is None:
            found = _holds[key] = Hold(key, opener)
        return found


def held(store: Path) -> Hold | None:
    """This process's hold on `store`, if it holds it."""
    return _holds.get(store.resolve())
