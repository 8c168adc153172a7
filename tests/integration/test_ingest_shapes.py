"""Values the views read must have their FHIR shape: an element of the wrong JSON shape, a
string with a control character or an NHS number failing its check digit quarantines the
resource (with the path and reason) instead of loading it with a value silently missing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_ingest_support import rows, settings_in

from houseofcare.ingest import ingest_paths, sources

SCT = "http://snomed.info/sct"
NHS = "https://fhir.nhs.uk/Id/nhs-number"
ETHNIC = "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-EthnicCategory"


def _condition(cid: str, **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "resourceType": "Condition", "id": cid, "subject": {"reference": "Patient/p1"},
        "clinicalStatus": {"coding": [{"code": "active"}]},
        "code": {"coding": [{"system": SCT, "code": "38341003", "display": "Hypertension"}]},
        "onsetDateTime": "2015-03-02",
    }  # fmt: skip
    doc.update(extra)
    return doc


def _patient(pid: str, **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "resourceType": "Patient", "id": pid, "gender": "female", "birthDate": "1950-06-01",
        "identifier": [{"system": NHS, "value": "9434765919"}],
    }  # fmt: skip
    doc.update(extra)
    return doc


def _observation(oid: str, **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "resourceType": "Observation", "id": oid, "status": "final",
        "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2024-01-02",
        "code": {"coding": [{"system": SCT, "code": "75367002"}]},
        "component": [
            {"code": {"coding": [{"system": SCT, "code": "72313002"}]},
             "valueQuantity": {"value": 140, "unit": "mmHg"}},
            {"code": {"coding": [{"system": SCT, "code": "1091811000000102"}]},
             "valueQuantity": {"value": 90, "unit": "mmHg"}},
        ],
    }  # fmt: skip
    doc.update(extra)
    return doc


CODING = {"system": SCT, "code": "38341003"}

WRONG_SHAPES: list[tuple[dict[str, Any], str]] = [
    # (resource, words of the reason): the path and what it should have been
    (_condition("coding-object", code={"coding": CODING}), "code.coding is {"),
    (_condition("coding-object-2", code={"coding": CODING}), "expected an array"),
    (_condition("code-string", code="38341003"), 'code is "38341003", expected an object'),
    (_condition("coding-of-strings", code={"coding": ["38341003"]}), "code.coding[0] is"),
    (_condition("status-array", clinicalStatus=[{"coding": [{"code": "active"}]}]),
     "clinicalStatus is [{"),
    (_patient("identifier-object", identifier={"system": NHS, "value": "9434765919"}),
     "identifier is {"),
    (_patient("gp-object", generalPractitioner={"reference": "Organization/gp1"}),
     "generalPractitioner is {"),
    (_patient("ethnic-coding-object", extension=[
        {"url": ETHNIC, "valueCodeableConcept": {"coding": {"code": "A"}}}]),
     "extension[0].valueCodeableConcept.coding is {"),
    (_observation("component-object", component={"code": {"coding": [CODING]}}),
     "component is {"),
    (_observation("component-coding-object", component=[
        {"code": {"coding": [{"system": SCT, "code": "72313002"}]},
         "valueQuantity": {"value": 140}},
        {"code": {"coding": {"system": SCT, "code": "1091811000000102"}},
         "valueQuantity": {"value": 90}}]),
     "component[1].code.coding is {"),
    (_observation("quantity-number", valueQuantity=70.5, component=None),
     "valueQuantity is 70.5, expected an object"),
    ({"resourceType": "Practitioner", "id": "given-string", "name": [{"given": "Ann"}]},
     'name[0].given is "Ann", expected an array'),
    ({"resourceType": "Encounter", "id": "type-object", "status": "finished",
      "subject": {"reference": "Patient/p1"}, "class": {"code": "AMB"},
      "type": {"coding": [CODING]}},
     "type is {"),
]  # fmt: skip

CONTROL_CHARACTERS: list[tuple[dict[str, Any], str]] = [
    (_patient("nul-gender", gender="fe\u0000male"), "gender holds a control character (U+0000)"),
    (_patient("bell-name", name=[{"family": "Smith\u0007"}]), "name[0].family holds"),
    (_patient("escape-div", text={"status": "generated", "div": "<div>\u001b[31m</div>"}),
     "text.div holds a control character (U+001B)"),
    (_condition("backspace-display", code={"coding": [dict(CODING, display="Hyper\btension")]}),
     "code.coding[0].display holds a control character (U+0008)"),
    (_condition("formfeed-key", note=[{"text": "ok", "a\fb": 1}]), "(U+000C)"),
]  # fmt: skip

VALID: list[dict[str, Any]] = [
    _condition("text-only-code", code={"text": "Hypertension"}),
    _condition("no-code", code=None),
    _patient("address-without-extension", address=[{"use": "home", "line": ["1 High St"]}]),
    _patient("us-race", extension=[{"url": "http://hl7.org/race", "extension": [
        {"url": "text", "valueString": "White"}]}]),
    _patient("tab-and-newlines", name=[{"family": "Smith\tJones", "text": "a\r\nb"}]),
    _patient("escaped-backslash", name=[{"family": "back\\u0000slash"}]),
    _patient("other-identifier", identifier=[{"system": "http://x/mrn", "value": "12"}]),
    _observation("no-component", component=None, valueQuantity={"value": 70.5}),
]  # fmt: skip


def _ndjson(path: Path, docs: list[dict[str, Any]]) -> Path:
    lines = [json.dumps({k: v for k, v in d.items() if v is not None}) for d in docs]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("layout", ["one-file-per-type", "types-mixed-in-small-blocks"], ids=str)
def test_wrong_shapes_and_control_characters_are_quarantined_with_path_and_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layout: str
) -> None:
    """The fast path (one type per file) and the careful path (types mixed, small blocks)
    give the same quarantine; resources of the right shape load alongside."""
    bad = WRONG_SHAPES + CONTROL_CHARACTERS
    docs = [doc for doc, _ in bad] + VALID
    if layout == "one-file-per-type":
        by_type: dict[str, list[dict[str, Any]]] = {}
        for doc in docs:
            by_type.setdefault(doc["resourceType"], []).append(doc)
        paths = [_ndjson(tmp_path / f"{t}.ndjson", d) for t, d in sorted(by_type.items())]
    else:
        monkeypatch.setattr(sources, "BLOCK_BYTES", 2048)
        paths = [_ndjson(tmp_path / "mixed.ndjson", docs)]
    settings = settings_in(tmp_path / "store")
    report = ingest_paths(paths=paths, settings=settings)

    reasons = dict(rows(settings, "SELECT resource_id, reason FROM quarantine"))
    assert sorted(reasons) == sorted(doc["id"] for doc, _ in bad)
    for doc, words in bad:
        assert words in reasons[doc["id"]], (doc["id"], reasons[doc["id"]])
    assert report.quarantined == len(bad)
    loaded = {
        rid
        for (rid,) in rows(
            settings,
            "SELECT condition_id FROM condition UNION SELECT patient_id FROM patient "
            "UNION SELECT observation_id FROM observation",
        )
    }
    assert loaded == {doc["id"] for doc in VALID}
    assert rows(settings, "SELECT code FROM condition WHERE condition_id = 'text-only-code'") == [
        (None,)
    ]


def test_a_quarantined_shape_leaves_no_row_and_no_version_behind(tmp_path: Path) -> None:
    source = _ndjson(
        tmp_path / "Condition.ndjson",
        [_condition("good"), _condition("bad", code={"coding": CODING})],
    )
    settings = settings_in(tmp_path / "store")
    ingest_paths(paths=[source], settings=settings)
    assert rows(settings, "SELECT condition_id, code FROM condition") == [("good", "38341003")]
    assert rows(settings, "SELECT resource_id FROM ingested_resource") == [("good",)]
    [(line, rtype, reason)] = rows(
        settings, "SELECT line_number, resource_type, reason FROM quarantine"
    )
    assert (line, rtype) == (2, "Condition")
    assert reason.startswith('code.coding is {"system":"http://snomed.info/sct"'), reason


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("9434765918", "modulus 11 check"),  # last digit wrong
        ("9434765991", "modulus 11 check"),  # two digits transposed
        ("943 476 5919", "10 digits"),
        ("94347659", "10 digits"),
        ("1000000010", "modulus 11 check"),  # check digit would be 10: no such number
    ],
)
def test_an_nhs_number_failing_its_check_quarantines_the_patient(
    tmp_path: Path, value: str, words: str
) -> None:
    source = _ndjson(
        tmp_path / "Patient.ndjson",
        [
            _patient("valid"),
            _patient("invalid", identifier=[{"system": NHS, "value": value}]),
            _patient("mrn-only", identifier=[{"system": "http://x/mrn", "value": "9434765918"}]),
        ],
    )
    settings = settings_in(tmp_path / "store")
    report = ingest_paths(paths=[source], settings=settings)
    assert rows(settings, "SELECT patient_id, nhs_number FROM patient ORDER BY 1") == [
        ("mrn-only", None),
        ("valid", "9434765919"),
    ]
    [(rid, reason)] = rows(settings, "SELECT resource_id, reason FROM quarantine")
    assert rid == "invalid"
    assert "nhs_number" in reason and json.dumps(value) in reason and words in reason, reason
    assert report.quarantined == 1
