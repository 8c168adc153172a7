"""Arrow columns in the analytic-table contract (`houseofcare.analytic_tables.CLINICAL_TABLES`).

Generators hand over numpy arrays (day numbers, code indices, person indices); these helpers
turn them into Arrow columns without Python-level loops and cast each table to the contract's
exact column names and types.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from houseofcare.analytic_tables import CLINICAL_TABLES
from houseofcare.synth.timeline import NEVER

ARROW_TYPES = {
    "VARCHAR": pa.string(),
    "DATE": pa.date32(),
    "TIMESTAMP": pa.timestamp("us"),
    "DOUBLE": pa.float64(),
    "BIGINT": pa.int64(),
}
MICROS_PER_DAY = 86_400_000_000


def schema(table: str) -> pa.Schema:
    return pa.schema([(name, ARROW_TYPES[kind]) for name, kind in CLINICAL_TABLES[table]])


def ids(prefix: str, numbers: np.ndarray) -> pa.Array:
    """``prefix`` followed by each number, e.g. ``s42-p17``."""
    text = pa.array(np.asarray(numbers, dtype=np.int64)).cast(pa.string())
    return pc.binary_join_element_wise(prefix, text, "")


def from_codes(
    values: Sequence[str], index: np.ndarray, missing: np.ndarray | None = None
) -> pa.Array:
    """Strings chosen by index from a short list (codes, displays, units); null where missing."""
    dictionary = pa.array(list(values), type=pa.string())
    indices = pa.array(np.asarray(index, dtype=np.int32), mask=missing)
    return pa.DictionaryArray.from_arrays(indices, dictionary).dictionary_decode()


def constant(value: str | None, n: int) -> pa.Array:
    if value is None:
        return pa.nulls(n, pa.string())
    return from_codes([value], np.zeros(n, dtype=np.int32))


def dates(day: np.ndarray) -> pa.Array:
    """Day numbers as ``date32``; `timeline.NEVER` becomes null."""
    day = np.asarray(day, dtype=np.int64)
    return pa.array(day.astype(np.int32), type=pa.date32(), mask=day >= NEVER)


def timestamps(day: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    """Fractional day numbers as microsecond timestamps (time of day from the fraction)."""
    micros = np.round(np.asarray(day, dtype=np.float64) * MICROS_PER_DAY).astype(np.int64)
    return pa.array(micros, type=pa.timestamp("us"), mask=missing)


def take(column: pa.Array, index: np.ndarray) -> pa.Array:
    return column.take(pa.array(np.asarray(index, dtype=np.int64)))


def finish(table: str, columns: dict[str, pa.Array], n: int) -> pa.Table:
    """The table in the contract's column order and types; absent columns are null."""
    target = schema(table)
    arrays = []
    for fld in target:
        col = columns.get(fld.name)
        arrays.append(pa.nulls(n, fld.type) if col is None else col.cast(fld.type))
    return pa.Table.from_arrays(arrays, schema=target)
