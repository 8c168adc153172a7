"""The directory as a read-only ORUK 3.0 API: `/oruk/`, `/oruk/services`, `/oruk/services/{id}`.

Thin over `selfcare/oruk_api.py`. Open without sign-in, like a public ORUK feed: the directory
holds no patient data (`api/route_access.py` declares these routes `Open.public`). Errors are
plain JSON (`{"error": …}`), as ORUK clients expect, not FHIR OperationOutcomes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.responses import JSONResponse, StreamingResponse

from houseofcare.api.deps import ServicesDep
from houseofcare.selfcare.oruk_api import (
    OrukQuery,
    OrukQueryError,
    api_details,
    every_service,
    service_document,
    services_page,
    wants_ndjson,
)

router = APIRouter(prefix="/oruk", tags=["Open Referral UK (directory of services)"])


@router.get("/", summary="Which ORUK version and profile this API serves")
def details() -> dict[str, str]:
    return api_details()


@router.get("/services", summary="A page of services (ORUK 3.0 page object)")
async def list_services(
    services: ServicesDep,
    search: str | None = None,
    page: str | None = None,
    per_page: str | None = None,
    taxonomy_term_id: str | None = None,
    need: str | None = None,
    modified_after: str | None = None,
    full: str | None = None,
    format: str | None = None,
) -> Any:
    """Search services by text (`search`), by a taxonomy term's id (`taxonomy_term_id`) or by
    one of our need domains (`need`), changed after `modified_after`; `full=true` nests each
    service fully; `format=ndjson` streams every matching service, fully nested, one per
    line (no paging)."""
    query = OrukQuery(search, page, per_page, taxonomy_term_id, need, modified_after, full, format)
    try:
        if wants_ndjson(query):
            lines = every_service(services.factory, query)
            first = await run_in_threadpool(next, lines, "")
            rest = iterate_in_threadpool(lines)

            async def stream() -> AsyncIterator[str]:
                if first:
                    yield first
                async for line in rest:
                    yield line

            return StreamingResponse(stream(), media_type="application/x-ndjson")
    except OrukQueryError as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)

    def answer() -> Any:
        with services.factory() as session:
            return services_page(session, query)

    try:
        return await run_in_threadpool(answer)
    except OrukQueryError as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)


@router.get("/services/{service_id}", summary="One fully nested service")
async def read_service(service_id: str, services: ServicesDep) -> Any:
    def answer() -> Any:
        with services.factory() as session:
            return service_document(session, service_id)

    found = await run_in_threadpool(answer)
    if found is None:
        return JSONResponse({"error": f"no service {service_id}"}, status_code=404)
    return found
