"""`hoc serve`: run the API and pages with uvicorn.

Worker processes each build the app from the environment (`HOC_*`), so the command passes
its options on through the environment rather than through Python objects.

uvicorn runs on uvloop with the httptools parser (both pinned): the pure-Python asyncio loop
and h11 parser cost more than our own work on a small request. The per-request access log is
off by default: the audit trail already records every identifiable read and write (who, what,
which person), an access log would copy NHS numbers from search URLs into a plain-text file,
and writing a line per request costs throughput. `--access-log` turns it on for debugging.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = DEFAULT_HOST,
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = DEFAULT_PORT,
    workers: Annotated[
        int,
        typer.Option(
            help="Worker processes (two per core is a good start: a browser's connection "
            "stays with one worker).",
            min=1,
        ),
    ] = 1,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Project folder for the stores (default ./hoc-data, or HOC_DATA_DIR).",
            show_default=False,
        ),
    ] = None,
    access_log: Annotated[
        bool,
        typer.Option(
            "--access-log/--no-access-log",
            help="Log every request (off by default: the audit trail records identifiable "
            "access, and URLs may carry NHS numbers).",
        ),
    ] = False,
    log_level: Annotated[
        str,
        typer.Option(help="uvicorn's log level: critical, error, warning, info or debug."),
    ] = "warning",
) -> None:
    """Serve the FHIR API, the app endpoints and the docs (/docs) over HTTP."""
    if log_level not in LOG_LEVELS:
        raise typer.BadParameter(
            f"{log_level!r} is not one of {', '.join(LOG_LEVELS)}", param_hint="--log-level"
        )
    run_server(
        host=host,
        port=port,
        workers=workers,
        data_dir=data_dir,
        access_log=access_log,
        log_level=log_level,
    )


def run_server(
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    workers: int = 1,
    data_dir: Path | None,
    access_log: bool = False,
    log_level: str = "warning",
) -> None:
    """Start uvicorn in this process (blocks until it is stopped)."""
    import uvicorn

    from houseofcare.api.audit_sealer import run_in_process
    from houseofcare.api.config import ApiSettings
    from houseofcare.settings import Settings
    from houseofcare.store.migrate import upgrade

    if data_dir is not None:
        os.environ["HOC_DATA_DIR"] = str(data_dir)
    # migrate once, here, so several workers never race to create the schema; then forget
    # the owner's URL, so the workers (which inherit the environment) never hold it
    upgrade(Settings())
    os.environ.pop("HOC_DATABASE_OWNER_URL", None)
    seconds = ApiSettings().audit_seal_seconds
    sealer = run_in_process(seconds) if seconds else None
    typer.echo(
        f"houseofcare on http://{host}:{port}/ (sign in there; API docs at /docs); Ctrl-C stops it"
    )
    uvicorn.run(
        "houseofcare.api.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        log_level=log_level,
        access_log=access_log,
    )
    if sealer is not None:
        sealer.terminate()
        sealer.join(timeout=10)
