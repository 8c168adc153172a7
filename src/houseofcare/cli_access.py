"""Sign-in, the access decision and audit for `hoc` commands that list identifiable people.

The API guards every identifiable read; the command line must too, by the same rules. A
recall list, the movers on the triangle or a RiskAssessment export names people, so:

- the person running the command proves who they are: `--user NAME` and their password
  (prompted, or one line on standard input for a script), or a personal access token they
  made with `hoc token create` (`--token`, or `HOC_TOKEN`). A name alone is never trusted;
- whom they may list comes from the access policy (`careplan/policy.toml`) through
  `careplan.access.people_scope`, the same decision the API makes: a GP or nurse gets their
  practice's registered people and anyone on their caseload, a case manager their caseload,
  an administrator or a commissioner nobody;
- every attempt, allowed or refused, appends an audit event naming the signed-in user.
"""

from __future__ import annotations

import datetime as dt
import getpass
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from houseofcare.api.credentials import SignedIn
    from houseofcare.people_scope import PeopleScope
    from houseofcare.settings import Settings

#: What each identifiable command discloses, as an action of the access policy.
COMMAND_ACTIONS: Mapping[str, str] = {
    "recall": "caregap.read",
    "risk-assessments": "risk.read",
    "tiers movers": "risk.read",
}


@dataclass(frozen=True)
class ExportScope:
    """Who is exporting and whom they may list."""

    username: str
    role: str
    people: PeopleScope
    #: The one practice the command was narrowed to (`--practice`), or None.
    practice_id: str | None


class ExportRefused(Exception):
    """The command may not produce identifiable output for this user; the message says why."""


def settings_for(data_dir: Path | None) -> Settings:
    """The settings for a command: its `--data-dir` when given, else the environment's.

    The settings module (pydantic-settings) is imported here, when a command runs, not when
    `hoc` starts (issue 16)."""
    from houseofcare.settings import Settings

    return Settings(data_dir=data_dir) if data_dir else Settings()


def read_password(username: str) -> str:
    """The password, without echo at a terminal, or one line of standard input for a script."""
    if sys.stdin is not None and sys.stdin.isatty():
        return getpass.getpass(f"Password for {username}: ")
    line = sys.stdin.readline() if sys.stdin is not None else ""
    if not line:
        raise ExportRefused(
            f"no password for {username!r}: type it when asked, give it on standard input, "
            "or use a personal access token (`hoc token create`, then --token or HOC_TOKEN)"
        )
    return line.rstrip("\r\n")


def _signed_in(session: Session, user_id: int) -> SignedIn:
    from houseofcare.api.credentials import SignedIn
    from houseofcare.store.models import Organisation, User

    user = session.get(User, user_id)
    assert user is not None
    org = session.get(Organisation, user.organisation_id) if user.organisation_id else None
    return SignedIn(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role.value,
        organisation_id=user.organisation_id,
        organisation_type=None if org is None else org.type.value,
        person_id=user.person_id,
        expires_at=dt.datetime.now(dt.UTC),
    )


def sign_in(
    settings: Settings,
    factory: sessionmaker[Session],
    *,
    username: str | None,
    token: str | None,
    password: Callable[[str], str] = read_password,
) -> SignedIn | None:
    """The user proven by a personal access token or by username and password, else None.

    The password is asked for before the username is looked up, so the command answers an
    unknown name and a wrong password alike; password attempts count against the same
    sign-in throttle as the API's (`api/throttle.py`, client "command line"), so the command
    line is no faster way to guess a password.
    """
    from houseofcare.api.config import ApiSettings, signing_key
    from houseofcare.api.credentials import CredentialKind, resolve
    from houseofcare.api.throttle import SignInThrottle, Throttled
    from houseofcare.careplan.people import authenticate
    from houseofcare.store.database import transaction

    if token:
        with factory() as session:
            found = resolve(session, token, CredentialKind.personal)
        if found is None or (username and found.username != username):
            return None
        return found
    assert username
    typed = password(username)
    api = ApiSettings()
    throttle = SignInThrottle.from_settings(factory, signing_key(api, settings.data_dir), api)
    try:
        attempt = throttle.begin(username, "command line")
    except Throttled as exc:
        raise ExportRefused(
            f"too many failed sign-ins for {username!r}: try again in {exc.retry_after:.0f} s "
            "(an administrator can end a lock with `hoc db unlock`)"
        ) from None
    with transaction(factory) as session:
        user = authenticate(session, username, typed)
        if user is not None:
            throttle.succeeded(session, attempt)
            return _signed_in(session, user.id)
    with transaction(factory) as session:
        throttle.failed(session, attempt)
    return None


def authorise_identifiable_export(
    settings: Settings,
    *,
    username: str | None,
    token: str | None,
    command: str,
    detail: Mapping[str, Any],
    practice_id: str | None = None,
    password: Callable[[str], str] = read_password,
) -> ExportScope:
    """Sign the user in, decide whom `command` may list for them, and audit the attempt.

    `practice_id` narrows the list to one practice (refused when the user may see nobody
    there). Returns the scope to filter by, or raises ExportRefused (audited).
    """
    from sqlalchemy import select
    from sqlalchemy.exc import OperationalError, ProgrammingError

    from houseofcare.careplan.access import people_scope
    from houseofcare.careplan.actor import Actor
    from houseofcare.careplan.policy import Action, Role, packaged_policy
    from houseofcare.store.audit import record_audit_now
    from houseofcare.store.database import engine_for, session_factory
    from houseofcare.store.models import AuditOutcome, User

    if not username and not token:
        raise ExportRefused(
            f"`hoc {command}` lists identifiable people: sign in with --user USERNAME "
            "(you are asked for your password) or --token (HOC_TOKEN), a personal access "
            "token from `hoc token create`"
        )
    policy = packaged_policy()
    action = Action(COMMAND_ACTIONS[command])
    engine = engine_for(settings)
    try:
        factory = session_factory(engine)
        try:
            user = sign_in(settings, factory, username=username, token=token, password=password)
            with factory() as session:
                known = (
                    username is not None
                    and session.scalar(select(User.id).where(User.username == username)) is not None
                )
                scope = None
                if user is not None:
                    actor = Actor.signed_in(user)
                    scope = people_scope(session, policy, actor, action)
        except (OperationalError, ProgrammingError):
            raise ExportRefused(
                "the operational store (users, audit) is not set up: run `hoc db upgrade` and "
                "create users (`hoc db seed-demo` for a demo)"
            ) from None
        refusal: str | None = None
        if user is None:
            refusal = (
                "the personal access token is unknown, expired or revoked"
                if token
                else "unknown username or wrong password"
            )
        elif not policy.identifiable(Role(user.role)) or not policy.granted(
            Role(user.role), action
        ):
            refusal = f"role {user.role} may not {action.value}, so may not take this list"
        elif scope is None or scope.empty:
            refusal = f"{user.username} may see nobody's {action.value} here"
        elif (
            practice_id is not None and practice_id not in scope.practices and not scope.patient_ids
        ):
            home = " or ".join(sorted(scope.practices)) or "(none)"
            refusal = f"{user.username} may list people of practice {home} only, not {practice_id}"
        record_audit_now(
            factory,
            user_id=None if user is None else user.user_id,
            # a name nobody has is never stored: it may be a password typed in the wrong box
            username=user.username if user else (username if known else None),
            role=None if user is None else user.role,
            action="export",
            resource_type=command,
            detail={
                **detail,
                "practice": practice_id,
                "reason": refusal,
                "scope": None
                if scope is None
                else {"practices": sorted(scope.practices), "people": len(scope.patient_ids)},
            },
            outcome=AuditOutcome.denied if refusal else AuditOutcome.success,
        )
    finally:
        engine.dispose()
    if refusal:
        raise ExportRefused(refusal)
    assert user is not None and scope is not None
    return ExportScope(
        username=user.username, role=user.role, people=scope, practice_id=practice_id
    )


#: The `--user` option of every command with identifiable output.
#: The project folder, for every command that reads or writes the stores.
DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Project folder for the stores (default ./hoc-data, or HOC_DATA_DIR).",
        show_default=False,
    ),
]

UserOption = Annotated[
    str | None,
    typer.Option(
        "--user",
        envvar="HOC_USER",
        help="Who you are (a user of the operational store); you are asked for your password. "
        "Identifiable output is limited by the access policy and audited.",
    ),
]
#: The `--token` option: a personal access token instead of a password.
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="HOC_TOKEN",
        help="A personal access token from `hoc token create`, instead of a password.",
        show_default=False,
    ),
]


def authorise_or_exit(
    settings: Settings,
    username: str | None,
    command: str,
    practice_id: str | None = None,
    *,
    token: str | None = None,
    **detail: Any,
) -> ExportScope:
    """`authorise_identifiable_export` for a command: a refusal is a clear error, exit 2."""
    try:
        return authorise_identifiable_export(
            settings,
            username=username,
            token=token,
            command=command,
            detail=detail,
            practice_id=practice_id,
        )
    except ExportRefused as exc:
        Console(stderr=True).print(f"[red]refused:[/red] {exc}")
        raise typer.Exit(2) from None


token_app = typer.Typer(
    name="token",
    help="Personal access tokens: sign in once, then run identifiable commands with --token.",
    no_args_is_help=True,
    rich_markup_mode=None,  # plain help, as `hoc --help` (see cli.py)
)


@token_app.command("create")
def create_token_command(
    user: Annotated[str, typer.Option("--user", envvar="HOC_USER", help="Your username.")],
    days: Annotated[
        int, typer.Option("--days", min=1, max=365, help="How long the token lasts.")
    ] = 30,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Project folder (default ./hoc-data).")
    ] = None,
) -> None:
    """Make a personal access token (asks for your password). It is shown once: keep it like
    a password; `hoc token revoke` ends it."""
    from houseofcare.api.credentials import CredentialKind, issue
    from houseofcare.store.audit import record_audit, record_audit_now
    from houseofcare.store.database import engine_for, session_factory, transaction
    from houseofcare.store.models import AuditOutcome

    settings = settings_for(data_dir)
    err = Console(stderr=True)
    engine = engine_for(settings)
    try:
        factory = session_factory(engine)
        try:
            signed = sign_in(settings, factory, username=user, token=None)
            with transaction(factory) as session:
                if signed is not None:
                    token, expires = issue(
                        session,
                        user_id=signed.user_id,
                        kind=CredentialKind.personal,
                        lifetime=dt.timedelta(days=days),
                    )
                    record_audit(
                        session,
                        action="login",
                        resource_type="PersonalAccessToken",
                        user_id=signed.user_id,
                        username=signed.username,
                        role=signed.role,
                        detail={"expires_at": expires.isoformat()},
                    )
        except ExportRefused as exc:
            err.print(f"[red]refused:[/red] {exc}")
            raise typer.Exit(2) from None
        if signed is None:
            record_audit_now(
                factory,
                action="login",
                resource_type="PersonalAccessToken",
                outcome=AuditOutcome.denied,
            )
            err.print("[red]refused:[/red] unknown username or wrong password")
            raise typer.Exit(2)
    finally:
        engine.dispose()
    Console().print(
        f"personal access token for {signed.username}, valid until {expires:%Y-%m-%d %H:%M} "
        f"UTC (shown once):\n{token}"
    )


@token_app.command("revoke")
def revoke_token_command(
    token: Annotated[str, typer.Option("--token", envvar="HOC_TOKEN", help="The token.")],
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Project folder (default ./hoc-data).")
    ] = None,
) -> None:
    """End a personal access token at once."""
    from houseofcare.api.credentials import revoke
    from houseofcare.store.database import engine_for, session_factory, transaction

    settings = settings_for(data_dir)
    engine = engine_for(settings)
    try:
        with transaction(session_factory(engine)) as session:
            live = revoke(session, token)
    finally:
        engine.dispose()
    Console().print("token revoked" if live else "no live token like that (nothing to revoke)")
