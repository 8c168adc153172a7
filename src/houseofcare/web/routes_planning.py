"""The care-planning pages' routes (thin over `web/planning.py`; declared in
`api/route_access.py`): the plan, the Year of Care results letter (page, print and PDF), the
care-planning conversation, the review and the plan's history.

URLs carry only the operational person id. Every POST checks the form's CSRF token before
anything is read or written; a refused token is audited and writes nothing.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from houseofcare.api.deps import ServicesDep
from houseofcare.careplan.measures import packaged_measures
from houseofcare.web.letter import PROMPTS
from houseofcare.web.page import chrome, csrf_refused, form_token_ok, redirect, refused
from houseofcare.web.planning import (
    FormAnswer,
    PlanningRefused,
    form_page,
    history_page,
    letter_file,
    mark_sent,
    plan_page,
    preparation_page,
    prepare_letter,
    save_conversation,
    save_review,
)
from houseofcare.web.planning_forms import (
    DOMAIN_WORDS,
    OTHER_MEASURE,
    PERFORMER_WORDS,
    ConversationEntries,
    ReviewEntries,
)
from houseofcare.web.security import PAGE_HEADERS
from houseofcare.web.session import PageSession, page_session
from houseofcare.web.templates import render

router = APIRouter(include_in_schema=False, tags=["pages"])

PLAN = "/people/{person_id}/plan"
HISTORY = "/people/{person_id}/plan/history"
CONVERSATION = "/people/{person_id}/plan/conversation"
REVIEW = "/people/{person_id}/plan/review"
PREPARATION = "/people/{person_id}/preparation"
SENT = "/people/{person_id}/preparation/sent"
LETTER_PDF = "/people/{person_id}/preparation/letter.pdf"


async def _form(request: Request) -> FormData:
    """The posted form, read whole (the conversation form's rows are numbered fields)."""
    return await request.form()


FormDep = Annotated[FormData, Depends(_form)]


def _links(person_id: int) -> dict[str, str]:
    return {
        "plan": PLAN.format(person_id=person_id),
        "history": HISTORY.format(person_id=person_id),
        "conversation": CONVERSATION.format(person_id=person_id),
        "review": REVIEW.format(person_id=person_id),
        "preparation": PREPARATION.format(person_id=person_id),
        "sent": SENT.format(person_id=person_id),
        "letter_pdf": LETTER_PDF.format(person_id=person_id),
    }


def _context(request: Request, signed_in: PageSession, services: Any, person_id: int) -> dict:
    """The layout's context, the care-planning links and the words for the store's codes."""
    return {
        **chrome(request, signed_in, services),
        "links": _links(person_id),
        "performers": PERFORMER_WORDS,
        "domains": DOMAIN_WORDS,
        "prompts": PROMPTS,
    }


@router.get(PLAN)
def plan(request: Request, services: ServicesDep, person_id: int) -> Response:
    """The person's plan now: goals, actions, needs, review date, who took part, agreed."""
    signed_in = page_session(request, services)
    if signed_in is None:
        return redirect("/sign-in")
    try:
        shown = plan_page(services, signed_in, person_id)
    except PlanningRefused as exc:
        return refused(request, signed_in, services, str(exc))
    saved = request.query_params.get("saved")
    return render(
        "planning_plan.html",
        {**_context(request, signed_in, services, person_id), "p": shown, "saved": saved},
    )


@router.get(HISTORY)
def history(request: Request, services: ServicesDep, person_id: int) -> Response:
    """Every version of the plan with what changed, who and when."""
    signed_in = page_session(request, services)
    if signed_in is None:
        return redirect("/sign-in")
    try:
        shown = history_page(services, signed_in, person_id)
    except PlanningRefused as exc:
        return refused(request, signed_in, services, str(exc))
    return render(
        "planning_history.html",
        {**_context(request, signed_in, services, person_id), "p": shown},
    )


def _form_answer_page(
    template: str,
    request: Request,
    signed_in: PageSession,
    services: Any,
    person_id: int,
    answer: FormAnswer,
    entries: ConversationEntries | ReviewEntries,
    status: int,
    **extra: Any,
) -> Response:
    """An edit form as opened or answered (400 with its mistakes, 409 when stale)."""
    if answer.outcome == "stale" and answer.page.plan is not None:
        # the form now stands on the plan as it is: sending it again is a deliberate choice
        entries.version = answer.page.plan.version
    return render(
        template,
        {
            **_context(request, signed_in, services, person_id),
            "p": answer.page,
            "e": entries,
            "errors": answer.errors,
            "field_errors": dict(answer.errors),
            "changes": answer.changes,
            "stale": answer.outcome == "stale",
            **extra,
        },
        status=status,
    )


def _conversation_page(
    request: Request,
    signed_in: PageSession,
    services: Any,
    person_id: int,
    answer: FormAnswer,
    entries: ConversationEntries,
    status: int,
) -> Response:
    return _form_answer_page(
        "planning_conversation.html",
        request,
        signed_in,
        services,
        person_id,
        answer,
        entries,
        status,
        measures=packaged_measures(),
        other_measure=OTHER_MEASURE,
    )


@router.get(CONVERSATION)
def conversation_form(request: Request, services: ServicesDep, person_id: int) -> Response:
    """The care-planning conversation form, opened at the plan's version now."""
    signed_in = page_session(request, services)
    if signed_in is None:
        return redirect("/sign-in")
    try:
        shown = form_page(services, signed_in, person_id)
    except PlanningRefused as exc:
        return refused(request, signed_in, services, str(exc))
    entries = ConversationEntries(version=0 if shown.plan is None else shown.plan.version)
    answer = FormAnswer("open", shown)
    return _conversation_page(request, signed_in, services, person_id, answer, entries, 200)


@router.post(CONVERSATION)
def conversation_submit(
    request: Request, services: ServicesDep, person_id: int, form: FormDep
) -> Response:
    """Record the conversation (all or nothing): 303 to the plan; 400 with every mistake
    named; 409 with what changed when someone else saved first."""
    signed_in = page_session(request, services)
    if signed_in is None:
        return redirect("/sign-in")
    if not form_token_ok(services, signed_in, form):
        return csrf_refused(request, signed_in, services, person_id, "CarePlan")
    try:
        answer, entries = save_conversation(services, signed_in, person_id, form)
    except PlanningRefused as exc:
        return refused(request, signed_in, services, str(exc))
    if answer.outcome == "saved":
        return redirect(PLAN.format(person_id=person_id) + "?saved=conversation")
    status = 409 if answer.outcome == "stale" else 400
    return _conversation_page(request, signed_in, services, person_id, answer, entries, status)


def _review_page(
    request: Request,
    signed_in: PageSession,
    services: Any,
    person_id: int,
    answer: FormAnswer,
    entries: ReviewEntries,
    status: int,
) -> Response:
    return _form_answer_page(
        "planning_review.html", request, signed_in, services, person_id, answer, entries, status
    )


@router.get(REVIEW)
def review_form(request: Request, services: ServicesDep, person_id: int) -> Response:
    """The review form: the plan as it is, and the next review date."""
    signed_in = page_session(request, services)
    if signed_in is None:
        return redirect("/sign-in")
    try:
        shown = form_page(services, signed_in, person_id)
    except PlanningRefused as exc:
        return refused(request, signed_in, services, str(exc))
    entries = ReviewEntries(version=0 if shown.plan is None else shown.plan.version)
    answer = FormAnswer("open", shown)
    return _review_page(request, signed_in, services, person_id, answer, entries, 200)


@router.post(REVIEW)
def review_submit(
    request: Request, services: ServicesDep, person_id: int, form: FormDep
) -> Response:
    """Review the plan: a new version (303 to the history); 400 or 409 as the conversation."""
    signed_in = page_session(request, services)
    if signed_in is None:
        return redirect("/sign-in")
    if not form_token_ok(services, signed_in, form):
        return csrf_refused(request, signed_in, services, person_id, "CarePlan")
    try:
        answer, entries = save_review(services, signed_in, person_id, form)
    except PlanningRefused as exc:
        return refused(request, signed_in, services, str(exc))
    if answer.outcome == "saved":
        return redirect(HISTORY.format(person_id=person_id))
    status = 409 if answer.outcome == "stale" else 400
    return _review_page(request, signed_in, services, person_id, answer, entries, status)


def _preparation(
    request: Request, signed_in: PageSession, services: Any, person_id: int, shown: Any, status: int
) -> Response:
    return render(
        "planning_preparation.html",
        {
            **_context(request, signed_in, services, person_id),
            "prep": shown,
            "p": shown.page,
            "errors": shown.errors,
            "field_errors": dict(shown.errors),
            "saved": request.query_params.get("saved"),
        },
        status=status,
    )


@router.get(PREPARATION)
def preparation(request: Request, services: ServicesDep, person_id: int) -> Response:
    """The results letter in plain English, to print or download, and whether it was sent."""
    signed_in = page_session(request, services)
    if signed_in is None:
        return redirect("/sign-in")
    try:
        shown = preparation_page(services, signed_in, person_id)
    except PlanningRefused as exc:
        return refused(request, signed_in, services, str(exc))
    return _preparation(request, signed_in, services, person_id, shown, 200)


@router.post(PREPARATION)
def preparation_submit(
    request: Request, services: ServicesDep, person_id: int, form: FormDep
) -> Response:
    """Prepare a new letter from the latest pipeline run (303 to the letter)."""
    signed_in = page_session(request, services)
    if signed_in is None:
        return redirect("/sign-in")
    if not form_token_ok(services, signed_in, form):
        return csrf_refused(request, signed_in, services, person_id, "Preparation")
    try:
        failed = prepare_letter(services, signed_in, person_id)
    except PlanningRefused as exc:
        return refused(request, signed_in, services, str(exc))
    if failed is None:
        return redirect(PREPARATION.format(person_id=person_id) + "?saved=prepared")
    return _preparation(request, signed_in, services, person_id, failed, 409)


@router.post(SENT)
def preparation_sent(
    request: Request, services: ServicesDep, person_id: int, form: FormDep
) -> Response:
    """Mark the letter sent on a date (303 to the letter; 400 naming the date if wrong)."""
    signed_in = page_session(request, services)
    if signed_in is None:
        return redirect("/sign-in")
    if not form_token_ok(services, signed_in, form):
        return csrf_refused(request, signed_in, services, person_id, "Preparation")
    try:
        failed = mark_sent(services, signed_in, person_id, form)
    except PlanningRefused as exc:
        return refused(request, signed_in, services, str(exc))
    if failed is None:
        return redirect(PREPARATION.format(person_id=person_id) + "?saved=sent")
    return _preparation(request, signed_in, services, person_id, failed, 400)


@router.get(LETTER_PDF)
def letter_pdf(request: Request, services: ServicesDep, person_id: int) -> Response:
    """The results letter as a PDF (audited as an export)."""
    signed_in = page_session(request, services)
    if signed_in is None:
        return redirect("/sign-in")
    try:
        made = letter_file(services, signed_in, person_id)
    except PlanningRefused as exc:
        return refused(request, signed_in, services, str(exc))
    if made is None:
        return render(
            "refused.html",
            {
                **chrome(request, signed_in, services),
                "title": "No results letter yet",
                "reason": "No results letter has been prepared for this person yet.",
            },
            status=404,
        )
    pdf, preparation_id = made
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            **PAGE_HEADERS,
            "Content-Disposition": f'inline; filename="results-letter-{preparation_id}.pdf"',
        },
    )
