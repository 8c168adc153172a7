"""The commissioners' page's routes (thin over `web/commissioning.py`; declared in
`api/route_access.py`).

`GET /commissioning?area=…`: the plan for everyone, a locality or a practice. The chooser is
a GET form, so the page works without JavaScript and an address can be shared; it names a
practice by its analytic id and a locality by its local authority, never a person. An area
there is not says so (400) and shows everyone's plan. `GET /commissioning/plan.{fmt}`: the
same plan as a file (html, pdf, xlsx, csv), each download audited as an export.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from starlette.responses import Response

from houseofcare.api.deps import ServicesDep
from houseofcare.careplan.guard import AccessRefused
from houseofcare.commissioning.plan_output import FORMATS, PdfUnavailable, plan_bytes
from houseofcare.web.commissioning import CommissioningView, commissioning_view
from houseofcare.web.page import chrome, redirect, refused
from houseofcare.web.security import PAGE_HEADERS
from houseofcare.web.session import page_session
from houseofcare.web.templates import render

router = APIRouter(include_in_schema=False, tags=["pages"])

COMMISSIONING, DOWNLOAD, SIGN_IN = "/commissioning", "/commissioning/plan.{fmt}", "/sign-in"


def _page(
    request: Request, services: ServicesDep, view: CommissioningView, *, status: int = 200
) -> Response:
    signed_in = page_session(request, services)
    return render(
        "commissioning.html",
        {
            **chrome(request, signed_in, services),
            "active": "commissioning",
            "p": view,
            "formats": [suffix.lstrip(".") for suffix in FORMATS],
            "errors": view.errors,
            "field_errors": dict(view.errors),
        },
        status=400 if view.errors else status,
    )


@router.get(COMMISSIONING)
def commissioning(request: Request, services: ServicesDep, area: str | None = None) -> Response:
    """The local commissioning plan from the latest run (audited)."""
    signed_in = page_session(request, services)
    if signed_in is None:
        return redirect(SIGN_IN)
    try:
        view = commissioning_view(services, signed_in, area)
    except AccessRefused as exc:
        return refused(request, signed_in, services, exc.reason)
    return _page(request, services, view)


@router.get(DOWNLOAD)
def download(
    request: Request, services: ServicesDep, fmt: str, area: str | None = None
) -> Response:
    """The plan as a file (audited as an export of that format)."""
    signed_in = page_session(request, services)
    if signed_in is None:
        return redirect(SIGN_IN)
    suffix = f".{fmt.lower()}"
    if suffix not in FORMATS:
        return Response("No such format: html, pdf, xlsx or csv", status_code=404,
                        headers=PAGE_HEADERS)  # fmt: skip
    try:
        view = commissioning_view(services, signed_in, area, audit_action="export", fmt=fmt)
    except AccessRefused as exc:
        return refused(request, signed_in, services, exc.reason)
    if view.errors:
        return _page(request, services, view)
    if view.plan is None:  # no run yet: nothing to download, and the page says why
        return _page(request, services, view, status=404)
    try:
        content = plan_bytes(view.plan, suffix, chromium=services.settings.chromium)
    except PdfUnavailable as exc:
        return render(
            "refused.html",
            {
                **chrome(request, signed_in, services),
                "title": "The PDF could not be made",
                "reason": f"{exc}. Download the HTML and print it, or try again later.",
            },
            status=503,
        )
    plan = view.plan
    name = re.sub(r"[^A-Za-z0-9]+", "-", plan.area.name).strip("-").lower() or "area"
    filename = f"commissioning-plan-{name}-{plan.run_date.isoformat()}{suffix}"
    return Response(
        content,
        media_type=FORMATS[suffix][1],
        headers={**PAGE_HEADERS, "Content-Disposition": f'attachment; filename="{filename}"'},
    )
