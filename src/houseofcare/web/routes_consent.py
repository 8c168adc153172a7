"""The consent page's routes (thin over `web/consent_page.py`; declared in
`api/route_access.py`).

`/consent` is the person's own page: the person is the signed-in user, never an id in the
address, so there is nothing to change to reach someone else's. `/people/{person_id}/consent`
is the same page for a professional with the person, reached from the person page. Every
POST checks the form's CSRF token before anything is read or written.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from houseofcare.api.deps import ServicesDep
from houseofcare.api.inputs import parse_id
from houseofcare.careplan.guard import AccessRefused
from houseofcare.careplan.partners import ORGANISATION_WORDS
from houseofcare.web.consent_page import (
    ConsentPage,
    change_consent,
    consent_page,
    own_person,
)
from houseofcare.web.page import chrome, csrf_refused, form_token_ok, guard, redirect, refused
from houseofcare.web.session import PageSession, page_session
from houseofcare.web.templates import render

router = APIRouter(include_in_schema=False, tags=["pages"])

OWN = "/consent"
PERSON = "/people/{person_id}/consent"
SAVED_WORDS = {
    "given": "Saved. Your care plan is now shared as shown below.",
    "withdrawn": "Saved. Sharing has stopped: they can no longer see your care plan.",
}


async def _form(request: Request) -> FormData:
    return await request.form()


FormDep = Annotated[FormData, Depends(_form)]


def _person(signed_in: PageSession, services: Any, person_id: str) -> int:
    """The id in the address; anything else is nobody, refused (audited) like a stranger."""
    parsed = parse_id(person_id)
    if parsed is None:
        raise guard(signed_in, services).deny(
            "There is no person with this id.", action="read", resource_type="Consent"
        )
    return parsed


def _show(
    request: Request,
    signed_in: PageSession,
    services: Any,
    page: ConsentPage,
    action: str,
    *,
    saved: str | None = None,
    status: int = 200,
) -> Response:
    return render(
        "consent.html",
        {
            **chrome(request, signed_in, services),
            "p": page,
            "action": action,
            "organisation_words": ORGANISATION_WORDS,
            "saved": SAVED_WORDS.get(saved or ""),
            "errors": page.errors,
            "field_errors": dict(page.errors),
        },
        status=status,
    )


@router.get(OWN)
def own_consent(request: Request, services: ServicesDep) -> Response:
    """The person's own consents: who can see their care plan, and changing that."""
    signed_in = page_session(request, services)
    if signed_in is None:
        return redirect("/sign-in")
    try:
        person_id = own_person(services, signed_in)
        page = consent_page(services, signed_in, person_id, own=True)
    except AccessRefused as exc:
        return refused(request, signed_in, services, exc.reason)
    return _show(request, signed_in, services, page, OWN, saved=request.query_params.get("saved"))


@router.post(OWN)
def own_consent_change(request: Request, services: ServicesDep, form: FormDep) -> Response:
    """Give or withdraw the person's own consent."""
    signed_in = page_session(request, services)
    if signed_in is None:
        return redirect("/sign-in")
    if not form_token_ok(services, signed_in, form):
        return csrf_refused(request, signed_in, services, signed_in.actor.person_id, "Consent")
    try:
        person_id = own_person(services, signed_in)
        answer = change_consent(services, signed_in, person_id, form, own=True)
    except AccessRefused as exc:
        return refused(request, signed_in, services, exc.reason)
    if answer.page is not None:
        return _show(request, signed_in, services, answer.page, OWN, status=400)
    return redirect(f"{OWN}?saved={answer.outcome}")


@router.get(PERSON)
def person_consent(request: Request, services: ServicesDep, person_id: str) -> Response:
    """A person's consents, for a professional with them (consent.read; changes need
    consent.write)."""
    signed_in = page_session(request, services)
    if signed_in is None:
        return redirect("/sign-in")
    try:
        pid = _person(signed_in, services, person_id)
        page = consent_page(services, signed_in, pid, own=False)
    except AccessRefused as exc:
        return refused(request, signed_in, services, exc.reason)
    url = PERSON.format(person_id=pid)
    return _show(request, signed_in, services, page, url, saved=request.query_params.get("saved"))


@router.post(PERSON)
def person_consent_change(
    request: Request, services: ServicesDep, person_id: str, form: FormDep
) -> Response:
    """Give or withdraw a person's consent, with them."""
    signed_in = page_session(request, services)
    if signed_in is None:
        return redirect("/sign-in")
    if not form_token_ok(services, signed_in, form):
        return csrf_refused(request, signed_in, services, parse_id(person_id), "Consent")
    try:
        pid = _person(signed_in, services, person_id)
        answer = change_consent(services, signed_in, pid, form, own=False)
    except AccessRefused as exc:
        return refused(request, signed_in, services, exc.reason)
    url = PERSON.format(person_id=pid)
    if answer.page is not None:
        return _show(request, signed_in, services, answer.page, url, status=400)
    return redirect(f"{url}?saved={answer.outcome}")
