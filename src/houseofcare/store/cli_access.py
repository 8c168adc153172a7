"""Role check and audit for `hoc` commands that print or write identifiable rows.

The API guards every identifiable read; the command line must too. A recall list, the movers
on the triangle or a RiskAssessment export names people, so the person running the command
names themselves (`--user`, or `HOC_USER`) as a user of the operational store, the role is
checked against the roles allowed such lists, and the attempt — allowed or refused — appends an
audit event, exactly as an API read does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import typer
from rich.console import Console
from sqlalchemy import select
from sqlalchemy.exc import OperationalError, ProgrammingError

from houseofcare.settings import Settings
from houseofcare.store.audit import record_audit_now
from houseofcare.store.database import engine_for, session_factory
from houseofcare.store.models import AuditOutcome, Role, User

#: Who may take a whole-population identifiable list from the command line: the clinicians
#: who act on recall and case-finding lists, and administrators.
IDENTIFIABLE_EXPORT_ROLES = frozenset({Role.gp, Role.nurse, Role.case_manager, Role.admin})


class ExportRefused(Exception):
    """The command may not produce identifiable output for this user; the message says why."""


def authorise_identifiable_export(
    settings: Settings, *, username: str | None, command: str, detail: Mapping[str, Any]
) -> str:
    """Check the user's role for `command` and audit the attempt; the role, or ExportRefused."""
    allowed = ", ".join(sorted(r.value for r in IDENTIFIABLE_EXPORT_ROLES))
    if not username:
        raise ExportRefused(
            f"`hoc {command}` lists identifiable people: name yourself with --user USERNAME "
            f"(or HOC_USER), a user of the operational store with role {allowed}"
        )
    engine = engine_for(settings)
    try:
        factory = session_factory(engine)
        try:
            with factory() as session:
                user = session.scalar(select(User).where(User.username == username))
        except (OperationalError, ProgrammingError):
            raise ExportRefused(
                "the operational store (users, audit) is not set up: run `hoc db upgrade` and "
                "create users (`hoc db seed-demo` for a demo)"
            ) from None
        if user is None:
            refusal: str | None = f"--user {username!r}: no such user in the operational store"
        elif Role(user.role) not in IDENTIFIABLE_EXPORT_ROLES:
            refusal = (
                f"--user {username!r} has role {user.role}, which may not take identifiable "
                f"lists (allowed: {allowed})"
            )
        else:
            refusal = None
        record_audit_now(
            factory,
            user_id=None if user is None else user.id,
            username=username if user is None else user.username,
            role=None if user is None else user.role,
            action="export",
            resource_type=command,
            detail=dict(detail),
            outcome=AuditOutcome.denied if refusal else AuditOutcome.success,
        )
    finally:
        engine.dispose()
    if refusal:
        raise ExportRefused(refusal)
    assert user is not None
    return str(user.role)


#: The `--user` option of every command with identifiable output.
UserOption = Annotated[
    str | None,
    typer.Option(
        "--user",
        envvar="HOC_USER",
        help="Who you are (a user of the operational store): identifiable output is "
        "role-checked and audited.",
    ),
]


def authorise_or_exit(
    settings: Settings, username: str | None, command: str, **detail: Any
) -> None:
    """`authorise_identifiable_export` for a command: a refusal is a clear error, exit 2."""
    try:
        authorise_identifiable_export(settings, username=username, command=command, detail=detail)
    except ExportRefused as exc:
        Console(stderr=True).print(f"[red]refused:[/red] {exc}")
        raise typer.Exit(2) from None
