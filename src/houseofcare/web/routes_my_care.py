"""My care plan's routes (issue 12): thin over `web/my_care.py`; declared in
`api/route_access.py`.

Two families of the same pages: `/me/…`, whose person is the signed-in user (no id in the
URL to change), and `/cared-for/{person_id}/…` for a carer the person gave proxy access to
(the id is checked for `self` or `proxy` only, refused and audited for anyone else). Every
POST checks the form's CSRF token before anything is read or written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from houseofcare.api.deps import ServicesDep
from houseofcare.api.inputs import parse_id
from houseofcare.web import my_care
from houseofcare.web.letter import PROMPTS
from houseofcare.web.my_care import MyCareRefused
from houseofcare.web.page import chrome, csrf_refused, form_token_ok, redirect, refused
from houseofcare.web.planning_forms import PERFORMER_WORDS
from houseofcare.web.referrals_page import your_referrals  # issue 13: referrals
from houseofcare.web.session import PageSession, page_session
from houseofcare.web.templates import render

router = APIRouter(include_in_schema=False, tags=["pages"])

SIGN_IN = "/sign-in"
#: The person's own pages (whose: the signed-in user) and a carer's (whose: the id, checked).
ME = "/me"
CARED_FOR = "/cared-for/{person_id}"
#: Each page under either base.
RESULTS = ""
TALK = "/talk-about"
PLAN = "/plan"
COMMENTS = "/plan/comments"
ACCESS_LOG = "/access-log"
CARERS = "/me/carers"
CARER_WITHDRAW = "/me/carers/{grant_id}/withdraw"


async def _form(request: Request) -> FormData:
    return await request.form()


FormDep = Annotated[FormData, Depends(_form)]


def _person(raw: str | None) -> int | None:
    """The person of the page: None for `/me` (the signed-in person); for `/cared-for/…`
    the id, or 0 for text that is no id (0 is nobody: refused and audited like any other
    person the user may not see, never read as "yourself")."""
    if raw is None:
        return None
    parsed = parse_id(raw)
    return 0 if parsed is None else parsed


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _context(
    request: Request, signed_in: PageSession, services: Any, subject: my_care.Subject, here: str
) -> dict[str, Any]:
    return {
        **chrome(request, signed_in, services),
        "active": "me",
        "subject": subject,
        "banner": subject.banner,
        "here": here,
        "performers": PERFORMER_WORDS,
        "prompts": PROMPTS,
    }


def _signed_in(request: Request, services: Any) -> PageSession | None:
    return page_session(request, services)


# --- Handlers, shared by both families -------------------------------------------------------


def _results(request: Request, services: Any, person_id: int | None) -> Response:
    signed_in = _signed_in(request, services)
    if signed_in is None:
        return redirect(SIGN_IN)
    try:
        page = my_care.results_page(services, signed_in, person_id)
    except MyCareRefused as exc:
        return refused(request, signed_in, services, str(exc))
    return render(
        "my_results.html",
        {
            **_context(request, signed_in, services, page.subject, "results"),
            "p": page,
            "run": page.run,
        },
    )


def _talk(request: Request, services: Any, person_id: int | None) -> Response:
    signed_in = _signed_in(request, services)
    if signed_in is None:
        return redirect(SIGN_IN)
    try:
        page = my_care.talk_page(services, signed_in, person_id)
    except MyCareRefused as exc:
        return refused(request, signed_in, services, str(exc))
    return render(
        "my_talk.html",
        {
            **_context(request, signed_in, services, page.subject, "talk"),
            "p": page,
            "saved": request.query_params.get("saved"),
        },
    )


def _send(
    request: Request,
    services: Any,
    person_id: int | None,
    form: FormData,
    *,
    field: str,
    resource_type: str,
    save: Callable[..., Any],
    done: str,
    template: str,
    here: str,
    shown: dict[str, Any] | None = None,
) -> Response:
    """A form of the person's pages sent: the CSRF token checked first, then `save`'s answer
    (None: saved, go to `done`; else the page again with its errors, nothing written)."""
    signed_in = _signed_in(request, services)
    if signed_in is None:
        return redirect(SIGN_IN)
    whose = signed_in.user.person_id if person_id is None else person_id
    if not form_token_ok(services, signed_in, form):
        return csrf_refused(request, signed_in, services, whose, resource_type)
    try:
        page = save(services, signed_in, _text(form, field), person_id)
    except MyCareRefused as exc:
        return refused(request, signed_in, services, str(exc))
    if page is None:
        return redirect(my_care.base_path(person_id) + done)
    return render(
        template,
        {
            **_context(request, signed_in, services, page.subject, here),
            "p": page,
            **(shown or {}),
            "errors": page.errors,
            "field_errors": dict(page.errors),
        },
        status=400,
    )


def _talk_save(request: Request, services: Any, person_id: int | None, form: FormData) -> Response:
    return _send(
        request,
        services,
        person_id,
        form,
        field="talk_about",
        resource_type="Preparation",
        save=my_care.save_talk,
        done=TALK + "?saved=1",
        template="my_talk.html",
        here="talk",
    )


def _plan(request: Request, services: Any, person_id: int | None) -> Response:
    signed_in = _signed_in(request, services)
    if signed_in is None:
        return redirect(SIGN_IN)
    try:
        page = my_care.plan_page(services, signed_in, person_id)
    except MyCareRefused as exc:
        return refused(request, signed_in, services, str(exc))
    return render(
        "my_plan.html",
        {
            **_context(request, signed_in, services, page.subject, "plan"),
            "p": page,
            "goal_words": my_care.GOAL_WORDS,
            "saved": request.query_params.get("saved"),
            # --- issue 13: referrals ("Your referrals", each read audited)
            "referrals": your_referrals(services, signed_in, page.subject.person_id),
        },
    )


def _comment(request: Request, services: Any, person_id: int | None, form: FormData) -> Response:
    return _send(
        request,
        services,
        person_id,
        form,
        field="comment",
        resource_type="CarePlan",
        save=my_care.save_comment,
        done=PLAN + "?saved=comment#comments",
        template="my_plan.html",
        here="plan",
        shown={"goal_words": my_care.GOAL_WORDS},
    )


def _access_log(request: Request, services: Any, person_id: int | None) -> Response:
    signed_in = _signed_in(request, services)
    if signed_in is None:
        return redirect(SIGN_IN)
    before = parse_id(request.query_params.get("before"))
    try:
        page = my_care.access_log_page(services, signed_in, person_id, before=before)
    except MyCareRefused as exc:
        return refused(request, signed_in, services, str(exc))
    return render(
        "my_access_log.html",
        {**_context(request, signed_in, services, page.subject, "access"), "p": page},
    )


# --- The routes: /me/… and /cared-for/{person_id}/… --------------------------------------------


def _both(method: str, suffix: str, handler: Callable[..., Response], *, form: bool) -> None:
    """Register `handler` at `/me{suffix}` and `/cared-for/{person_id}{suffix}`."""
    if form:

        def own_form(request: Request, services: ServicesDep, data: FormDep) -> Response:
            return handler(request, services, None, data)

        def carer_form(
            request: Request, services: ServicesDep, person_id: str, data: FormDep
        ) -> Response:
            return handler(request, services, _person(person_id), data)

        own, carer = own_form, carer_form
    else:

        def own_page(request: Request, services: ServicesDep) -> Response:
            return handler(request, services, None)

        def carer_page(request: Request, services: ServicesDep, person_id: str) -> Response:
            return handler(request, services, _person(person_id))

        own, carer = own_page, carer_page
    router.add_api_route(ME + suffix, own, methods=[method])
    router.add_api_route(CARED_FOR + suffix, carer, methods=[method])


_both("GET", RESULTS, _results, form=False)
_both("GET", TALK, _talk, form=False)
_both("POST", TALK, _talk_save, form=True)
_both("GET", PLAN, _plan, form=False)
_both("POST", COMMENTS, _comment, form=True)
_both("GET", ACCESS_LOG, _access_log, form=False)


# --- Carers: the person's own page only ---------------------------------------------------------


def _carers_render(
    request: Request, signed_in: PageSession, services: Any, page: my_care.CarersPage, status: int
) -> Response:
    return render(
        "my_carers.html",
        {
            **_context(request, signed_in, services, page.subject, "carers"),
            "p": page,
            "errors": page.errors,
            "field_errors": dict(page.errors),
            "saved": request.query_params.get("saved"),
        },
        status=status,
    )


@router.get(CARERS)
def carers(request: Request, services: ServicesDep) -> Response:
    """The carers the person gave access to, and the form to add one."""
    signed_in = _signed_in(request, services)
    if signed_in is None:
        return redirect(SIGN_IN)
    try:
        page = my_care.carers_page(services, signed_in)
    except MyCareRefused as exc:
        return refused(request, signed_in, services, str(exc))
    return _carers_render(request, signed_in, services, page, 200)


@router.post(CARERS)
def carer_add(request: Request, services: ServicesDep, form: FormDep) -> Response:
    """Give a carer access by their username."""
    signed_in = _signed_in(request, services)
    if signed_in is None:
        return redirect(SIGN_IN)
    if not form_token_ok(services, signed_in, form):
        return csrf_refused(request, signed_in, services, signed_in.user.person_id, "ProxyGrant")
    try:
        page = my_care.add_carer(services, signed_in, _text(form, "username"))
    except MyCareRefused as exc:
        return refused(request, signed_in, services, str(exc))
    if page is None:
        return redirect(CARERS + "?saved=added")
    return _carers_render(request, signed_in, services, page, 400)


@router.post(CARER_WITHDRAW)
def carer_withdraw(
    request: Request, services: ServicesDep, grant_id: str, form: FormDep
) -> Response:
    """Take back a carer's access."""
    signed_in = _signed_in(request, services)
    if signed_in is None:
        return redirect(SIGN_IN)
    if not form_token_ok(services, signed_in, form):
        return csrf_refused(request, signed_in, services, signed_in.user.person_id, "ProxyGrant")
    try:
        my_care.withdraw_carer(services, signed_in, parse_id(grant_id))
    except MyCareRefused as exc:
        return refused(request, signed_in, services, str(exc))
    return redirect(CARERS + "?saved=withdrawn")
