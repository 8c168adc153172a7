"""`hoc audit …`: seal the audit trail and check that nobody has rewritten it.

Parsing and printing only; the work is in `houseofcare.store.audit_seal` and
`houseofcare.store.audit_verify`, which tests call directly. Both commands use the app's
store URL (`HOC_DATABASE_URL`): sealing needs only INSERT and SELECT.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from houseofcare.cli_access import settings_for
from houseofcare.store.cli import DataDirOption, _shown_url

audit_app = typer.Typer(
    name="audit",
    help="The audit trail's hash chain: seal new events, verify nothing was changed.",
    no_args_is_help=True,
    rich_markup_mode=None,  # plain help, as `hoc --help` (see cli.py)
)
console = Console()
err = Console(stderr=True)


@audit_app.command("seal")
def seal_command(
    wait: Annotated[
        float,
        typer.Option(
            "--wait", min=0, help="Seconds to wait for transactions still writing events."
        ),
    ] = 10.0,
    data_dir: DataDirOption = None,
) -> None:
    """Seal every audit event that can no longer change (`hoc serve` also does this every
    few seconds)."""
    from houseofcare.store.audit_seal import seal
    from houseofcare.store.database import engine_for

    settings = settings_for(data_dir)
    engine = engine_for(settings)
    try:
        result = seal(engine, wait_seconds=wait)
    finally:
        engine.dispose()
    if not result.settled:
        err.print(
            f"[yellow]not sealed:[/yellow] transactions writing audit events were still open "
            f"after {wait:g} s; try again"
        )
        raise typer.Exit(3)
    plural = "" if result.seals == 1 else "s"
    console.print(f"sealed {result.events:,} events in {result.seals} seal{plural}")


def _head(value: str | None) -> tuple[int, str] | None:
    if value is None:
        return None
    seal_id, _, digest = value.partition(":")
    if not seal_id.isdigit() or len(digest) != 64:
        raise typer.BadParameter("give it as SEAL_ID:DIGEST, as `hoc audit verify` prints it")
    return int(seal_id), digest


@audit_app.command("verify")
def verify_command(
    head: Annotated[
        str | None,
        typer.Option(
            "--head",
            help="A head printed by an earlier verify (SEAL_ID:DIGEST): also check that it "
            "is still in the chain, which catches a chain rewritten to its end.",
            show_default=False,
        ),
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Check every seal; name the first broken link or changed, removed or slipped-in event
    (exit 1), and count the events not yet sealed."""
    from houseofcare.store.audit_verify import verify
    from houseofcare.store.database import engine_for

    settings = settings_for(data_dir)
    expected = _head(head)
    engine = engine_for(settings)
    try:
        report = verify(engine, expect_head=expected)
    finally:
        engine.dispose()
    if report.broken is not None:
        broken = report.broken
        where = (
            f"seal {broken.seal_id} (events {broken.first_event_id}–{broken.last_event_id})"
            if broken.last_event_id
            else "the chain's head"
        )
        err.print(f"[red]audit trail BROKEN[/red] in {_shown_url(settings)} at {where}:")
        err.print(f"  {broken.what}")
        err.print(f"  ({report.seals} seals before it check out)")
        raise typer.Exit(1)
    console.print(
        f"audit trail intact in {_shown_url(settings)}: {report.seals} seals cover "
        f"{report.sealed_events:,} events; {report.unsealed_events:,} events not yet sealed"
    )
    if report.head is not None:
        seal_id, digest = report.head
        console.print(f"head seal {seal_id}:{digest} (record it to check against later)")
