"""The partners' pages' routes (thin over `web/partners_page.py`; declared in
`api/route_access.py`): the people who share their plan with the user's organisation type,
and one person's shared plan with the forms to add an action or a note.

A person the partner may not see (no consent in force, or no such person) gets one answer,
403 "You cannot see this page", so trying ids discloses nobody. Every POST checks the
form's CSRF token before anything is read or written.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from houseofcare.api.deps import ServicesDep
from houseofcare.api.inputs import parse_id
from houseofcare.web.page import chrome, csrf_refused, form_token_ok, redirect, refused
from houseofcare.web.partners_page import (
    PartnerRefused,
    PartnerView,
    add_action,
    add_note,
    partner_view,
    partners_list,
)
from houseofcare.web.planning_forms import DOMAIN_WORDS, PERFORMER_WORDS
from houseofcare.web.session import PageSession, page_session
from houseofcare.web.templates import render

router = APIRouter(include_in_schema=False, tags=["pages"])

LIST = "/partners"
PERSON = "/partners/people/{person_id}"
ACTIONS = "/partners/people/{person_id}/actions"
NOTES = "/partners/people/{person_id}/notes"
SAVED_WORDS = {
    "action": "Saved. Your action is on the person's care plan as a new version.",
    "note": "Saved. Your note is on the person's care plan.",
}


async def _form(request: Request) -> FormData:
    return await request.form()


FormDep = Annotated[FormData, Depends(_form)]


def _links(person_id: int) -> dict[str, str]:
    return {
        "person": PERSON.format(person_id=person_id),
        "actions": ACTIONS.format(person_id=person_id),
        "notes": NOTES.format(person_id=person_id),
    }


@router.get(LIST)
def people(request: Request, services: ServicesDep, start: str | None = None) -> Response:
    """Who shares their care plan with your kind of organisation, a page from `start` (each
    listed audited)."""
    signed_in = page_session(request, services)
    if signed_in is None:
        return redirect("/sign-in")
    first = int(start) if start and start.isdigit() and len(start) < 7 else 0
    try:
        shown = partners_list(services, signed_in, first)
    except PartnerRefused as exc:
        return refused(request, signed_in, services, str(exc))
    return render(
        "partners.html",
        {**chrome(request, signed_in, services), "active": "partners", "l": shown},
    )


def _show(
    request: Request,
    signed_in: PageSession,
    services: Any,
    view: PartnerView,
    *,
    saved: str | None = None,
    status: int = 200,
) -> Response:
    return render(
        "partner_person.html",
        {
            **chrome(request, signed_in, services),
            "active": "partners",
            "v": view,
            "links": _links(view.banner.person_id),
            "performers": PERFORMER_WORDS,
            "domains": DOMAIN_WORDS,
            "saved": SAVED_WORDS.get(saved or ""),
            "errors": view.errors,
            "field_errors": dict(view.errors),
        },
        status=status,
    )


@router.get(PERSON)
def person(request: Request, services: ServicesDep, person_id: str) -> Response:
    """One person's shared plan, as far as their consent allows (audited)."""
    signed_in = page_session(request, services)
    if signed_in is None:
        return redirect("/sign-in")
    try:
        view = partner_view(services, signed_in, parse_id(person_id))
    except PartnerRefused as exc:
        return refused(request, signed_in, services, str(exc))
    return _show(request, signed_in, services, view, saved=request.query_params.get("saved"))


def _post(
    request: Request, services: Any, person_id: str, form: FormData, write: Any, what: str
) -> Response:
    signed_in = page_session(request, services)
    if signed_in is None:
        return redirect("/sign-in")
    pid = parse_id(person_id)
    if not form_token_ok(services, signed_in, form):
        return csrf_refused(request, signed_in, services, pid, "CarePlan")
    try:
        answer = write(services, signed_in, pid, form)
    except PartnerRefused as exc:
        return refused(request, signed_in, services, str(exc))
    if answer.view is not None:
        return _show(request, signed_in, services, answer.view, status=400)
    return redirect(f"{PERSON.format(person_id=pid)}?saved={what}")


@router.post(ACTIONS)
def action(request: Request, services: ServicesDep, person_id: str, form: FormDep) -> Response:
    """Add an action you will do to the person's plan (careplan.action)."""
    return _post(request, services, person_id, form, add_action, "action")


@router.post(NOTES)
def note(request: Request, services: ServicesDep, person_id: str, form: FormDep) -> Response:
    """Add a note to the person's plan (careplan.comment)."""
    return _post(request, services, person_id, form, add_note, "note")
