"""The directory as a flat CSV file: one row a service, the directory's own columns.

For a spreadsheet kept by hand (a practice's list of local groups, say). Lists (needs,
conditions, accessibility, languages) are `;`-separated. A bad row is reported with its line
number and reason and the other rows are kept. `docs/selfcare.md` lists the columns.
Classifications from other vocabularies (esd service types …) are not in the CSV: an ORUK
export keeps them.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from houseofcare.selfcare.directory import ServiceRecord
from houseofcare.selfcare.oruk import RecordProblem, made_id, register_ids
from houseofcare.store.models import NeedDomain, ServiceAccess, ServiceKind, ServiceStatus

#: The columns, in order. `id` is the ORUK id (made from the name and organisation when blank).
CSV_COLUMNS: tuple[str, ...] = (
    "id",
    "name",
    "organisation",
    "description",
    "status",
    "kind",
    "access",
    "needs",
    "conditions",
    "locality",
    "address",
    "postcode",
    "latitude",
    "longitude",
    "eligibility",
    "minimum_age",
    "maximum_age",
    "capacity_per_month",
    "cost",
    "accessibility",
    "languages",
    "email",
    "phone",
    "url",
    "opening_times",
    "last_modified",
)
REQUIRED_COLUMNS = ("name", "organisation")
_LISTS = ("needs", "conditions", "accessibility", "languages")


@dataclass(frozen=True)
class CsvRow:
    """One row read: its record, or why it was refused, and its line in the file."""

    line: int
    record: ServiceRecord | None = None
    problem: RecordProblem | None = None


def _list(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(x.strip() for x in text.split(";") if x.strip()))


def _number(row: dict[str, str], name: str, kind: type[int] | type[float]) -> Any:
    text = (row.get(name) or "").strip()
    if not text:
        return None
    try:
        return kind(text)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise RecordProblem(name, f"{text!r} is not {what}") from None


def _choice(row: dict[str, str], name: str, kind: type[Any], default: Any) -> Any:
    text = (row.get(name) or "").strip()
    if not text:
        return default
    try:
        return kind(text)
    except ValueError:
        allowed = ", ".join(v.value for v in kind)
        raise RecordProblem(name, f"unknown {name} {text!r} (one of {allowed})") from None


def record_from_row(row: dict[str, str]) -> ServiceRecord:
    """One CSV row as a record (RecordProblem naming the column if a value is wrong)."""
    for name in REQUIRED_COLUMNS:
        if not (row.get(name) or "").strip():
            raise RecordProblem(name, f"{name} is required")
    text = {k: (row.get(k) or "").strip() or None for k in CSV_COLUMNS}
    needs = _list(row.get("needs") or "")
    for need in needs:
        _choice({"need": need}, "need", NeedDomain, None)
    conditions = _list(row.get("conditions") or "")
    unknown = [c for c in conditions if c not in register_ids()]
    if unknown:
        raise RecordProblem("conditions", f"unknown condition(s) {', '.join(unknown)}")
    capacity = _number(row, "capacity_per_month", int)
    if capacity is not None and capacity < 0:
        raise RecordProblem("capacity_per_month", "capacity cannot be negative")
    minimum_age, maximum_age = _number(row, "minimum_age", int), _number(row, "maximum_age", int)
    if minimum_age is not None and maximum_age is not None and minimum_age > maximum_age:
        raise RecordProblem("minimum_age", "minimum_age is above maximum_age")
    modified = None
    if text["last_modified"]:
        try:
            modified = dt.datetime.fromisoformat(text["last_modified"].replace("Z", "+00:00"))
        except ValueError:
            raise RecordProblem("last_modified", "not a date-time") from None
        modified = modified if modified.tzinfo else modified.replace(tzinfo=dt.UTC)
    name, organisation = text["name"] or "", text["organisation"] or ""
    return ServiceRecord(
        oruk_id=text["id"] or made_id("csv", name, organisation),
        name=name,
        organisation_name=organisation,
        description=text["description"],
        status=_choice(row, "status", ServiceStatus, ServiceStatus.active),
        kind=_choice(row, "kind", ServiceKind, ServiceKind.community),
        access=_choice(row, "access", ServiceAccess, ServiceAccess.referral),
        needs=needs,
        conditions=conditions,
        locality=text["locality"],
        address=text["address"],
        postcode=text["postcode"],
        latitude=_number(row, "latitude", float),
        longitude=_number(row, "longitude", float),
        eligibility=text["eligibility"],
        minimum_age=minimum_age,
        maximum_age=maximum_age,
        capacity_per_month=capacity,
        cost=text["cost"],
        accessibility=_list(row.get("accessibility") or ""),
        languages=_list(row.get("languages") or ""),
        email=text["email"],
        phone=text["phone"],
        url=text["url"],
        opening_times=text["opening_times"],
        last_modified=modified,
        partial=True,
    )


class CsvHeaderError(ValueError):
    """The file's header lacks a required column: no row can be read."""


def read_csv(text: str) -> Iterator[CsvRow]:
    """Every row of a directory CSV, read or refused (line numbers count the header as 1)."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise CsvHeaderError(f"line 1: no column {', '.join(missing)} in the header")
    unknown = [h for h in header if h and h not in CSV_COLUMNS]
    if unknown:
        raise CsvHeaderError(f"line 1: unknown column(s) {', '.join(unknown)}")
    reader.fieldnames = header
    for row in reader:
        line = reader.line_num
        if None in row:
            yield CsvRow(line, problem=RecordProblem("", "more values than columns"))
            continue
        try:
            yield CsvRow(line, record_from_row(row))
        except RecordProblem as exc:
            yield CsvRow(line, problem=exc)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, tuple | list):
        return ";".join(str(v) for v in value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(getattr(value, "value", value))


def csv_row(record: ServiceRecord) -> dict[str, str]:
    """A record as a CSV row."""
    values = {
        "id": record.oruk_id,
        "organisation": record.organisation_name,
        **{k: getattr(record, k) for k in CSV_COLUMNS if k not in ("id", "organisation")},
    }
    return {k: _cell(values[k]) for k in CSV_COLUMNS}


def write_csv(records: Iterable[ServiceRecord], out: io.TextIOBase | Any) -> int:
    """Write the records as a directory CSV; how many rows."""
    writer = csv.DictWriter(out, fieldnames=list(CSV_COLUMNS), lineterminator="\n")
    writer.writeheader()
    count = 0
    for record in records:
        writer.writerow(csv_row(record))
        count += 1
    return count
