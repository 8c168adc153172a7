"""Mounting the pages into the API's app: the routes and the static files they load.

The NHS.UK frontend's compiled CSS, JavaScript and images are installed from npm by
`scripts/setup` (pinned in `package.json` and `package-lock.json`) and copied into
`static/nhsuk/`, served at `/assets` (the path its CSS refers to its images by); our own small
script is served at `/static`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Final

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

STATIC: Final = Path(__file__).with_name("static")
NHSUK_ASSETS: Final = STATIC / "nhsuk"


log = logging.getLogger(__name__)


def mount_pages(app: FastAPI) -> None:
    """Add the pages and their static files to `app`."""
    from houseofcare.web import (
        routes,
        routes_audit,
        routes_caseload,
        routes_my_care,  # --- issue 12: My care plan
        routes_person,
        routes_planning,
    )

    # --- issue 12: population and help pages
    from houseofcare.web.routes_help import router as help_router
    from houseofcare.web.routes_population import router as population_router

    if not (NHSUK_ASSETS / "nhsuk-frontend.min.css").exists():
        # the API still serves; the pages would be unstyled, so say how to mend it
        log.warning("the NHS.UK frontend is not in %s: run `bash scripts/setup`", NHSUK_ASSETS)
    for module in (routes, routes_caseload, routes_person, routes_planning, routes_audit):
        app.include_router(module.router)
    # --- issue 12: consent page and partners' view
    from houseofcare.web import routes_consent, routes_partners

    for module in (routes_consent, routes_partners):
        app.include_router(module.router)
    for router in (population_router, help_router):  # issue 12: population, help
        app.include_router(router)
    app.include_router(routes_my_care.router)  # --- issue 12: My care plan
    # --- issue 13: the directory of services' pages
    from houseofcare.web import routes_services

    app.include_router(routes_services.router)
    # --- issue 13: matching (suggest support, activation, preferences, unmet need)
    from houseofcare.web import routes_support

    app.include_router(routes_support.router)
    # --- issue 13: referrals, the receiving organisation's inbox, social prescribing
    from houseofcare.web import routes_referrals

    app.include_router(routes_referrals.router)
    # --- issue 14: the commissioners' page (the local commissioning plan and its downloads)
    from houseofcare.web import routes_commissioning

    app.include_router(routes_commissioning.router)
    app.mount("/assets", StaticFiles(directory=NHSUK_ASSETS, check_dir=False), name="assets")
    app.mount("/static", StaticFiles(directory=STATIC / "app"), name="static")
