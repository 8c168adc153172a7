"""Finding FHIR files and reading them as blocks of numbered lines.

Ingest never parses JSON row by row in Python: it reads large blocks, splits them at newlines
with numpy and hands each block to DuckDB as an Arrow table ``(line_number, line)``. Bundle
documents (e.g. Synthea's pretty-printed per-patient transaction Bundles) are the exception:
they are parsed whole with orjson and re-emitted as one line per entry, numbered by entry.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

import numpy as np
import orjson
import pyarrow as pa

#: Bytes read per block: big enough for DuckDB to parallelise, small enough to bound memory.
BLOCK_BYTES: Final[int] = 32 << 20
#: Rows per Arrow record batch; DuckDB scans record batches in parallel.
BATCH_ROWS: Final[int] = 16_384
#: File name endings (after an optional `.gz`) taken from a folder; explicit files are always read.
FHIR_SUFFIXES: Final[tuple[str, ...]] = (".ndjson", ".jsonl", ".json", ".ldjson")
#: The bulk-data export manifest, which describes files but holds no resources.
MANIFEST: Final[str] = "manifest.json"
_GZIP_MAGIC: Final[bytes] = b"\x1f\x8b"

LINES_SCHEMA: Final[pa.Schema] = pa.schema([("line_number", pa.int64()), ("line", pa.string())])


class SourceError(Exception):
    """A whole file could not be read (missing, unreadable, corrupt compression)."""


@dataclass(frozen=True)
class Block:
    """Numbered lines from one file; `bytes_read` is the progress since the previous block."""

    lines: pa.Table
    bytes_read: int


def _is_fhir_name(path: Path) -> bool:
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    return name != MANIFEST and name.endswith(FHIR_SUFFIXES) and not name.startswith(".")


def _manifest_files(folder: Path) -> list[Path] | None:
    """Files a bulk-data manifest lists (by base name, in this folder), or None if none usable."""
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return None
    try:
        doc = orjson.loads(manifest.read_bytes())
        urls = [str(item["url"]) for item in doc.get("output", [])]
    except (orjson.JSONDecodeError, TypeError, KeyError, AttributeError):
        return None
    files = [folder / url.rstrip("/").rsplit("/", 1)[-1] for url in urls]
    return files or None


def discover(paths: list[Path]) -> list[Path]:
    """The files to read, in a stable order; a missing path or an empty folder is an error.

    A folder contributes its top-level files only (a bulk export's `truth/` or `log/` subfolder
    is never read). When the folder has a `manifest.json` listing files, those files are read
    (missing ones are reported by the loader); otherwise every `*.ndjson`, `*.jsonl`, `*.json`
    file, plain or gzipped, except the manifest.
    """
    files: list[Path] = []
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"no such file or folder: {path}")
        if path.is_dir():
            listed = _manifest_files(path)
            found = (
                listed
                if listed is not None
                else sorted(p for p in path.iterdir() if p.is_file() and _is_fhir_name(p))
            )
            if not found:
                raise FileNotFoundError(
                    f"{path} holds no FHIR files (*.ndjson, *.json, *.jsonl, optionally .gz)"
                )
            files.extend(found)
        else:
            files.append(path)
    unique: dict[Path, None] = {}
    for file in files:
        unique.setdefault(file, None)
    return list(unique)


def _open(path: Path) -> tuple[BinaryIO, BinaryIO]:
    """The decompressed stream and the raw file (whose position measures progress)."""
    try:
        raw = path.open("rb")
    except OSError as err:
        raise SourceError(f"cannot open: {err.strerror or err}") from err
    magic = raw.read(2)
    raw.seek(0)
    if magic == _GZIP_MAGIC:
        return gzip.GzipFile(fileobj=raw, mode="rb"), raw  # type: ignore[return-value]
    return raw, raw


def _lines_table(data: bytes, first_line: int) -> pa.Table:
    """Zero-copy Arrow strings for the newline-terminated lines in `data` (newline kept)."""
    buf = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(buf == 10) + 1
    offsets = np.empty(len(ends) + 1, dtype=np.int32)
    offsets[0] = 0
    offsets[1:] = ends
    strings = pa.StringArray.from_buffers(len(ends), pa.py_buffer(offsets), pa.py_buffer(data))
    numbers = pa.array(np.arange(first_line, first_line + len(ends), dtype=np.int64))
    table = pa.Table.from_arrays([numbers, strings], schema=LINES_SCHEMA)
    return pa.Table.from_batches(table.to_batches(max_chunksize=BATCH_ROWS), schema=LINES_SCHEMA)


def _document_lines(data: bytes) -> pa.Table:
    """A whole JSON document (Bundle or single resource) as one line per resource."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as err:
        raise SourceError(f"not NDJSON and not a JSON document: {err}") from err
    if isinstance(doc, dict) and doc.get("resourceType") == "Bundle":
        entries = doc.get("entry") or []
        resources = [e.get("resource") if isinstance(e, dict) else e for e in entries]
    else:
        resources = [doc]
    numbers = list(range(1, len(resources) + 1))
    lines = [orjson.dumps(r).decode() if r is not None else "null" for r in resources]
    return pa.Table.from_arrays(
        [pa.array(numbers, pa.int64()), pa.array(lines, pa.string())], schema=LINES_SCHEMA
    )


def bundle_entries(line: str, line_number: int) -> pa.Table:
    """The resources inside a one-line Bundle, all numbered with the Bundle's line."""
    table = _document_lines(line.encode())
    numbers = pa.array([line_number] * table.num_rows, pa.int64())
    return table.set_column(0, "line_number", numbers)


def _first_line_is_complete(head: bytes) -> bool:
    """NDJSON when the first non-empty line parses on its own; else a pretty-printed document."""
    for raw in head.split(b"\n"):
        if raw.strip():
            try:
                orjson.loads(raw)
            except orjson.JSONDecodeError:
                return False
            return True
    return True


def read_blocks(path: Path, block_bytes: int = BLOCK_BYTES) -> Iterator[Block]:
    """Numbered lines of one file, block by block; raises `SourceError` if it cannot be read."""
    stream, raw = _open(path)
    try:
        yield from _read(stream, raw, block_bytes)
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise SourceError(f"cannot read: {err}") from err
    finally:
        stream.close()
        raw.close()


def _read(stream: BinaryIO, raw: BinaryIO, block_bytes: int) -> Iterator[Block]:
    reported = 0

    def progress() -> int:
        nonlocal reported
        position = raw.tell() if not raw.closed else reported
        delta, reported = position - reported, position
        return delta

    first = stream.read(block_bytes)
    if not first:
        return
    line_end = first.find(b"\n")
    head = first if line_end < 0 else first[: line_end + 1]
    if not _first_line_is_complete(head):
        data = first + stream.read()
        yield Block(_document_lines(data), progress())
        return
    pending = first
    next_line = 1
    while True:
        more = stream.read(block_bytes)
        if not more:
            if pending:
                if not pending.endswith(b"\n"):
                    pending += b"\n"
                table = _lines_table(pending, next_line)
                yield Block(table, progress())
            return
        cut = pending.rfind(b"\n")
        if cut < 0:
            pending += more
            continue
        table = _lines_table(pending[: cut + 1], next_line)
        next_line += table.num_rows
        pending = pending[cut + 1 :] + more
        yield Block(table, progress())
