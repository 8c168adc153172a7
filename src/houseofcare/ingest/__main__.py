"""`python -m houseofcare.ingest DATA_DIR PATH...`: ingest without the CLI's dependencies.

Prints one progress line per block on stderr, so scripts and tests can watch an ingest
advance (the interruption tests kill it mid-way and check the store did not change).
"""

from __future__ import annotations

import sys
from pathlib import Path

from houseofcare.ingest import ingest_paths
from houseofcare.settings import Settings


class _LineProgress:
    """Progress as plain stderr lines: `progress <bytes so far>`."""

    def __init__(self) -> None:
        self.done = 0.0

    def task(self, description: str, total: float | None = None) -> int:
        print(f"task {description} {total}", file=sys.stderr, flush=True)
        return 0

    def advance(self, task_id: int, amount: float = 1) -> None:
        self.done += amount
        print(f"progress {int(self.done)}", file=sys.stderr, flush=True)


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: python -m houseofcare.ingest DATA_DIR PATH...", file=sys.stderr)
        return 2
    settings = Settings(data_dir=Path(argv[0]))
    try:
        report = ingest_paths(
            paths=[Path(p) for p in argv[1:]], settings=settings, progress=_LineProgress()
        )
    except KeyboardInterrupt:
        print("interrupted: nothing was changed", file=sys.stderr, flush=True)
        return 130
    for rtype, counts in report.by_type.items():
        print(f"{rtype}: {counts}")
    for file, why in report.skipped_files:
        print(f"skipped {file}: {why}")
    return 1 if report.quarantined else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
