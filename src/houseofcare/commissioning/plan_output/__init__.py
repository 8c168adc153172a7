"""The commissioning plan's outputs: HTML and PDF a board can read, XLSX and CSV for analysts
(issue 14; docs/commissioning-plan-output.md).

Each format lays out the same `CommissioningPlan` (`plan_model`) and computes no figure of its
own. The format is chosen by the file's suffix (`FORMATS`). Every file is written atomically:
to a temporary name in the same folder, then renamed over the old one, so an interrupted or
failed write leaves the previous plan whole (never half a plan a board might read).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Final

from houseofcare.commissioning.plan_output.pdf import PdfUnavailable
from houseofcare.progress import NullProgress

if TYPE_CHECKING:
    from houseofcare.commissioning.plan_model import CommissioningPlan
    from houseofcare.progress import Progress

#: A writer puts the plan into the (temporary) file it is given.
Writer = Callable[["CommissioningPlan", Path, Path], None]

DEFAULT_CHROMIUM: Final = Path("/usr/bin/chromium")


# Each writer imports its format's module when it writes, so `hoc` starts without openpyxl
# and the HTML templates (issue 16).
def _write_html(plan: CommissioningPlan, out: Path, chromium: Path) -> None:
    from houseofcare.commissioning.plan_output.html import plan_html

    out.write_text(plan_html(plan), encoding="utf-8")


def _write_pdf(plan: CommissioningPlan, out: Path, chromium: Path) -> None:
    from houseofcare.commissioning.plan_output.html import plan_html
    from houseofcare.commissioning.plan_output.pdf import html_to_pdf

    html_to_pdf(plan_html(plan), out, chromium=chromium)


def _write_xlsx(plan: CommissioningPlan, out: Path, chromium: Path) -> None:
    from houseofcare.commissioning.plan_output.xlsx import plan_xlsx

    out.write_bytes(plan_xlsx(plan))


def _write_csv(plan: CommissioningPlan, out: Path, chromium: Path) -> None:
    from houseofcare.commissioning.plan_output.long_csv import plan_csv

    out.write_bytes(plan_csv(plan))


#: File suffix → writer, and the media type the page's downloads are served with.
FORMATS: Final[dict[str, tuple[Writer, str]]] = {
    ".html": (_write_html, "text/html; charset=utf-8"),
    ".pdf": (_write_pdf, "application/pdf"),
    ".xlsx": (
        _write_xlsx,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    ".csv": (_write_csv, "text/csv; charset=utf-8"),
}


class UnknownFormat(ValueError):
    """The file's suffix names no format we write."""


def format_of(path: Path) -> str:
    """The format a file name asks for (its suffix), or UnknownFormat naming the choices."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise UnknownFormat(
            f"{path.name}: the file name must end in one of {', '.join(FORMATS)} "
            "(the suffix chooses the format)"
        )
    return suffix


def write_plan(
    plan: CommissioningPlan,
    path: Path,
    *,
    chromium: Path = DEFAULT_CHROMIUM,
    progress: Progress | None = None,
) -> Path:
    """Write the plan to `path` in the format its suffix names, atomically."""
    writer, _ = FORMATS[format_of(path)]
    progress = progress or NullProgress()
    task = progress.task(f"writing {path.name}", total=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        writer(plan, Path(temporary), chromium)
        # a temporary file is private (0600); the plan keeps the old file's mode, or 0644
        os.chmod(temporary, path.stat().st_mode & 0o777 if path.exists() else 0o644)
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    progress.advance(task)
    return path


def plan_bytes(plan: CommissioningPlan, suffix: str, *, chromium: Path = DEFAULT_CHROMIUM) -> bytes:
    """The plan in one format as bytes (the page's downloads), through the same writers."""
    writer, _ = FORMATS[suffix]
    with tempfile.TemporaryDirectory(prefix="hoc-plan-") as work:
        out = Path(work) / f"plan{suffix}"
        writer(plan, out, chromium)
        return out.read_bytes()


__all__ = [
    "FORMATS",
    "PdfUnavailable",
    "UnknownFormat",
    "format_of",
    "plan_bytes",
    "write_plan",
]
