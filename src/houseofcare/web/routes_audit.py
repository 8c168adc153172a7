"""The audit pages' routes (thin over `web.audit_trail`; declared in `api/route_access.py`)."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from houseofcare.api.deps import ServicesDep
from houseofcare.careplan.guard import AccessRefused
from houseofcare.store.models import AuditOutcome
from houseofcare.web.audit_trail import ACTIONS, parse_filter, trail, trail_csv
from houseofcare.web.page import chrome, redirect, refused
from houseofcare.web.security import PAGE_HEADERS
from houseofcare.web.session import page_session
from houseofcare.web.templates import render

router = APIRouter(include_in_schema=False, tags=["pages"])

AUDIT, AUDIT_CSV = "/audit", "/audit/export.csv"


@router.get(AUDIT)
def audit_trail(request: Request, services: ServicesDep) -> Response:
    """The audit trail, newest first, filtered and paged (administrators; audited)."""
    signed_in = page_session(request, services)
    if signed_in is None:
        return redirect("/sign-in")
    filters = parse_filter(dict(request.query_params))
    try:
        shown = trail(services, signed_in, filters)
    except AccessRefused as exc:
        return refused(request, signed_in, services, exc.reason)
    params = filters.params()
    return render(
        "audit.html",
        {
            **chrome(request, signed_in, services),
            "active": "audit",
            "t": shown,
            "f": filters,
            "errors": list(filters.errors),
            "field_errors": dict(filters.errors),
            "actions": ACTIONS,
            "outcomes": [o.value for o in AuditOutcome],
            "query": urlencode(params),
            "older": None
            if shown.older_than is None
            else urlencode({**params, "before": shown.older_than}),
        },
        status=400 if filters.errors else 200,
    )


@router.get(AUDIT_CSV)
def audit_export(request: Request, services: ServicesDep) -> Response:
    """The filtered trail as CSV (administrators; audited as an export)."""
    signed_in = page_session(request, services)
    if signed_in is None:
        return redirect("/sign-in")
    filters = parse_filter(dict(request.query_params))
    try:
        text = trail_csv(services, signed_in, filters)
    except AccessRefused as exc:
        return refused(request, signed_in, services, exc.reason)
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={**PAGE_HEADERS, "Content-Disposition": 'attachment; filename="audit-trail.csv"'},
    )
