"""The help pages' routes: `/help` (every role, and every page) and `/help/{role}` (one role's
pages, what they show and who else sees them). Open to everyone, signed in or not: they say
nothing about any person (declared `Open.public` in `api/route_access.py`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from houseofcare.api.deps import ServicesDep
from houseofcare.store.models import Role
from houseofcare.web.help import packaged_help, role_help, role_names
from houseofcare.web.page import chrome
from houseofcare.web.session import page_session
from houseofcare.web.templates import render

router = APIRouter(include_in_schema=False, tags=["pages"])

HELP, ROLE_HELP = "/help", "/help/{role}"


@router.get(HELP)
def help_index(request: Request, services: ServicesDep) -> Response:
    """Every role's help, and every page with who may open it."""
    signed_in = page_session(request, services)
    return render(
        "help.html",
        {
            **chrome(request, signed_in, services),
            "active": "help",
            "roles": role_names(),
            "pages": packaged_help().page,
            "mine": Role(signed_in.user.role) if signed_in else None,
        },
    )


@router.get(ROLE_HELP)
def help_for_role(request: Request, services: ServicesDep, role: str) -> Response:
    """One role's pages, what they show and who else sees them (404: no such role)."""
    signed_in = page_session(request, services)
    try:
        chosen = Role(role)
    except ValueError:
        return render(
            "refused.html",
            {
                **chrome(request, signed_in, services),
                "title": "Page not found",
                "reason": "There is no help for that role. The help for every role is at /help.",
            },
            status=404,
        )
    return render(
        "help_role.html",
        {
            **chrome(request, signed_in, services),
            "active": "help",
            "h": role_help(services.policy, chosen),
            "roles": role_names(),
            "mine": Role(signed_in.user.role) if signed_in else None,
        },
    )
