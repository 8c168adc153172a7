"""`hoc ingest --engine spark` on a 10,000-person export, beside Pathling 6.3.1 and DuckDB.

On the Condition, Observation and Patient files of a `hoc synth` export (10,000 people by
default, about 79 MB), the script measures, on one machine:

1. our Spark ingest of the three files into a Parquet lake (seconds, MB/s, peak resident
   memory of Python and the Spark JVM together, sampled over the process tree);
2. the QOF registers computed on Spark over the lake's tables (the tables not ingested are
   registered empty);
3. our DuckDB `hoc ingest` of the same files, in a process of its own, for reference.

It prints a markdown table with the Pathling 6.3.1 figures measured earlier on the same machine
beside ours (docs/scaling.md, "Beside Pathling"), and the load average, because other work
may share the machine.

    .venv/bin/python benchmarks/bench_spark_ingest.py [--export FOLDER] [--patients 10000]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).parent))

from _common import AS_OF, load_average, markdown_table, synthetic_export
from houseofcare.clinical_lake import clinical_folder, read_clinical
from houseofcare.engine import SparkEngine
from houseofcare.ingest.spark import ingest_to_lake
from houseofcare.population.registers import compute_registers
from houseofcare.population.rules import packaged_register_rules
from houseofcare.settings import Settings
from houseofcare.spark_session import start_spark
from houseofcare.terminology.codelist import packaged_codelists

#: The three resource types Pathling was measured on.
RESOURCES = ("Condition", "Observation", "Patient")
#: Pathling 6.3.1 on the same export and machine (measured before this script existed).
PATHLING = {
    "import": "70 s",
    "views": "18 s (three views in FHIRPath)",
    "memory": "2.8 GB (JVM)",
    "register": "failed after 433 s (a QOF register as pure FHIRPath, 106 codes)",
}


class PeakMemory:
    """Peak resident memory of a process and its children, sampled every 0.2 s."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                tree = [self.process, *self.process.children(recursive=True)]
                total = 0
                for proc in tree:
                    try:
                        total += proc.memory_info().rss
                    except psutil.NoSuchProcess:
                        continue
                self.peak = max(self.peak, total)
            except psutil.NoSuchProcess:
                return
            self._stop.wait(0.2)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def gb(self) -> float:
        return self.peak / 1024**3


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by a process and its living children: a measure
    that other jobs on the machine disturb much less than seconds."""
    process = psutil.Process(pid)
    total = 0.0
    for proc in [process, *process.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def three_files(export: Path) -> list[Path]:
    """The export's Condition, Observation and Patient NDJSON files."""
    files = [export / f"{resource}.ndjson" for resource in RESOURCES]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        sys.exit(f"not in the export: {', '.join(missing)}")
    return files


def registers_on_spark(engine: SparkEngine, clinical: Path) -> tuple[int, float]:
    """The QOF registers over the lake's tables: (register rows, seconds)."""
    started = time.perf_counter()
    read_clinical(engine, clinical)
    registers = compute_registers(engine, packaged_register_rules(), packaged_codelists(), AS_OF)
    engine.materialise("run_register_result", registers.sql)
    [(rows,)] = engine.rows("SELECT count(*) FROM run_register_result")
    return int(rows), time.perf_counter() - started


def duckdb_ingest(files: list[Path], data_dir: Path) -> tuple[float, float, float]:
    """`hoc ingest` (DuckDB) of the files in a process of its own: (seconds, CPU-s, peak GB)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    command = [sys.executable, "-m", "houseofcare.ingest", str(data_dir), *map(str, files)]
    quiet = subprocess.DEVNULL
    with (
        subprocess.Popen(command, stdout=quiet, stderr=quiet) as proc,
        PeakMemory(proc.pid) as memory,
    ):
        code = proc.wait()
    seconds = time.perf_counter() - started
    if code not in (0, 1):  # 1: something was quarantined
        sys.exit(f"the DuckDB ingest failed ({code})")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu, memory.gb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export", type=Path, help="a `hoc synth` NDJSON export folder")
    parser.add_argument("--patients", type=int, default=10_000)
    args = parser.parse_args()
    export = args.export or synthetic_export(args.patients)
    files = three_files(export)
    mb = sum(f.stat().st_size for f in files) / 1e6
    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="bench-spark-ingest-") as scratch:
        settings = Settings(data_dir=Path(scratch) / "data")
        with PeakMemory(os.getpid()) as memory:
            started = time.perf_counter()
            spark = start_spark(settings)
            startup = time.perf_counter() - started
            cpu_before = cpu_seconds(os.getpid())
            report = ingest_to_lake(paths=files, settings=settings, spark=spark)
            ingest_cpu = cpu_seconds(os.getpid()) - cpu_before
            ingest_peak = memory.gb
            rows, register_s = registers_on_spark(SparkEngine(spark), clinical_folder(settings))
            register_cpu = cpu_seconds(os.getpid()) - cpu_before - ingest_cpu
        spark_peak = memory.gb
        spark.stop()
        duck_s, duck_cpu, duck_gb = duckdb_ingest(files, Path(scratch) / "duckdb")
    load_after = load_average()
    loaded = sum(c.loaded for c in report.by_type.values())
    print(
        f"{export.name}: Condition, Observation and Patient, {mb:.0f} MB; "
        f"{loaded:,} resources loaded, {report.quarantined:,} quarantined; "
        f"{rows:,} register rows; Spark {settings.spark_master}, driver "
        f"{settings.spark_driver_memory}; load average {load_before:.1f} before, "
        f"{load_after:.1f} after (2 cores)\n"
    )
    print(
        markdown_table(
            ["step", "houseofcare", "Pathling 6.3.1"],
            [
                ["Spark start-up", f"{startup:.0f} s", "(not counted)"],
                [
                    "ingest (read, views, write Parquet)",
                    f"{report.seconds:.0f} s ({mb / report.seconds:.1f} MB/s), "
                    f"{ingest_cpu:.0f} CPU-s",
                    f"import {PATHLING['import']}, then views {PATHLING['views']}",
                ],
                [
                    "peak memory, ingest",
                    f"{ingest_peak:.1f} GB (JVM + Python)",
                    PATHLING["memory"],
                ],
                [
                    "QOF registers on Spark",
                    f"{register_s:.0f} s, {register_cpu:.0f} CPU-s (all registers)",
                    PATHLING["register"],
                ],
                ["peak memory, ingest + registers", f"{spark_peak:.1f} GB (JVM + Python)", ""],
                [
                    "DuckDB `hoc ingest`, for reference",
                    f"{duck_s:.0f} s ({mb / duck_s:.1f} MB/s), {duck_cpu:.0f} CPU-s, "
                    f"{duck_gb:.1f} GB",
                    "",
                ],
            ],
        )
    )


if __name__ == "__main__":
    main()
