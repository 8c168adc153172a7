"""The audit pages' routes (thin over `web.audit_trail`; declared in `api/route_access.py`)."""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from markupsafe import Markup
from starlette.responses import Response

from houseofcare.api.deps import ServicesDep
from houseofcare.careplan.guard import AccessRefused
from houseofcare.nhs_number import InvalidNHSNumber
from houseofcare.store.models import AuditOutcome
from houseofcare.web.audit_trail import (
    ACTIONS,
    PersonNotFound,
    TrailFilter,
    find_person,
    parse_filter,
    trail,
    trail_csv,
)
from houseofcare.web.page import chrome, guard, redirect, refused
from houseofcare.web.security import PAGE_HEADERS, csrf_ok
from houseofcare.web.session import PageSession, page_session
from houseofcare.web.templates import environment, render

router = APIRouter(include_in_schema=False, tags=["pages"])

AUDIT, AUDIT_CSV, AUDIT_PERSON = "/audit", "/audit/export.csv", "/audit/person"


@lru_cache(maxsize=256)
def _filter_form(filters: TrailFilter) -> Markup:
    """The filter form for these filters and their errors (the same for every reader)."""
    return Markup(
        environment()
        .get_template("audit_filters.html")
        .render(
            f=filters,
            field_errors=dict(filters.errors),
            actions=ACTIONS,
            outcomes=[o.value for o in AuditOutcome],
            query=urlencode(filters.params()),
        )
    )


@lru_cache(maxsize=16)
def _lookup_fields(error: str | None) -> Markup:
    """The NHS number lookup's field and button (its CSRF token is added by the page)."""
    errors = {"nhs_number": error} if error else {}
    return Markup(environment().get_template("audit_lookup.html").render(field_errors=errors))


def _trail_page(
    request: Request,
    services: Any,
    signed_in: PageSession,
    filters: TrailFilter,
    *,
    lookup_error: str | None = None,
) -> Response:
    try:
        shown = trail(services, signed_in, filters)
    except AccessRefused as exc:
        return refused(request, signed_in, services, exc.reason)
    params = filters.params()
    errors = list(filters.errors)
    if lookup_error:
        errors.append(("nhs_number", lookup_error))
    return render(
        "audit.html",
        {
            **chrome(request, signed_in, services),
            "active": "audit",
            "t": shown,
            "f": filters,
            "errors": errors,
            "field_errors": dict(errors),
            "filter_form": _filter_form(replace(filters, before_id=None)),
            "lookup_fields": _lookup_fields(lookup_error),
            "query": urlencode(params),
            "older": None
            if shown.older_than is None
            else urlencode({**params, "before": shown.older_than}),
        },
        status=400 if errors else 200,
    )


@router.get(AUDIT)
def audit_trail(request: Request, services: ServicesDep) -> Response:
    """The audit trail, newest first, filtered and paged (administrators; audited)."""
    signed_in = page_session(request, services)
    if signed_in is None:
        return redirect("/sign-in")
    return _trail_page(request, services, signed_in, parse_filter(dict(request.query_params)))


@router.post(AUDIT_PERSON)
def audit_find_person(
    request: Request,
    services: ServicesDep,
    nhs_number: Annotated[str, Form()] = "",
    csrf_token_sent: Annotated[str, Form(alias="csrf_token")] = "",
) -> Response:
    """An NHS number, sent by POST, to the trail filtered on that person's id (the number
    never enters a URL). Needs the page's CSRF token; refused forms write nothing but the
    refusal's audit event."""
    signed_in = page_session(request, services)
    if signed_in is None:
        return redirect("/sign-in")
    if not csrf_ok(services.signing_key, signed_in.binding, csrf_token_sent):
        guard(signed_in, services).audit_now(
            action="search",
            resource_type="AuditEvent",
            outcome=AuditOutcome.denied,
            detail={"reason": "the form's CSRF token was missing or wrong"},
        )
        return render(
            "refused.html",
            {
                **chrome(request, signed_in, services),
                "title": "The form could not be sent",
                "reason": "The form did not come from this page, or it had expired. "
                "Go back and try again.",
            },
            status=403,
        )
    typed = nhs_number.strip()
    try:
        if not typed:
            raise InvalidNHSNumber("Enter the person's NHS number")
        person_id = find_person(services, signed_in, typed)
    except AccessRefused as exc:
        return refused(request, signed_in, services, exc.reason)
    except InvalidNHSNumber:
        message = (
            "Enter the person's NHS number"
            if not typed
            else "Enter a valid NHS number: 10 digits, like 943 476 5919"
        )
        return _trail_page(request, services, signed_in, TrailFilter(), lookup_error=message)
    except PersonNotFound as exc:
        return _trail_page(request, services, signed_in, TrailFilter(), lookup_error=str(exc))
    return redirect(f"{AUDIT}?{urlencode({'person': person_id})}")


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
