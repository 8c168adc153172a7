"""Bytes that are not clean NDJSON: a bad first line, a UTF-8 byte order mark, Windows line
ends and invalid UTF-8. Only the bad line is quarantined (file, line, reason); the rest loads."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from test_ingest_support import rows, settings_in

from houseofcare.ingest import ingest_paths, sources

BOM = b"\xef\xbb\xbf"


def _patient(pid: str) -> bytes:
    doc = {"resourceType": "Patient", "id": pid, "gender": "female", "birthDate": "1950-06-01"}
    return json.dumps(doc).encode()


def _condition(cid: str) -> bytes:
    doc = {
        "resourceType": "Condition", "id": cid, "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "38341003"}]},
    }  # fmt: skip
    return json.dumps(doc).encode()


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


GOOD = [_patient(f"p{i}") for i in range(13)]

FIRST_LINES: dict[str, tuple[bytes, str]] = {
    # first line -> words of its quarantine reason
    "truncated": (b'{"resourceType": "Patient", "id": "torn", "gen', "not valid JSON"),
    "not-json": (b"this is not JSON", "not valid JSON"),
    "invalid-utf8": (_patient("latin1").replace(b"female", b"f\xe9male"), "not valid UTF-8"),
}


@pytest.mark.parametrize("name", ["Patient.ndjson", "Patient.ndjson.gz", "Patient.jsonl"])
@pytest.mark.parametrize("kind", sorted(FIRST_LINES))
def test_a_bad_first_line_is_quarantined_and_the_rest_of_the_file_loads(
    tmp_path: Path, name: str, kind: str
) -> None:
    first, words = FIRST_LINES[kind]
    source = _write(tmp_path / name, b"\n".join([first, *GOOD]) + b"\n")
    settings = settings_in(tmp_path / "store")
    report = ingest_paths(paths=[source], settings=settings)

    assert report.by_type["Patient"].loaded == 13
    [(file, line, reason)] = rows(
        settings, "SELECT source_file, line_number, reason FROM quarantine"
    )
    assert (file, line) == (str(source), 1)
    assert words in reason, reason


def test_a_truncated_first_line_does_not_lose_a_large_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """555 Conditions after a truncated first line, read in many small blocks."""
    monkeypatch.setattr(sources, "BLOCK_BYTES", 4096)
    lines = [
        b'{"resourceType": "Condition", "id": "torn", "subj',
        *map(_condition, map(str, range(555))),
    ]
    source = _write(tmp_path / "Condition.ndjson", b"\n".join(lines) + b"\n")
    settings = settings_in(tmp_path / "store")
    report = ingest_paths(paths=[source], settings=settings)
    assert report.by_type["Condition"].loaded == 555
    assert rows(settings, "SELECT line_number FROM quarantine") == [(1,)]


@pytest.mark.parametrize("line_end", [b"\n", b"\r\n"], ids=["lf", "crlf"])
@pytest.mark.parametrize("name", ["Patient.ndjson", "Patient.ndjson.gz", "Patient.json"])
def test_a_byte_order_mark_is_skipped(tmp_path: Path, name: str, line_end: bytes) -> None:
    source = _write(tmp_path / name, BOM + line_end.join(GOOD) + line_end)
    settings = settings_in(tmp_path / "store")
    report = ingest_paths(paths=[source], settings=settings)
    assert report.by_type["Patient"].loaded == 13
    assert report.quarantined == 0
    assert ("p0",) in rows(settings, "SELECT patient_id FROM patient")


def test_a_utf16_file_is_reported_unreadable_and_other_files_load(tmp_path: Path) -> None:
    utf16 = _write(tmp_path / "Patient.ndjson", "\n".join(map(bytes.decode, GOOD)).encode("utf-16"))
    other = _write(tmp_path / "Condition.ndjson", _condition("c1") + b"\n")
    settings = settings_in(tmp_path / "store")
    report = ingest_paths(paths=[utf16, other], settings=settings)
    assert report.by_type["Condition"].loaded == 1
    [(line, reason)] = rows(settings, "SELECT line_number, reason FROM quarantine")
    assert line == 0 and "UTF-16" in reason and "nothing from this file was loaded" in reason


def test_a_bundle_document_with_a_byte_order_mark_loads(tmp_path: Path) -> None:
    bundle = {
        "resourceType": "Bundle", "type": "transaction",
        "entry": [{"resource": json.loads(p)} for p in GOOD[:3]],
    }  # fmt: skip
    source = _write(tmp_path / "bundle.json", BOM + json.dumps(bundle, indent=2).encode())
    report = ingest_paths(paths=[source], settings=settings_in(tmp_path / "store"))
    assert report.by_type["Patient"].loaded == 3
    assert report.quarantined == 0


def test_a_json_file_of_ndjson_with_a_bad_first_line_is_read_as_ndjson(tmp_path: Path) -> None:
    source = _write(
        tmp_path / "Patient.json", b"\n".join([b'{"resourceType": "Pat', *GOOD]) + b"\n"
    )
    settings = settings_in(tmp_path / "store")
    report = ingest_paths(paths=[source], settings=settings)
    assert report.by_type["Patient"].loaded == 13
    assert rows(settings, "SELECT line_number FROM quarantine") == [(1,)]


@pytest.mark.parametrize("name", ["Patient.ndjson", "Patient.ndjson.gz"])
def test_invalid_utf8_on_later_lines_is_quarantined_and_every_file_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """Bad bytes in several blocks, one in a line carried across a block boundary, one at the
    very end without a final newline; another file in the same ingest loads as well."""
    monkeypatch.setattr(sources, "BLOCK_BYTES", 4096)
    lines = [_patient(f"p{i}") for i in range(400)]
    bad = {
        5: lines[4].replace(b"female", b"fem\xffale"),  # 0xFF is never UTF-8
        100: lines[99].replace(b"1950", b"\xc3\x281950"),  # a lead byte without continuation
        250: lines[249].replace(b"female", b"\xed\xa0\x80"),  # an encoded surrogate
        400: lines[399].replace(b"female", b"\xe2\x82"),  # truncated sequence, last line
    }
    for number, text in bad.items():
        lines[number - 1] = text
    source = _write(tmp_path / name, b"\n".join(lines))
    other = _write(tmp_path / "Condition.ndjson", _condition("c1") + b"\n")
    settings = settings_in(tmp_path / "store")
    report = ingest_paths(paths=[source, other], settings=settings)

    assert report.by_type["Patient"].loaded == 400 - len(bad)
    assert report.by_type["Condition"].loaded == 1
    quarantined = rows(
        settings, "SELECT source_file, line_number, reason FROM quarantine ORDER BY line_number"
    )
    assert [(f, n) for f, n, _ in quarantined] == [(str(source), n) for n in sorted(bad)]
    for _, _, reason in quarantined:
        assert reason.startswith("line is not valid UTF-8"), reason
    assert report.by_type["Patient"].quarantined == len(bad)
