"""The analytic engine seam: the pipeline's analytics run on DuckDB or on Apache Spark.

The registers, scores, care gaps and prevalence are written once, as set-based SQL in DuckDB's
dialect over named tables. An engine is what runs them; it does these things:

- ``register``: take a small parameter table (Arrow) under a name (codes of a rule, weights);
- ``view`` / ``materialise``: keep a query under a name, lazily or computed once;
- ``rows`` / ``arrow`` / ``columns``: run a query and hand back its result;
- ``read_parquet``: name a Parquet file (``hoc synth --format parquet``) as a table;
- ``write_parquet``: write a query's rows as Parquet (the result writers' hand-over);
- ``map_batches``: run a Python function over a query's Arrow batches where the rows are (the
  risk model), keeping the result under a name.

DuckDB (the embedded default, inside `hoc run`'s one transaction) runs the SQL as written.
Spark runs it after SQLGlot transpiles it from DuckDB's dialect to Spark SQL, so the queries keep
to constructs both dialects mean the same way (docs/registers.md, "Engines"); every spec case in
tests/spec runs on both engines to prove it. SQL was kept (rather than rewriting the rules as
Ibis expressions) because the queries read as the QOF rules they implement, and one transpile
step is a smaller surface than a second expression language.

PySpark is imported only when a Spark engine is made, so the DuckDB path never needs it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

import duckdb
import pyarrow as pa
import sqlglot

from houseofcare.spark_session import spark_session
from houseofcare.sql_text import sql_literal

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["DuckDBEngine", "Engine", "Query", "SparkEngine", "spark_session", "sql_literal"]

Row = tuple[Any, ...]


class Engine(Protocol):
    """What the analytics need from an engine; see the module docstring."""

    name: str

    def register(self, name: str, table: pa.Table) -> None: ...

    def view(self, name: str, sql: str) -> None: ...

    def materialise(self, name: str, sql: str) -> None: ...

    def rows(self, sql: str) -> list[Row]: ...

    def arrow(self, sql: str) -> pa.Table: ...

    def columns(self, sql: str) -> list[str]: ...

    def read_parquet(self, name: str, path: Path) -> None: ...

    def map_batches(
        self, name: str, sql: str, function: BatchFunction, schema: pa.Schema
    ) -> None: ...

    def write_parquet(self, sql: str, folder: Path) -> None: ...


#: A function over Arrow record batches (e.g. applying the risk model), run where the rows are:
#: in this process on DuckDB, inside Spark's Python workers (`mapInArrow`) on Spark.
BatchFunction = Callable[[pa.RecordBatch], pa.RecordBatch]

#: Rows per batch handed to a `BatchFunction` on DuckDB: big enough that the function's fixed
#: cost is small, small enough that a model's working memory stays bounded.
BATCH_ROWS: Final = 200_000


@dataclass(frozen=True)
class Query:
    """A query (DuckDB dialect) bound to the engine that will run it; nothing runs until asked."""

    engine: Engine
    sql: str

    def rows(self) -> list[Row]:
        return self.engine.rows(self.sql)

    def arrow(self) -> pa.Table:
        return self.engine.arrow(self.sql)

    @property
    def columns(self) -> list[str]:
        return self.engine.columns(self.sql)

    def where(self, condition: str) -> Query:
        """The rows meeting `condition` (SQL over this query's columns); order is not kept."""
        return Query(self.engine, f"SELECT * FROM ({self.sql}) AS q WHERE {condition}")


class DuckDBEngine:
    """The embedded engine: the SQL runs as written on one DuckDB connection."""

    name = "duckdb"

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def register(self, name: str, table: pa.Table) -> None:
        self.con.register(name, table)

    def view(self, name: str, sql: str) -> None:
        # a temp view by SQL, not relation.create_view: that fails on a file database when the
        # query reads registered Arrow tables
        self.con.execute(f'CREATE OR REPLACE TEMP VIEW "{name}" AS {sql}')

    def materialise(self, name: str, sql: str) -> None:
        self.con.execute(f'CREATE OR REPLACE TEMP TABLE "{name}" AS {sql}')

    def rows(self, sql: str) -> list[Row]:
        # fetchall, not fetchone: DuckDB keeps a half-read result open and blocks the connection
        return self.con.execute(sql).fetchall()

    def arrow(self, sql: str) -> pa.Table:
        return self.con.sql(sql).to_arrow_table()

    def columns(self, sql: str) -> list[str]:
        return list(self.con.sql(sql).columns)

    def read_parquet(self, name: str, path: Path) -> None:
        """A Parquet file, or a folder of parts (as Spark writes them), as a view."""
        files = path / "*.parquet" if path.is_dir() else path
        self.view(name, f"SELECT * FROM read_parquet({sql_literal(str(files))})")

    def map_batches(self, name: str, sql: str, function: BatchFunction, schema: pa.Schema) -> None:
        """`function` over the query's rows, batch by batch; the result is kept under `name`."""
        reader = self.con.sql(sql).to_arrow_reader(BATCH_ROWS)
        batches = [function(batch) for batch in reader]
        self.register(name, pa.Table.from_batches(batches, schema=schema))

    def write_parquet(self, sql: str, folder: Path) -> None:
        """The query's rows as Parquet file(s) in `folder` (made if need be)."""
        folder.mkdir(parents=True, exist_ok=True)
        target = sql_literal(str(folder / "part-0.parquet"))
        self.con.execute(f"COPY ({sql}) TO {target} (FORMAT parquet)")

    def relation(self, sql: str) -> duckdb.DuckDBPyRelation:
        """The query as a DuckDB relation, for DuckDB-only output such as `write_csv`."""
        return self.con.sql(sql)


@lru_cache(maxsize=256)
def spark_sql(sql: str) -> str:
    """DuckDB-dialect SQL as Spark SQL (SQLGlot); a construct it cannot carry fails here.

    SQLGlot's transpile alone, with no rewrite of ours: what the queries keep to so that it
    means the same on both engines is declared in `engine_dialect.toml`."""
    statements = sqlglot.transpile(
        sql, read="duckdb", write="spark", unsupported_level=sqlglot.ErrorLevel.RAISE
    )
    if len(statements) != 1:
        raise ValueError(f"expected one SQL statement, got {len(statements)}")
    return statements[0]


class SparkEngine:
    """Apache Spark: the same SQL, transpiled; tables are the session's temporary views.

    Parameter tables are turned into Spark DataFrames only when the next query runs, so a rule
    set that registers several small tables costs one hand-over, not one per table.
    """

    name = "spark"

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark
        self._pending: dict[str, pa.Table] = {}

    def register(self, name: str, table: pa.Table) -> None:
        self._pending[name] = table

    def dataframe(self, sql: str) -> DataFrame:
        """The query as a Spark DataFrame, e.g. to write the results as Parquet at scale."""
        pending, self._pending = self._pending, {}
        for name, table in pending.items():
            self.spark.createDataFrame(table).createOrReplaceTempView(name)
        return self.spark.sql(spark_sql(sql))

    def view(self, name: str, sql: str) -> None:
        # unlike a DuckDB view, the tables it reads are bound now: make it just before use
        self.dataframe(sql).createOrReplaceTempView(name)

    def materialise(self, name: str, sql: str) -> None:
        # computed now (a local checkpoint): later queries (scores, care gaps) read the rows
        # instead of re-planning and recomputing the registers
        self.dataframe(sql).localCheckpoint().createOrReplaceTempView(name)

    def rows(self, sql: str) -> list[Row]:
        return [tuple(row) for row in self.dataframe(sql).collect()]

    def arrow(self, sql: str) -> pa.Table:
        return self.dataframe(sql).toArrow()

    def columns(self, sql: str) -> list[str]:
        return list(self.dataframe(sql).columns)

    def read_parquet(self, name: str, path: Path) -> None:
        self._pending.pop(name, None)
        self.spark.read.parquet(str(path)).createOrReplaceTempView(name)

    def map_batches(self, name: str, sql: str, function: BatchFunction, schema: pa.Schema) -> None:
        """`function` over the query's rows inside Spark's Python workers (`mapInArrow`): the
        rows never come to the driver. Kept under `name`, computed once (a local checkpoint)."""
        from pyspark.sql.pandas.types import from_arrow_schema

        def each(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            for batch in batches:
                yield function(batch)

        frame = self.dataframe(sql).mapInArrow(each, from_arrow_schema(schema))
        frame.localCheckpoint().createOrReplaceTempView(name)

    def write_parquet(self, sql: str, folder: Path) -> None:
        """The query's rows as Parquet files in `folder`, written by the executors."""
        self.dataframe(sql).write.mode("overwrite").parquet(str(folder))
