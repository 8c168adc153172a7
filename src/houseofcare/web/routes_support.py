"""The "Suggest support" page's routes (thin over `web/support_page.py`; declared in
`api/route_access.py`).

`/people/{person_id}/support` shows the person's needs, goals, activation and preferences and
the services suggested for them; its three forms post to their own addresses, each decided
by its own action. Every POST checks the form's CSRF token before anything is read or
written, and answers with a redirect back to the page (or the page again with its mistake).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from houseofcare.api.deps import ServicesDep
from houseofcare.api.inputs import parse_id
from houseofcare.careplan.guard import AccessRefused
from houseofcare.web.page import chrome, csrf_refused, form_token_ok, guard, redirect, refused
from houseofcare.web.session import PageSession, page_session
from houseofcare.web.support_page import (
    RT,
    SAVED_WORDS,
    SupportAnswer,
    SupportPage,
    record_activation,
    record_unmet,
    save_preferences,
    support_page,
    template_context,
)
from houseofcare.web.templates import render

router = APIRouter(include_in_schema=False, tags=["pages"])

PAGE = "/people/{person_id}/support"
ACTIVATION = PAGE + "/activation"
PREFERENCES = PAGE + "/preferences"
UNMET = PAGE + "/unmet"


async def _form(request: Request) -> FormData:
    return await request.form()


FormDep = Annotated[FormData, Depends(_form)]


def _person(signed_in: PageSession, services: Any, person_id: str, what: str) -> int:
    """The id in the address; anything else is nobody, refused (audited) like a stranger."""
    parsed = parse_id(person_id)
    if parsed is None:
        raise guard(signed_in, services).deny(
            "There is no person with this id.", action="read", resource_type=what
        )
    return parsed


def _show(
    request: Request,
    signed_in: PageSession,
    services: Any,
    page: SupportPage,
    *,
    saved: str | None = None,
    status: int = 200,
) -> Response:
    return render(
        "support.html",
        {
            **chrome(request, signed_in, services),
            **template_context(page),
            "run": page.run,
            "saved": SAVED_WORDS.get(saved or ""),
            "errors": page.errors,
            "field_errors": dict(page.errors),
        },
        status=status,
    )


@router.get(PAGE)
def suggest_support(request: Request, services: ServicesDep, person_id: str) -> Response:
    """The services that suit the person, ranked, with why (support.suggest)."""
    signed_in = page_session(request, services)
    if signed_in is None:
        return redirect("/sign-in")
    try:
        pid = _person(signed_in, services, person_id, RT)
        page = support_page(services, signed_in, pid)
    except AccessRefused as exc:
        return refused(request, signed_in, services, exc.reason)
    return _show(request, signed_in, services, page, saved=request.query_params.get("saved"))


def _post(
    request: Request,
    services: Any,
    person_id: str,
    form: FormData,
    what: str,
    work: Callable[[Any, PageSession, int, FormData], SupportAnswer],
) -> Response:
    signed_in = page_session(request, services)
    if signed_in is None:
        return redirect("/sign-in")
    if not form_token_ok(services, signed_in, form):
        return csrf_refused(request, signed_in, services, parse_id(person_id), what)
    try:
        pid = _person(signed_in, services, person_id, what)
        answer = work(services, signed_in, pid, form)
    except AccessRefused as exc:
        return refused(request, signed_in, services, exc.reason)
    if answer.page is not None:
        return _show(request, signed_in, services, answer.page, status=400)
    return redirect(f"{PAGE.format(person_id=pid)}?saved={answer.outcome}")


@router.post(ACTIVATION)
def activation(request: Request, services: ServicesDep, person_id: str, form: FormDep) -> Response:
    """Record the person's activation score (activation.write)."""
    return _post(request, services, person_id, form, "Activation", record_activation)


@router.post(PREFERENCES)
def preferences(request: Request, services: ServicesDep, person_id: str, form: FormDep) -> Response:
    """Save the person's support preferences (preference.write)."""
    return _post(request, services, person_id, form, "SupportPreference", save_preferences)


@router.post(UNMET)
def unmet(request: Request, services: ServicesDep, person_id: str, form: FormDep) -> Response:
    """Record a need that found no suitable service (unmet.write)."""
    return _post(request, services, person_id, form, "UnmetNeed", record_unmet)
