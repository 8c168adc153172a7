"""Bad input goes to the quarantine table with file, line, id and a reason naming the field and
the bad value, while the rest of the file loads; `--strict` is `report.quarantined > 0`."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from test_ingest_support import rows, settings_in

from houseofcare.ingest import ingest_paths

SCT = "http://snomed.info/sct"


def _obs(oid: str, **extra: object) -> dict[str, object]:
    base: dict[str, object] = {
        "resourceType": "Observation", "id": oid, "status": "final",
        "code": {"coding": [{"system": SCT, "code": "27113001", "display": "Body weight"}]},
        "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2024-01-02",
        "valueQuantity": {"value": 70.5, "unit": "kg"},
    }  # fmt: skip
    base.update(extra)
    return base


BAD_LINES: list[tuple[str, str | None, str]] = [
    # (line text, expected resource id, expected words in the reason)
    ('{"resourceType": "Observation", "id": "broken"', None, "not valid JSON"),
    (json.dumps({"id": "no-type", "status": "final"}), "no-type", "resourceType is missing"),
    (json.dumps({"resourceType": "Patient", "gender": "male"}), None, "id is missing"),
    (json.dumps({"resourceType": "Patient", "id": 42}), "42", "id is 42, expected an id"),
    (json.dumps({"resourceType": "Patient", "id": "bad-birth", "birthDate": "2023-02-30"}),
     "bad-birth", 'birthDate (birth_date) is "2023-02-30"'),
    (json.dumps({"resourceType": "Patient", "id": "word-birth", "birthDate": "last spring"}),
     "word-birth", '"last spring"'),
    (json.dumps(_obs("abc-value", valueQuantity={"value": "abc", "unit": "kg"})),
     "abc-value", 'value.ofType(Quantity).value (value_number) is "abc"'),
    (json.dumps(_obs("string-number", valueQuantity={"value": "70.5", "unit": "kg"})),
     "string-number", '"70.5", expected a JSON number'),
    (json.dumps(_obs("object-status", status={"code": "final"})),
     "object-status", 'status (status) is {"code":"final"}'),
    (json.dumps(_obs("bad-component", component=[
        {"code": {"coding": [{"system": SCT, "code": "72313002"}]},
         "valueQuantity": {"value": "high"}}])),
     "bad-component", '"high"'),
    (json.dumps(_obs("no-subject", subject=None)), "no-subject", "patient_id) is required"),
    (json.dumps(_obs("bad-updated", meta={"lastUpdated": "yesterday"})), "bad-updated",
     'meta.lastUpdated (last_updated) is "yesterday"'),
]  # fmt: skip


def test_each_bad_line_is_quarantined_and_the_rest_loads(tmp_path: Path) -> None:
    good = [json.dumps(_obs(f"good-{i}")) for i in range(3)]
    lines = [good[0], "", *[text for text, _, _ in BAD_LINES], "   ", good[1], good[2]]
    source = tmp_path / "mixed.ndjson"
    source.write_text("\n".join(lines) + "\n")
    settings = settings_in(tmp_path / "store")
    report = ingest_paths(paths=[source], settings=settings)

    assert rows(settings, "SELECT DISTINCT observation_id FROM observation ORDER BY 1") == [
        ("good-0",),
        ("good-1",),
        ("good-2",),
    ]
    quarantined = rows(
        settings,
        "SELECT source_file, line_number, resource_id, reason FROM quarantine ORDER BY line_number",
    )
    assert len(quarantined) == len(BAD_LINES)  # empty and blank lines are ignored
    for (file, line, rid, reason), (number, (_, want_id, words)) in zip(
        quarantined, enumerate(BAD_LINES, start=3), strict=True
    ):
        assert file == str(source)
        assert line == number
        assert rid == want_id
        assert words in reason, reason
    assert report.quarantined == len(BAD_LINES)
    assert report.by_type["Observation"].loaded == 3
    assert report.by_type["Observation"].quarantined == 6
    assert report.by_type["Patient"].quarantined == 4
    assert report.quarantine_examples[0][:2] == (str(source), 3)
    assert rows(settings, "SELECT count(*) FROM quarantine WHERE ingested_at IS NULL") == [(0,)]


def test_corrupt_gzip_is_reported_as_line_zero_and_other_files_load(tmp_path: Path) -> None:
    good = tmp_path / "good.ndjson"
    good.write_text(json.dumps(_obs("ok-1")) + "\n")
    corrupt = tmp_path / "Observation.ndjson.gz"
    payload = gzip.compress(("\n".join(json.dumps(_obs(f"lost-{i}")) for i in range(500))).encode())
    corrupt.write_bytes(payload[: len(payload) // 2] + b"\x00garbage" * 10)
    settings = settings_in(tmp_path / "store")
    report = ingest_paths(paths=[good, corrupt], settings=settings)
    assert rows(settings, "SELECT DISTINCT observation_id FROM observation") == [("ok-1",)]
    [(file, line, reason)] = rows(
        settings, "SELECT source_file, line_number, reason FROM quarantine"
    )
    assert (file, line) == (str(corrupt), 0)
    assert "cannot read" in reason and "nothing from this file was loaded" in reason
    assert report.quarantined == 1  # so --strict fails


def test_clean_input_passes_strict(tmp_path: Path) -> None:
    source = tmp_path / "obs.ndjson"
    source.write_text(json.dumps(_obs("fine")) + "\n")
    report = ingest_paths(paths=[source], settings=settings_in(tmp_path / "store"))
    assert report.quarantined == 0 and report.quarantine_examples == []


def test_a_bundle_line_too_deep_to_unpack_is_quarantined_and_the_rest_loads(
    tmp_path: Path,
) -> None:
    """DuckDB reads any depth of nesting; orjson, which unpacks Bundles, stops at 1024."""
    deep = "[" * 1100 + "]" * 1100
    bundle = (
        '{"resourceType": "Bundle", "type": "collection", "entry": [{"resource": '
        f'{{"resourceType": "Observation", "id": "deep", "note": {deep}}}}}]}}'
    )
    source = tmp_path / "bundles.ndjson"
    source.write_text(json.dumps(_obs("before")) + "\n" + bundle + "\n" + json.dumps(_obs("after")))
    settings = settings_in(tmp_path / "store")
    report = ingest_paths(paths=[source], settings=settings)
    assert report.by_type["Observation"].loaded == 2
    [(line, rtype, reason)] = rows(
        settings, "SELECT line_number, resource_type, reason FROM quarantine"
    )
    assert (line, rtype) == (2, "Bundle")
    assert "cannot unpack" in reason and "recursion" in reason, reason
