"""`hoc model train|evaluate`, `hoc tiers` and `hoc risk-assessments`: parsing and printing only.

The work is in `risk.model`, `risk.evaluate`, `risk.fhir` and `tiers.report`, which tests call
directly. Heavy imports (LightGBM, scikit-learn) happen inside the commands, so `hoc --help`
stays fast; so do DuckDB and the settings (issue 16).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from houseofcare.cli_access import (
    DataDirOption,
    TokenOption,
    UserOption,
    authorise_or_exit,
    settings_for,
)

if TYPE_CHECKING:
    import duckdb

    from houseofcare.settings import Settings

model_app = typer.Typer(
    name="model",
    help="Train and evaluate the emergency-admission risk model (level 3 case finding).",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,  # plain help, as `hoc --help` (see cli.py)
)
console = Console()
err = Console(stderr=True)

RunOption = Annotated[str | None, typer.Option("--run", help="A run id (default: the latest run).")]


def _date(value: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a date in the form YYYY-MM-DD", param_hint=option
        ) from None


def _store(settings: Settings, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    from houseofcare.store.analytic import connect

    if not settings.analytic_db_path.exists():
        err.print(
            f"[red]error:[/red] no analytic store at {settings.analytic_db_path}; "
            "run `hoc ingest` first"
        )
        raise typer.Exit(2)
    return connect(settings, read_only=read_only)


@model_app.command("train")
def train_command(
    as_of: Annotated[
        str,
        typer.Option(
            "--as-of",
            help="The date the record runs up to (YYYY-MM-DD): the model trains on the year "
            "from 24 months before it and is validated on the last 12 months.",
        ),
    ] = "2026-03-31",
    data_dir: DataDirOption = None,
) -> None:
    """Train, calibrate and validate the model on a temporal split; save a versioned artefact."""
    from houseofcare.engine import DuckDBEngine
    from houseofcare.progress import rich_progress
    from houseofcare.risk.model import ModelError, train_model

    settings = settings_for(data_dir)
    as_of_date = _date(as_of, "--as-of")
    con = _store(settings, read_only=True)
    try:
        with rich_progress() as progress:
            result = train_model(
                DuckDBEngine(con), settings=settings, as_of=as_of_date, progress=progress
            )
    except ModelError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    finally:
        con.close()
    meta = result.model.metadata
    table = Table(
        title=f"model {result.model.version} (validation at "
        f"{meta['validation_window']['index_date']})"
    )
    table.add_column("measure")
    table.add_column("value", justify="right")
    for name, value in meta["validation_metrics"].items():
        table.add_row(name, f"{value:.4f}")
    console.print(table)
    console.print(
        f"trained on {result.training_people:,} people at "
        f"{meta['training_window']['index_date']}, validated on {result.validation_people:,}; "
        f"{meta['trees']} trees; saved to {result.model.path} in {result.seconds:.1f} s"
    )


@model_app.command("evaluate")
def evaluate_command(
    version: Annotated[
        str | None, typer.Option("--model", help="Model version (default: the latest).")
    ] = None,
    index_date: Annotated[
        str | None,
        typer.Option("--index-date", help="Evaluate at this date (default: the validation date)."),
    ] = None,
    oracle: Annotated[
        Path | None,
        typer.Option(
            "--oracle",
            help="Synthetic data only: the export folder (with truth/) or the oracle Parquet "
            "file, to score the generator's true risk beside the model.",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Report folder (default DATA_DIR/reports/model-VERSION)."),
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Write the model report (HTML and JSON): discrimination, calibration, case-finding yield,
    by sex, age, deprivation and ethnic group, beside the baselines and published figures.
    Counts in it are disclosure-controlled."""
    from houseofcare.engine import DuckDBEngine
    from houseofcare.progress import rich_progress
    from houseofcare.risk.evaluate import EvaluationError, evaluate_model, write_report
    from houseofcare.risk.model import ModelError, load_model

    settings = settings_for(data_dir)
    when = _date(index_date, "--index-date") if index_date else None
    try:
        model = load_model(settings, version)
    except ModelError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    if model is None:
        err.print("[red]error:[/red] no trained model yet; run `hoc model train` first")
        raise typer.Exit(2)
    con = _store(settings, read_only=True)
    try:
        with rich_progress() as progress:
            report = evaluate_model(
                DuckDBEngine(con), model=model, index_date=when, oracle=oracle, progress=progress
            )
    except (ModelError, EvaluationError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    finally:
        con.close()
    folder = out or settings.data_dir / "reports" / f"model-{model.version}"
    html, json_path = write_report(report, folder)
    table = Table(title=f"model {model.version} at {report['index_date']}")
    for column in ("score", "AUROC (95% CI)", "AP", "Brier", "slope", "PPV top 1%"):
        table.add_column(column, justify="left" if column == "score" else "right")
    for name, s in report["scores"].items():
        table.add_row(
            report["score_titles"][name],
            f"{s['auroc']} ({s['auroc_ci'][0]}-{s['auroc_ci'][1]})",
            str(s["average_precision"]),
            str(s["brier"]),
            str(s["calibration_slope"]),
            str(s["top"]["1%"]["ppv"]),
        )
    console.print(table)
    for target in report["targets"]:
        mark = "[green]met[/green]" if target["met"] else "[red]not met[/red]"
        console.print(f"{mark}: {target['target']} — {target['reached']}")
    console.print(f"report: {html} and {json_path}")


def tiers_command(
    run_id: RunOption = None,
    by_practice: Annotated[
        bool, typer.Option("--by-practice", help="Counts per practice as well as overall.")
    ] = False,
    movers_limit: Annotated[
        int, typer.Option("--movers", help="How many movers to print (0: none).")
    ] = 50,
    csv: Annotated[
        Path | None, typer.Option("--csv", help="Write every mover to this CSV file.")
    ] = None,
    data_dir: DataDirOption = None,
    user: UserOption = None,
    token: TokenOption = None,
) -> None:
    """The triangle: people per level (disclosure-controlled) and who moved level since the
    previous run, new to case management first. The movers list is IDENTIFIABLE: shown only
    to a --user whose role may take it (gp, nurse, case_manager, admin), and audited."""
    from houseofcare.results import AnalyticResults
    from houseofcare.tiers.report import level_counts, movers

    settings = settings_for(data_dir)
    con = _store(settings, read_only=True)
    results = AnalyticResults(con)
    chosen = run_id or results.latest_run_id()
    if chosen is None or not results.has("tier"):
        err.print("[red]error:[/red] no triangle yet; run `hoc run --as-of DATE` first")
        raise typer.Exit(2)
    if not results.rows_in_run("tier", chosen):
        err.print(f"[red]error:[/red] run {chosen} placed nobody on the triangle")
        raise typer.Exit(2)
    _print(level_counts(con, chosen, by_practice=False), f"triangle, run {chosen}")
    if by_practice:
        _print(level_counts(con, chosen, by_practice=True), "triangle per practice")
    console.print("counts: 1-7 suppressed (*), others rounded to the nearest 5")
    previous_run = results.previous_run(chosen, with_levels=True)
    if previous_run is None:
        console.print("no earlier run with a triangle: no movers to show")
        return
    previous = previous_run.run_id
    if not (movers_limit or csv):
        return
    if user is None and token is None:
        console.print(
            "movers are identifiable: sign in with --user (or --token) to see those you may"
        )
        return
    scope = authorise_or_exit(
        settings, user, "tiers movers", token=token, run=chosen, previous=previous
    )
    moved = movers(con, chosen, previous, scope=scope.people)
    if csv:
        moved.write_csv(str(csv))
        console.print(f"movers written to {csv} (identifiable)")
    if movers_limit:
        _print(
            moved.limit(movers_limit),
            f"movers since run {previous} (identifiable; first {movers_limit})",
        )


def risk_assessments_command(
    out: Annotated[Path, typer.Option("--out", help="The NDJSON file to write.")],
    run_id: RunOption = None,
    practice: Annotated[
        str | None,
        typer.Option("--practice", help="One practice's people (a GP or nurse: always theirs)."),
    ] = None,
    data_dir: DataDirOption = None,
    user: UserOption = None,
    token: TokenOption = None,
) -> None:
    """Write a FHIR R4 RiskAssessment (NDJSON) for everyone a run scored. IDENTIFIABLE: one
    resource per person with their NHS number (role-checked and audited: --user); keep it
    inside the care team's systems."""
    from houseofcare.results import AnalyticResults
    from houseofcare.risk.fhir import write_risk_assessments

    settings = settings_for(data_dir)
    con = _store(settings, read_only=True)
    results = AnalyticResults(con)
    chosen = run_id or results.latest_run_id()
    if chosen is None:
        err.print("[red]error:[/red] no pipeline run yet; run `hoc run --as-of DATE` first")
        raise typer.Exit(2)
    scored = results.rows_in_run("risk_score", chosen)
    if not scored:
        err.print(
            f"[red]error:[/red] run {chosen} has no risk scores; train a model "
            "(`hoc model train`) and run the pipeline again"
        )
        raise typer.Exit(2)
    scope = authorise_or_exit(
        settings,
        user,
        "risk-assessments",
        practice_id=practice,
        token=token,
        run=chosen,
        out=str(out),
    )
    written = write_risk_assessments(con, chosen, out, practice, scope=scope.people)
    console.print(
        f"{written:,} RiskAssessment resources from run {chosen} written to {out} (identifiable)"
    )


def _print(rel: object, title: str) -> None:
    import duckdb

    assert isinstance(rel, duckdb.DuckDBPyRelation)
    table = Table(title=title)
    for column in rel.columns:
        table.add_column(column)
    for row in rel.fetchall():
        table.add_row(*["*" if v is None else str(v) for v in row])
    console.print(table)
