"""The caseload pages' routes (thin over `web/caseload.py`; declared in `api/route_access.py`).

`GET /caseload` shows the signed-in case manager's caseload and candidates; the two forms on
it post to `/caseload/assign` and `/caseload/release`, then come back (303) to the page,
which says what was done. A refused form (wrong CSRF token, a person who cannot be taken on,
a full caseload, no reason for a release) writes nothing and says why on the page.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from houseofcare.api.deps import ServicesDep
from houseofcare.careplan.caseload import CaseloadRefused
from houseofcare.careplan.guard import AccessRefused
from houseofcare.store.models import AuditOutcome
from houseofcare.web.caseload import caseload_view, release, take_on
from houseofcare.web.page import chrome, guard, redirect, refused
from houseofcare.web.security import csrf_ok
from houseofcare.web.session import PageSession, page_session
from houseofcare.web.templates import render

router = APIRouter(include_in_schema=False, tags=["pages"])

CASELOAD, ASSIGN, RELEASE = "/caseload", "/caseload/assign", "/caseload/release"
SIGN_IN = "/sign-in"
#: The answer to a refused form, by why it was refused.
_STATUS = {AuditOutcome.conflict: 409, AuditOutcome.denied: 400, AuditOutcome.invalid: 400}


def _page(
    request: Request,
    signed_in: PageSession,
    services: Any,
    *,
    status: int = 200,
    errors: list[tuple[str, str]] | None = None,
    done: str | None = None,
    form: dict[str, str] | None = None,
    candidates_from: int = 0,
) -> Response:
    try:
        view = caseload_view(services, signed_in, candidates_from)
    except AccessRefused as exc:
        return refused(request, signed_in, services, exc.reason)
    return render(
        "caseload.html",
        {
            **chrome(request, signed_in, services),
            "active": "caseload",
            "c": view,
            "errors": errors or [],
            "field_errors": dict(errors or []),
            "done": done,
            # what a refused release form had chosen, shown again
            "form": form or {},
        },
        status=status,
    )


@router.get(CASELOAD)
def caseload(
    request: Request,
    services: ServicesDep,
    added: str | None = None,
    released: str | None = None,
    candidates: str | None = None,
) -> Response:
    """The case manager's level 3 people, ranked by risk, hospital events first, and a page
    of candidates from `candidates` (a position in their ranking; audited)."""
    signed_in = page_session(request, services)
    if signed_in is None:
        return redirect(SIGN_IN)
    done = None
    if added is not None:
        done = "The person is now on your caseload."
    elif released is not None:
        done = "The person was released from your caseload."
    start = int(candidates) if candidates and candidates.isdigit() and len(candidates) < 7 else 0
    return _page(request, signed_in, services, done=done, candidates_from=start)


def _form_refused(request: Request, signed_in: PageSession, services: Any, what: str) -> Response:
    """A form without this session's CSRF token: refused, audited, nothing written."""
    guard(signed_in, services).audit_now(
        action=what,
        resource_type="CaseloadAssignment",
        outcome=AuditOutcome.denied,
        detail={"reason": "the form's CSRF token was missing or wrong"},
    )
    return refused(
        request,
        signed_in,
        services,
        "The form did not come from this page, or it had expired. Nothing was changed. "
        "Go back to your caseload and try again.",
    )


@router.post(ASSIGN)
def assign(
    request: Request,
    services: ServicesDep,
    person_id: Annotated[str, Form()] = "",
    csrf_token_sent: Annotated[str, Form(alias="csrf_token")] = "",
) -> Response:
    """Add a level 3 candidate to the signed-in case manager's caseload, within capacity."""
    signed_in = page_session(request, services)
    if signed_in is None:
        return redirect(SIGN_IN)
    if not csrf_ok(services.signing_key, signed_in.binding, csrf_token_sent):
        return _form_refused(request, signed_in, services, "create")
    try:
        take_on(services, signed_in, person_id)
    except AccessRefused as exc:
        return refused(request, signed_in, services, exc.reason)
    except CaseloadRefused as exc:
        return _page(
            request,
            signed_in,
            services,
            status=_STATUS.get(exc.outcome, 400),
            errors=[("candidates", exc.reason)],
        )
    return redirect(f"{CASELOAD}?added=1")


@router.post(RELEASE)
def release_person(
    request: Request,
    services: ServicesDep,
    person_id: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    csrf_token_sent: Annotated[str, Form(alias="csrf_token")] = "",
) -> Response:
    """Take someone off the signed-in case manager's caseload, with a reason."""
    signed_in = page_session(request, services)
    if signed_in is None:
        return redirect(SIGN_IN)
    if not csrf_ok(services.signing_key, signed_in.binding, csrf_token_sent):
        return _form_refused(request, signed_in, services, "update")
    try:
        release(services, signed_in, person_id, reason)
    except AccessRefused as exc:
        return refused(request, signed_in, services, exc.reason)
    except CaseloadRefused as exc:
        field = "release-person" if exc.field == "person_id" else "release-reason"
        return _page(
            request,
            signed_in,
            services,
            status=_STATUS.get(exc.outcome, 400),
            errors=[(field, exc.reason)],
            form={"person_id": person_id, "reason": reason},
        )
    return redirect(f"{CASELOAD}?released=1")
