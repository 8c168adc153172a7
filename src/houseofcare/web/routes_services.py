"""The directory's pages' routes (thin over `web/services_page.py`; declared in
`api/route_access.py` as open to every signed-in role): search, and one service."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from houseofcare.api.deps import ServicesDep
from houseofcare.web.page import chrome, redirect
from houseofcare.web.runs import latest_run
from houseofcare.web.services_page import DirectoryFilters, directory_search, service_view
from houseofcare.web.session import page_session
from houseofcare.web.templates import render

router = APIRouter(include_in_schema=False, tags=["pages"])

SEARCH = "/services"
SERVICE = "/services/{service_id}"


@router.get(SEARCH)
def search(request: Request, services: ServicesDep) -> Response:
    """The directory of services: search by words, need, place, kind and condition."""
    signed_in = page_session(request, services)
    if signed_in is None:
        return redirect("/sign-in")
    filters = DirectoryFilters.from_query(dict(request.query_params))
    with services.factory() as session:
        found = directory_search(session, filters)
    return render(
        "services.html",
        {
            **chrome(request, signed_in, services),
            "active": "services",
            "d": found,
            "run": latest_run(services.settings),
        },
    )


@router.get(SERVICE)
def service(request: Request, service_id: str, services: ServicesDep) -> Response:
    """One service: everything the directory holds, places left this month, how to get there."""
    signed_in = page_session(request, services)
    if signed_in is None:
        return redirect("/sign-in")
    view = None
    if service_id.isdigit() and len(service_id) < 12:
        with services.factory() as session:
            view = service_view(session, int(service_id))
    if view is None:
        return render(
            "refused.html",
            {
                **chrome(request, signed_in, services),
                "title": "Service not found",
                "reason": "There is no service at this address in the directory. "
                "It may have been removed by a newer import.",
            },
            status=404,
        )
    return render(
        "service.html",
        {
            **chrome(request, signed_in, services),
            "active": "services",
            "v": view,
            "run": latest_run(services.settings),
        },
    )
