"""The pages' security, through the real app over a real SQLite store: cookie flags, the
Content-Security-Policy, CSRF on every form, the sign-in throttle and audit.

The role × route matrix (`test_api_access.py`) proves who may open each page on SQLite and
PostgreSQL; the browser tests (`tests/browser/`) walk the pages in Chromium.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from houseofcare.api.app import create_app
from houseofcare.api.config import ApiSettings
from houseofcare.careplan.people import create_organisation, create_user
from houseofcare.settings import Settings
from houseofcare.store.database import make_engine, session_factory, transaction
from houseofcare.store.migrate import upgrade_engine
from houseofcare.store.models import ApiCredential, AuditEvent, AuditOutcome, Role
from houseofcare.web.security import CONTENT_SECURITY_POLICY

PASSWORD = "correct horse battery staple"
LIMITS = ApiSettings(
    sign_in_free_failures=2,
    sign_in_lock_failures=6,
    client_free_failures=50,
    client_lock_failures=60,
    sign_in_delay_seconds=30,
    audit_seal_seconds=0,
)


class Pages:
    """The app, its store and a way to open a fresh browser on it."""

    def __init__(self, app: object, factory: sessionmaker[Session]) -> None:
        self.app = app
        self.factory = factory

    def browser(self, *, https: bool = False) -> TestClient:
        base = "https://testserver" if https else "http://testserver"
        return TestClient(self.app, base_url=base, follow_redirects=False)  # type: ignore[arg-type]

    def count(self, model: type) -> int:
        with self.factory() as session:
            return session.scalar(select(func.count()).select_from(model)) or 0

    def events(self, action: str) -> list[AuditEvent]:
        with self.factory() as session:
            return list(
                session.scalars(
                    select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
                )
            )


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pages]:
    folder: Path = tmp_path_factory.mktemp("pages")
    url = f"sqlite:///{folder / 'operational.sqlite'}"
    engine = make_engine(url)
    upgrade_engine(engine)
    factory = session_factory(engine)
    with transaction(factory) as session:
        practice = create_organisation(session, ods_code="Y0009", name="P", type="practice")
        for name, role in (("p.gp", Role.gp), ("p.nurse", Role.nurse), ("p.locked", Role.gp)):
            create_user(
                session,
                username=name,
                password=PASSWORD,
                role=role,
                display_name=name,
                organisation_id=practice.id,
            )
    app = create_app(Settings(data_dir=folder / "hoc-data", database_url=url), api_settings=LIMITS)
    yield Pages(app, factory)
    app.state.services.engine.dispose()
    engine.dispose()


def token_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None, "no CSRF token on the page"
    return found.group(1)


def cookie_attributes(response: object, name: str) -> dict[str, str | bool]:
    for header in response.headers.get_list("set-cookie"):  # type: ignore[attr-defined]
        parsed = SimpleCookie()
        parsed.load(header)
        if name in parsed:
            morsel = parsed[name]
            return {key: morsel[key] for key in morsel if morsel[key]}
    raise AssertionError(f"no Set-Cookie for {name}")


def sign_in(browser: TestClient, username: str, password: str = PASSWORD) -> object:
    form = browser.get("/sign-in")
    return browser.post(
        "/sign-in",
        data={"username": username, "password": password, "csrf_token": token_of(form.text)},
    )


def test_a_visitor_is_sent_to_sign_in(pages: Pages) -> None:
    answer = pages.browser().get("/")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/sign-in"


def test_every_page_carries_the_csp_and_no_inline_script(pages: Pages) -> None:
    browser = pages.browser()
    sign_in_page = browser.get("/sign-in")
    assert sign_in(browser, "p.gp").status_code == 303  # type: ignore[attr-defined]
    home = browser.get("/")
    for page in (sign_in_page, home):
        assert page.status_code == 200
        assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert "'unsafe-inline'" not in page.headers["content-security-policy"]
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["cache-control"] == "no-store"
        scripts = re.findall(r"<script[^>]*>", page.text)
        assert scripts, "the page loads its script"
        assert all(" src=" in tag for tag in scripts), scripts
        assert " style=" not in page.text
        assert "Skip to main content" in page.text
    # the API's own docs keep their own headers (Swagger UI loads its scripts elsewhere)
    assert "content-security-policy" not in browser.get("/docs").headers


def test_the_session_cookie_is_httponly_and_lax_and_secure_over_https(pages: Pages) -> None:
    plain = sign_in(pages.browser(), "p.gp")
    flags = cookie_attributes(plain, "hoc_session")
    assert flags["httponly"] is True
    assert str(flags["samesite"]).lower() == "lax"
    assert "secure" not in flags
    secure = sign_in(pages.browser(https=True), "p.gp")
    assert cookie_attributes(secure, "hoc_session")["secure"] is True
    pre = pages.browser(https=True).get("/sign-in")
    assert cookie_attributes(pre, "hoc_csrf")["httponly"] is True
    assert cookie_attributes(pre, "hoc_csrf")["secure"] is True


def test_sign_in_without_the_form_s_token_is_refused_and_writes_nothing(pages: Pages) -> None:
    browser = pages.browser()
    browser.get("/sign-in")
    credentials, logins = pages.count(ApiCredential), len(pages.events("login"))
    for sent in ({}, {"csrf_token": "forged"}):
        answer = browser.post("/sign-in", data={"username": "p.gp", "password": PASSWORD, **sent})
        assert answer.status_code == 403
        assert "There is a problem" in answer.text
        assert "hoc_session" not in answer.headers.get("set-cookie", "")
    # a token from another browser's form does not fit this browser's cookie
    other = token_of(pages.browser().get("/sign-in").text)
    answer = browser.post(
        "/sign-in", data={"username": "p.gp", "password": PASSWORD, "csrf_token": other}
    )
    assert answer.status_code == 403
    assert pages.count(ApiCredential) == credentials
    assert len(pages.events("login")) == logins


def test_a_wrong_password_shows_the_error_summary_and_makes_no_session(pages: Pages) -> None:
    browser = pages.browser()
    credentials = pages.count(ApiCredential)
    answer = sign_in(browser, "p.nurse", "wrong")
    assert answer.status_code == 401  # type: ignore[attr-defined]
    text = answer.text  # type: ignore[attr-defined]
    assert "nhsuk-error-summary" in text
    assert "The username or password is not correct" in text
    assert '<a href="#username">' in text
    assert "<title>Error: Sign in" in text
    assert "hoc_session" not in answer.headers.get("set-cookie", "")  # type: ignore[attr-defined]
    assert pages.count(ApiCredential) == credentials
    failed = pages.events("login")[-1]
    assert failed.outcome is AuditOutcome.denied
    assert failed.username == "p.nurse"


def test_an_empty_form_names_each_field(pages: Pages) -> None:
    browser = pages.browser()
    form = browser.get("/sign-in")
    answer = browser.post("/sign-in", data={"csrf_token": token_of(form.text)})
    assert answer.status_code == 400
    assert "Enter your username" in answer.text
    assert "Enter your password" in answer.text
    assert '<a href="#password">' in answer.text


def test_the_sign_in_throttle_applies_to_the_pages(pages: Pages) -> None:
    browser = pages.browser()
    for _ in range(LIMITS.sign_in_free_failures):
        assert sign_in(browser, "p.locked", "wrong").status_code == 401  # type: ignore[attr-defined]
    credentials = pages.count(ApiCredential)
    refused = sign_in(browser, "p.locked", PASSWORD)
    assert refused.status_code == 429  # type: ignore[attr-defined]
    assert "Too many failed sign-ins" in refused.text  # type: ignore[attr-defined]
    assert int(refused.headers["retry-after"]) > 0  # type: ignore[attr-defined]
    assert pages.count(ApiCredential) == credentials


def test_sign_out_needs_the_session_s_token_then_revokes_it_at_once(pages: Pages) -> None:
    browser = pages.browser()
    assert sign_in(browser, "p.gp").status_code == 303  # type: ignore[attr-defined]
    home = browser.get("/")
    assert "Sign out" in home.text
    stolen = browser.cookies.get("hoc_session")
    refused = browser.post("/sign-out", data={})
    assert refused.status_code == 403
    assert pages.events("logout")[-1].outcome is AuditOutcome.denied
    forged = browser.post(
        "/sign-out", data={"csrf_token": token_of(pages.browser().get("/sign-in").text)}
    )
    assert forged.status_code == 403
    assert browser.get("/").status_code == 200, "a refused sign-out leaves the user signed in"
    done = browser.post("/sign-out", data={"csrf_token": token_of(home.text)})
    assert done.status_code == 303
    assert done.headers["location"] == "/sign-in?signed-out=1"
    assert pages.events("logout")[-1].outcome is AuditOutcome.success
    assert pages.events("logout")[-1].username == "p.gp"
    assert "You have signed out" in browser.get("/sign-in?signed-out=1").text
    replay = pages.browser()
    replay.cookies.set("hoc_session", stolen or "")
    assert replay.get("/").status_code == 303, "the old cookie no longer signs anyone in"


def test_a_tampered_cookie_is_nobody(pages: Pages) -> None:
    browser = pages.browser()
    browser.cookies.set("hoc_session", "made-up.value")
    assert browser.get("/").status_code == 303


def test_an_api_change_with_the_page_cookie_needs_the_csrf_token(pages: Pages) -> None:
    """The API accepts the page session cookie too: a change made with it (here, signing out
    through the API) needs the session's CSRF token in X-CSRF-Token; bearer tokens do not."""
    browser = pages.browser()
    assert sign_in(browser, "p.gp").status_code == 303  # type: ignore[attr-defined]
    token = token_of(browser.get("/").text)
    refused = browser.post("/auth/logout")
    assert refused.status_code == 403
    assert "X-CSRF-Token" in refused.json()["issue"][0]["diagnostics"]
    assert browser.get("/auth/me").status_code == 200, "still signed in"
    assert browser.post("/auth/logout", headers={"X-CSRF-Token": "forged"}).status_code == 403
    assert browser.post("/auth/logout", headers={"X-CSRF-Token": token}).status_code == 200
    assert browser.get("/auth/me").status_code == 401


def test_without_a_pipeline_run_the_home_page_says_so(pages: Pages) -> None:
    browser = pages.browser()
    assert sign_in(browser, "p.nurse").status_code == 303  # type: ignore[attr-defined]
    home = browser.get("/")
    assert "No figures yet" in home.text
    assert "There is no analytic store yet" in home.text
    assert "Practice nurse" in home.text
