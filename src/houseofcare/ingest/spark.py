"""`hoc ingest --engine spark`: FHIR NDJSON into the Parquet lake's clinical tables, on Spark.

The same ViewDefinitions as the DuckDB ingest, compiled by the same compiler and carried to
Spark SQL (`spark_views`); the same contract (`analytic_tables.CLINICAL_TABLES`, column for
column, type for type); the same quarantine reasons where the two can give them. What differs
(docs/scaling.md, "Ingest on Spark"):

- The lake's clinical tables are *replaced* by what the files given hold (a full load, as a
  bulk export is): there is no merge with what the lake held before. Within the input, the
  newest version of each resource wins, by `meta.lastUpdated` and then by the later line, as
  in the DuckDB path.
- Every table is written to a staging folder beside `clinical/`; only when all of them (and
  the quarantine) are written is the folder renamed into place. An ingest that fails or is
  interrupted leaves the previous lake as it was.
- NDJSON only (plain or `.gz`): Bundles and FHIR XML go through the DuckDB ingest.

How a line is read: Spark reads the files as text; a line's number in its file comes from the
file block Spark read it from (`_metadata.file_block_start`) and its place in that block, so
a quarantined line is reported by file and line as in the DuckDB path. Each line is parsed
once for its type and id, then once more, by its type's view, with `from_json` into the
structure the view reads (leaves as VARIANT, so a wrong-typed value is seen, not NULLed). A line
that does not fit the structure (an element of the wrong shape) or holds an escaped control
character is looked at by `checks.problem`, the DuckDB path's own check, which gives the
reason; only those few lines reach Python.
"""

from __future__ import annotations

import gzip
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Final
from urllib.parse import unquote, urlparse

from houseofcare.analytic_tables import (
    CLINICAL_TABLES,
    KEY_COLUMN,
    QUARANTINE_TABLE,
)
from houseofcare.clinical_lake import clinical_folder, mark
from houseofcare.ingest import checks, quarantine
from houseofcare.ingest.loader import IngestReport, ResourceCounts
from houseofcare.ingest.sources import discover, is_ndjson_name, is_xml_name
from houseofcare.ingest.spark_views import CORRUPT, SparkView, compile_for_spark
from houseofcare.ingest.viewdef import load_views
from houseofcare.settings import Settings
from houseofcare.spark_session import start_spark
from houseofcare.terminology.code_maps import unknown_systems

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

#: The quarantine's folder, beside the tables in the lake's `clinical/` (`clinical_lake`).
QUARANTINE_FOLDER: Final[str] = "_quarantine"
#: A line's `seq`: its file's place in the input, then its line number, in one BIGINT, so that
#: a larger seq is a later line (the tie-break between versions) and the line is recoverable.
_LINE_BITS: Final[int] = 40
#: Spark types of the contract's DuckDB types.
SPARK_TYPES: Final[dict[str, str]] = {
    "VARCHAR": "STRING",
    "DATE": "DATE",
    "TIMESTAMP": "TIMESTAMP_NTZ",
    "DOUBLE": "DOUBLE",
    "BIGINT": "BIGINT",
    "BOOLEAN": "BOOLEAN",
}
_KEYS_SCHEMA: Final[str] = f"STRUCT<resourceType: VARIANT, id: VARIANT, `{CORRUPT}`: STRING>"
_CORRUPT_OPTIONS: Final[dict[str, str]] = {"columnNameOfCorruptRecord": CORRUPT}
#: The tables the event layer reads codes from (as in the DuckDB ingest's report).
_CODED_TABLES: Final = ("condition", "medication", "procedure", "observation")
_GZIP_MAGIC: Final[bytes] = b"\x1f\x8b"


class SparkIngestError(ValueError):
    """Input the Spark ingest does not read (named, with what to do instead)."""


def ingest_to_lake(
    *, paths: Sequence[Path], settings: Settings, spark: SparkSession | None = None
) -> IngestReport:
    """Load FHIR NDJSON files into the lake's clinical tables on Spark, replacing them.

    Raises `FileNotFoundError` for a missing path or a folder without FHIR files, and
    `SparkIngestError` for input it does not read (FHIR XML, Bundle documents), before Spark
    reads anything. On any failure the lake is left as it was.
    """
    started = time.perf_counter()
    views = {v.view.resource: v for v in map(compile_for_spark, load_views().values())}
    discovery = discover([Path(p) for p in paths])
    files = discovery.files
    _check_ndjson(files)
    spark = spark or start_spark(settings)
    clinical = clinical_folder(settings)
    clinical.parent.mkdir(parents=True, exist_ok=True)
    staging = clinical.parent / f".{clinical.name}-staging-{uuid.uuid4().hex}"
    try:
        run = _SparkIngest(spark, views, files, datetime.now().replace(microsecond=0))
        by_type, unknown, examples, coded = run.write(staging)
        mark(staging, settings, "hoc ingest --engine spark")
        _swap_into_place(staging, clinical)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return IngestReport(
        files=len(files),
        bytes=sum(p.stat().st_size for p in files),
        seconds=time.perf_counter() - started,
        by_type=dict(sorted(by_type.items())),
        skipped_unknown=dict(sorted(unknown.items())),
        quarantined=sum(c.quarantined for c in by_type.values()),
        quarantine_examples=examples,
        skipped_files=sorted((str(p), why) for p, why in discovery.skipped),
        unknown_code_systems=unknown_systems(coded),
    )


def _check_ndjson(files: list[Path]) -> None:
    """Only NDJSON: XML and whole JSON documents (Bundles) are the DuckDB ingest's."""
    refused = [p for p in files if is_xml_name(p) or not (is_ndjson_name(p) or _is_ndjson(p))]
    if refused:
        names = ", ".join(str(p) for p in refused[:5])
        raise SparkIngestError(
            f"the Spark ingest reads NDJSON only (one resource per line); not NDJSON: {names}. "
            "Load Bundles and FHIR XML with `hoc ingest --engine duckdb`."
        )


def _is_ndjson(path: Path) -> bool:
    """A `.json` file is NDJSON when its first non-empty line is a whole JSON object."""
    from houseofcare.ingest.sources import _is_document

    with path.open("rb") as raw:
        gzipped = raw.read(2) == _GZIP_MAGIC
    opener = gzip.open if gzipped else open
    with opener(path, "rb") as stream:
        head = stream.read(1 << 16)
    return not _is_document(head)


def _swap_into_place(staging: Path, clinical: Path) -> None:
    """The staged tables become the lake's: two renames, the old folder removed after.

    Between the renames `clinical/` is briefly absent; the previous tables are then in
    `.clinical-previous-*` beside it (never half-written), and are removed only afterwards.
    """
    previous = clinical.parent / f".{clinical.name}-previous-{uuid.uuid4().hex}"
    if clinical.exists():
        clinical.rename(previous)
    staging.rename(clinical)
    shutil.rmtree(previous, ignore_errors=True)


def _local_path(uri: str) -> Path:
    """A `file:` URI as Spark reports it, as a path."""
    parsed = urlparse(uri)
    return Path(unquote(parsed.path)) if parsed.scheme in ("", "file") else Path(uri)


class _SparkIngest:
    def __init__(
        self,
        spark: SparkSession,
        views: dict[str, SparkView],
        files: list[Path],
        ingested_at: datetime,
    ) -> None:
        self.spark = spark
        self.views = views
        self.files = files
        self.names = [str(p) for p in files]
        self.ingested_at = ingested_at
        #: DataFrames persisted during `write`, released at its end.
        self.cached: list[DataFrame] = []

    def write(
        self, staging: Path
    ) -> tuple[dict[str, ResourceCounts], Counter[str], list[tuple[str, int, str]], Counter[str]]:
        from pyspark import StorageLevel
        from pyspark.sql import functions as F

        classified = self._classified().persist(StorageLevel.MEMORY_AND_DISK)
        self.cached = [classified]
        try:
            present = {
                str(rt): int(n)
                for rt, n in classified.where("reason IS NULL AND rt IS NOT NULL")
                .groupBy("rt")
                .count()
                .collect()
            }
            unknown = Counter({rt: n for rt, n in present.items() if rt not in self.views})
            quarantined = [
                classified.where("reason IS NOT NULL").select(
                    "seq", F.col("rt").alias("resource_type"), "rid", "reason"
                )
            ]
            counts: dict[str, ResourceCounts] = {}
            for view in self.views.values():
                table = view.view.table
                if view.view.resource not in present:
                    self._write_table(self._empty(table), staging / table)
                    continue
                staged, unfit = self._stage(classified, view)
                staged = staged.persist(StorageLevel.MEMORY_AND_DISK)
                self.cached.append(staged)
                key = KEY_COLUMN[table]
                bad = (
                    staged.where("__error IS NOT NULL")
                    .groupBy("seq")
                    .agg(
                        F.concat_ws("; ", F.array_sort(F.collect_set("__error"))).alias("reason"),
                        F.first(key).alias("rid"),
                    )
                )
                quarantined.append(
                    bad.select(
                        "seq", F.lit(view.view.resource).alias("resource_type"), "rid", "reason"
                    )
                )
                quarantined.append(unfit)
                good = staged.join(bad.select("seq"), "seq", "left_anti")
                # One winner per id: the newest lastUpdated (undated counts as oldest), then
                # the later line (a larger seq), as in the DuckDB ingest.
                order = F.struct(
                    F.coalesce("last_updated", F.lit(datetime(1, 1, 1)).cast("timestamp_ntz")),
                    F.col("seq"),
                )
                winners = good.groupBy(key).agg(F.max_by("seq", order).alias("seq"))
                kept = good.join(winners.select("seq"), "seq", "left_semi")
                self._write_table(self._contract(kept, table), staging / table)
                loaded = (
                    self.spark.read.parquet(str(staging / table)).select(key).distinct().count()
                )
                counts[view.view.resource] = ResourceCounts(loaded=loaded)
            rows = self._quarantine_rows(quarantined)
            self._write_table(rows, staging / QUARANTINE_FOLDER)
            written = self.spark.read.parquet(str(staging / QUARANTINE_FOLDER))
            for rt, n in (
                written.groupBy(F.coalesce("resource_type", F.lit("(unknown)"))).count().collect()
            ):
                counts.setdefault(str(rt), ResourceCounts()).quarantined += int(n)
            examples = self._examples(written)
            coded = self._coded(staging)
        finally:
            for frame in self.cached:
                frame.unpersist()
        return (
            {t: c for t, c in counts.items() if c != ResourceCounts()},
            unknown,
            examples,
            coded,
        )

    # -- reading ---------------------------------------------------------------------------
    def _numbered(self) -> DataFrame:
        """Every line with its file (place in the input), line number and `seq`."""
        from pyspark.sql import functions as F

        def read() -> DataFrame:
            return self.spark.read.text(self.names).select(
                F.col("value").alias("line"),
                F.col("_metadata.file_path").alias("file_path"),
                F.col("_metadata.file_block_start").alias("block"),
                F.monotonically_increasing_id().alias("mid"),
            )

        # Lines of a file block are read in order by one task, so their ids are consecutive;
        # a line's number is the lines of the file's earlier blocks plus its place in its own.
        blocks = (
            read()
            .groupBy("file_path", "block")
            .agg(F.count(F.lit(1)).alias("n"), F.min("mid").alias("first_mid"))
        )
        place = {p.resolve(): i for i, p in enumerate(self.files)}
        offsets: list[tuple[str, int, int, int, int]] = []
        done: Counter[str] = Counter()
        for path, block, n, first_mid in sorted(blocks.collect(), key=lambda r: (r[0], r[1])):
            file_id = place[_local_path(path).resolve()]
            offsets.append((path, int(block), file_id, done[path], int(first_mid)))
            done[path] += int(n)
        frame = self.spark.createDataFrame(
            offsets,
            "file_path STRING, block BIGINT, file_id INT, before BIGINT, first_mid BIGINT",
        )
        line_number = F.col("before") + F.col("mid") - F.col("first_mid") + 1
        return (
            read()
            .join(F.broadcast(frame), ["file_path", "block"])
            .select(
                "file_id",
                line_number.alias("line_number"),
                (F.col("file_id").cast("bigint") * F.lit(1 << _LINE_BITS) + line_number).alias(
                    "seq"
                ),
                "line",
            )
        )

    def _classified(self) -> DataFrame:
        """Each non-blank line with its type, id, and why it cannot be staged (or NULL).

        The reasons are the DuckDB ingest's (`quarantine.classify_reason_sql`); lines of a
        type without a view are not quarantined, only counted.
        """
        from pyspark.sql import functions as F

        known = ", ".join(f"'{rt}'" for rt in sorted(self.views))
        k_type, k_id = "k.resourceType", "k.id"
        reason = (
            f"CASE WHEN k IS NULL OR k.{CORRUPT} IS NOT NULL "
            f"THEN concat('{quarantine.NOT_JSON}: ', left(trim(line), 60)) "
            f"WHEN {k_type} IS NULL OR is_variant_null({k_type}) THEN 'resourceType is missing' "
            f"WHEN schema_of_variant({k_type}) <> 'STRING' THEN concat('resourceType is ', "
            f"left(to_json({k_type}), 60), ', expected a string') "
            f"WHEN NOT array_contains(array({known}), rt) THEN NULL "
            f"WHEN {k_id} IS NULL OR is_variant_null({k_id}) THEN 'id is missing' "
            f"WHEN schema_of_variant({k_id}) <> 'STRING' THEN concat('id is ', "
            f"left(to_json({k_id}), 60), ', expected an id (string)') "
            "WHEN rid = '' THEN 'id is empty' END"
        )
        blank = "length(line) <= 64 AND line RLIKE '^[ \\\\t\\\\r\\\\n]*$'"
        parsed = (
            self._numbered()
            .where(f"NOT ({blank})")
            .select(
                "seq",
                "file_id",
                "line",
                F.from_json("line", _KEYS_SCHEMA, _CORRUPT_OPTIONS).alias("k"),
            )
            .selectExpr(
                "*",
                "try_variant_get(k.resourceType, '$', 'string') AS rt",
                "try_variant_get(k.id, '$', 'string') AS rid",
            )
        )
        return parsed.selectExpr("seq", "file_id", "line", "rt", "rid", f"{reason} AS reason")

    def _stage(self, classified: DataFrame, view: SparkView) -> tuple[DataFrame, DataFrame]:
        """The view's rows (seq, columns, __error) and the lines unfit to load (seq, reason)."""
        from pyspark import StorageLevel
        from pyspark.sql import functions as F
        from pyspark.sql.types import StringType

        resource = view.view.resource
        # A line that does not fit the structure, or may hold an escaped control character:
        # `checks.problem` decides, and says why (the DuckDB path's own words).
        control = (
            f"(line RLIKE '{_java_regex(checks._CONTROL_ESCAPE_LOOSE)}' "
            f"AND line RLIKE '{_java_regex(checks._CONTROL_ESCAPE)}')"
        )
        flagged = f"r.{CORRUPT} IS NOT NULL OR {control}"
        # Parsed once and kept: staging the fit lines and judging the flagged ones both read it
        # (the text is kept only for the flagged lines, which are few).
        typed = (
            classified.where(F.col("rt") == resource)
            .where("reason IS NULL")
            .select("seq", "line", F.from_json("line", view.schema, _CORRUPT_OPTIONS).alias("r"))
            .selectExpr("seq", "r", "line", f"{flagged} AS flagged")
            .selectExpr("seq", "r", "flagged", "CASE WHEN flagged THEN line END AS line")
            .persist(StorageLevel.MEMORY_AND_DISK)
        )
        self.cached.append(typed)
        if not typed.where("flagged").limit(1).count():
            # The usual bulk export: no line to judge, so no Python worker to start.
            typed.select("seq", "r").createOrReplaceTempView("parsed")
            none = self.spark.createDataFrame(
                [], "seq BIGINT, resource_type STRING, rid STRING, reason STRING"
            )
            return self.spark.sql(view.rows_sql), none
        problem_udf = F.udf(
            partial(checks.problem, structure=view.structure), StringType(), useArrow=False
        )
        suspects = (
            typed.where("flagged")
            .select("seq", "r", "line", problem_udf("line").alias("reason"))
            .persist(StorageLevel.MEMORY_AND_DISK)
        )
        self.cached.append(suspects)
        unfit = suspects.where("reason IS NOT NULL").select(
            "seq",
            F.lit(resource).alias("resource_type"),
            F.get_json_object("line", "$.id").alias("rid"),
            "reason",
        )
        fit = (
            typed.where("NOT flagged")
            .select("seq", "r")
            .unionByName(suspects.where("reason IS NULL").select("seq", "r"))
        )
        fit.createOrReplaceTempView("parsed")
        return self.spark.sql(view.rows_sql), unfit

    # -- writing ---------------------------------------------------------------------------
    def _contract(self, rows: DataFrame, table: str) -> DataFrame:
        """Exactly the contract's columns, in its order, with its types."""
        return rows.selectExpr(
            *(
                f"CAST(`{name}` AS {SPARK_TYPES[kind]}) AS `{name}`"
                for name, kind in CLINICAL_TABLES[table]
            )
        )

    def _empty(self, table: str) -> DataFrame:
        schema = ", ".join(f"`{n}` {SPARK_TYPES[k]}" for n, k in CLINICAL_TABLES[table])
        return self.spark.createDataFrame([], schema)

    def _quarantine_rows(self, parts: list[DataFrame]) -> DataFrame:
        from pyspark.sql import functions as F

        union = parts[0]
        for part in parts[1:]:
            union = union.unionByName(part)
        names = self.spark.createDataFrame(
            list(enumerate(self.names)), "file_id INT, source_file STRING"
        )
        mask = (1 << _LINE_BITS) - 1
        rows = union.select(
            (F.col("seq") / F.lit(1 << _LINE_BITS)).cast("int").alias("file_id"),
            (F.col("seq").bitwiseAND(F.lit(mask))).alias("line_number"),
            "resource_type",
            F.col("rid").alias("resource_id"),
            "reason",
        ).join(F.broadcast(names), "file_id")
        ingested = self.ingested_at.isoformat(sep=" ")
        return rows.selectExpr(
            *(
                f"CAST({name if name != 'ingested_at' else repr(ingested)} AS "
                f"{SPARK_TYPES[kind]}) AS `{name}`"
                for name, kind in QUARANTINE_TABLE
            )
        )

    def _write_table(self, frame: DataFrame, folder: Path) -> None:
        frame.write.mode("errorifexists").parquet(str(folder))

    def _examples(self, written: DataFrame) -> list[tuple[str, int, str]]:
        """The first quarantined lines, in the order the files were given, then by line."""
        from pyspark.sql import functions as F

        names = self.spark.createDataFrame(
            list(enumerate(self.names)), "file_id INT, source_file STRING"
        )
        rows = (
            written.join(F.broadcast(names), "source_file")
            .orderBy("file_id", "line_number", "reason")
            .select("source_file", "line_number", "reason")
            .limit(10)
            .collect()
        )
        return [(str(f), int(n), str(r)) for f, n, r in rows]

    def _coded(self, staging: Path) -> Counter[str]:
        counts: Counter[str] = Counter()
        for table in _CODED_TABLES:
            frame = self.spark.read.parquet(str(staging / table))
            rows = frame.where("code_system IS NOT NULL").groupBy("code_system").count().collect()
            counts.update({str(system): int(n) for system, n in rows})
        return counts


def _java_regex(pattern: str) -> str:
    """A DuckDB (RE2) pattern from `checks` as a Spark SQL string literal's body."""
    return pattern.replace("\\", "\\\\").replace("'", "\\'")
