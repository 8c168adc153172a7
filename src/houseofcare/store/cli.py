"""`hoc db …`: migrate the operational store and load the demo.

Parsing and printing only; the work is in `houseofcare.store.migrate` and
`houseofcare.store.demo`, which tests call directly. Heavy imports stay inside the commands so
`hoc --help` stays quick.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from houseofcare.cli_access import DataDirOption, settings_for

if TYPE_CHECKING:
    from houseofcare.settings import Settings

db_app = typer.Typer(
    name="db",
    help="The operational store (care plans, users, consent, audit): migrate it, seed a demo.",
    no_args_is_help=True,
    rich_markup_mode=None,  # plain help, as `hoc --help` (see cli.py)
)
console = Console()
err = Console(stderr=True)


def _shown_url(settings: Settings, url: str | None = None) -> str:
    """The store URL (the app's unless `url` is given) with any password hidden."""
    from sqlalchemy.engine import make_url

    return make_url(url or settings.operational_url).render_as_string(hide_password=True)


@db_app.command("upgrade")
def upgrade_command(data_dir: DataDirOption = None) -> None:
    """Create or migrate the operational store to the newest schema (safe to repeat)."""
    from sqlalchemy.exc import OperationalError

    from houseofcare.store.migrate import separate_app_role, upgrade
    from houseofcare.store.roles import RoleError

    settings = settings_for(data_dir)
    try:
        revision = upgrade(settings)
        role = separate_app_role(settings)
    except OperationalError as exc:
        shown = _shown_url(settings, settings.owner_url)
        err.print(f"[red]error:[/red] cannot reach {shown}: {exc.orig}")
        raise typer.Exit(2) from None
    except RoleError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    console.print(f"operational store {_shown_url(settings)} is at revision {revision}")
    if role is not None:
        console.print(
            f"app role {role}: INSERT and SELECT only on the audit trail and version history "
            "(the tables belong to the owner of HOC_DATABASE_OWNER_URL)"
        )
    elif settings.operational_url.startswith("postgresql"):
        console.print(
            "[yellow]warning:[/yellow] the app connects as the role that owns the tables, so "
            "it could get past the audit trail's guards (changes would still show in `hoc "
            "audit verify`); set HOC_DATABASE_OWNER_URL and connect the app as another role "
            "(docs/operational-store.md)"
        )


@db_app.command("current")
def current_command(data_dir: DataDirOption = None) -> None:
    """Show the store's schema revision and the newest one this version ships."""
    from houseofcare.store.database import engine_for
    from houseofcare.store.migrate import current_revision, head_revision

    settings = settings_for(data_dir)
    engine = engine_for(settings)
    try:
        current = current_revision(engine)
    finally:
        engine.dispose()
    head = head_revision()
    console.print(f"{_shown_url(settings)}: revision {current or 'none'} (newest: {head})")
    if current != head:
        console.print("run `hoc db upgrade` to migrate")


@db_app.command("seed-demo")
def seed_demo_command(
    people: Annotated[
        int, typer.Option("--people", min=1, help="People to load from the analytic store.")
    ] = 1_000,
    plans: Annotated[
        int, typer.Option("--plans", min=0, help="How many of them get a demo care plan.")
    ] = 50,
    caseload: Annotated[
        int,
        typer.Option(
            "--caseload", min=0, help="How many level 3 people (by risk) the case manager holds."
        ),
    ] = 30,
    data_dir: DataDirOption = None,
) -> None:
    """Load people from the analytic store and create demo organisations, users (every role,
    with KNOWN DEMO PASSWORDS), a case manager's caseload of the level 3 people by risk and
    care plans at every stage. For a demo only, never for real records."""
    from houseofcare.store.demo import DemoError, seed_demo

    settings = settings_for(data_dir)
    try:
        summary = seed_demo(settings, people=people, plans=plans, caseload=caseload)
    except DemoError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    console.print(
        f"demo loaded into {_shown_url(settings)}: {summary.people:,} people "
        f"({summary.new_people:,} new), {summary.organisations} organisations, "
        f"{summary.care_plans} care plans"
    )
    if summary.plan_stages:
        console.print(
            "care plans by stage: "
            + ", ".join(f"{stage} {n}" for stage, n in summary.plan_stages.items())
        )
    if summary.caseload:
        console.print(f"demo.matron's caseload: the {summary.caseload} level 3 people by risk")
    elif caseload:
        console.print("no level 3 people yet: run `hoc run` first for the case manager's caseload")
    table = Table(title="demo users (DEMO PASSWORDS: for this demo only)")
    for column in ("username", "password", "role", "organisation / person"):
        table.add_column(column)
    for user in summary.users:
        table.add_row(user.username, user.password, user.role, user.where)
    console.print(table)


@db_app.command("unlock")
def unlock_command(
    username: Annotated[str, typer.Argument(help="The username to let sign in again.")],
    data_dir: DataDirOption = None,
) -> None:
    """End a sign-in lock now (e.g. a clinician locked out by someone guessing at their
    username): forgets the username's failed sign-ins; audited. Needs the server's signing
    key (HOC_API_SECRET_KEY, or session.key in the project folder)."""
    from sqlalchemy import select

    from houseofcare.api.config import ApiSettings, signing_key
    from houseofcare.api.throttle import SignInThrottle
    from houseofcare.store.audit import record_audit_now
    from houseofcare.store.database import engine_for, session_factory
    from houseofcare.store.models import User

    settings = settings_for(data_dir)
    api = ApiSettings()
    engine = engine_for(settings)
    try:
        factory = session_factory(engine)
        with factory() as session:
            user_id = session.scalar(select(User.id).where(User.username == username))
        if user_id is None:
            err.print(f"[red]error:[/red] no user {username!r}")
            raise typer.Exit(2)
        throttle = SignInThrottle.from_settings(factory, signing_key(api, settings.data_dir), api)
        failures = throttle.unlock(username)
        record_audit_now(
            factory,
            action="unlock",
            resource_type="User",
            user_id=user_id,
            username=username,
            resource_id=user_id,
            detail={"by": "hoc db unlock", "failures": failures},
        )
    finally:
        engine.dispose()
    if failures:
        console.print(f"{username} may sign in again ({failures} failed sign-ins forgotten)")
    else:
        console.print(
            f"no failed sign-ins recorded for {username} (if they are locked out, check that "
            "HOC_API_SECRET_KEY and --data-dir are the server's)"
        )
