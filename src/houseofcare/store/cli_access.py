"""Role check and audit for `hoc` commands that print or write identifiable rows.

The API guards every identifiable read; the command line must too. A recall list, the movers
on the triangle or a RiskAssessment export names people, so the person running the command
names themselves (`--user`, or `HOC_USER`) as a user of the operational store, the role is
checked against the roles allowed such lists, and the attempt — allowed or refused — appends an
audit event, exactly as an API read does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from rich.console import Console
from sqlalchemy import select
from sqlalchemy.exc import OperationalError, ProgrammingError

from houseofcare.settings import Settings
from houseofcare.store.audit import record_audit_now
from houseofcare.store.database import engine_for, session_factory
from houseofcare.store.models import AuditOutcome, Organisation, OrganisationType, Role, User

#: Who may take a whole-population identifiable list from the command line: the clinicians
#: who act on recall and case-finding lists, and administrators.
IDENTIFIABLE_EXPORT_ROLES = frozenset({Role.gp, Role.nurse, Role.case_manager, Role.admin})
#: Roles whose lists stop at their own practice, as in the API: a GP or practice nurse acts for
#: the practice's registered list. Case managers work across the practices of a network (their
#: caseload comes from the whole level-3 list) and administrators run the deployment.
PRACTICE_SCOPED_ROLES = frozenset({Role.gp, Role.nurse})


@dataclass(frozen=True)
class ExportScope:
    """Who is exporting and which people they may list (`practice_id` None: every practice)."""

    role: str
    practice_id: str | None


class ExportRefused(Exception):
    """The command may not produce identifiable output for this user; the message says why."""


def authorise_identifiable_export(
    settings: Settings,
    *,
    username: str | None,
    command: str,
    detail: Mapping[str, Any],
    practice_id: str | None = None,
) -> ExportScope:
    """Check the user's role (and practice) for `command` and audit the attempt.

    `practice_id` is the practice the command was asked for (None: not narrowed). A GP or
    nurse gets their own practice's people only: asking for another is refused, asking for
    none narrows to theirs. Returns the scope to apply, or raises ExportRefused.
    """
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
                home = (
                    session.get(Organisation, user.organisation_id)
                    if user is not None and user.organisation_id is not None
                    else None
                )
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
        scope_practice: str | None = None
        if refusal is None and user is not None and Role(user.role) in PRACTICE_SCOPED_ROLES:
            if home is None or home.type != OrganisationType.practice:
                refusal = f"--user {username!r} is a {user.role} without a practice"
            elif practice_id is not None and practice_id != home.ods_code:
                refusal = (
                    f"--user {username!r} may list people of practice {home.ods_code} only, "
                    f"not {practice_id}"
                )
            else:
                scope_practice = home.ods_code
        record_audit_now(
            factory,
            user_id=None if user is None else user.id,
            username=username if user is None else user.username,
            role=None if user is None else user.role,
            action="export",
            resource_type=command,
            detail={**detail, "practice": scope_practice or practice_id},
            outcome=AuditOutcome.denied if refusal else AuditOutcome.success,
        )
    finally:
        engine.dispose()
    if refusal:
        raise ExportRefused(refusal)
    assert user is not None
    return ExportScope(role=str(user.role), practice_id=scope_practice or practice_id)


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
    settings: Settings,
    username: str | None,
    command: str,
    practice_id: str | None = None,
    **detail: Any,
) -> ExportScope:
    """`authorise_identifiable_export` for a command: a refusal is a clear error, exit 2."""
    try:
        return authorise_identifiable_export(
            settings, username=username, command=command, detail=detail, practice_id=practice_id
        )
    except ExportRefused as exc:
        Console(stderr=True).print(f"[red]refused:[/red] {exc}")
        raise typer.Exit(2) from None
