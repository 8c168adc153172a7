"""Rendering a page: our Jinja templates over the NHS.UK frontend macros, with the security
headers every page carries."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, Final

from jinja2 import ChainableUndefined, ChoiceLoader, Environment, FileSystemLoader, PackageLoader
from starlette.responses import HTMLResponse

from houseofcare import __version__
from houseofcare.web.person_banner import person_name
from houseofcare.web.security import CSRF_FIELD, PAGE_HEADERS

TEMPLATES: Final = Path(__file__).with_name("templates")
SERVICE_NAME: Final = "houseofcare"


@cache
def environment() -> Environment:
    """One Jinja environment: our templates first, then `nhsuk_frontend_jinja`'s macros.
    `ChainableUndefined` is what those macros expect for parameters left out.

    `auto_reload` is off: the templates ship inside the package and do not change while the
    app runs, and with it on Jinja stats every template and macro file a page imports on
    every render (hundreds of `stat` calls: a third of the caseload page's time)."""
    env = Environment(
        auto_reload=False,
        loader=ChoiceLoader(
            [FileSystemLoader(TEMPLATES), PackageLoader("nhsuk_frontend_jinja", "templates")]
        ),
        undefined=ChainableUndefined,
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["person_name"] = person_name
    return env


def render(
    name: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """The page `name` with `context`, and the page security headers."""
    html = (
        environment()
        .get_template(name)
        .render(service_name=SERVICE_NAME, version=__version__, csrf_field=CSRF_FIELD, **context)
    )
    return HTMLResponse(html, status_code=status, headers={**PAGE_HEADERS, **(headers or {})})
