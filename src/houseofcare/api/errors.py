"""Every error the API returns is a FHIR OperationOutcome naming the field and the reason.

Routes raise `ApiError` (or one of its named kinds); pydantic validation errors are turned
into one issue per problem with a FHIRPath-like `expression` such as
`CarePlan.subject.reference`, so a client (or a person reading a log) can see which field was
wrong without guessing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

FHIR_JSON: Final = "application/fhir+json"

#: HTTP status → the OperationOutcome issue type (FHIR value set `issue-type`).
ISSUE_CODE: Final[dict[int, str]] = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    409: "conflict",
    412: "conflict",
    413: "too-long",
    415: "not-supported",
    422: "processing",
    428: "required",
    429: "throttled",
    500: "exception",
}


class ApiError(Exception):
    """An error answered with `status` and an OperationOutcome; `expression` names the field."""

    def __init__(
        self,
        status: int,
        diagnostics: str,
        *,
        expression: Sequence[str] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(diagnostics)
        self.status = status
        self.diagnostics = diagnostics
        self.expression = list(expression)
        self.headers = headers or {}
        self.issues: list[dict[str, Any]] | None = None
        #: Set once an audit event has been written for this error (so it is written once).
        self.audited = False


class NotFound(ApiError):
    def __init__(self, diagnostics: str, *, expression: Sequence[str] = ()) -> None:
        super().__init__(404, diagnostics, expression=expression)


class Forbidden(ApiError):
    def __init__(self, diagnostics: str) -> None:
        super().__init__(403, diagnostics)


class Unauthorised(ApiError):
    def __init__(self, diagnostics: str) -> None:
        super().__init__(401, diagnostics, headers={"WWW-Authenticate": 'Bearer realm="hoc"'})


class TooManyAttempts(ApiError):
    """429: sign-in refused without checking the password; `Retry-After` says when to retry."""

    def __init__(self, diagnostics: str, *, retry_after: int) -> None:
        super().__init__(429, diagnostics, headers={"Retry-After": str(retry_after)})


class InvalidResource(ApiError):
    """A body or parameter that does not fit the accepted shape: one issue per problem."""

    def __init__(self, issues: list[tuple[str, str]], *, status: int = 400) -> None:
        text = "; ".join(f"{where}: {why}" for where, why in issues)
        super().__init__(status, text, expression=[where for where, _ in issues])
        self.issues = [outcome_issue(status, f"{where}: {why}", [where]) for where, why in issues]


def outcome_issue(status: int, diagnostics: str, expression: Iterable[str] = ()) -> dict[str, Any]:
    """One OperationOutcome.issue."""
    issue: dict[str, Any] = {
        "severity": "error",
        "code": ISSUE_CODE.get(status, "processing"),
        "diagnostics": diagnostics,
    }
    expression = list(expression)
    if expression:
        issue["expression"] = expression
    return issue


def operation_outcome(issues: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": issues}


def outcome_response(
    status: int, issues: list[dict[str, Any]], headers: dict[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps(operation_outcome(issues)),
        status_code=status,
        media_type=FHIR_JSON,
        headers=headers,
    )


def field_path(resource: str, loc: Iterable[int | str]) -> str:
    """`CarePlan.activity[0].detail.status` from pydantic's error location."""
    path = resource
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def validation_issues(resource: str, exc: ValidationError) -> list[tuple[str, str]]:
    """Pydantic errors as (field, reason) pairs with FHIR-style field paths."""
    issues = []
    for error in exc.errors(include_url=False):
        loc = [p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        where = field_path(resource, loc)
        if error["type"] == "extra_forbidden":
            why = "unknown field (not part of the accepted FHIR shape)"
        elif error["type"] == "missing":
            why = "required field is missing"
        else:
            why = error["msg"]
        issues.append((where, why))
    return issues


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error, including FastAPI's own, as an OperationOutcome."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        issues = exc.issues or [outcome_issue(exc.status, exc.diagnostics, exc.expression)]
        return outcome_response(exc.status, issues, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _request_validation(request: Request, exc: RequestValidationError) -> Response:
        issues = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"])
            issues.append(outcome_issue(400, f"{where}: {error['msg']}", [where]))
        return outcome_response(400, issues)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no such endpoint: {request.method} {request.url.path}"
        return outcome_response(
            exc.status_code, [outcome_issue(exc.status_code, detail)], dict(exc.headers or {})
        )
