"""FHIR XML read as FHIR JSON (`ingest/fhirxml.py`): the R4 XML representation rules, the
element definitions they rest on, and the refusals that keep unsafe or non-FHIR XML out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from houseofcare.ingest import fhirxml
from houseofcare.ingest.fhirxml import FhirXmlError, definitions, read_resources
from houseofcare.ingest.viewdef import load_views

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "fhir" / "ukcore-xml"
NS = 'xmlns="http://hl7.org/fhir"'


def convert(body: str, root: str = "Patient") -> dict[str, Any]:
    """One resource's JSON, as ingest's line would hold it (numbers as JSON reads them)."""
    [found] = read_resources(f"<{root} {NS}>{body}</{root}>".encode())
    assert found.error is None, found.error
    return orjson.loads(orjson.dumps(found.resource))


def line_of(body: str, root: str = "Patient") -> str:
    """The JSON line ingest stages for one resource (numbers with their own digits)."""
    [found] = read_resources(f"<{root} {NS}>{body}</{root}>".encode())
    return orjson.dumps(found.resource).decode()


def error_of(body: str, root: str = "Patient") -> str:
    [found] = read_resources(f"<{root} {NS}>\n{body}\n</{root}>".encode())
    assert found.resource is None and found.error is not None
    return found.error


# -- primitives, arrays, choice types ---------------------------------------------------------


def test_primitives_are_their_value_attributes() -> None:
    assert convert('<id value="p1"/><gender value="female"/><birthDate value="1956-03-12"/>') == {
        "resourceType": "Patient",
        "id": "p1",
        "gender": "female",
        "birthDate": "1956-03-12",
    }


def test_repeating_elements_are_arrays_even_when_they_appear_once() -> None:
    doc = convert(
        '<meta><profile value="https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient"/>'
        "</meta>"
        '<identifier><system value="https://fhir.nhs.uk/Id/nhs-number"/>'
        '<value value="9434765919"/></identifier>'
        '<name><family value="Okafor"/><given value="Margaret"/><given value="Ada"/>'
        '<prefix value="Mrs"/></name>'
        '<address><line value="14 Clarendon Road"/><city value="Leeds"/></address>'
    )
    assert doc["meta"] == {
        "profile": ["https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient"]
    }
    assert doc["identifier"] == [
        {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919"}
    ]
    assert doc["name"] == [{"family": "Okafor", "given": ["Margaret", "Ada"], "prefix": ["Mrs"]}]
    assert doc["address"] == [{"line": ["14 Clarendon Road"], "city": "Leeds"}]


def test_single_elements_stay_single_and_codeable_concepts_hold_coding_arrays() -> None:
    doc = convert(
        '<id value="o1"/><status value="final"/>'
        '<code><coding><system value="http://snomed.info/sct"/><code value="60621009"/>'
        "</coding></code>"
        '<bodySite><text value="arm"/></bodySite>',
        root="Observation",
    )
    assert doc["code"] == {"coding": [{"system": "http://snomed.info/sct", "code": "60621009"}]}
    assert doc["bodySite"] == {"text": "arm"}  # Observation.bodySite is 0..1 in R4


def test_order_of_repeating_elements_is_kept_when_other_elements_come_between() -> None:
    doc = convert(
        '<generalPractitioner><reference value="Organization/a"/></generalPractitioner>'
        '<gender value="male"/>'
        '<generalPractitioner><reference value="Practitioner/b"/></generalPractitioner>'
    )
    assert doc["generalPractitioner"] == [
        {"reference": "Organization/a"},
        {"reference": "Practitioner/b"},
    ]


def test_choice_elements_are_named_and_typed_by_their_suffix() -> None:
    doc = convert(
        '<id value="o1"/><effectivePeriod><start value="2024-06-11"/></effectivePeriod>'
        '<valueQuantity><value value="27.4"/><unit value="kg/m2"/></valueQuantity>',
        root="Observation",
    )
    assert doc["effectivePeriod"] == {"start": "2024-06-11"}
    assert doc["valueQuantity"] == {"value": 27.4, "unit": "kg/m2"}
    assert convert('<valueInteger value="3"/>', root="Observation")["valueInteger"] == 3
    assert convert('<valueBoolean value="true"/>', root="Observation")["valueBoolean"] is True
    assert convert('<deceasedBoolean value="false"/>')["deceasedBoolean"] is False
    assert convert('<deceasedDateTime value="2024-12-30"/>')["deceasedDateTime"] == "2024-12-30"
    assert convert('<multipleBirthInteger value="2"/>')["multipleBirthInteger"] == 2
    med = convert(
        '<medicationCodeableConcept><coding><code value="39109611000001105"/></coding>'
        "</medicationCodeableConcept>",
        root="MedicationRequest",
    )
    assert med["medicationCodeableConcept"] == {"coding": [{"code": "39109611000001105"}]}


def test_extension_values_of_any_type() -> None:
    doc = convert(
        '<extension url="http://e/a"><valueDecimal value="0.25"/></extension>'
        '<extension url="http://e/b"><valueCodeableConcept><coding><code value="N"/></coding>'
        "</valueCodeableConcept></extension>"
        '<extension url="http://e/c"><extension url="part"><valueInteger value="7"/>'
        "</extension></extension>"
    )
    assert doc["extension"] == [
        {"url": "http://e/a", "valueDecimal": 0.25},
        {"url": "http://e/b", "valueCodeableConcept": {"coding": [{"code": "N"}]}},
        {"url": "http://e/c", "extension": [{"url": "part", "valueInteger": 7}]},
    ]


# -- numbers and booleans ---------------------------------------------------------------------


def test_numbers_keep_the_digits_written_in_the_xml() -> None:
    line = line_of(
        '<valueQuantity><value value="58.50"/></valueQuantity>'
        '<referenceRange><low><value value="1.0e2"/></low><high><value value="-0.000"/></high>'
        "</referenceRange>",
        root="Observation",
    )
    assert '"value":58.50' in line and '"value":1.0e2' in line and '"value":-0.000' in line
    assert orjson.loads(line)["valueQuantity"]["value"] == 58.5


def test_integer_types_and_positive_int_plus_sign() -> None:
    doc = convert(
        '<dosageInstruction><sequence value="1"/><timing><repeat><frequency value="+2"/>'
        '<period value="1"/><offset value="0"/></repeat></timing></dosageInstruction>',
        root="MedicationRequest",
    )
    assert doc["dosageInstruction"] == [
        {"sequence": 1, "timing": {"repeat": {"frequency": 2, "period": 1, "offset": 0}}}
    ]


@pytest.mark.parametrize("text", ["abc", "1,5", "01", " 5", "5.", ".5", "NaN", "1e", "0x10"])
def test_a_value_that_is_not_a_number_stays_a_string_for_the_type_checks(text: str) -> None:
    doc = convert(f'<valueQuantity><value value="{text}"/></valueQuantity>', root="Observation")
    assert doc["valueQuantity"]["value"] == text


def test_booleans_are_true_and_false_and_anything_else_stays_a_string() -> None:
    assert convert('<active value="true"/>')["active"] is True
    assert convert('<active value="false"/>')["active"] is False
    assert convert('<active value="yes"/>')["active"] == "yes"


def test_strings_that_look_like_numbers_stay_strings() -> None:
    doc = convert(
        '<identifier><value value="9434765919"/></identifier><birthDate value="1956"/>'
        '<telecom><value value="01134960123"/><rank value="1"/></telecom>'
    )
    assert doc["identifier"] == [{"value": "9434765919"}]
    assert doc["birthDate"] == "1956"
    assert doc["telecom"] == [{"value": "01134960123", "rank": 1}]


# -- primitive extensions and ids -------------------------------------------------------------


def test_primitive_extensions_become_underscore_elements() -> None:
    doc = convert(
        '<birthDate value="1956-03-12"><extension url="http://hl7.org/fhir/StructureDefinition/'
        'patient-birthTime"><valueDateTime value="1956-03-12T04:20:00+00:00"/></extension>'
        "</birthDate>"
    )
    assert doc["birthDate"] == "1956-03-12"
    assert doc["_birthDate"] == {
        "extension": [
            {
                "url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime",
                "valueDateTime": "1956-03-12T04:20:00+00:00",
            }
        ]
    }


def test_a_primitive_with_only_an_extension_has_no_value_key() -> None:
    doc = convert(
        '<birthDate><extension url="http://hl7.org/fhir/StructureDefinition/data-absent-reason">'
        '<valueCode value="unknown"/></extension></birthDate>'
    )
    assert "birthDate" not in doc
    assert doc["_birthDate"]["extension"][0]["valueCode"] == "unknown"


def test_repeating_primitive_extensions_are_aligned_with_null() -> None:
    doc = convert(
        '<name><given value="Jane"/><given id="g2"><extension url="http://e">'
        '<valueString value="x"/></extension></given><given value="Ann"/></name>'
    )
    assert doc["name"] == [
        {
            "given": ["Jane", None, "Ann"],
            "_given": [
                None,
                {"id": "g2", "extension": [{"url": "http://e", "valueString": "x"}]},
                None,
            ],
        }
    ]


def test_element_ids_are_attributes() -> None:
    doc = convert('<name id="n1"><family value="Okafor" id="f1"/></name>')
    assert doc["name"] == [{"id": "n1", "family": "Okafor", "_family": {"id": "f1"}}]


# -- narrative and nested resources -----------------------------------------------------------


def test_narrative_div_becomes_its_xhtml_string() -> None:
    body = (
        '<text><status value="generated"/>'
        '<div xmlns="http://www.w3.org/1999/xhtml"><p>Mrs <b>OKAFOR</b> &amp; co</p></div></text>'
    )
    doc = read_resources(
        f'<Patient {NS} xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">{body}</Patient>'.encode()
    )[0].resource
    assert doc is not None
    assert doc["text"] == {
        "status": "generated",
        "div": '<div xmlns="http://www.w3.org/1999/xhtml"><p>Mrs <b>OKAFOR</b> &amp; co</p></div>',
    }


def test_a_prefixed_xhtml_div_is_written_in_the_default_namespace() -> None:
    xml = (
        f'<Patient {NS} xmlns:h="http://www.w3.org/1999/xhtml"><text>'
        '<status value="generated"/><h:div><h:p>Hi</h:p></h:div></text></Patient>'
    )
    doc = read_resources(xml.encode())[0].resource
    assert doc is not None
    assert doc["text"]["div"] == '<div xmlns="http://www.w3.org/1999/xhtml"><p>Hi</p></div>'


def test_contained_resources_become_objects_with_resource_type() -> None:
    doc = convert(
        '<id value="mr"/><contained><Medication><id value="med"/><ingredient><strength>'
        '<numerator><value value="5.0"/><unit value="mg"/></numerator></strength>'
        '<isActive value="true"/></ingredient></Medication></contained>'
        '<medicationReference><reference value="#med"/></medicationReference>',
        root="MedicationRequest",
    )
    assert doc["contained"] == [
        {
            "resourceType": "Medication",
            "id": "med",
            "ingredient": [
                {"strength": {"numerator": {"value": 5.0, "unit": "mg"}}, "isActive": True}
            ],
        }
    ]
    assert doc["medicationReference"] == {"reference": "#med"}


def test_resources_outside_the_definitions_keep_what_every_resource_has() -> None:
    doc = convert(
        '<id value="a1"/><meta><profile value="https://x/p"/></meta>'
        '<contained><Patient><id value="p"/></Patient></contained>'
        '<reaction><severity value="mild"/><manifestation><text value="rash"/></manifestation>'
        "</reaction>",
        root="AllergyIntolerance",
    )
    assert doc == {
        "resourceType": "AllergyIntolerance",
        "id": "a1",
        "meta": {"profile": ["https://x/p"]},
        "contained": [{"resourceType": "Patient", "id": "p"}],
        "reaction": [{"severity": "mild", "manifestation": [{"text": "rash"}]}],
    }
    assert "AllergyIntolerance.meta appears 2 times" in error_of(
        "<meta/><meta/>", root="AllergyIntolerance"
    )
    params = convert(
        '<parameter><name value="p"/><resource><Patient><id value="x"/></Patient></resource>'
        "</parameter>",
        root="Parameters",
    )
    assert params["parameter"] == [
        {"name": "p", "resource": {"resourceType": "Patient", "id": "x"}}
    ]


def test_bundle_entries_are_the_resources_each_with_its_line() -> None:
    xml = f"""<Bundle {NS}>
  <type value="searchset"/>
  <entry>
    <resource>
      <Patient><id value="p1"/></Patient>
    </resource>
  </entry>
  <entry>
    <request><method value="DELETE"/><url value="Patient/gone"/></request>
  </entry>
  <entry><resource><Bundle><type value="collection"/><entry><resource><Patient>
    <id value="p2"/></Patient></resource></entry></Bundle></resource></entry>
</Bundle>"""
    found = read_resources(xml.encode())
    assert [(r.line, r.error) for r in found] == [(5, None), (8, None), (11, None)]
    assert found[0].resource == {"resourceType": "Patient", "id": "p1"}
    assert found[1].resource is None  # an entry without a resource: read as null, like JSON
    nested = orjson.loads(orjson.dumps(found[2].resource))
    assert nested["entry"] == [{"resource": {"resourceType": "Patient", "id": "p2"}}]


# -- errors for one resource ------------------------------------------------------------------


def test_a_known_single_element_twice_is_an_error_naming_it_and_its_lines() -> None:
    reason = error_of('<id value="p1"/>\n<gender value="male"/>\n<gender value="female"/>')
    assert reason == "Patient.gender appears 2 times (lines 3, 4), but FHIR R4 allows it once"


def test_the_line_of_the_fault_is_given_when_it_is_not_the_resources() -> None:
    assert error_of('<id value="p1"/>\n<name>\n<given>Ann</given></name>').endswith(
        'Patient.name.given holds the text "Ann"; FHIR XML puts values in value attributes (line 4)'
    )


def test_an_unknown_element_twice_is_an_array_and_never_loses_a_value() -> None:
    doc = convert('<id value="a"/><custom value="1"/><custom value="2"/>', root="Patient")
    assert doc["custom"] == ["1", "2"]
    # Outside the definitions, once: the view compiler's list of repeating names decides.
    doc = convert('<id value="a"/><category><text value="food"/></category><type value="x"/>',
                  root="AllergyIntolerance")  # fmt: skip
    assert doc["category"] == [{"text": "food"}]
    assert doc["type"] == "x"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("<gender>male</gender>", "Patient.gender holds the text \"male\""),
        ('<name use="official"/>', "Patient.name has an attribute use=\"official\""),
        ('<maritalStatus value="M"/>', "Patient.maritalStatus has an attribute value=\"M\""),
        ('<x:foo xmlns:x="urn:other"/>', "Patient.foo is in namespace 'urn:other'"),
        ("<birthDate value=\"1956\"><family value=\"x\"/></birthDate>",
         "Patient.birthDate is a date, which holds only extensions, not family"),
        ("<contained/>", "Patient.contained must hold exactly one resource"),
        ("<contained><Nonsense/></contained>", "<Nonsense> is not a FHIR R4 resource"),
        ("<text><div/></text>", "Patient.text.div must be an XHTML <div>"),
    ],
)  # fmt: skip
def test_what_would_be_lost_is_an_error_for_the_resource(body: str, words: str) -> None:
    assert words in error_of(f'<id value="p9"/>{body}')


def test_a_bad_bundle_entry_is_an_error_for_that_entry_only_with_type_and_id() -> None:
    xml = f"""<Bundle {NS}><type value="transaction"/>
  <entry><resource><Patient><id value="good"/></Patient></resource></entry>
  <entry><resource>
    <Observation>
      <id value="bad"/>
      <status value="final"/><status value="amended"/>
    </Observation>
  </resource></entry>
  <entry><resource><Patient/><Patient/></resource></entry>
</Bundle>"""
    good, bad, two = read_resources(xml.encode())
    assert good.error is None and good.resource == {"resourceType": "Patient", "id": "good"}
    assert (bad.line, bad.resource, bad.resource_type, bad.resource_id) == (
        4, None, "Observation", "bad",
    )  # fmt: skip
    assert bad.error is not None and "Observation.status appears 2 times" in bad.error
    assert two.error == "Bundle.entry.resource must hold exactly one resource"


# -- documents refused whole ------------------------------------------------------------------


def test_a_doctype_is_refused_and_no_entity_is_ever_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    xml = (
        f'<?xml version="1.0"?>\n<!DOCTYPE Patient [<!ENTITY xxe SYSTEM "file://{secret}">]>\n'
        f'<Patient {NS}><id value="p1"/><name><family value="&xxe;"/></name></Patient>'
    )
    with pytest.raises(FhirXmlError, match="DOCTYPE") as err:
        read_resources(xml.encode())
    assert err.value.line == 2
    assert "TOP-SECRET" not in str(err.value)


def test_entity_expansion_is_refused() -> None:
    lol = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    xml = f'<!DOCTYPE Patient [<!ENTITY l0 "lol">{lol}]><Patient {NS}><id value="&l9;"/></Patient>'
    with pytest.raises(FhirXmlError, match="DOCTYPE"):
        read_resources(xml.encode())


def test_an_undeclared_entity_is_not_well_formed() -> None:
    with pytest.raises(FhirXmlError, match="not well-formed XML: Entity 'e' not defined"):
        read_resources(f'<Patient {NS}><id value="&e;"/></Patient>'.encode())


def test_xml_that_is_not_well_formed_gives_the_line() -> None:
    xml = f'<Patient {NS}>\n  <id value="p1"/>\n  <gender value="male">\n</Patient>'
    with pytest.raises(FhirXmlError) as err:
        read_resources(xml.encode())
    assert err.value.line == 4
    assert err.value.reason.startswith("not well-formed XML: ")


@pytest.mark.parametrize(
    ("xml", "words"),
    [
        ('<Patient xmlns="http://hl7.org/fhir/R5"><id value="p"/></Patient>',
         "the root element <Patient> has namespace 'http://hl7.org/fhir/R5', expected"),
        ('<Patient><id value="p"/></Patient>', "the root element <Patient> has no namespace"),
        ('<html xmlns="http://www.w3.org/1999/xhtml"/>', "not FHIR XML"),
        (f"<Foo {NS}/>", "the root element <Foo> is not a FHIR R4 resource type"),
        (f"<entry {NS}/>", "<entry> is not a FHIR R4 resource type"),
        ("", "not well-formed XML"),
    ],
)  # fmt: skip
def test_documents_that_are_not_fhir_xml_are_refused_whole(xml: str, words: str) -> None:
    with pytest.raises(FhirXmlError) as err:
        read_resources(xml.encode())
    assert words in err.value.reason


def test_encodings_the_xml_declares_are_read() -> None:
    xml = f'<?xml version="1.0" encoding="UTF-16"?><Patient {NS}><id value="é"/></Patient>'
    assert read_resources(xml.encode("utf-16"))[0].resource == {
        "resourceType": "Patient",
        "id": "é",
    }
    bom = b"\xef\xbb\xbf" + f'<Patient {NS}><id value="p"/></Patient>'.encode()
    assert read_resources(bom)[0].resource == {"resourceType": "Patient", "id": "p"}


# -- the fixtures and the definitions ---------------------------------------------------------


@pytest.mark.parametrize("xml", sorted(FIXTURES.glob("*.xml")), ids=lambda p: p.name)
def test_uk_core_fixtures_convert_to_the_hand_written_json(xml: Path) -> None:
    doc = json.loads((FIXTURES / "json" / f"{xml.stem}.json").read_text())
    expected = [e["resource"] for e in doc["entry"]] if doc["resourceType"] == "Bundle" else [doc]
    found = read_resources(xml.read_bytes())
    assert [r.error for r in found] == [None] * len(expected)
    assert [orjson.loads(orjson.dumps(r.resource)) for r in found] == expected


def _walk(structure: Any, kind: str, path: str) -> list[tuple[str, bool, bool]]:
    """(path, view reads an array, definitions say it repeats) for each element a view reads."""
    found = []
    for name, child in structure.items():
        if name == "resourceType" or (kind == "Extension" and name == "url"):
            continue  # an attribute in XML
        spec = definitions().element(kind, kind, name, at_root=False)
        assert spec.known, f"{path}.{name} is not in fhir_r4_elements.json"
        found.append((f"{path}.{name}", isinstance(child, list), spec.repeats))
        inner = child[0] if isinstance(child, list) else child
        if isinstance(inner, dict):
            assert spec.type is not None
            found += _walk(inner, spec.type, f"{path}.{name}")
    return found


@pytest.mark.parametrize("view", load_views().values(), ids=lambda v: v.table)
def test_the_definitions_agree_with_every_element_the_views_read(view: Any) -> None:
    # XML converted by the definitions must have the JSON shape the views read (an array
    # where they expect one), or its resources would be quarantined for their shape.
    for path, view_array, repeats in _walk(
        json.loads(view.structure), view.resource, view.resource
    ):
        assert view_array == repeats, path


def test_the_definitions_are_complete_for_the_resources_houseofcare_reads() -> None:
    defs = definitions()
    raw = json.loads((Path(fhirxml.__file__).parent / "fhir_r4_elements.json").read_text())["types"]
    for resource in ("Patient", "Condition", "Observation", "Encounter", "MedicationRequest",
                     "Procedure", "Organization", "Practitioner", "Bundle"):  # fmt: skip
        assert resource in raw and resource in defs.resource_types
    named = set(raw) | fhirxml.PRIMITIVES | {"xhtml", "Resource"}
    for name, elements in raw.items():
        for element, spec in elements.items():
            if element == "@base":
                assert spec in raw, f"{name} has an unknown base {spec}"
            elif spec != "*":
                for kind in spec.removesuffix("*").split("|"):
                    assert kind in named, f"{name}.{element} has an unknown type {kind}"
    assert defs.element("Observation.component", "Observation", "valueQuantity", False).type == (
        "Quantity"
    )
    assert defs.element("HumanName", "Patient", "given", False).repeats
    assert defs.element("Quantity", "Observation", "value", False).type == "decimal"
