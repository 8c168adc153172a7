"""The population page's route (thin over `web/population.py`; declared in
`api/route_access.py`).

`GET /population?practice=…&locality=…`: the filters are a GET form, so the page works
without JavaScript and an address can be shared; they name a practice by its analytic id and
a locality by its local authority's name, never a person. A filter that names no practice or
locality there is says so on the page (400) and shows everyone's figures.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from houseofcare.api.deps import ServicesDep
from houseofcare.careplan.guard import AccessRefused
from houseofcare.web.page import chrome, redirect, refused
from houseofcare.web.population import population_view
from houseofcare.web.session import page_session
from houseofcare.web.templates import render

router = APIRouter(include_in_schema=False, tags=["pages"])

POPULATION, SIGN_IN = "/population", "/sign-in"


@router.get(POPULATION)
def population(
    request: Request,
    services: ServicesDep,
    practice: str | None = None,
    locality: str | None = None,
) -> Response:
    """The population's disclosure-controlled figures from the latest run (audited)."""
    signed_in = page_session(request, services)
    if signed_in is None:
        return redirect(SIGN_IN)
    try:
        view = population_view(services, signed_in, practice, locality)
    except AccessRefused as exc:
        return refused(request, signed_in, services, exc.reason)
    return render(
        "population.html",
        {
            **chrome(request, signed_in, services),
            "active": "population",
            "p": view,
            "errors": view.errors,
            "field_errors": dict(view.errors),
        },
        status=400 if view.errors else 200,
    )
