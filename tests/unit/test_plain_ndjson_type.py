"""Which files ingest offers to its fast path (`sources.plain_ndjson_type`): plain NDJSON whose
first line is a resource, with no JSON escape of a control character anywhere."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from houseofcare.ingest import sources

LINE = json.dumps({"resourceType": "Condition", "id": "c1", "note": [{"text": "x" * 50}]})


def _file(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_a_plain_ndjson_file_gives_its_first_resource_type(tmp_path: Path) -> None:
    path = _file(tmp_path, "c.ndjson", ((LINE + "\n") * 3).encode())
    assert sources.plain_ndjson_type(path) == "Condition"
    # By its first lines when the name does not say NDJSON.
    assert (
        sources.plain_ndjson_type(_file(tmp_path, "c.json", ((LINE + "\n") * 2).encode()))
        == "Condition"
    )


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("gz.ndjson", gzip.compress((LINE + "\n").encode(), mtime=0)),
        ("bom.ndjson", b"\xef\xbb\xbf" + (LINE + "\n").encode()),
        ("utf16.ndjson", b"\xff\xfe" + LINE.encode("utf-16-le")),
        ("doc.json", json.dumps(json.loads(LINE), indent=2).encode()),
        ("x.xml", b'<Condition xmlns="http://hl7.org/fhir"/>'),
        ("bad-first.ndjson", ("{oops\n" + LINE + "\n").encode()),
        ("no-type.ndjson", b'{"id": "c1"}\n'),
        ("empty.ndjson", b""),
        ("escape.ndjson", (LINE + "\n" + LINE.replace("xxx", "x\\u0000x") + "\n").encode()),
        ("backspace.ndjson", (LINE + "\n" + LINE.replace("xxx", "x\\bx") + "\n").encode()),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_files_that_need_the_block_reader_are_not_offered(
    tmp_path: Path, name: str, data: bytes
) -> None:
    assert sources.plain_ndjson_type(_file(tmp_path, name, data)) is None


def test_an_escape_across_a_read_block_boundary_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sources, "BLOCK_BYTES", 64)
    first = b'{"resourceType": "Condition", "id": "c1"}\n'
    second = b'{"a": "' + b"x" * (63 - len(first) - 7)  # its backslash is byte 63: the block's last
    data = first + second + b'\\u0001"}\n'
    assert data.index(b"\\") == 63
    assert sources.plain_ndjson_type(_file(tmp_path, "edge.ndjson", data)) is None
    clean = first + second + b'\\"quoted\\""}\n'
    assert sources.plain_ndjson_type(_file(tmp_path, "quotes.ndjson", clean)) == "Condition"
