"""The plan's HTML printed to PDF by headless Chromium (Debian's, `scripts/setup`).

Chromium, not a second layout engine, so the PDF is the same document the board's HTML and
the commissioners' page show: the same inline SVG charts and tables, drawn by the browser the
browser tests use, with the page footer (area, run date, page x of y) from CSS `@page`
margin boxes. It runs with no network (`--disable-background-networking`, and the document's
CSP forbids every request), in a throw-away profile, and with `--no-sandbox` because it
prints only our own escaped document (and Chromium's sandbox cannot start as root or in most
containers). See docs/commissioning-plan-output.md.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Final

#: How long a print may take before it is abandoned (a whole plan takes about a second).
TIMEOUT_SECONDS: Final = 120


class PdfUnavailable(RuntimeError):
    """Chromium is missing or failed; the message says what to do. Nothing was written."""


def html_to_pdf(html: str, out: Path, *, chromium: Path) -> None:
    """Print `html` to the PDF file `out` (overwritten: the caller writes to a temporary name
    and renames it, so a failure leaves the last good plan)."""
    if not chromium.exists():
        raise PdfUnavailable(
            f"no Chromium at {chromium} to print the PDF: run `bash scripts/setup` (Debian's "
            "chromium) or set HOC_CHROMIUM; the HTML, XLSX and CSV need no browser"
        )
    with tempfile.TemporaryDirectory(prefix="hoc-plan-pdf-") as work:
        source = Path(work) / "plan.html"
        source.write_text(html, encoding="utf-8")
        command = [
            str(chromium),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-extensions",
            "--no-first-run",
            "--no-pdf-header-footer",
            f"--user-data-dir={Path(work) / 'profile'}",
            f"--print-to-pdf={out}",
            source.as_uri(),
        ]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False
            )
        except subprocess.TimeoutExpired:
            raise PdfUnavailable(f"Chromium did not print the PDF in {TIMEOUT_SECONDS} s") from None
        if done.returncode != 0 or not out.exists() or out.stat().st_size == 0:
            last = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise PdfUnavailable(f"Chromium could not print the PDF: {last}")
