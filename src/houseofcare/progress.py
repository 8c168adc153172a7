"""Progress reporting that the core can call without knowing about the terminal.

Long jobs (synth, ingest, pipeline runs) take a `Progress` and call `task()` / `advance()`;
the CLI passes a rich progress bar, tests pass `NullProgress`.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Iterator

    from rich.progress import Progress as RichProgressBar


class Progress(Protocol):
    """What a long-running job reports: named tasks, each with an optional total."""

    def task(self, description: str, total: float | None = None) -> int: ...

    def advance(self, task_id: int, amount: float = 1) -> None: ...


class NullProgress:
    """Reports nothing: for tests and library use."""

    def task(self, description: str, total: float | None = None) -> int:
        return 0

    def advance(self, task_id: int, amount: float = 1) -> None:
        return None


class RichProgress:
    """A rich progress bar on stderr."""

    def __init__(self, bar: RichProgressBar) -> None:
        self._bar = bar

    def task(self, description: str, total: float | None = None) -> int:
        return int(self._bar.add_task(description, total=total))

    def advance(self, task_id: int, amount: float = 1) -> None:
        self._bar.advance(task_id, amount)  # type: ignore[arg-type]


@contextmanager
def rich_progress() -> Iterator[RichProgress]:
    """A progress bar for the terminal; transient so summaries print cleanly after it.

    rich's progress module is imported here, by the commands that show a bar, not by every
    `hoc` start-up (issue 16)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.progress import Progress as RichProgressBar

    bar = RichProgressBar(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with bar:
        yield RichProgress(bar)
