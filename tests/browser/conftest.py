"""Browser tests: the pages in Debian's headless Chromium, driven by Playwright for Python,
against a real `hoc serve` over real stores.

The stores are built as a newcomer's are: a small synthetic population (`hoc synth`), ingested
into DuckDB (`hoc ingest`), an admission-risk model (`hoc model train`, on a larger synthetic
population of its own: a model needs a few hundred admissions), two dated pipeline runs
(`hoc run`, an earlier one first) and the demo users and plans in SQLite (`hoc db seed-demo`).
The server is the real `hoc serve` command on a free port. Playwright's own browser download
cannot run here, so it launches /usr/bin/chromium (installed by `scripts/setup`); a missing
browser is a failure, never a skip.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from houseofcare.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "docs" / "screenshots"
AS_OF = dt.date(2026, 3, 31)
#: An earlier run, so pages can compare two runs (the caseload: who joined or left level 3,
#: who was in hospital since).
EARLIER_AS_OF = dt.date(2026, 1, 1)


@dataclass(frozen=True)
class Site:
    """The running service: its address and the project folder it serves."""

    url: str
    data_dir: Path

    @property
    def operational(self) -> Path:
        return self.data_dir / "operational.sqlite"


def _train_model(data_dir: Path) -> None:
    """`hoc model train` on a synthetic population of its own (the site's is too small to
    train on), saved where the site's runs look for it: so the runs score risk with reasons
    and place the highest-risk people at level 3 (case management)."""
    from houseofcare.engine import DuckDBEngine
    from houseofcare.ingest import ingest_paths
    from houseofcare.risk.model import train_model
    from houseofcare.store.analytic import connect
    from houseofcare.synth import generate_population

    training = data_dir.parent / "training"
    settings = Settings(data_dir=data_dir, analytic_db=training / "analytic.duckdb")
    generate_population(patients=1000, seed=11, as_of=AS_OF, out=training / "synthetic")
    ingest_paths(paths=[training / "synthetic"], settings=settings)
    con = connect(settings)
    try:
        train_model(DuckDBEngine(con), settings=settings, as_of=AS_OF)
    finally:
        con.close()


def _build_stores(data_dir: Path) -> None:
    """`hoc synth` → `hoc ingest` → `hoc model train` → `hoc run` (twice) →
    `hoc db seed-demo`, small and seeded."""
    from houseofcare.ingest import ingest_paths
    from houseofcare.pipeline import run_pipeline
    from houseofcare.store.demo import seed_demo
    from houseofcare.synth import generate_population

    settings = Settings(data_dir=data_dir)
    export = data_dir / "synthetic"
    generate_population(patients=120, seed=3, as_of=AS_OF, out=export)
    ingest_paths(paths=[export], settings=settings)
    _train_model(data_dir)
    run_pipeline(settings=settings, as_of=EARLIER_AS_OF)
    run_pipeline(settings=settings, as_of=AS_OF)
    seed_demo(settings, people=120, plans=20)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_until_up(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"hoc serve stopped:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"hoc serve did not answer in 120 s:\n{log.read_text()}")


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A real `hoc serve` over freshly built demo stores."""
    data_dir = tmp_path_factory.mktemp("browser") / "hoc-data"
    _build_stores(data_dir)
    port = _free_port()
    log = data_dir / "serve.log"
    env = {**os.environ, "HOC_DATA_DIR": str(data_dir)}
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "houseofcare.cli", "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, server, log)
        yield Site(url=url, data_dir=data_dir)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: run `bash scripts/setup`"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Tab:
    """One page in a fresh browser context, collecting what the console says about the
    Content-Security-Policy (a violation fails the test)."""

    def __init__(self, page: Page, site: Site) -> None:
        self.page = page
        self.site = site
        self.csp_violations: list[str] = []
        page.on("console", self._console)

    def _console(self, message: object) -> None:
        text = getattr(message, "text", "")
        if "Content Security Policy" in text:
            self.csp_violations.append(text)

    def open(self, path: str) -> Page:
        self.page.goto(self.site.url + path)
        return self.page

    def sign_in(self, username: str, password: str | None = None) -> Page:
        page = self.open("/sign-in")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password", exact=True).fill(password or f"{username}-2026")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()
        return page

    def accessible(self) -> None:
        """axe-core on the page as it is now: no serious or critical violations."""
        self.page.evaluate(AXE.read_text())
        result = self.page.evaluate(
            "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
            ".map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length}))"
        )
        serious = [v for v in result if v["impact"] in ("serious", "critical")]
        assert serious == [], serious

    def screenshot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def tab(browser: Browser, site: Site) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    opened = Tab(page, site)
    yield opened
    context.close()
    assert opened.csp_violations == [], opened.csp_violations
