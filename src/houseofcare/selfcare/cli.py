"""`hoc services …`: import a directory feed, export the directory.

Parsing and printing only; the work is in `houseofcare.selfcare.directory_import`, which the
tests call directly. Heavy imports stay inside the commands so `hoc --help` stays quick.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from houseofcare.cli_access import DataDirOption, settings_for

if TYPE_CHECKING:
    pass

services_app = typer.Typer(
    name="services",
    help="The directory of services (Open Referral UK): import a feed, export the directory.",
    no_args_is_help=True,
    rich_markup_mode=None,  # plain help, as `hoc --help` (see cli.py)
)
console = Console()
err = Console(stderr=True)

#: Rejections printed one by one; past this many, how many more.
SHOWN_REJECTIONS = 50


@services_app.command("import")
def import_command(
    path: Annotated[Path, typer.Argument(help="A feed file, or a folder of them.")],
    format: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="oruk (ORUK 3.0 JSON or NDJSON), oruk1 (ORUK 1.0 JSON) or csv; "
            "told from each file when not given.",
            show_default=False,
        ),
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Import services from ORUK 3.0 JSON/NDJSON, ORUK 1.0 JSON or the directory CSV. Each
    record is checked against the published ORUK schema; a bad one is reported with where and
    why and the rest are kept. Importing the same feed again changes nothing. Exits non-zero
    only if nothing could be read."""
    from houseofcare.progress import rich_progress
    from houseofcare.selfcare.directory_import import FeedError, FeedFormat, import_path
    from houseofcare.store.database import engine_for, session_factory
    from houseofcare.store.migrate import upgrade

    try:
        chosen = FeedFormat(format) if format else None
    except ValueError:
        err.print(f"[red]error:[/red] --format must be one of {', '.join(FeedFormat)}")
        raise typer.Exit(2) from None
    settings = settings_for(data_dir)
    upgrade(settings)
    engine = engine_for(settings)
    try:
        factory = session_factory(engine)
        with rich_progress() as progress:
            summary = import_path(factory, path, version=chosen, progress=progress)
    except FeedError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        err.print("interrupted: the file being imported was rolled back (earlier files are kept)")
        raise typer.Exit(130) from None
    finally:
        engine.dispose()
    counts = summary.counts
    console.print(
        f"services from {path}: {counts.imported:,} imported, {counts.updated:,} updated, "
        f"{counts.unchanged:,} unchanged, {len(summary.rejected):,} rejected"
    )
    for problem in summary.unreadable:
        err.print(f"[red]not read:[/red] {problem}")
    for rejection in summary.rejected[:SHOWN_REJECTIONS]:
        err.print(f"[yellow]rejected:[/yellow] {rejection}")
    if len(summary.rejected) > SHOWN_REJECTIONS:
        err.print(f"… and {len(summary.rejected) - SHOWN_REJECTIONS:,} more rejected")
    if summary.read == 0:
        err.print("[red]error:[/red] no service could be read")
        raise typer.Exit(1)


@services_app.command("export")
def export_command(
    format: Annotated[
        str, typer.Option("--format", help="oruk (ORUK 3.0 JSON, one page) or csv.")
    ] = "oruk",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Write to this file (default: standard output).", show_default=False
        ),
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Export the whole directory as ORUK 3.0 JSON (valid against the published schema) or
    as the directory CSV."""
    from houseofcare.selfcare.directory_import import export_csv, export_oruk
    from houseofcare.store.database import engine_for, session_factory

    if format not in ("oruk", "csv"):
        err.print("[red]error:[/red] --format must be oruk or csv")
        raise typer.Exit(2)
    from sqlalchemy.exc import OperationalError, ProgrammingError

    settings = settings_for(data_dir)
    engine = engine_for(settings)
    try:
        with session_factory(engine)() as session:
            text = export_oruk(session) if format == "oruk" else export_csv(session)
    except (OperationalError, ProgrammingError):
        err.print("[red]error:[/red] no directory in this store yet: `hoc services import` first")
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        err.print(f"wrote {out}")
