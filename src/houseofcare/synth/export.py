"""Run the generator chunk by chunk and write the export atomically.

Everything is written into a temporary folder next to ``out`` and renamed into place only at
the end, so an interrupted run never leaves a half-written export that looks complete.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from houseofcare.analytic_tables import CLINICAL_TABLES, RESOURCE_TYPE_OF_TABLE
from houseofcare.progress import NullProgress, Progress
from houseofcare.synth import fhir, tables
from houseofcare.synth.chunk import CHUNK_SIZE, generate_chunk
from houseofcare.synth.nhs_number import check_population_size
from houseofcare.synth.practices import build_practices, organization_rows, practitioner_rows
from houseofcare.synth.tables import MICROS_PER_DAY
from houseofcare.synth.timeline import (
    DEFAULT_HISTORY_YEARS,
    MAX_HISTORY_YEARS,
    MIN_HISTORY_YEARS,
    Timeline,
    years_before,
)

FORMATS = ("ndjson", "parquet")
ORACLE_FILE = "oracle_emergency_admission.parquet"


def default_oracle_dates(as_of: dt.date) -> list[dt.date]:
    """As-of minus 12 months (scorable inside the history) and the as-of date (prospective)."""
    return [years_before(as_of, 1), as_of]


def run(
    *,
    patients: int,
    seed: int,
    as_of: dt.date,
    out: Path,
    fmt: str,
    gzip: bool,
    oracle_dates: list[dt.date] | None,
    progress: Progress | None,
    history_years: int = DEFAULT_HISTORY_YEARS,
) -> tuple[dict[str, int], float]:
    if not isinstance(patients, int) or patients < 1:
        raise ValueError(f"patients must be a whole number of at least 1, not {patients!r}")
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if gzip and fmt != "ndjson":
        raise ValueError("gzip applies to the ndjson format only")
    if not isinstance(as_of, dt.date):
        raise ValueError(f"as_of must be a date, not {as_of!r}")
    if not isinstance(history_years, int) or not (
        MIN_HISTORY_YEARS <= history_years <= MAX_HISTORY_YEARS
    ):
        raise ValueError(
            f"history_years must be a whole number from {MIN_HISTORY_YEARS} to "
            f"{MAX_HISTORY_YEARS}, not {history_years!r}"
        )
    check_population_size(patients, fmt)
    progress = progress or NullProgress()
    began = time.perf_counter()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = out.parent / f".{out.name}.partial-{os.getpid()}"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir()
    try:
        rows = _generate(
            patients, seed, Timeline(as_of, history_years), work, fmt, gzip, oracle_dates, progress
        )
        _swap_into_place(work, out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return rows, time.perf_counter() - began


def _generate(
    patients: int,
    seed: int,
    timeline: Timeline,
    work: Path,
    fmt: str,
    gzip: bool,
    oracle_dates: list[dt.date] | None,
    progress: Progress,
) -> dict[str, int]:
    as_of = timeline.as_of
    dates = default_oracle_dates(as_of) if oracle_dates is None else list(oracle_dates)
    practices = build_practices(patients, seed)
    staging = work if fmt == "parquet" else work / "_staging"
    staging.mkdir(exist_ok=True)
    (work / "truth").mkdir()
    stamp = pa.array([timeline.end * MICROS_PER_DAY], type=pa.timestamp("us"))
    rows: dict[str, int] = {}
    for name, columns in (
        ("organization", organization_rows(practices)),
        ("practitioner", practitioner_rows(practices)),
    ):
        n = len(next(iter(columns.values())))
        arrays = {k: pa.array(v, type=pa.string()) for k, v in columns.items()}
        arrays["last_updated"] = stamp.take(pa.array([0] * n))
        pq.write_table(tables.finish(name, arrays, n), staging / f"{name}.parquet")
        rows[name] = n
    writers: dict[str, pq.ParquetWriter] = {}
    chunks = range(0, patients, CHUNK_SIZE)
    task = progress.task("Generating people", total=patients)
    try:
        for number, first in enumerate(chunks):
            size = min(CHUNK_SIZE, patients - first)
            result = generate_chunk(
                chunk=number,
                first=first,
                size=size,
                seed=seed,
                practices=practices,
                timeline=timeline,
                oracle_dates=dates,
            )
            for name, table in result.tables.items():
                if name == "bp_panel" and fmt == "parquet":
                    continue
                if name not in writers:
                    path = (
                        work / "truth" / ORACLE_FILE
                        if name == "oracle"
                        else staging / f"{name}.parquet"
                    )
                    writers[name] = pq.ParquetWriter(path, table.schema, compression="snappy")
                writers[name].write_table(table, row_group_size=1 << 20)
                rows[name] = rows.get(name, 0) + table.num_rows
            progress.advance(task, size)
    finally:
        for writer in writers.values():
            writer.close()
    rows.pop("oracle", None)
    rows.pop("bp_panel", None)
    if fmt == "parquet":
        return {name: rows.get(name, 0) for name in CLINICAL_TABLES}
    task = progress.task("Writing FHIR NDJSON", total=len(fhir.RESOURCES))
    counts = {}
    con = fhir.connect()
    try:
        for resource in fhir.RESOURCES:
            counts[resource] = fhir.write_resource(con, staging, work, resource, gzip=gzip)
            progress.advance(task)
    finally:
        con.close()
    shutil.rmtree(staging)
    _write_manifest(work, as_of, counts, gzip)
    return counts


def _write_manifest(work: Path, as_of: dt.date, counts: dict[str, int], gzip: bool) -> None:
    """The FHIR Bulk Data manifest, with the as-of date as transaction time (reproducible)."""
    suffix = ".ndjson.gz" if gzip else ".ndjson"
    manifest = {
        "transactionTime": f"{as_of.isoformat()}T00:00:00Z",
        "request": "https://houseofcare.org.uk/synthetic/$export",
        "requiresAccessToken": False,
        "output": [
            {"type": resource, "url": f"{resource}{suffix}", "count": counts[resource]}
            for resource in sorted(set(RESOURCE_TYPE_OF_TABLE.values()))
            if resource in counts
        ],
        "error": [],
    }
    (work / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def _swap_into_place(work: Path, out: Path) -> None:
    """Replace ``out`` with ``work`` at the last moment (two renames on one filesystem)."""
    if out.exists() and not (out.is_dir() and not any(out.iterdir())):
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        out.rename(old)
        work.rename(out)
        if old.is_dir():
            shutil.rmtree(old)
        else:
            old.unlink()
    else:
        if out.exists():
            out.rmdir()
        work.rename(out)
