"""FHIR over HTTP: reading bodies and search parameters, versions in ETag / If-Match,
responses and Bundles."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, TypeVar

import orjson
from fastapi import Request
from pydantic import BaseModel, ValidationError
from starlette.responses import Response

from houseofcare.api.errors import FHIR_JSON, ApiError, InvalidResource, validation_issues
from houseofcare.api.inputs import (
    ID_RANGE,
    may_hold_control_characters,
    parse_id,
    reference_id,
    text_problems,
)

M = TypeVar("M", bound=BaseModel)

#: Content types accepted for a FHIR body.
ACCEPTED_TYPES = ("application/fhir+json", "application/json")
_ETAG = re.compile(r'^\s*(?:W/)?"([0-9]{1,9})"\s*$')
_COUNT = re.compile(r"[0-9]{1,6}")


def fhir_response(
    resource: dict[str, Any],
    *,
    status: int = 200,
    version: int | None = None,
    location: str | None = None,
) -> Response:
    """A FHIR JSON response; with `version`, the weak ETag `W/"n"` the client sends back."""
    headers: dict[str, str] = {}
    if version is not None:
        headers["ETag"] = f'W/"{version}"'
    if location is not None:
        headers["Location"] = location
    return Response(
        orjson.dumps(resource), status_code=status, media_type=FHIR_JSON, headers=headers
    )


def bundle(
    request: Request,
    kind: str,
    resources: Iterable[tuple[str, dict[str, Any]]],
    *,
    total: int | None = None,
) -> dict[str, Any]:
    """A searchset or history Bundle of (fullUrl path, resource) pairs.

    Its URLs start with the configured base URL (`HOC_API_BASE_URL`), never with the request's
    Host header, which the client chooses."""
    base = base_url(request)
    query = request.url.query
    self_url = f"{base}{request.url.path}" + (f"?{query}" if query else "")
    entries = []
    for path, resource in resources:
        entry: dict[str, Any] = {"fullUrl": f"{base}{path}", "resource": resource}
        if kind == "searchset":
            entry["search"] = {"mode": "match"}
        entries.append(entry)
    result: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": kind,
        "total": len(entries) if total is None else total,
        "link": [{"relation": "self", "url": self_url}],
        "entry": entries,
    }
    return result


def base_url(request: Request) -> str:
    """The service's public base URL, from its settings (no trailing slash)."""
    return request.app.state.services.api.base_url  # type: ignore[no-any-return]


async def read_body(request: Request, model: type[M], resource_type: str) -> M:
    """The request body as `model`, or 400/415 naming every problem by its FHIR path."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ACCEPTED_TYPES:
        raise ApiError(
            415,
            f"send the {resource_type} as application/fhir+json (got {content_type or 'none'})",
            expression=["Content-Type"],
        )
    raw = await request.body()
    if not raw.strip():
        raise InvalidResource([(resource_type, "the request body is empty")])
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidResource([("body", f"not valid JSON: {exc}")]) from None
    if not isinstance(data, dict):
        raise InvalidResource([(resource_type, "the body must be a JSON object")])
    if may_hold_control_characters(raw):
        problems = list(text_problems(data, resource_type))
        if problems:
            raise InvalidResource(problems)
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        json_errors = [e for e in exc.errors() if e["type"] == "json_invalid"]
        if json_errors:
            raise InvalidResource([("body", f"not valid JSON: {json_errors[0]['msg']}")]) from None
        if any(e["loc"] == () and e["type"] == "model_type" for e in exc.errors()):
            raise InvalidResource([(resource_type, "the body must be a JSON object")]) from None
        raise InvalidResource(validation_issues(resource_type, exc)) from None


def if_match_version(request: Request, resource_type: str) -> int:
    """The version the client last read, from `If-Match: W/"n"`; 428 when missing."""
    header = request.headers.get("if-match")
    if header is None:
        raise ApiError(
            428,
            f"updating a {resource_type} needs If-Match with the ETag you read "
            '(e.g. If-Match: W/"3"), so nobody overwrites a change they have not seen',
            expression=["If-Match"],
        )
    match = _ETAG.match(header)
    if match is None:
        raise InvalidResource([("If-Match", f'{header!r} is not an ETag like W/"3"')])
    return int(match.group(1))


def stale(resource_type: str, resource_id: object, expected: int, current: int) -> ApiError:
    """412: the version in If-Match is not the current one; nothing was written."""
    return ApiError(
        412,
        f"{resource_type}/{resource_id} is at version {current}, not {expected}: someone else "
        "changed it since you read it. Nothing was written; read it again and re-apply "
        "your change.",
        expression=["If-Match"],
        headers={"ETag": f'W/"{current}"'},
    )


def search_count(request: Request, default: int = 50, maximum: int = 500) -> int:
    raw = request.query_params.get("_count")
    if raw is None:
        return default
    if not _COUNT.fullmatch(raw) or not 0 < int(raw) <= maximum:
        raise InvalidResource([("_count", f"must be a whole number from 1 to {maximum}")])
    return int(raw)


def patient_parameter(request: Request, name: str = "patient") -> int | None:
    """The person a search is about: `patient` (or `subject`) as `Patient/<id>` or `<id>`."""
    raw = request.query_params.get(name) or request.query_params.get("subject")
    if raw is None:
        return None
    person_id = reference_id(raw, "Patient")
    if person_id is None:
        where = name if name in request.query_params else "subject"
        raise InvalidResource(
            [(where, f"{raw!r} is not a Patient reference like Patient/12 (the id is {ID_RANGE})")]
        )
    return person_id


def id_parameter(request: Request, name: str, resource_type: str | None = None) -> int | None:
    """An id search parameter (`<id>`, or `Type/<id>` when `resource_type` is given)."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    ident = parse_id(raw) if resource_type is None else reference_id(raw, resource_type)
    if ident is None:
        raise InvalidResource([(name, f"{raw!r} is not an id ({ID_RANGE})")])
    return ident


def refuse_unknown_parameters(request: Request, allowed: set[str]) -> None:
    """FHIR strict handling: a search parameter we do not support is an error, not ignored."""
    unknown = sorted(set(request.query_params) - allowed - {"_count", "_format"})
    if unknown:
        listed = ", ".join(sorted(allowed | {"_count"}))
        raise InvalidResource(
            [(name, f"unknown search parameter (supported: {listed})") for name in unknown]
        )
