"""The person pages' routes (thin over the domain services; declared in `api/route_access.py`).

`/people/{person_id}` is one person's page (`web/person_page.py`): the operational person id
in the URL, never an NHS number or a name.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from houseofcare.api.deps import ServicesDep
from houseofcare.api.inputs import parse_id
from houseofcare.careplan.guard import AccessRefused
from houseofcare.web.page import chrome, redirect, refused
from houseofcare.web.person_page import PersonNotFound, person_view, template_context
from houseofcare.web.session import page_session
from houseofcare.web.templates import render

router = APIRouter(include_in_schema=False, tags=["pages"])

#: Page paths.
PERSON = "/people/{person_id}"
SIGN_IN = "/sign-in"


@router.get(PERSON)
def person_page(request: Request, services: ServicesDep, person_id: str) -> Response:
    """One person's record: banner, conditions, level and risk, care gaps, care plan, results
    over time, medicines and contacts, each as far as the user's role may see (audited)."""
    signed_in = page_session(request, services)
    if signed_in is None:
        return redirect(SIGN_IN)
    try:
        # anything but a plain id is nobody: the same audited "not found" as an unknown id
        view = person_view(services, signed_in, parse_id(person_id))
    except AccessRefused as exc:
        return refused(request, signed_in, services, exc.reason)
    except PersonNotFound:
        return render(
            "refused.html",
            {
                **chrome(request, signed_in, services),
                "title": "Person not found",
                "reason": "There is no person with this id. Check the link you followed, or "
                "find the person again from your list.",
            },
            status=404,
        )
    return render("person.html", {**chrome(request, signed_in, services), **template_context(view)})
