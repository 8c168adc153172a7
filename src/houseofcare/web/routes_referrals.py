"""The referral pages' routes (issue 13; thin over `web/referrals_page.py`, declared in
`api/route_access.py`): a person's referrals and the refer form, the receiving
organisation's inbox, and the social prescribing link worker's caseload.

Every POST checks the form's CSRF token before anything is read or written. A refused move,
a missing reason or a stale version shows the page again with the error (and, for a stale
version, the referral as it is now), having written nothing.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from houseofcare.api.deps import ServicesDep
from houseofcare.api.inputs import parse_id
from houseofcare.careplan.errors import CarePlanError, InvalidChange, NotFound, StaleVersion
from houseofcare.careplan.guard import AccessRefused
from houseofcare.selfcare import referrals, social_prescribing
from houseofcare.selfcare.referrals import ForbiddenMove, ServiceFull
from houseofcare.web import referrals_page
from houseofcare.web.page import chrome, csrf_refused, form_token_ok, guard, redirect, refused
from houseofcare.web.planning_forms import DOMAIN_WORDS, Errors
from houseofcare.web.runs import latest_run
from houseofcare.web.session import PageSession, page_session
from houseofcare.web.templates import render

router = APIRouter(include_in_schema=False, tags=["pages"])

SIGN_IN = "/sign-in"
PERSON = "/people/{person_id}/referrals"
NEW = "/people/{person_id}/referrals/new"
PERSON_MOVE = "/people/{person_id}/referrals/{referral_id}/move"
SOCIAL = "/people/{person_id}/social-prescribing"
INBOX = "/referrals/inbox"
INBOX_MOVE = "/referrals/inbox/{referral_id}"
CASELOAD = "/social-prescribing"
FOLLOW_UP = "/social-prescribing/{person_id}/follow-up"
NO_SUCH = "There is no such referral, or it is not one you can see."

SAVED_WORDS = {
    "sent": "Referral sent. It is on the person's care plan as an action, and in the "
    "receiving organisation's inbox.",
    "moved": "Saved. The referral's new status is on the person's care plan.",
    "social": "The person is on the link worker's caseload for social prescribing.",
    "follow-up": "Follow-up date saved.",
}


async def _form(request: Request) -> FormData:
    return await request.form()


FormDep = Annotated[FormData, Depends(_form)]


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _signed_in(request: Request, services: Any) -> PageSession | None:
    return page_session(request, services)


# --- A person's referrals -----------------------------------------------------------------


def _person_page(
    request: Request,
    services: Any,
    signed_in: PageSession,
    person_id: int,
    *,
    errors: Errors | None = None,
    status: int = 200,
    what_matters: str = "",
) -> Response:
    try:
        page = referrals_page.person_page(services, signed_in, person_id)
    except AccessRefused as exc:
        return refused(request, signed_in, services, str(exc))
    page.errors = errors or []
    page.what_matters = what_matters
    return render(
        "referrals_person.html",
        {
            **chrome(request, signed_in, services),
            "p": page,
            "run": page.run,
            "banner": page.banner,
            "saved": SAVED_WORDS.get(request.query_params.get("saved") or ""),
            "errors": page.errors,
            "field_errors": dict(page.errors),
            "domains": DOMAIN_WORDS,
        },
        status=status,
    )


@router.get(PERSON)
def person_referrals(request: Request, services: ServicesDep, person_id: str) -> Response:
    """A person's referrals and how each went (referral.read, each one audited)."""
    signed_in = _signed_in(request, services)
    if signed_in is None:
        return redirect(SIGN_IN)
    return _person_page(request, services, signed_in, parse_id(person_id) or 0)


def _refer_page(
    request: Request, services: Any, form: referrals_page.ReferForm, status: int = 200
) -> Response:
    signed_in = _signed_in(request, services)
    return render(
        "referral_new.html",
        {
            **chrome(request, signed_in, services),
            "f": form,
            "run": form.run,
            "banner": form.banner,
            "errors": form.errors,
            "field_errors": dict(form.errors),
            "domains": DOMAIN_WORDS,
        },
        status=status,
    )


@router.get(NEW)
def refer(
    request: Request, services: ServicesDep, person_id: str, service_id: str | None = None
) -> Response:
    """The refer form: confirm or choose the service (referral.write)."""
    signed_in = _signed_in(request, services)
    if signed_in is None:
        return redirect(SIGN_IN)
    pid = parse_id(person_id) or 0
    try:
        form = referrals_page.refer_form(
            services, signed_in, pid, parse_id(service_id) if service_id else None
        )
    except AccessRefused as exc:
        return refused(request, signed_in, services, str(exc))
    return _refer_page(request, services, form)


@router.post(NEW)
def refer_send(request: Request, services: ServicesDep, person_id: str, form: FormDep) -> Response:
    """Send the referral; refused with the errors (nothing written), or, when the service is
    full, refused with the unmet need recorded."""
    signed_in = _signed_in(request, services)
    if signed_in is None:
        return redirect(SIGN_IN)
    pid = parse_id(person_id) or 0
    if not form_token_ok(services, signed_in, form):
        return csrf_refused(request, signed_in, services, pid, "ServiceRequest")
    entered = {k: _text(form, k) for k in ("service_id", "need_domain", "reason", "action_id")}
    values, errors = referrals_page.parse_refer(entered)
    status = 400
    if not errors:
        try:
            referrals.send(guard(signed_in, services), person_id=pid, **values)
        except AccessRefused as exc:
            return refused(request, signed_in, services, str(exc))
        except ServiceFull as exc:
            errors, status = [("service_id", str(exc))], 409
        except InvalidChange as exc:
            errors = [(exc.field, str(exc).split(": ", 1)[-1])]
        else:
            return redirect(f"{PERSON.format(person_id=pid)}?saved=sent")
    service_id = values["service_id"] or None
    try:
        page = referrals_page.refer_form(services, signed_in, pid, service_id, entered=entered)
    except AccessRefused as exc:
        return refused(request, signed_in, services, str(exc))
    page.errors = errors
    return _refer_page(request, services, page, status=status)


def _move(
    request: Request,
    services: Any,
    signed_in: PageSession,
    referral_id: int,
    form: FormData,
) -> tuple[Errors, int] | None:
    """Make the move the form asks for: None when saved, else (errors, status)."""
    version = _text(form, "version")
    try:
        referrals.move(
            guard(signed_in, services),
            referral_id,
            _text(form, "to"),
            expected_version=int(version) if version.isdigit() else 0,
            note=_text(form, "note"),
        )
    except StaleVersion as exc:
        return [
            (
                f"referral-{referral_id}",
                f"Referral {referrals.reference(referral_id)} was changed by someone else "
                f"while you had it open (it is now at version {exc.current}). Nothing was "
                "saved: it is shown below as it is now; make your change again if it still "
                "applies.",
            )
        ], 409
    except InvalidChange as exc:
        to = _text(form, "to")
        return [(f"note-{referral_id}-{to}", str(exc).split(": ", 1)[-1])], 400
    except (ForbiddenMove, ServiceFull) as exc:
        return [(f"referral-{referral_id}", str(exc))], 409
    return None


@router.post(PERSON_MOVE)
def person_move(
    request: Request, services: ServicesDep, person_id: str, referral_id: str, form: FormDep
) -> Response:
    """The referrer's moves: withdraw (with a reason) or close (referral.write)."""
    signed_in = _signed_in(request, services)
    if signed_in is None:
        return redirect(SIGN_IN)
    pid = parse_id(person_id) or 0
    if not form_token_ok(services, signed_in, form):
        return csrf_refused(request, signed_in, services, pid, "ServiceRequest")
    rid = parse_id(referral_id) or 0
    try:
        owner = referrals.get_referral(guard(signed_in, services), rid)
        if owner.person is None or owner.person.person_id != pid:
            raise guard(signed_in, services).deny(
                NO_SUCH,
                action="update",
                resource_type="ServiceRequest",
                resource_id=rid,
                person_id=pid,
            )
        answer = _move(request, services, signed_in, rid, form)
    except AccessRefused as exc:
        return refused(request, signed_in, services, str(exc))
    except NotFound:
        return refused(request, signed_in, services, NO_SUCH)
    if answer is None:
        return redirect(f"{PERSON.format(person_id=pid)}?saved=moved")
    return _person_page(request, services, signed_in, pid, errors=answer[0], status=answer[1])


@router.post(SOCIAL)
def refer_social(
    request: Request, services: ServicesDep, person_id: str, form: FormDep
) -> Response:
    """Refer the person to social prescribing: onto a link worker's caseload, with what
    matters to them (referral.write)."""
    signed_in = _signed_in(request, services)
    if signed_in is None:
        return redirect(SIGN_IN)
    pid = parse_id(person_id) or 0
    if not form_token_ok(services, signed_in, form):
        return csrf_refused(request, signed_in, services, pid, "CaseloadAssignment")
    worker = _text(form, "link_worker_id")
    try:
        social_prescribing.refer_to_link_worker(
            guard(signed_in, services),
            person_id=pid,
            link_worker_id=int(worker) if worker.isdigit() else 0,
            what_matters=_text(form, "what_matters"),
        )
    except AccessRefused as exc:
        return refused(request, signed_in, services, str(exc))
    except InvalidChange as exc:
        return _person_page(
            request,
            services,
            signed_in,
            pid,
            errors=[(exc.field, str(exc).split(": ", 1)[-1])],
            status=400,
            what_matters=_text(form, "what_matters"),
        )
    return redirect(f"{PERSON.format(person_id=pid)}?saved=social")


# --- The receiving organisation's inbox ----------------------------------------------------


def _inbox(
    request: Request,
    services: Any,
    signed_in: PageSession,
    *,
    errors: Errors | None = None,
    status: int = 200,
) -> Response:
    try:
        shown = referrals_page.inbox_page(services, signed_in)
    except AccessRefused as exc:
        return refused(request, signed_in, services, str(exc))
    return render(
        "referrals_inbox.html",
        {
            **chrome(request, signed_in, services),
            "active": "inbox",
            "referrals": shown,
            "run": latest_run(services.settings),
            "saved": SAVED_WORDS.get(request.query_params.get("saved") or ""),
            "errors": errors or [],
            "field_errors": dict(errors or []),
            "domains": DOMAIN_WORDS,
        },
        status=status,
    )


@router.get(INBOX)
def inbox(request: Request, services: ServicesDep) -> Response:
    """Referrals to your organisation's services, newest first (referral.inbox)."""
    signed_in = _signed_in(request, services)
    if signed_in is None:
        return redirect(SIGN_IN)
    return _inbox(request, services, signed_in)


@router.post(INBOX_MOVE)
def inbox_move(
    request: Request, services: ServicesDep, referral_id: str, form: FormDep
) -> Response:
    """The receiver's moves: accept, decline (reason required), attended or did not attend
    (with the outcome), close (referral.receive)."""
    signed_in = _signed_in(request, services)
    if signed_in is None:
        return redirect(SIGN_IN)
    rid = parse_id(referral_id) or 0
    if not form_token_ok(services, signed_in, form):
        return csrf_refused(request, signed_in, services, 0, "ServiceRequest")
    try:
        answer = _move(request, services, signed_in, rid, form)
    except AccessRefused as exc:
        return refused(request, signed_in, services, str(exc))
    except NotFound:
        guard(signed_in, services).deny(
            NO_SUCH, action="update", resource_type="ServiceRequest", resource_id=rid
        )
        return refused(request, signed_in, services, NO_SUCH)
    except CarePlanError as exc:
        answer = ([(f"referral-{rid}", str(exc))], 409)
    if answer is None:
        return redirect(f"{INBOX}?saved=moved#referral-{rid}")
    return _inbox(request, services, signed_in, errors=answer[0], status=answer[1])


# --- The link worker's caseload ------------------------------------------------------------


def _caseload(
    request: Request,
    services: Any,
    signed_in: PageSession,
    *,
    errors: Errors | None = None,
    status: int = 200,
) -> Response:
    try:
        people = social_prescribing.caseload(guard(signed_in, services))
    except AccessRefused as exc:
        return refused(request, signed_in, services, str(exc))
    return render(
        "social_prescribing.html",
        {
            **chrome(request, signed_in, services),
            "active": "social-prescribing",
            "people": people,
            "run": latest_run(services.settings),
            "saved": SAVED_WORDS.get(request.query_params.get("saved") or ""),
            "errors": errors or [],
            "field_errors": dict(errors or []),
        },
        status=status,
    )


@router.get(CASELOAD)
def caseload(request: Request, services: ServicesDep) -> Response:
    """The link worker's people: declined or did not attend first (socialprescribing.read)."""
    signed_in = _signed_in(request, services)
    if signed_in is None:
        return redirect(SIGN_IN)
    return _caseload(request, services, signed_in)


@router.post(FOLLOW_UP)
def follow_up(request: Request, services: ServicesDep, person_id: str, form: FormDep) -> Response:
    """Set the date the link worker next contacts the person (referral.write)."""
    signed_in = _signed_in(request, services)
    if signed_in is None:
        return redirect(SIGN_IN)
    pid = parse_id(person_id) or 0
    if not form_token_ok(services, signed_in, form):
        return csrf_refused(request, signed_in, services, pid, "CaseloadAssignment")
    day, problem = referrals_page.follow_up_date(
        _text(form, "follow-up[day]"),
        _text(form, "follow-up[month]"),
        _text(form, "follow-up[year]"),
    )
    checks = guard(signed_in, services)
    if problem is not None:
        return _caseload(
            request, services, signed_in, errors=[(f"follow-up-{pid}-day", problem)], status=400
        )
    try:
        social_prescribing.set_follow_up(checks, person_id=pid, follow_up_on=day)
    except AccessRefused as exc:
        return refused(request, signed_in, services, str(exc))
    return redirect(f"{CASELOAD}?saved=follow-up#person-{pid}")
