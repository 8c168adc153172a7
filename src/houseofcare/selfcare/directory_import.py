"""Importing a directory feed (a file or a folder of them) and exporting the directory.

Each record is checked against the published schema of its version (ORUK 3.0, or 1.0 then
3.0 after mapping) and read into the directory's columns; a record that fails is rejected
with where it is (the file, its index or line, and the JSON pointer of the failing field)
and why, and the rest of the file is kept. The good records of a file are written in one
transaction: a Ctrl-C (or any failure) while writing rolls that file back, so the directory
is left as it was before the file.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from houseofcare.careplan.actor import Actor
from houseofcare.progress import NullProgress, Progress
from houseofcare.selfcare.directory import (
    ServiceRecord,
    UpsertCounts,
    record_import,
    record_of,
    upsert_services,
)
from houseofcare.selfcare.directory_csv import CsvHeaderError, read_csv, write_csv
from houseofcare.selfcare.oruk import (
    FeedItem,
    RecordProblem,
    feed_items,
    oruk_from_record,
    record_from_oruk,
)
from houseofcare.selfcare.oruk1 import looks_like_oruk1, oruk3_from_oruk1
from houseofcare.selfcare.oruk_schema import schema_problems
from houseofcare.store.database import transaction
from houseofcare.store.models import Service


class FeedFormat(StrEnum):
    """What a file holds (told from its name and content unless given)."""

    oruk = "oruk"
    oruk1 = "oruk1"
    csv = "csv"


#: File endings a folder import reads.
FEED_SUFFIXES = (".json", ".ndjson", ".jsonl", ".csv")


@dataclass(frozen=True)
class Rejection:
    """A record that was not imported: where it is and why."""

    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass
class ImportSummary:
    """What an import did, over all its files."""

    counts: UpsertCounts = field(default_factory=UpsertCounts)
    rejected: list[Rejection] = field(default_factory=list)
    files: int = 0
    #: Files that could not be read at all (not found, not UTF-8, no usable header …).
    unreadable: list[Rejection] = field(default_factory=list)

    @property
    def read(self) -> int:
        """Records read and kept (imported, updated or unchanged)."""
        return self.counts.imported + self.counts.updated + self.counts.unchanged


class FeedError(ValueError):
    """The path cannot be imported at all (no such file, no feed in the folder)."""


def feed_files(path: Path) -> list[Path]:
    """The file, or the feed files of a folder (sorted, not recursive)."""
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.suffix.lower() in FEED_SUFFIXES)
        if not found:
            raise FeedError(f"{path}: no .json, .ndjson or .csv files in this folder")
        return found
    if not path.exists():
        raise FeedError(f"{path}: no such file or folder")
    return [path]


def detect_format(path: Path, text: str) -> FeedFormat:
    """CSV by its ending; JSON is ORUK 1.0 when its first record has a key only 1.0 has."""
    if path.suffix.lower() == ".csv":
        return FeedFormat.csv
    for item in feed_items(text):
        if item.document is not None:
            return FeedFormat.oruk1 if looks_like_oruk1(item.document) else FeedFormat.oruk
    return FeedFormat.oruk


def _oruk_record(item: FeedItem, version: FeedFormat) -> ServiceRecord:
    """One feed record, checked against its schema (1.0 first, then 3.0 after mapping)."""
    if item.problem is not None:
        raise item.problem
    document = item.document
    if not isinstance(document, dict):
        raise RecordProblem("", f"a service must be a JSON object, not {type(document).__name__}")
    if version is FeedFormat.oruk1:
        problems = schema_problems(document, "1.0")
        if problems:
            raise RecordProblem(problems[0].pointer, _reasons(problems, "ORUK 1.0"))
        document = oruk3_from_oruk1(document)
    problems = schema_problems(document, "3.0")
    if problems:
        raise RecordProblem(problems[0].pointer, _reasons(problems, "ORUK 3.0"))
    return record_from_oruk(document)


def _reasons(problems: list[Any], schema: str) -> str:
    first, rest = problems[0], problems[1:]
    more = "".join(f"; also {p}" for p in rest)
    return f"{first.reason} (against the {schema} schema){more}"


def read_records(
    path: Path, text: str, version: FeedFormat
) -> Iterator[tuple[str, ServiceRecord | RecordProblem]]:
    """(where, record or problem) for each record of one file's text."""
    if version is FeedFormat.csv:
        for row in read_csv(text):
            where = f"{path.name} line {row.line}"
            yield where, row.record if row.record is not None else row.problem  # type: ignore[misc]
        return
    for item in feed_items(text):
        where = f"{path.name} {item.where}"
        try:
            yield where, _oruk_record(item, version)
        except RecordProblem as exc:
            yield where, exc
        except (KeyError, TypeError, ValueError) as exc:
            yield where, RecordProblem("", f"cannot be read ({exc})")


def import_file(
    factory: sessionmaker[Session],
    path: Path,
    summary: ImportSummary,
    *,
    version: FeedFormat | None = None,
    actor: Actor | None = None,
    progress: Progress | None = None,
) -> None:
    """Import one file into the directory (one transaction), adding to `summary`."""
    progress = progress or NullProgress()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        summary.unreadable.append(Rejection(path.name, f"cannot be read ({exc})"))
        return
    chosen = version or detect_format(path, text)
    records: list[ServiceRecord] = []
    first_seen: dict[str, str] = {}
    try:
        for where, result in read_records(path, text, chosen):
            if isinstance(result, RecordProblem):
                pointer = f" {result.pointer}" if result.pointer else ""
                summary.rejected.append(Rejection(f"{where}{pointer}", result.reason))
                continue
            if result.oruk_id in first_seen:
                summary.rejected.append(
                    Rejection(
                        f"{where} /id",
                        f"duplicate id {result.oruk_id!r} (first at {first_seen[result.oruk_id]})",
                    )
                )
                continue
            first_seen[result.oruk_id] = where
            records.append(result)
    except CsvHeaderError as exc:
        summary.unreadable.append(Rejection(path.name, str(exc)))
        return
    summary.files += 1
    task = progress.task(f"importing {path.name}", total=len(records))
    with transaction(factory) as session:
        counts = UpsertCounts()
        for start in range(0, len(records), 500):
            chunk = records[start : start + 500]
            counts.add(upsert_services(session, chunk))
            progress.advance(task, len(chunk))
        if actor is not None:
            record_import(session, actor, counts, source=path.name)
    summary.counts.add(counts)


def import_path(
    factory: sessionmaker[Session],
    path: Path,
    *,
    version: FeedFormat | None = None,
    actor: Actor | None = None,
    progress: Progress | None = None,
) -> ImportSummary:
    """Import a file or a folder of feeds; what happened (FeedError if nothing to read)."""
    summary = ImportSummary()
    for file in feed_files(path):
        import_file(factory, file, summary, version=version, actor=actor, progress=progress)
    return summary


def import_text(
    factory: sessionmaker[Session],
    text: str,
    name: str = "feed.json",
    *,
    version: FeedFormat | None = None,
    actor: Actor | None = None,
) -> ImportSummary:
    """Import a feed held in memory (the demo's, tests'): as if it were a file called `name`."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_text(text, encoding="utf-8")
        return import_path(factory, path, version=version, actor=actor)


# --- export ---------------------------------------------------------------------------------


def _stored(session: Session) -> Iterable[ServiceRecord]:
    for service in session.scalars(select(Service).order_by(Service.name, Service.id)):
        yield record_of(service)


def oruk_page(documents: list[dict[str, Any]], page: int = 1, size: int | None = None) -> dict:
    """An ORUK 3.0 page object holding `documents` (all of them: one page)."""
    total = len(documents)
    size = size or max(total, 1)
    pages = max((total + size - 1) // size, 1)
    return {
        "total_items": total,
        "total_pages": pages,
        "page_number": page,
        "size": len(documents),
        "first_page": page == 1,
        "last_page": page >= pages,
        "empty": not documents,
        "contents": documents,
    }


def export_oruk(session: Session) -> str:
    """The whole directory as one ORUK 3.0 page of fully nested services (JSON text)."""
    documents = [oruk_from_record(r) for r in _stored(session)]
    return json.dumps(oruk_page(documents), indent=1, ensure_ascii=False) + "\n"


def export_csv(session: Session) -> str:
    """The whole directory as a directory CSV."""
    out = io.StringIO()
    write_csv(_stored(session), out)
    return out.getvalue()
