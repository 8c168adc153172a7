"""FHIR primitive types of view columns: their DuckDB type, conversion and validity check.

Every column value arrives as raw JSON text (DuckDB `JSON`), so a wrong-typed value such as
``"value": "abc"`` or an object where a code is expected is *detected* and sent to quarantine
rather than silently becoming NULL. Dates FHIR allows to be partial (``2019``, ``2019-03``) are
stored as the first day of the period; date-times are converted to UTC.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from houseofcare.nhs_number import nhs_number_problem_sql


@dataclass(frozen=True)
class FhirType:
    """How one FHIR primitive type lands in a DuckDB column."""

    duckdb_type: str
    #: What a valid value looks like, for the quarantine reason.
    expected: str


FHIR_TYPES: Final[dict[str, FhirType]] = {
    "string": FhirType("VARCHAR", "a string"),
    "code": FhirType("VARCHAR", "a code (string)"),
    "id": FhirType("VARCHAR", "an id (string)"),
    "uri": FhirType("VARCHAR", "a uri (string)"),
    "date": FhirType("DATE", "a date (YYYY, YYYY-MM or YYYY-MM-DD)"),
    "dateTime": FhirType("TIMESTAMP", "a dateTime"),
    "instant": FhirType("TIMESTAMP", "an instant"),
    "decimal": FhirType("DOUBLE", "a JSON number"),
    "integer": FhirType("BIGINT", "a JSON integer"),
    "boolean": FhirType("BOOLEAN", "true or false"),
}

#: Checks a column's value must pass beyond its type (`"check": name` in a view column, a
#: houseofcare addition): SQL over the converted value giving why it fails, or NULL.
VALUE_CHECKS: Final[dict[str, Callable[[str], str]]] = {"nhs-number": nhs_number_problem_sql}

_STRING_TYPES: Final[frozenset[str]] = frozenset({"string", "code", "id", "uri"})
_DATE_SHAPE: Final[str] = r"^\d{4}(-\d{2}(-\d{2}(T.+)?)?)?$"
_UTC_SECONDS: Final[str] = "%Y-%m-%dT%H:%M:%SZ"


def _text(raw: str) -> str:
    """The string inside a JSON string value (NULL for any other JSON type).

    The raw values come compact from `from_json`, so a string starts with a quote; only
    strings with escapes need a real JSON parse. `substr` rather than `trim`: it is about
    twice as fast, and this runs once per column per row.
    """
    text = f"{raw}::VARCHAR"
    return (
        f"CASE WHEN NOT starts_with({text}, '\"') THEN NULL "
        f"WHEN contains({text}, '\\') THEN ({raw} ->> '$') "
        f"ELSE substr({text}, 2, strlen({text}) - 2) END"
    )


def _padded_date(text: str) -> str:
    """`2019` → `2019-01-01`, `2019-03` → `2019-03-01`, longer values keep their date part."""
    return (
        f"CASE strlen({text}) WHEN 4 THEN {text} || '-01-01' WHEN 7 THEN {text} || '-01' "
        f"ELSE left({text}, 10) END"
    )


def _date_value(text: str) -> str:
    return (
        f"CASE WHEN regexp_matches({text}, '{_DATE_SHAPE}') "
        f"AND (strlen({text}) <= 10 OR try_cast({text} AS TIMESTAMPTZ) IS NOT NULL) "
        f"THEN try_cast({_padded_date(text)} AS DATE) END"
    )


def _datetime_value(text: str) -> str:
    # `coalesce` tries a shortcut first, for the shape bulk exports nearly always use,
    # `YYYY-MM-DDThh:mm:ssZ` (UTC, whole seconds): a strict strptime whose result prints back
    # as the very same text gives what the general path gives at half the cost (no regex, no
    # time-zone arithmetic). Any other value takes the general path;
    # tests/unit/test_fhir_datetime.py holds the two to the same answers.
    parsed = f"try_strptime({text}, '{_UTC_SECONDS}')"
    return (
        f"coalesce(CASE WHEN strlen({text}) = 20 AND strftime({parsed}, '{_UTC_SECONDS}') = "
        f"{text} THEN {parsed} END, "
        f"CASE WHEN NOT regexp_matches({text}, '{_DATE_SHAPE}') THEN NULL "
        f"WHEN strlen({text}) <= 10 THEN try_cast({_padded_date(text)} AS TIMESTAMP) "
        f"ELSE try_cast(try_cast({text} AS TIMESTAMPTZ) AS TIMESTAMP) END)"
    )


def text_sql(raw: str) -> str:
    """The string inside a JSON string value (NULL for any other JSON type)."""
    return _text(raw)


def value_sql(fhir_type: str, raw: str, text: str) -> str:
    """SQL turning raw JSON `raw` (and `text`, its `text_sql`) into the column's value.

    NULL when the value is missing or bad; `is_bad_sql` tells the two apart.
    """
    if fhir_type in _STRING_TYPES:
        return text
    if fhir_type == "date":
        return _date_value(text)
    if fhir_type in ("dateTime", "instant"):
        return _datetime_value(text)
    if fhir_type == "decimal":
        return f"try_cast({raw}::VARCHAR AS DOUBLE)"
    if fhir_type == "integer":
        return f"try_cast({raw}::VARCHAR AS BIGINT)"
    if fhir_type == "boolean":
        return f"CASE {raw}::VARCHAR WHEN 'true' THEN true WHEN 'false' THEN false END"
    raise KeyError(fhir_type)


def is_bad_sql(raw: str, value: str) -> str:
    """True when a value was present (not absent, not JSON null) but did not convert."""
    return f"({raw} IS NOT NULL AND {raw}::VARCHAR <> 'null' AND {value} IS NULL)"


def shown_sql(raw: str) -> str:
    """The bad value as written in the file, shortened for the quarantine reason."""
    return f"left({raw}::VARCHAR, 80)"
