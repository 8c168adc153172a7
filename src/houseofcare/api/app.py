"""The web application: FHIR R4 API, app endpoints for the pages, sign-in; OpenAPI at /docs.

`create_app(settings)` builds it around one operational store; `app_from_environment` is
what `hoc serve` (uvicorn, possibly several workers) imports. Start-up order is explicit:
`hoc serve` migrates the store once (`hoc db upgrade`) before any worker starts; each worker's
app then refuses a store that is not at this version's schema (the credential table too is
made by the migrations) and loads the access policy, failing fast on a malformed policy.
The workers never seal the audit trail: `hoc serve` runs one sealing process beside them
(`api/audit_sealer.py`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from sqlalchemy import Engine

from houseofcare import __version__
from houseofcare.api.bodylimit import BodySizeLimit
from houseofcare.api.config import ApiSettings, signing_key
from houseofcare.api.credentials import CredentialCache
from houseofcare.api.deps import Services
from houseofcare.api.errors import install_error_handlers
from houseofcare.api.fhir.openapi import add_body_schemas
from houseofcare.api.inputs import refuse_control_characters
from houseofcare.api.throttle import SignInThrottle
from houseofcare.careplan.pg_read import PlanReader
from houseofcare.careplan.pg_update import PlanUpdater
from houseofcare.careplan.policy import Policy, packaged_policy
from houseofcare.settings import Settings
from houseofcare.store.analytic import hold_open
from houseofcare.store.database import engine_for, session_factory
from houseofcare.store.passwords import unusable_hash
from houseofcare.store.pgpool import PgPool

DESCRIPTION = """
houseofcare's API: one holistic care plan per person (the King's Fund house of care),
as FHIR R4 (UK Core shaped) for CarePlan, Goal, Consent, Patient, RiskAssessment and
AuditEvent, plus the lists the pages need (caseload, due reviews, preparation summary).

Sign in with `POST /auth/token` and send `Authorization: Bearer <token>`. Every read or write
of a person's record is checked against the access policy and audited. Updates need
`If-Match` with the ETag you read; a stale one gets 412 and writes nothing. Errors are
FHIR OperationOutcome naming the field. Ids are whole numbers from 1 to 2147483647; control
characters other than tab, CR and LF are refused in any request text. See docs/api.md.
"""


def create_app(
    settings: Settings,
    *,
    api_settings: ApiSettings | None = None,
    policy: Policy | None = None,
) -> FastAPI:
    """The app for the operational store named by `settings` (already migrated)."""
    from houseofcare.api.route_access import require_declared
    from houseofcare.api.routes import app_lists, audit, auth, careplan, consent, goal, patient
    from houseofcare.api.routes import risk as risk_routes
    from houseofcare.web import mount_pages

    api = api_settings or ApiSettings()
    engine = (
        engine_for(settings, pool_size=10, max_overflow=20)
        if _pooled(settings)
        else (engine_for(settings))
    )
    _require_current_schema(engine)
    chosen_policy = policy or packaged_policy()
    # PostgreSQL: one small pool of raw connections for the read's and the update's fast paths
    pool = PgPool.for_engine(engine, size=api.read_pool_size)
    factory = session_factory(engine)
    key = signing_key(api, settings.data_dir)
    # the pages and lists read the analytic store on most requests: keep it open between them
    hold_open(settings)
    unusable_hash()  # made now, so the first unknown username costs no more than the next
    services = Services(
        settings=settings,
        api=api,
        engine=engine,
        factory=factory,
        policy=chosen_policy,
        signing_key=key,
        credentials=CredentialCache(seconds=api.credential_cache_seconds),
        throttle=SignInThrottle.from_settings(factory, key, api),
        plan_reader=None if pool is None else PlanReader(pool.conninfo, chosen_policy, pool=pool),
        plan_updater=None if pool is None else PlanUpdater(pool, chosen_policy),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if pool is not None:
            pool.close()

    app = FastAPI(
        title="houseofcare",
        version=__version__,
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        lifespan=lifespan,
        # every route: a query parameter with a control character is refused before it runs
        dependencies=[Depends(refuse_control_characters)],
    )
    app.state.services = services
    _describe_fhir_bodies(app)
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=api.max_body_bytes)
    for module in (auth, patient, careplan, goal, consent, risk_routes, audit, app_lists):
        app.include_router(module.router)
    # --- issue 13: the directory as a read-only ORUK 3.0 API (api/routes/oruk.py)
    from houseofcare.api.routes import oruk as oruk_routes

    app.include_router(oruk_routes.router)
    # --- issue 13: referrals (FHIR ServiceRequest)
    from houseofcare.api.routes import servicerequest

    app.include_router(servicerequest.router)
    mount_pages(app)

    @app.get("/health", tags=["service"])
    def health() -> dict[str, str]:
        """Liveness: the process is up (no database work, nothing identifiable)."""
        return {"status": "ok", "version": __version__}

    require_declared(app)
    return app


def _describe_fhir_bodies(app: FastAPI) -> None:
    """/openapi.json also carries the FHIR bodies and search parameters the routes read by
    hand (their `openapi_extra`), with the bodies' JSON Schema from the resource models."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_body_schemas(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


class StoreNotReady(RuntimeError):
    """The operational store is missing or not migrated to this version's schema."""


def _require_current_schema(engine: Engine) -> None:
    """Refuse to serve a store that `hoc db upgrade` has not brought to this version."""
    from houseofcare.store.migrate import current_revision, head_revision

    current, head = current_revision(engine), head_revision()
    if current != head:
        shown = engine.url.render_as_string(hide_password=True)
        raise StoreNotReady(
            f"the operational store {shown} is at revision {current or 'none'}, "
            f"not {head}: run `hoc db upgrade` first"
        )


def _pooled(settings: Settings) -> bool:
    return not settings.operational_url.startswith("sqlite")


def app_from_environment() -> FastAPI:
    """The app configured from `HOC_*` variables (what `hoc serve` workers import)."""
    return create_app(Settings())
