"""The commissioners' page over real stores (a small synthetic population, ingested and run,
with the demo users and plans), through the app: the view and each download audited, an
area by locality, an unknown area, and a PDF that cannot be made (no Chromium) refused
plainly with nothing half-sent."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from test_api_support import page_sign_in
from tests.plan_fixture import RUN_DATE

from houseofcare.api.app import create_app
from houseofcare.ingest import ingest_paths
from houseofcare.pipeline import run_pipeline
from houseofcare.settings import Settings
from houseofcare.store.database import engine_for, session_factory
from houseofcare.store.demo import demo_password, seed_demo
from houseofcare.store.models import AuditEvent
from houseofcare.synth import generate_population


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("commissioning") / "hoc-data"
    settings = Settings(data_dir=folder)
    generate_population(patients=300, seed=9, as_of=RUN_DATE, out=folder / "synthetic")
    ingest_paths(paths=[folder / "synthetic"], settings=settings)
    run_pipeline(settings=settings, as_of=RUN_DATE)
    seed_demo(settings, people=60, plans=10)
    return folder


def _browser(settings: Settings, username: str) -> Iterator[TestClient]:
    with TestClient(create_app(settings), follow_redirects=False) as browser:
        answer = page_sign_in(browser, username, demo_password(username))
        assert answer.status_code == 303, answer.text
        yield browser


@pytest.fixture
def commissioner(data_dir: Path) -> Iterator[TestClient]:
    yield from _browser(Settings(data_dir=data_dir), "demo.commissioner")


def _events(data_dir: Path) -> list[AuditEvent]:
    engine = engine_for(Settings(data_dir=data_dir))
    try:
        with session_factory(engine)() as session:
            return list(
                session.scalars(
                    select(AuditEvent)
                    .where(AuditEvent.resource_type == "CommissioningPlan")
                    .order_by(AuditEvent.id)
                )
            )
    finally:
        engine.dispose()


def test_the_page_shows_the_plan_and_its_view_is_audited(
    commissioner: TestClient, data_dir: Path
) -> None:
    page = commissioner.get("/commissioning")
    assert page.status_code == 200, page.text
    assert "Commissioning plan" in page.text and "31 March 2026" in page.text
    assert page.text.count('class="hoc-plan-chart"') >= 1
    assert "Content-Security-Policy" in page.headers
    event = _events(data_dir)[-1]
    assert (event.username, event.action) == ("demo.commissioner", "search")
    assert event.detail is not None and event.detail["format"] == "page"
    assert event.detail["aggregate"] is True and event.detail["via"] == "pages"


def test_a_locality_is_chosen_by_name_and_a_download_is_that_areas(
    commissioner: TestClient, data_dir: Path
) -> None:
    page = commissioner.get("/commissioning").text
    locality = re.search(r'<option value="([^"]+)"[^>]*>\s*Locality: ', page)
    assert locality is not None
    name = locality.group(1)
    answer = commissioner.get("/commissioning/plan.csv", params={"area": name})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    disposition = answer.headers["content-disposition"]
    assert disposition == f'attachment; filename="commissioning-plan-{slug}-2026-03-31.csv"'
    rows = list(csv.reader(io.StringIO(answer.text)))
    assert all(r[0] == name and r[1] == "2026-03-31" for r in rows[1:])
    event = _events(data_dir)[-1]
    assert event.action == "export" and event.detail is not None
    assert event.detail["area"] == f"locality {name}" and event.detail["format"] == "csv"


def test_an_unknown_area_is_a_400_and_an_unknown_format_a_404(commissioner: TestClient) -> None:
    answer = commissioner.get("/commissioning", params={"area": "Nowhere-on-Sea"})
    assert answer.status_code == 400 and "Choose an area from the list" in answer.text
    assert commissioner.get("/commissioning/plan.docx").status_code == 404


def test_without_chromium_the_pdf_is_refused_plainly(data_dir: Path) -> None:
    settings = Settings(data_dir=data_dir, chromium=data_dir / "no-chromium")
    for browser in _browser(settings, "demo.commissioner"):
        answer = browser.get("/commissioning/plan.pdf")
        assert answer.status_code == 503
        assert answer.headers["content-type"].startswith("text/html")
        assert "The PDF could not be made" in answer.text and "HOC_CHROMIUM" in answer.text
        assert browser.get("/commissioning/plan.html").status_code == 200  # no browser needed
