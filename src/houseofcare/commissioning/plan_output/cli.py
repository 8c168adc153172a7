"""`hoc commission`: the local commissioning plan for an area, written as HTML, PDF, XLSX or
CSV (the file's suffix chooses). Parsing and printing only; the work is `make_plan` and
`plan_output.write_plan`, which tests call directly."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from houseofcare.cli_access import DataDirOption, TokenOption, UserOption

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Iterator

    from houseofcare.commissioning.plan_model import Area, CommissioningPlan
    from houseofcare.progress import RichProgress
    from houseofcare.settings import Settings

err = Console(stderr=True)
console = Console()


@contextmanager
def _progress_on_stderr() -> Iterator[RichProgress]:
    """A progress bar on standard error, so standard output holds only the summary."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from houseofcare.progress import RichProgress

    bar = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )
    with bar:
        yield RichProgress(bar)


def make_plan(
    settings: Settings, engine: Any, run_id: str, as_of: dt.date, area: Area
) -> CommissioningPlan:
    """The plan from the analytic engine and the operational store (read in one session)."""
    from houseofcare.commissioning.plan import build_plan
    from houseofcare.store.database import engine_for, session_factory

    store_engine = engine_for(settings)
    try:
        with session_factory(store_engine)() as session:
            return build_plan(engine, session, run_id, as_of, area)
    finally:
        store_engine.dispose()


def commission_command(
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="The file to write: .html and .pdf for a board, .xlsx and .csv (one long "
            "table) for analysts; its suffix chooses the format.",
        ),
    ],
    area: Annotated[
        str,
        typer.Option(
            "--area",
            help="`all`, a locality (local authority name or code) or a practice id.",
        ),
    ] = "all",
    run_id: Annotated[
        str | None, typer.Option("--run", help="A run id (default: the latest run).")
    ] = None,
    data_dir: DataDirOption = None,
    user: UserOption = None,
    token: TokenOption = None,
) -> None:
    """The local commissioning plan for an area: needs, capacity, inequalities and trends,
    every count disclosure-controlled. Sign in (--user or --token): the plan is built from
    identifiable records, so who builds it is decided and audited."""
    from houseofcare.cli import _open_run
    from houseofcare.cli_access import ExportRefused
    from houseofcare.commissioning.plan_output import (
        FORMATS,
        PdfUnavailable,
        UnknownFormat,
        format_of,
        write_plan,
    )
    from houseofcare.commissioning.plan_output.access import authorise_plan
    from houseofcare.commissioning.plan_output.areas import UnknownArea, resolve_area
    from houseofcare.commissioning.plan_output.cells import too_small
    from houseofcare.commissioning.population import practices
    from houseofcare.results import AnalyticResults
    from houseofcare.settings import Settings

    settings = Settings(data_dir=data_dir) if data_dir else Settings()
    try:
        suffix = format_of(out)
    except UnknownFormat as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    engine, chosen = _open_run(settings, run_id)
    run = AnalyticResults(engine.con).run(chosen)
    if run is None:
        err.print(f"[red]error:[/red] no run {chosen} in {settings.analytic_db_path}")
        raise typer.Exit(2)
    try:
        where = resolve_area(area, practices(engine.con))
    except UnknownArea as exc:
        err.print(f"[red]error:[/red] {exc}", markup=False)
        raise typer.Exit(2) from None
    try:
        authorise_plan(
            settings,
            username=user,
            token=token,
            detail={
                "run": chosen,
                "area": where.kind if where.code is None else f"{where.kind} {where.code}",
                "format": suffix.lstrip("."),
                "file": str(out),
            },
        )
    except ExportRefused as exc:
        err.print(f"[red]refused:[/red] {exc}", markup=False)
        raise typer.Exit(2) from None
    assert suffix in FORMATS
    try:
        with _progress_on_stderr() as progress:
            task = progress.task(f"building the plan for {where.name}", total=1)
            plan = make_plan(settings, engine, chosen, run.as_of, where)
            progress.advance(task)
            write_plan(plan, out, chromium=settings.chromium, progress=progress)
    except PdfUnavailable as exc:
        err.print(f"[red]error:[/red] {exc}; {out} was not changed", markup=False)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        err.print(f"[yellow]interrupted:[/yellow] {out} was not changed")
        raise typer.Exit(130) from None
    console.print(
        f"commissioning plan for {where.name}, run {chosen} (figures as of {run.as_of}), "
        f"written to {out}",
        markup=False,
    )
    if too_small(plan):
        console.print(
            f"{where.name} has too few people for any figure to survive disclosure control: "
            "the plan says so instead of printing empty tables",
            markup=False,
        )
