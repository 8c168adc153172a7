"""The `hoc` command: parsing and printing only; the work is in functions tests call directly."""

from __future__ import annotations

import datetime as dt
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from houseofcare import __version__
from houseofcare.cli_access import DataDirOption, TokenOption, UserOption, settings_for

if TYPE_CHECKING:
    from collections.abc import Sequence

    from houseofcare.engine import DuckDBEngine, Query
    from houseofcare.population.readings import UnusableReadings
    from houseofcare.settings import Settings

app = typer.Typer(
    name="hoc",
    help=(
        "houseofcare: find who needs what level of care for long-term conditions, "
        "and keep one holistic care plan per person."
    ),
    no_args_is_help=True,
    add_completion=False,
    # Click's plain help: Typer's rich help formatter costs about 0.1 s of every `--help`,
    # a third of the start-up budget (issue 16); the text is the same.
    rich_markup_mode=None,
)
console = Console()
err = Console(stderr=True)


class OutputFormat(str, Enum):
    ndjson = "ndjson"
    parquet = "parquet"


def _parse_date(value: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a date in the form YYYY-MM-DD", param_hint=option
        ) from None


@app.callback(invoke_without_command=True)
def main(
    version: Annotated[bool, typer.Option("--version", help="Show the version and exit.")] = False,
) -> None:
    """houseofcare command line."""
    if version:
        console.print(f"houseofcare {__version__}")
        raise typer.Exit()


@app.command()
def synth(
    patients: Annotated[
        int, typer.Option("--patients", "-n", min=1, help="How many people.")
    ] = 10_000,
    seed: Annotated[
        int, typer.Option(help="Random seed: the same seed gives the same population.")
    ] = 1,
    as_of: Annotated[
        str, typer.Option("--as-of", help="The date the record runs up to (YYYY-MM-DD).")
    ] = ("2026-03-31"),
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the export to.")] = Path(
        "hoc-data/synthetic"
    ),
    fmt: Annotated[
        OutputFormat,
        typer.Option("--format", help="ndjson: a FHIR bulk export; parquet: analytic tables."),
    ] = OutputFormat.ndjson,
    gzip: Annotated[
        bool, typer.Option("--gzip", help="Compress the NDJSON files (.ndjson.gz).")
    ] = False,
    history_years: Annotated[
        int,
        typer.Option(
            "--history-years",
            min=3,
            max=10,
            help="Years of GP and hospital history before the as-of date (5: the risk model's "
            "36-month look-back at its training date, as-of − 24 months).",
        ),
    ] = 5,
) -> None:
    """Write a synthetic English population as a FHIR R4 bulk export (or as Parquet tables)."""
    from houseofcare.progress import rich_progress
    from houseofcare.synth import generate_population

    as_of_date = _parse_date(as_of, "--as-of")
    try:
        with rich_progress() as progress:
            summary = generate_population(
                patients=patients,
                seed=seed,
                as_of=as_of_date,
                out=out,
                fmt=fmt.value,
                gzip=gzip,
                progress=progress,
                history_years=history_years,
            )
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    table = Table(title=f"{summary.people:,} people written to {summary.out} ({summary.format})")
    table.add_column("resource" if summary.format == "ndjson" else "table")
    table.add_column("rows", justify="right")
    for name, rows in sorted(summary.rows.items()):
        table.add_row(name, f"{rows:,}")
    console.print(table)
    console.print(f"done in {summary.seconds:.1f} s")


class IngestEngine(str, Enum):
    """Where `hoc ingest` loads: the DuckDB analytic store, or the Parquet lake on Spark."""

    duckdb = "duckdb"
    spark = "spark"


@app.command()
def ingest(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="NDJSON files (.ndjson, .ndjson.gz), Bundle JSON files, FHIR XML files (.xml, "
            ".xml.gz: a resource or a Bundle), or bulk-export folders."
        ),
    ],
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit with status 1 if any record was quarantined.")
    ] = False,
    engine: Annotated[
        IngestEngine,
        typer.Option(
            "--engine",
            help="duckdb: merge into the analytic store. spark: replace the Parquet lake's "
            "clinical tables (<lake>/clinical/<table>/) with these NDJSON files, on Apache Spark.",
        ),
    ] = IngestEngine.duckdb,
    data_dir: DataDirOption = None,
) -> None:
    """Load FHIR R4 resources into the analytic store; bad records go to quarantine."""
    from houseofcare.ingest import ingest_paths
    from houseofcare.progress import rich_progress

    settings = settings_for(data_dir)
    if engine is IngestEngine.spark:
        report = _ingest_on_spark(paths, settings)
        _print_ingest_report(report, settings, into=f"the lake {settings.lake_path}")
    else:
        try:
            with rich_progress() as progress:
                report = ingest_paths(paths=paths, settings=settings, progress=progress)
        except FileNotFoundError as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err.print("[yellow]interrupted:[/yellow] nothing was written; the store is as it was.")
            raise typer.Exit(130) from None
        _print_ingest_report(report, settings)
    if strict and report.quarantined:
        err.print(f"[red]--strict:[/red] {report.quarantined:,} record(s) quarantined")
        raise typer.Exit(1)


def _ingest_on_spark(paths: list[Path], settings: Settings) -> object:
    """`hoc ingest --engine spark`: the lake's clinical tables replaced, or nothing changed."""
    from rich.markup import escape

    from houseofcare.ingest.spark import SparkIngestError, ingest_to_lake
    from houseofcare.spark_session import SparkStartError

    try:
        return ingest_to_lake(paths=paths, settings=settings)
    except (FileNotFoundError, SparkIngestError, SparkStartError) as exc:
        # all found before anything is written: the lake is as it was
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        err.print("[yellow]interrupted:[/yellow] nothing was written; the lake is as it was.")
        raise typer.Exit(130) from None


def _print_ingest_report(report: object, settings: Settings, *, into: str | None = None) -> None:
    from houseofcare.ingest import IngestReport

    assert isinstance(report, IngestReport)
    table = Table(title=f"ingest into {into or settings.analytic_db_path}")
    for column in ("resource type", "loaded", "updated", "unchanged", "quarantined"):
        table.add_column(column, justify="left" if column == "resource type" else "right")
    for rtype, counts in sorted(report.by_type.items()):
        table.add_row(
            rtype,
            f"{counts.loaded:,}",
            f"{counts.updated:,}",
            f"{counts.unchanged:,}",
            f"{counts.quarantined:,}",
        )
    console.print(table)
    if report.skipped_unknown:
        skipped = ", ".join(f"{k} {v:,}" for k, v in sorted(report.skipped_unknown.items()))
        console.print(f"skipped (no view for this resource type): {skipped}")
    if report.unknown_code_systems:
        unknown = ", ".join(f"{k} {v:,}" for k, v in report.unknown_code_systems.items())
        console.print(f"rows coded in a system no rule reads and no map translates: {unknown}")
    if report.skipped_files:
        console.print("skipped file(s), not FHIR data (nothing quarantined):")
        for file, why in report.skipped_files:
            console.print(f"  {file}: {why}", markup=False)
    mb = report.bytes / 1e6
    rate = mb / report.seconds if report.seconds else 0.0
    fast = f", {report.fast_files} read whole by DuckDB" if report.fast_files else ""
    console.print(
        f"{report.files} file(s){fast}, {mb:,.1f} MB in {report.seconds:.1f} s ({rate:,.0f} MB/s)"
    )
    if report.quarantined:
        console.print(
            f"[yellow]{report.quarantined:,} record(s) quarantined[/yellow] "
            f"(see {'the `quarantine` table' if into is None else 'clinical/_quarantine/'}); "
            "first ones:"
        )
        for file, line, reason in report.quarantine_examples:
            console.print(f"  {file}:{line}: {reason}")


class RunEngine(str, Enum):
    duckdb = "duckdb"
    spark = "spark"


class RunResults(str, Enum):
    store = "store"
    lake = "lake"


@app.command("run")
def run_command(
    as_of: Annotated[
        str, typer.Option("--as-of", help="Compute everything as at this date (YYYY-MM-DD).")
    ] = "2026-03-31",
    engine: Annotated[
        RunEngine,
        typer.Option(
            "--engine",
            help="duckdb: embedded, on this machine; spark: Apache Spark at HOC_SPARK_MASTER "
            "(docs/scaling.md).",
        ),
    ] = RunEngine.duckdb,
    source: Annotated[
        Path | None,
        typer.Option(
            "--from",
            help="A folder of clinical tables as Parquet (`hoc synth --format parquet`, "
            "`hoc ingest --engine spark`). Default: the analytic store on duckdb, the lake's "
            "clinical tables on spark (copied from the analytic store if the lake has none).",
        ),
    ] = None,
    results: Annotated[
        RunResults,
        typer.Option(
            "--results",
            help="store: the analytic store the pages read; lake: Parquet by table and run "
            "under HOC_LAKE_DIR/results, for either engine to read.",
        ),
    ] = RunResults.store,
    data_dir: DataDirOption = None,
) -> None:
    """Run the pipeline at a date: registers, multimorbidity, frailty, care gaps, risk scores
    (when a model is trained) and triangle levels, recorded as a run."""
    from rich.markup import escape

    from houseofcare.pipeline import run_with
    from houseofcare.progress import rich_progress
    from houseofcare.spark_session import SparkStartError

    settings = settings_for(data_dir)
    as_of_date = _parse_date(as_of, "--as-of")
    if source is None and not settings.analytic_db_path.exists():
        err.print(
            f"[red]error:[/red] no analytic store at {settings.analytic_db_path}; "
            "run `hoc ingest` first"
        )
        raise typer.Exit(2)
    try:
        with rich_progress() as progress:
            summary = run_with(
                settings=settings,
                as_of=as_of_date,
                engine=engine.value,
                source=source,
                results=results.value,
                progress=progress,
            )
    except SparkStartError as exc:  # started before any store is opened: nothing changed
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None
    except FileNotFoundError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    except ValueError as exc:  # a rule, policy or model that cannot be used; nothing was written
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    table = Table(title=f"run {summary.run_id}: {summary.people:,} living people at {as_of}")
    table.add_column("register")
    table.add_column("people", justify="right")
    for register, count in sorted(summary.register_entries.items()):
        table.add_row(register, f"{count:,}")
    console.print(table)
    if summary.levels:
        levels = ", ".join(f"level {k}: {v:,}" for k, v in sorted(summary.levels.items()))
        scored = (
            f"risk model {summary.model_version}"
            if summary.model_version
            else "no risk model trained: level 3 from admissions only"
        )
        console.print(f"triangle ({scored}): {levels}")
    _print_unusable_readings(summary.unusable_readings)
    console.print(f"done in {summary.seconds:.1f} s")


def _print_unusable_readings(unusable: Sequence[UnusableReadings]) -> None:
    """Readings left out of every rule (unit or value unusable), so nobody mistakes them for
    people never measured (hazard H-043)."""
    if not unusable:
        console.print("readings: every reading a rule reads had a unit it could use")
        return
    table = Table(title="readings no rule could use (unit or value; see docs/indicators.md)")
    for column in ("quantity", "why", "readings", "people"):
        table.add_column(column, justify="right" if column in {"readings", "people"} else "left")
    for u in unusable:
        table.add_row(u.quantity, u.problem, f"{u.readings:,}", f"{u.people:,}")
    console.print(table)


@app.command()
def prevalence(
    by_practice: Annotated[
        bool, typer.Option("--by-practice", help="One row per practice and register.")
    ] = False,
    run_id: Annotated[
        str | None, typer.Option("--run", help="A run id (default: the latest run).")
    ] = None,
    csv: Annotated[Path | None, typer.Option("--csv", help="Also write the table as CSV.")] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Register prevalence beside QOF England (practice counts are disclosure-controlled)."""
    from houseofcare.population.prevalence import prevalence as prevalence_of
    from houseofcare.population.rules import packaged_register_rules

    con, chosen = _open_run(settings_for(data_dir), run_id)
    try:
        rel = prevalence_of(con, chosen, packaged_register_rules(), by_practice=by_practice)
    except LookupError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    if csv:
        con.relation(rel.sql).write_csv(str(csv))
    _print_relation(rel, f"register prevalence, run {chosen}", left_aligned={"register", "name"})


def _open_run(settings: Settings, run_id: str | None) -> tuple[DuckDBEngine, str]:
    """The analytic store (read-only) and the chosen run id, or a clear error and exit 2."""
    from houseofcare.engine import DuckDBEngine
    from houseofcare.results import AnalyticResults
    from houseofcare.store.analytic import connect

    if not settings.analytic_db_path.exists():
        err.print(f"[red]error:[/red] no analytic store at {settings.analytic_db_path}")
        raise typer.Exit(2)
    con = connect(settings, read_only=True)
    chosen = run_id or AnalyticResults(con).latest_run_id()
    if chosen is None:
        err.print("[red]error:[/red] no pipeline run yet; run `hoc run --as-of DATE` first")
        raise typer.Exit(2)
    return DuckDBEngine(con), chosen


def _print_relation(
    rel: Query, title: str, *, none: str = "*", left_aligned: set[str] | None = None
) -> None:
    """Print a query's result; `none` shows NULLs ("*" where NULL means suppressed).

    With `left_aligned`, the columns not named in it (the figures) are right-aligned.
    """
    table = Table(title=title)
    for column in rel.columns:
        right = left_aligned is not None and column not in left_aligned
        table.add_column(column, justify="right" if right else "left")
    for row in rel.rows():
        table.add_row(*[none if v is None else str(v) for v in row])
    console.print(table)


@app.command()
def inequalities(
    run_id: Annotated[
        str | None, typer.Option("--run", help="A run id (default: the latest run).")
    ] = None,
    measure: Annotated[
        list[str] | None,
        typer.Option("--measure", help="Only this measure (repeat for more); default: all."),
    ] = None,
    csv: Annotated[
        Path | None, typer.Option("--csv", help="Also write every figure as CSV (long form).")
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Inequalities in the key measures: rates by IMD quintile, ethnic group, sex and age band
    with 95% limits, age-standardised rates, and the slope and relative index of inequality
    across IMD deciles (docs/inequalities.md). Counts are disclosure-controlled."""
    from houseofcare.commissioning.inequality import packaged_measures, report
    from houseofcare.commissioning.inequality_output import print_report, write_csv
    from houseofcare.commissioning.population import practices

    chosen_measures = packaged_measures()
    if measure:
        unknown = sorted(set(measure) - {m.id for m in chosen_measures})
        if unknown:
            err.print(
                f"[red]error:[/red] no measure {', '.join(unknown)}; choose from "
                + ", ".join(m.id for m in chosen_measures)
            )
            raise typer.Exit(2)
        chosen_measures = tuple(m for m in chosen_measures if m.id in measure)
    engine, chosen = _open_run(settings_for(data_dir), run_id)
    try:
        found = report(engine, chosen, practices(engine.con), chosen_measures)
    except LookupError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    print_report(console, found, chosen)
    if csv:
        write_csv(csv, found)
        console.print(f"written: {csv}")


@app.command()
def achievement(
    run_id: Annotated[
        str | None, typer.Option("--run", help="A run id (default: the latest run).")
    ] = None,
    csv: Annotated[Path | None, typer.Option("--csv", help="Also write the table as CSV.")] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Care-gap indicator achievement per practice (disclosure-controlled counts)."""
    from houseofcare.population.indicators import achievement as achievement_of

    con, chosen = _open_run(settings_for(data_dir), run_id)
    rel = achievement_of(con, chosen)
    if csv:
        con.relation(rel.sql).write_csv(str(csv))
    _print_relation(rel, f"indicator achievement, run {chosen}")


@app.command()
def recall(
    practice: Annotated[str | None, typer.Option("--practice", help="Practice id.")] = None,
    indicator: Annotated[
        str | None, typer.Option("--indicator", help="Indicator id, e.g. DM_HBA1C_58.")
    ] = None,
    run_id: Annotated[
        str | None, typer.Option("--run", help="A run id (default: the latest run).")
    ] = None,
    csv: Annotated[
        Path | None, typer.Option("--csv", help="Write the list as CSV instead of printing it.")
    ] = None,
    limit: Annotated[int, typer.Option(help="Rows to print (the CSV has them all).")] = 50,
    proportionate: Annotated[
        bool,
        typer.Option(
            "--proportionate",
            help="Favour Core20PLUS5 people (tiers/proportionate.toml): their gaps count as "
            "overdue longer, so they come up the list; nobody leaves it.",
        ),
    ] = False,
    data_dir: DataDirOption = None,
    user: UserOption = None,
    token: TokenOption = None,
) -> None:
    """The recall list: people with an open care gap, most overdue first (identifiable: sign
    in; you get only the people the access policy lets you see, and it is audited)."""
    from houseofcare.cli_access import authorise_or_exit
    from houseofcare.population.indicators import export_recall_csv, recall_list
    from houseofcare.tiers.proportionate import packaged_proportionate_policy

    settings = settings_for(data_dir)
    con, chosen = _open_run(settings, run_id)
    scope = authorise_or_exit(
        settings,
        user,
        "recall",
        practice_id=practice,
        token=token,
        run=chosen,
        indicator=indicator,
        csv=str(csv) if csv else None,
        proportionate=proportionate,
    )
    policy = packaged_proportionate_policy()
    favour = policy if (proportionate or policy.enabled) else None
    if csv:
        rows = export_recall_csv(
            con, chosen, csv, practice, indicator, scope=scope.people, favour=favour
        )
        console.print(f"{rows:,} people with an open care gap written to {csv}")
        return
    rel = recall_list(
        con, chosen, practice, indicator, limit=limit, scope=scope.people, favour=favour
    )
    _print_relation(rel, f"recall list, run {chosen} (first {limit})", none="")


@app.command()
def status(data_dir: DataDirOption = None) -> None:
    """Show what the analytic store holds."""
    from houseofcare.analytic_tables import CLINICAL_TABLES
    from houseofcare.results import AnalyticResults
    from houseofcare.store.analytic import connect

    settings = settings_for(data_dir)
    if not settings.analytic_db_path.exists():
        err.print(
            f"[red]error:[/red] no analytic store at {settings.analytic_db_path}; "
            "run `hoc ingest` first"
        )
        raise typer.Exit(2)
    con = connect(settings, read_only=True)
    table = Table(title=f"analytic store {settings.analytic_db_path}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name in [*CLINICAL_TABLES, "quarantine"]:
        ((count,),) = con.execute(f'SELECT count(*) FROM "{name}"').fetchall()
        table.add_row(name, f"{count:,}")
    console.print(table)
    results = AnalyticResults(con)
    run = results.latest_run()
    if run is None:
        console.print("no run yet: `hoc run` computes registers, care gaps and risk")
        return
    console.print(f"latest run {run.run_id}")
    _print_unusable_readings(results.unusable_readings(run.run_id))


#: How long before `--as-of` the quickstart's earlier run is (a quarter).
QUICKSTART_EARLIER_RUN_DAYS = 91


@app.command()
def quickstart(
    patients: Annotated[
        int, typer.Option("--patients", "-n", min=1, help="How many synthetic people.")
    ] = 10_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
    as_of: Annotated[
        str, typer.Option("--as-of", help="The record runs up to this date.")
    ] = "2026-03-31",
    data_dir: DataDirOption = None,
    no_serve: Annotated[
        bool, typer.Option("--no-serve", help="Stop after seeding; do not start the server.")
    ] = False,
) -> None:
    """The main job on embedded defaults: synthesise, ingest, train the admission-risk model,
    run the pipeline (registers, care gaps, risk, triangle), set up the operational store with
    demo users, then serve the app on http://127.0.0.1:8000."""
    from houseofcare.ingest import ingest_paths
    from houseofcare.pipeline import run_pipeline
    from houseofcare.progress import rich_progress
    from houseofcare.synth import generate_population

    settings = settings_for(data_dir)
    export = settings.data_dir / "synthetic"
    as_of_date = _parse_date(as_of, "--as-of")
    with rich_progress() as progress:
        summary = generate_population(
            patients=patients,
            seed=seed,
            as_of=as_of_date,
            out=export,
            fmt="ndjson",
            progress=progress,
        )
    console.print(
        f"synthesised {summary.people:,} people into {summary.out} in {summary.seconds:.1f} s"
    )
    with rich_progress() as progress:
        report = ingest_paths(paths=[export], settings=settings, progress=progress)
    _print_ingest_report(report, settings)
    from houseofcare.risk.cli import train_command

    try:
        train_command(as_of=as_of, data_dir=data_dir)
    except typer.Exit:
        # Too few people or admissions to train on: the run still places everyone on the
        # triangle, by the utilisation rule alone, and says so in each level-3 reason.
        err.print("[yellow]no risk model: the triangle uses the utilisation rule only[/yellow]")
    # An earlier run first, as a network that has used houseofcare for a while has: the
    # caseload then shows who is new to level 3, who left it and who was in hospital since.
    earlier = as_of_date - dt.timedelta(days=QUICKSTART_EARLIER_RUN_DAYS)
    with rich_progress() as progress:
        first = run_pipeline(settings=settings, as_of=earlier, progress=progress)
    console.print(f"earlier pipeline run {first.run_id} as of {earlier} (to compare with)")
    with rich_progress() as progress:
        run = run_pipeline(settings=settings, as_of=as_of_date, progress=progress)
    console.print(
        f"pipeline run {run.run_id}: {run.people:,} living people, "
        f"{sum(run.register_entries.values()):,} register entries in {run.seconds:.1f} s"
    )
    from houseofcare.store.cli import seed_demo_command, upgrade_command

    upgrade_command(data_dir=data_dir)
    seed_demo_command(people=min(patients, 1_000), plans=min(patients, 50), data_dir=data_dir)
    console.print(
        "next: `hoc prevalence`, `hoc achievement`, `hoc tiers`, "
        "`hoc recall --user demo.gp` (see --help)"
    )
    if no_serve:
        console.print(
            "then `hoc serve` and open http://127.0.0.1:8000/ to sign in with a demo login "
            "above (the API's docs are at /docs)"
        )
        return
    from houseofcare.api.serve import run_server

    run_server(data_dir=data_dir)


from houseofcare.cli_access import token_app  # noqa: E402 (sub-apps registered after commands)
from houseofcare.store.cli import db_app  # noqa: E402

app.add_typer(db_app, name="db")
app.add_typer(token_app, name="token")

from houseofcare.store.audit_cli import audit_app  # noqa: E402 (registered like `hoc db`)

app.add_typer(audit_app, name="audit")

from houseofcare.api.serve import serve  # noqa: E402 (the web stack is imported by `serve` only)

app.command("serve")(serve)

from houseofcare.risk.cli import model_app, risk_assessments_command, tiers_command  # noqa: E402

app.add_typer(model_app, name="model")
app.command("tiers")(tiers_command)
app.command("risk-assessments")(risk_assessments_command)

# --- issue 13: the directory of services (selfcare/cli.py)
from houseofcare.selfcare.cli import services_app  # noqa: E402

app.add_typer(services_app, name="services")

# --- issue 14: the commissioning plan's outputs (commissioning/plan_output/cli.py)
from houseofcare.commissioning.plan_output.cli import commission_command  # noqa: E402

app.command("commission")(commission_command)

if __name__ == "__main__":
    app()
