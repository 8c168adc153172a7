"""Finding FHIR files and reading them as blocks of numbered lines.

Ingest never parses JSON row by row in Python: it reads large blocks, splits them at newlines
with numpy and hands each block to DuckDB as an Arrow table ``(line_number, line)``. Bundle
documents (e.g. Synthea's pretty-printed per-patient transaction Bundles) are the exception:
they are parsed whole with orjson and re-emitted as one line per entry, numbered by entry.
FHIR XML files (`*.xml`, a single resource or a Bundle) are likewise read whole, converted to
FHIR JSON by `fhirxml` and re-emitted as one line per resource, numbered by the line where the
resource starts in the XML; a resource that cannot be converted is a `BadLine`.

A UTF-8 byte order mark at the start of a file is skipped. Lines that are not valid UTF-8 never
reach DuckDB (whose string functions assume valid UTF-8): each block is validated at once, and
only a block that fails is checked line by line; its bad lines are handed over as `BadLine`s
for the quarantine and left out of the block.
"""

from __future__ import annotations

import gzip
import re
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from queue import Full, Queue, SimpleQueue
from typing import BinaryIO, Final, TypeVar

import numpy as np
import orjson
import pyarrow as pa

from houseofcare.ingest import fhirxml
from houseofcare.ingest.checks import CONTROL_ESCAPE_LETTERS

#: Bytes read per block: big enough for DuckDB to parallelise, small enough to bound memory.
BLOCK_BYTES: Final[int] = 32 << 20
#: Rows per Arrow record batch; DuckDB scans record batches in parallel.
BATCH_ROWS: Final[int] = 16_384
#: File name endings (after an optional `.gz`) taken from a folder; explicit files are always read.
FHIR_SUFFIXES: Final[tuple[str, ...]] = (".ndjson", ".jsonl", ".json", ".ldjson", ".xml")
#: Endings of files that are newline-delimited JSON by name, whatever their first line holds.
NDJSON_SUFFIXES: Final[tuple[str, ...]] = (".ndjson", ".jsonl", ".ldjson")
#: The bulk-data export manifest, which describes files but holds no resources.
MANIFEST: Final[str] = "manifest.json"
_GZIP_MAGIC: Final[bytes] = b"\x1f\x8b"
_UTF8_BOM: Final[bytes] = b"\xef\xbb\xbf"
_UTF16_BOMS: Final[tuple[bytes, ...]] = (b"\xff\xfe", b"\xfe\xff")
#: An XML document's start: `<` after an optional UTF-8 byte order mark and white space.
_XML_START: Final[re.Pattern[bytes]] = re.compile(rb"(?:\xef\xbb\xbf)?[ \t\r\n]*<")

T = TypeVar("T")

LINES_SCHEMA: Final[pa.Schema] = pa.schema([("line_number", pa.int64()), ("line", pa.string())])


class SourceError(Exception):
    """A whole file could not be read (missing, unreadable, corrupt compression, XML that is
    not FHIR); `line` is where the reader found out, when it knows (XML), else 0."""

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class BadLine:
    """A line left out of its block, and why (for the quarantine): not valid UTF-8, or an XML
    resource that could not be converted to JSON."""

    line_number: int
    reason: str
    resource_type: str | None = None
    resource_id: str | None = None


@dataclass(frozen=True)
class Block:
    """Numbered lines from one file; `bytes_read` is the progress since the previous block.

    `lines` may be a view over a read buffer that is reused once the block is `release()`d:
    call it when nothing refers to `lines` any more (after DuckDB has copied what it needs).
    A line that is not valid UTF-8 is NULL in `lines` and described in `bad_lines`.
    `escapes` is False when no line holds anything that could be a JSON escape of a control
    character (a backslash before one of `checks.CONTROL_ESCAPE_LETTERS`), so that no line
    needs that check.
    """

    lines: pa.Table
    bytes_read: int
    recycle: Callable[[], None] | None = None
    bad_lines: tuple[BadLine, ...] = ()
    escapes: bool = True

    def release(self) -> None:
        """Hand the read buffer back for the next block (a fresh 32 MB buffer costs page
        faults and zero-filling on every block; a reused one costs nothing)."""
        if self.recycle is not None:
            self.recycle()


def _plain_name(path: Path) -> str:
    name = path.name.lower()
    return name[:-3] if name.endswith(".gz") else name


def _is_fhir_name(path: Path) -> bool:
    name = _plain_name(path)
    return name != MANIFEST and name.endswith(FHIR_SUFFIXES) and not name.startswith(".")


def is_ndjson_name(path: Path) -> bool:
    """True for `*.ndjson`, `*.jsonl`, `*.ldjson` (optionally `.gz`): NDJSON by name."""
    return _plain_name(path).endswith(NDJSON_SUFFIXES)


def is_xml_name(path: Path) -> bool:
    """True for `*.xml` (optionally `.gz`): FHIR XML by name."""
    return _plain_name(path).endswith(".xml")


#: Why a file in a folder is not read (`Discovery.skipped`).
NOT_FHIR_NAME: Final[str] = (
    "not a FHIR file name (a folder's *.ndjson, *.jsonl, *.ldjson, *.json, *.xml, optionally "
    ".gz, are read)"
)
NOT_IN_MANIFEST: Final[str] = "not listed in the output of manifest.json"
MANIFEST_ERROR: Final[str] = (
    "listed in the error of manifest.json (the exporter's OperationOutcomes, not clinical data)"
)


@dataclass(frozen=True)
class Discovery:
    """The files to read, and the files of the folders given that are not read, with why."""

    files: list[Path]
    skipped: list[tuple[Path, str]]


def _manifest(folder: Path) -> tuple[list[Path], set[Path]] | None:
    """The files a bulk-data manifest lists as output and as error (by base name, in this
    folder), or None if there is no usable manifest."""
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return None
    try:
        doc = orjson.loads(manifest.read_bytes())
        urls = [str(item["url"]) for item in doc.get("output", [])]
        errors = [str(item["url"]) for item in doc.get("error", []) or []]
    except (orjson.JSONDecodeError, TypeError, KeyError, AttributeError):
        return None
    files = [folder / url.rstrip("/").rsplit("/", 1)[-1] for url in urls]
    if not files:
        return None
    return files, {folder / url.rstrip("/").rsplit("/", 1)[-1] for url in errors}


def _folder(folder: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """A folder's files to read and its other (visible, top-level) files, with why not."""
    present = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    listed = _manifest(folder)
    if listed is None:
        files = [p for p in present if _is_fhir_name(p)]
        return files, [(p, NOT_FHIR_NAME) for p in present if p not in files]
    files, errors = listed
    others = [p for p in present if p not in files and p.name != MANIFEST]
    return files, [(p, MANIFEST_ERROR if p in errors else NOT_IN_MANIFEST) for p in others]


def discover(paths: list[Path]) -> Discovery:
    """The files to read, in a stable order; a missing path or an empty folder is an error.

    A file named on its own is always read. A folder contributes its top-level files only (a
    bulk export's `truth/` or `log/` subfolder is never read). When the folder has a
    `manifest.json` listing files, those files are read (missing ones are reported by the
    loader); otherwise every `*.ndjson`, `*.jsonl`, `*.ldjson`, `*.json`, `*.xml` file, plain
    or gzipped, except the manifest. The folder's other files (a README, notes, the manifest's
    error files) are listed as skipped; hidden files are not mentioned.
    """
    files: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"no such file or folder: {path}")
        if path.is_dir():
            found, others = _folder(path)
            if not found:
                raise FileNotFoundError(
                    f"{path} holds no FHIR files (*.ndjson, *.json, *.jsonl, *.xml, optionally .gz)"
                )
            files.extend(found)
            skipped.extend(others)
        else:
            files.append(path)
    unique: dict[Path, None] = {}
    for file in files:
        unique.setdefault(file, None)
    return Discovery(list(unique), [(p, why) for p, why in skipped if p not in unique])


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


def int64_array(values: np.ndarray) -> pa.Array:
    """A numpy int64 vector as an Arrow array, zero-copy.

    `pa.array(ndarray)` would do too, but its first call imports pandas (seconds), which an
    ingest of a small file would notice.
    """
    return pa.Array.from_buffers(pa.int64(), len(values), [None, pa.py_buffer(values)])


def _lines_table(data: memoryview, first_line: int) -> tuple[pa.Table, tuple[BadLine, ...]]:
    """Zero-copy Arrow strings for the newline-terminated lines in `data` (newline kept).

    `data` must be writable: a line that is not valid UTF-8 is blanked in place and NULL in
    the table (see `_invalid_utf8_lines`), and returned as a `BadLine`.
    """
    buf = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(buf == 10) + 1
    offsets = np.empty(len(ends) + 1, dtype=np.int32)
    offsets[0] = 0
    offsets[1:] = ends
    strings = pa.StringArray.from_buffers(len(ends), pa.py_buffer(offsets), pa.py_buffer(data))
    bad: tuple[BadLine, ...] = ()
    try:
        # Arrow's check runs at memory speed (about 2 ms for a 32 MB block of ASCII).
        strings.validate(full=True)
    except pa.ArrowInvalid:
        valid, bad = _invalid_utf8_lines(data, offsets, first_line)
        bitmap = np.packbits(valid, bitorder="little")
        strings = pa.StringArray.from_buffers(
            len(ends),
            pa.py_buffer(offsets),
            pa.py_buffer(data),
            pa.py_buffer(bitmap),
            null_count=len(bad),
        )
    numbers = int64_array(np.arange(first_line, first_line + len(ends), dtype=np.int64))
    table = pa.Table.from_arrays([numbers, strings], schema=LINES_SCHEMA)
    batches = table.to_batches(max_chunksize=BATCH_ROWS)
    return pa.Table.from_batches(batches, schema=LINES_SCHEMA), bad


def _invalid_utf8_lines(
    data: memoryview, offsets: np.ndarray, first_line: int
) -> tuple[np.ndarray, tuple[BadLine, ...]]:
    """The slow path, for a block that failed the UTF-8 check: find the bad lines one by one.

    Each bad line is overwritten with spaces (the buffer is ours, and nothing downstream should
    ever see its bytes) and marked invalid; the reason names the first bad byte and shows the
    line with replacement characters, and the resource type and id when they can be read.
    """
    valid = np.ones(len(offsets) - 1, dtype=bool)
    bad: list[BadLine] = []
    for index in range(len(offsets) - 1):
        start, end = int(offsets[index]), int(offsets[index + 1])
        raw = bytes(data[start:end])
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as err:
            valid[index] = False
            data[start:end] = b" " * (end - start)
            bad.append(_bad_utf8_line(raw, first_line + index, err))
    return valid, tuple(bad)


def _bad_utf8_line(raw: bytes, number: int, err: UnicodeDecodeError) -> BadLine:
    text = raw.decode("utf-8", errors="replace")
    reason = (
        f"line is not valid UTF-8 (byte 0x{raw[err.start]:02X} at offset {err.start}): "
        f"{text.strip()[:60]}"
    )
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        return BadLine(number, reason)
    if not isinstance(doc, dict):
        return BadLine(number, reason)
    kind, rid = doc.get("resourceType"), doc.get("id")
    return BadLine(
        number,
        reason,
        kind if isinstance(kind, str) else None,
        rid if isinstance(rid, str) else None,
    )


def _document_lines(data: bytes) -> pa.Table:
    """A whole JSON document (Bundle or single resource) as one line per resource."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as err:
        raise SourceError(f"not NDJSON and not a JSON document: {err}") from err
    return _resource_lines(doc)


def _resource_lines(doc: object) -> pa.Table:
    """A Bundle's entries' resources, or a single resource, one line each."""
    if isinstance(doc, dict) and doc.get("resourceType") == "Bundle":
        entries = doc.get("entry") or []
        resources = [e.get("resource") if isinstance(e, dict) else e for e in entries]
    else:
        resources = [doc]
    lines = [orjson.dumps(r) if r is not None else b"null" for r in resources]
    return _strings_table(lines, np.arange(1, len(lines) + 1, dtype=np.int64))


def _xml_lines(data: bytes) -> tuple[pa.Table, tuple[BadLine, ...]]:
    """An XML document (Bundle or single resource) as one JSON line per resource, numbered by
    the line where each starts; resources that cannot be converted are `BadLine`s."""
    try:
        found = fhirxml.read_resources(data)
    except fhirxml.FhirXmlError as err:
        # The quarantine row carries the line.
        raise SourceError(f"cannot read as FHIR XML: {err.reason}", err.line) from err
    good = [r for r in found if r.error is None]
    bad = tuple(
        BadLine(r.line, f"XML: {r.error}", r.resource_type, r.resource_id)
        for r in found
        if r.error is not None
    )
    lines = [orjson.dumps(r.resource) if r.resource is not None else b"null" for r in good]
    return _strings_table(lines, np.array([r.line for r in good], dtype=np.int64)), bad


def _is_xml(head: bytes) -> bool:
    """True when a file not named NDJSON starts like XML (JSON never starts with `<`)."""
    return _XML_START.match(head) is not None


def _is_xml_file(head: bytes, ndjson: bool, xml: bool) -> bool:
    """FHIR XML: named `*.xml`, or not named NDJSON and starting like XML."""
    return xml or (not ndjson and _is_xml(head))


def _strings_table(lines: list[bytes], numbers: np.ndarray) -> pa.Table:
    offsets = np.zeros(len(lines) + 1, dtype=np.int64)
    np.cumsum(np.fromiter((len(x) for x in lines), np.int64, len(lines)), out=offsets[1:])
    strings = pa.LargeStringArray.from_buffers(
        len(lines), pa.py_buffer(offsets), pa.py_buffer(b"".join(lines))
    )
    return pa.Table.from_arrays(
        [int64_array(numbers), strings.cast(pa.string())], ["line_number", "line"]
    )


def bundle_entries(line: str, line_number: int) -> pa.Table:
    """The resources inside a one-line Bundle, all numbered with the Bundle's line.

    Raises `SourceError` when orjson cannot parse it (nested deeper than 1024 levels).
    """
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError as err:
        raise SourceError(str(err)) from err
    table = _resource_lines(doc)
    numbers = np.full(table.num_rows, line_number, dtype=np.int64)
    return table.set_column(0, "line_number", int64_array(numbers))


def _is_document(head: bytes) -> bool:
    """True for a pretty-printed JSON document, False for NDJSON (for a file not named NDJSON).

    NDJSON when the first non-empty line parses on its own, or, when it does not, when the next
    one is a whole JSON object starting at the line's first character (an NDJSON file with a
    bad first line; a pretty-printed document indents what follows its opening line).
    """
    seen, start = 0, 0
    while start < len(head) and seen < 2:
        end = head.find(b"\n", start)
        end = len(head) if end < 0 else end
        line, start = head[start:end], end + 1
        if not line.strip():
            continue
        seen += 1
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if seen == 1:
            return False
        return not isinstance(doc, dict) or line[:1].isspace()
    return seen > 0


def read_blocks(path: Path, block_bytes: int | None = None) -> Iterator[Block]:
    """Numbered lines of one file, block by block; raises `SourceError` if it cannot be read.

    A file named `*.ndjson`, `*.jsonl` or `*.ldjson` (optionally `.gz`) is NDJSON whatever its
    first line holds; one named `*.xml` is FHIR XML; any other is NDJSON, one JSON document or
    (when it starts with `<`) FHIR XML as its first bytes say.
    """
    stream, raw = _open(path)
    try:
        yield from _read(
            stream, raw, block_bytes or BLOCK_BYTES, is_ndjson_name(path), is_xml_name(path)
        )
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise SourceError(f"cannot read: {err}") from err
    finally:
        stream.close()
        raw.close()


def _read(
    stream: BinaryIO, raw: BinaryIO, block_bytes: int, ndjson: bool, xml: bool = False
) -> Iterator[Block]:
    reported = 0

    def progress() -> int:
        nonlocal reported
        position = raw.tell() if not raw.closed else reported
        delta, reported = position - reported, position
        return delta

    first = stream.read(block_bytes)
    if first and _is_xml_file(first, ndjson, xml):
        # The XML parser reads the encoding declaration and byte order marks itself.
        table, bad = _xml_lines(first + stream.read())
        yield Block(table, progress(), bad_lines=bad)
        return
    if first.startswith(_UTF8_BOM):
        first = first[len(_UTF8_BOM) :]
    elif first.startswith(_UTF16_BOMS):
        raise SourceError(
            "cannot read: the file is UTF-16 (it starts with a UTF-16 byte order mark), "
            "FHIR JSON is UTF-8"
        )
    if not first:
        return
    if not ndjson and _is_document(first):
        data = first + stream.read()
        yield Block(_document_lines(data), progress())
        return
    # Each block is a fresh buffer that Arrow (and DuckDB) read in place; only the partial
    # last line is copied, to the front of the next buffer. A line longer than a block
    # grows the buffer until the line ends.
    carry = first
    next_line = 1
    # Buffers released by the consumer come back here; a thread-safe queue because the
    # consumer releases them from another thread than this generator's (see `prefetch`).
    spare: SimpleQueue[bytearray] = SimpleQueue()

    def recycler(used: bytearray) -> Callable[[], None]:
        return lambda: spare.put(used)

    while True:
        size = max(block_bytes, 2 * len(carry))
        buffer = spare.get_nowait() if not spare.empty() else bytearray(size)
        if len(buffer) < size:
            buffer = bytearray(size)
        buffer[: len(carry)] = carry
        filled = len(carry) + _read_into(stream, memoryview(buffer)[len(carry) :])
        view = memoryview(buffer)[:filled]
        if filled == len(carry):  # end of file
            if filled:
                if buffer[filled - 1] != 10:  # the buffer always has room for one more byte
                    buffer[filled] = 10
                    view = memoryview(buffer)[: filled + 1]
                table, bad = _lines_table(view, next_line)
                escapes = _has_escapes(buffer, len(view))
                yield Block(table, progress(), recycler(buffer), bad, escapes)
            return
        cut = buffer.rfind(b"\n", 0, filled)
        if cut < 0:
            carry = bytes(view)
            continue
        carry = bytes(view[cut + 1 :])
        table, bad = _lines_table(view[: cut + 1], next_line)
        next_line += table.num_rows
        yield Block(table, progress(), recycler(buffer), bad, _has_escapes(buffer, cut + 1))


def plain_ndjson_type(path: Path) -> str | None:
    """The resourceType of the first line of a file DuckDB's own JSON reader can take whole.

    That is a plain (not compressed) NDJSON file, by name or by its first lines, without a
    byte order mark, whose first line is a resource, and which holds no JSON escape of a
    control character anywhere (`_has_escapes`, in windows so that memory stays flat): the
    checks the block reader makes per line that DuckDB's reader does not make. None for any
    other file, which is read block by block. Whatever else could be wrong (a bad line, a
    wrong shape, invalid UTF-8) makes DuckDB's reader fail, and the file is then read block
    by block after all (see `ingest/fast_path.py`).
    """
    try:
        with path.open("rb") as raw:
            head = raw.read(1 << 20)
            if not head or head.startswith((_GZIP_MAGIC, _UTF8_BOM, *_UTF16_BOMS)):
                return None
            ndjson = is_ndjson_name(path)
            if _is_xml_file(head, ndjson, is_xml_name(path)):
                return None
            if not ndjson and _is_document(head):
                return None
            lines = (line for line in head.split(b"\n") if line.strip())
            try:
                first = orjson.loads(next(lines, b""))
            except orjson.JSONDecodeError:
                return None
            kind = first.get("resourceType") if isinstance(first, dict) else None
            if not isinstance(kind, str) or _file_has_escapes(raw):
                return None
            return kind
    except OSError:
        return None


def _file_has_escapes(raw: BinaryIO) -> bool:
    """`_has_escapes` over a whole file, a block at a time into one reused buffer (memory
    stays flat; a memory map would count the whole file as the process's memory). The last
    byte of each block starts the next, so an escape across the boundary is found."""
    raw.seek(0)
    buffer = bytearray(BLOCK_BYTES)
    view = memoryview(buffer)
    kept = 0
    while True:
        count = _read_into(raw, view[kept:])
        if not count:
            return False
        end = kept + count
        if _has_escapes(buffer, end):
            return True
        buffer[0] = buffer[end - 1]
        kept = 1


def _has_escapes(buffer: bytearray, end: int) -> bool:
    """Whether `buffer[:end]` may hold a JSON escape of a control character: a backslash
    followed by one of `CONTROL_ESCAPE_LETTERS`. A search for a backslash runs at memory
    speed (about 3 ms for 32 MB); only a block that has one looks at what follows them."""
    if buffer.find(b"\\", 0, end) < 0:
        return False
    data = np.frombuffer(buffer, dtype=np.uint8, count=end)
    after = data[1:][data[:-1] == ord("\\")]
    return bool(np.isin(after, np.frombuffer(CONTROL_ESCAPE_LETTERS, dtype=np.uint8)).any())


def _read_into(stream: BinaryIO, target: memoryview) -> int:
    """Fill `target` as far as the stream allows (a gzip stream returns short reads)."""
    total = 0
    while total < len(target):
        count = stream.readinto(target[total:])  # type: ignore[attr-defined]
        if not count:
            break
        total += count
    return total


_DONE: Final[object] = object()


def prefetch(items: Iterator[T], depth: int = 2) -> Iterator[T]:
    """`items`, produced by a background thread up to `depth` ahead.

    Reading and splitting the next block (file I/O, decompression, numpy) then overlaps with
    DuckDB working on the current one; all of them release the GIL. An exception in the
    producer is raised here, in order. Closing the iterator (or an exception in the consumer,
    Ctrl-C included) stops the producer at its next item.
    """
    queue: Queue[object] = Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if not _put(queue, item, stop):
                    return
            _put(queue, _DONE, stop)
        except BaseException as err:  # handed to the consumer, which re-raises it
            _put(queue, _Failure(err), stop)

    thread = threading.Thread(target=produce, name="hoc-ingest-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = queue.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        # Let the producer see `stop` and end before the caller goes on (or the interpreter
        # exits): it is at most one block read away.
        thread.join(timeout=5)


@dataclass(frozen=True)
class _Failure:
    error: BaseException


def _put(queue: Queue[object], item: object, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            queue.put(item, timeout=0.1)
            return True
        except Full:
            continue
    return False
