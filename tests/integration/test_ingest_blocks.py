"""The fast path and the careful path of ingest give the same answer: files read in many small
blocks, files mixing resource types, gzip, bad lines at known line numbers, and a line larger
than a block and than DuckDB's default JSON object size (16 MB)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from test_ingest_support import rows, settings_in

from houseofcare.ingest import ingest_paths, sources

SCT = "http://snomed.info/sct"


def _patient(pid: str, **extra: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "resourceType": "Patient", "id": pid, "gender": "female", "birthDate": "1950-06-01",
        "meta": {"lastUpdated": "2026-01-01T00:00:00Z"},
    }  # fmt: skip
    doc.update(extra)
    return doc


def _condition(cid: str, pid: str) -> dict[str, object]:
    return {
        "resourceType": "Condition", "id": cid, "subject": {"reference": f"Patient/{pid}"},
        "code": {"coding": [{"system": SCT, "code": "38341003", "display": "Hypertension"}]},
        "onsetDateTime": "2015-03-02T10:00:00+00:00",
    }  # fmt: skip


def _mixed_lines() -> tuple[list[str], dict[int, str]]:
    """Patients and Conditions interleaved, a few bad lines; {line number: reason words}."""
    lines: list[str] = []
    bad: dict[int, str] = {}
    for i in range(300):
        lines.append(json.dumps(_patient(f"p{i}")))
        lines.append(json.dumps(_condition(f"c{i}", f"p{i}")))
        if i % 50 == 7:
            lines.append('{"resourceType": "Patient", "id": "torn"')
            bad[len(lines)] = "not valid JSON"
            lines.append(json.dumps(_patient(f"bad-date-{i}", birthDate="2001-02-29")))
            bad[len(lines)] = '"2001-02-29"'
            lines.append(json.dumps({"resourceType": "Condition", "code": {}}))
            bad[len(lines)] = "id is missing"
        if i % 100 == 3:
            lines.append(json.dumps({"resourceType": "Claim", "id": f"claim-{i}"}))
            lines.append("")
    return lines, bad


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of 4 KB: a few dozen lines each, so every path meets many block boundaries."""
    monkeypatch.setattr(sources, "BLOCK_BYTES", 4096)


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
def test_mixed_types_in_small_blocks_with_bad_lines_at_known_numbers(
    tmp_path: Path, small_blocks: None, compressed: bool
) -> None:
    lines, bad = _mixed_lines()
    text = "\n".join(lines) + "\n"
    source = tmp_path / ("mixed.ndjson.gz" if compressed else "mixed.ndjson")
    if compressed:
        source.write_bytes(gzip.compress(text.encode()))
    else:
        source.write_text(text)
    settings = settings_in(tmp_path / "store")
    report = ingest_paths(paths=[source], settings=settings)

    assert report.by_type["Patient"].loaded == 300
    assert report.by_type["Condition"].loaded == 300
    assert report.skipped_unknown == {"Claim": 3}
    assert rows(settings, "SELECT count(*) FROM condition WHERE patient_id = 'p42'") == [(1,)]
    quarantined = rows(settings, "SELECT line_number, reason FROM quarantine ORDER BY line_number")
    assert [number for number, _ in quarantined] == sorted(bad)
    for number, reason in quarantined:
        assert bad[number] in reason, (number, reason)
    assert report.quarantine_examples[0][1] == min(bad)


def test_a_file_of_one_type_after_a_file_of_another_and_one_bad_block(
    tmp_path: Path, small_blocks: None
) -> None:
    """The type guess follows each block; a block where the guess fails still loads right."""
    patients = tmp_path / "Patient.ndjson"
    patients.write_text("".join(json.dumps(_patient(f"p{i}")) + "\n" for i in range(200)))
    conditions = tmp_path / "Condition.ndjson"
    body = [json.dumps(_condition(f"c{i}", f"p{i}")) for i in range(200)]
    body[100:100] = ["not json at all"] * 40  # one whole block of garbage in the middle
    conditions.write_text("\n".join(body) + "\n")
    settings = settings_in(tmp_path / "store")
    report = ingest_paths(paths=[patients, conditions], settings=settings)
    assert report.by_type["Patient"].loaded == 200
    assert report.by_type["Condition"].loaded == 200
    assert rows(
        settings, "SELECT min(line_number), max(line_number), count(*) FROM quarantine"
    ) == [(101, 140, 40)]


def test_a_line_larger_than_a_block_and_than_the_default_json_object_size(
    tmp_path: Path,
) -> None:
    note = "x" * (20 << 20)  # 20 MB: above DuckDB's 16 MB default maximum_object_size
    big = _patient("big", text={"status": "generated", "div": note})
    source = tmp_path / "Patient.ndjson"
    source.write_text(
        json.dumps(_patient("before")) + "\n" + json.dumps(big) + "\n"
        + json.dumps(_patient("after"))  # no final newline
    )  # fmt: skip
    settings = settings_in(tmp_path / "store")
    report = ingest_paths(paths=[source], settings=settings)
    assert report.by_type["Patient"].loaded == 3
    assert report.quarantined == 0
    assert rows(settings, "SELECT patient_id FROM patient ORDER BY 1") == [
        ("after",),
        ("before",),
        ("big",),
    ]


def test_reading_in_blocks_numbers_every_line_as_a_plain_split_does(tmp_path: Path) -> None:
    text = b'{"a":1}\r\n\n  \n{"b":"' + b"y" * 9000 + b'"}\n{"c":3}\n{"d":4}'
    source = tmp_path / "lines.ndjson"
    source.write_bytes(text)
    want = [(n, line + b"\n") for n, line in enumerate(text.split(b"\n"), start=1)]
    for block_bytes in (7, 64, 4096, 1 << 20):
        got = [
            (number, line.encode())
            for block in sources.read_blocks(source, block_bytes)
            for number, line in zip(
                block.lines.column("line_number").to_pylist(),
                block.lines.column("line").to_pylist(),
                strict=True,
            )
        ]
        assert got == want, block_bytes


def test_released_read_buffers_are_reused_without_corrupting_lines(tmp_path: Path) -> None:
    """Blocks released after use hand their buffer to the next block, through the prefetching
    thread as ingest uses it; every line still arrives whole and numbered."""
    lines = [b'{"n":%d,"pad":"%s"}' % (i, b"x" * (i % 97)) for i in range(5000)]
    source = tmp_path / "many.ndjson"
    source.write_bytes(b"\n".join(lines) + b"\n")
    buffers: set[int] = set()
    held: list[object] = []  # so a freed buffer's address cannot come back from malloc
    got: list[tuple[int, bytes]] = []
    for block in sources.prefetch(sources.read_blocks(source, 4096)):
        numbers = block.lines.column("line_number").to_pylist()
        texts = [t.encode() for t in block.lines.column("line").to_pylist()]
        got.extend(zip(numbers, texts, strict=True))
        buffers.add(block.lines.column("line").chunk(0).buffers()[2].address)
        held.append(block.lines)
        block.release()
    assert got == [(n, line + b"\n") for n, line in enumerate(lines, start=1)]
    blocks = -(-source.stat().st_size // 4096)
    assert len(buffers) < blocks / 4  # reused, not one fresh buffer per block


def test_prefetch_keeps_order_and_raises_the_producers_error_in_place() -> None:
    def produce() -> object:
        yield from range(5)
        raise ValueError("disk gone")

    seen: list[object] = []
    with pytest.raises(ValueError, match="disk gone"):
        for item in sources.prefetch(produce()):  # type: ignore[arg-type]
            seen.append(item)
    assert seen == [0, 1, 2, 3, 4]
    # A consumer that stops early leaves no producer behind.
    endless = sources.prefetch(iter(range(10**9)))
    assert next(endless) == 0
    endless.close()
