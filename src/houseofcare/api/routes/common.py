"""Pieces every FHIR route uses: find-or-404 with audit, person references checked, and
request bodies read with a bad one audited."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session, lazyload
from starlette.concurrency import run_in_threadpool

from houseofcare.api.deps import Caller
from houseofcare.api.errors import ApiError, InvalidResource, NotFound
from houseofcare.api.fhir.http import read_body
from houseofcare.api.fhir.refusals import service_error
from houseofcare.careplan.errors import CarePlanError
from houseofcare.nhs_number import InvalidNHSNumber, normalise_nhs_number
from houseofcare.store.models import AuditOutcome, Person

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


def found_or_404(
    caller: Caller,
    session: Session,
    model: type[T],
    ident: int,
    *,
    resource_type: str,
    audit_action: str,
) -> T:
    """The row, or an audited 404 (its related rows are loaded only if used)."""
    row = session.get(model, ident, options=[lazyload("*")])
    if row is None:
        caller.audit_now(
            action=audit_action,
            resource_type=resource_type,
            resource_id=ident,
            outcome=AuditOutcome.not_found,
        )
        error = NotFound(f"{resource_type}/{ident} does not exist")
        error.audited = True
        raise error
    return row


def check_person_reference(
    caller: Caller,
    session: Session,
    person_id: int,
    nhs_number: str | None,
    *,
    field: str,
    resource_type: str,
    audit_action: str,
) -> None:
    """The referenced person must exist, and the NHS number beside the reference (if any)
    must be valid and be theirs: a guard against writing to the wrong person's record."""
    problems: list[tuple[str, str]] = []
    if nhs_number is not None:
        try:
            nhs_number = normalise_nhs_number(nhs_number)
        except InvalidNHSNumber as exc:
            problems.append((f"{field}.identifier.value", str(exc)))
    status = 400
    if not problems:
        stored = session.scalar(select(Person.nhs_number).where(Person.id == person_id))
        status = 422
        if stored is None:
            problems.append((f"{field}.reference", f"Patient/{person_id} does not exist"))
        elif nhs_number is not None and stored != nhs_number:
            problems.append(
                (
                    f"{field}.identifier.value",
                    f"NHS number {nhs_number} is not the NHS number of Patient/{person_id}: "
                    "check you have the right person",
                )
            )
    if problems:
        invalid(caller, audit_action, resource_type, person_id, problems, status=status)


def invalid(
    caller: Caller,
    audit_action: str,
    resource_type: str,
    person_id: int | None,
    problems: list[tuple[str, str]],
    *,
    status: int = 400,
    resource_id: Any = None,
) -> None:
    """Audit a refused body and raise the OperationOutcome."""
    caller.audit_now(
        action=audit_action,
        resource_type=resource_type,
        resource_id=resource_id,
        person_id=person_id,
        outcome=AuditOutcome.invalid,
        detail={"problems": [f"{where}: {why}" for where, why in problems]},
    )
    error = InvalidResource(problems, status=status)
    error.audited = True
    raise error


@dataclass
class FailureAudit:
    """What a refusal inside `audited_failures` is audited with; the route fills in the
    person once access is decided, so every later refusal names them."""

    person_id: int | None = None


@contextmanager
def audited_failures(
    caller: Caller,
    *,
    action: str,
    resource_type: str,
    resource_id: Any = None,
    person_id: int | None = None,
    fields: dict[str, str] | None = None,
) -> Iterator[FailureAudit]:
    """Audit any refusal inside the block once, turning care-plan service errors into
    OperationOutcomes that name the FHIR field. The block's transaction is rolled back."""
    audit = FailureAudit(person_id)
    try:
        yield audit
    except CarePlanError as exc:
        error = service_error(exc, fields or {}, resource_type)
        _audit_error(caller, error, action, resource_type, resource_id, audit.person_id)
        raise error from None
    except ApiError as exc:
        if not exc.audited:
            _audit_error(caller, exc, action, resource_type, resource_id, audit.person_id)
        raise


def _audit_error(
    caller: Caller,
    exc: ApiError,
    action: str,
    resource_type: str,
    resource_id: Any,
    person_id: int | None,
) -> None:
    outcomes = {403: AuditOutcome.denied, 404: AuditOutcome.not_found, 409: AuditOutcome.conflict}
    outcomes[412] = AuditOutcome.conflict
    caller.audit_now(
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        person_id=person_id,
        outcome=outcomes.get(exc.status, AuditOutcome.invalid),
        detail={"reason": exc.diagnostics[:500]},
    )
    exc.audited = True


async def read_audited_body(
    request: Request,
    caller: Caller,
    model: type[M],
    *,
    resource_type: str,
    action: str,
    resource_id: int | None,
) -> M:
    """The request body as `model`; a body refused (400/413/415) is audited before its error
    goes back, like every other refused write."""
    try:
        return await read_body(request, model, resource_type)
    except ApiError as exc:
        await run_in_threadpool(_audit_error, caller, exc, action, resource_type, resource_id, None)
        raise
