"""The shipped ViewDefinitions match the analytic-table contract, and a view outside the
supported FHIRPath subset fails when loaded, naming the file and the path."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from houseofcare.analytic_tables import CLINICAL_TABLES, KEY_COLUMN, RESOURCE_TYPE_OF_TABLE
from houseofcare.ingest.fhirpath import FHIRPathError, parse
from houseofcare.ingest.viewdef import (
    ViewDefinitionError,
    compile_view,
    load_view,
    load_views,
    reference_key_sql,
    views_folder,
)


def test_every_view_matches_the_contract() -> None:
    views = load_views()
    assert set(views) == set(CLINICAL_TABLES)
    for table, view in views.items():
        assert dict(view.columns) == dict(CLINICAL_TABLES[table]), table
        assert len(view.columns) == len(CLINICAL_TABLES[table]), table
        assert view.resource == RESOURCE_TYPE_OF_TABLE[table]
        assert view.key_column() == KEY_COLUMN[table]


def _write_view(tmp_path: Path, path: str) -> Path:
    doc = json.loads((views_folder() / "practitioner.json").read_text())
    doc["select"][0]["column"][2]["path"] = path
    target = tmp_path / "practitioner.json"
    target.write_text(json.dumps(doc))
    return target


@pytest.mark.parametrize(
    "path",
    [
        "name.family.substring(0, 2)",
        "name.family.first() + true",
        "name[%nowhere].family",
        "%nowhere",
        "",
    ],
)
def test_unsupported_fhirpath_fails_at_load_naming_file_and_path(tmp_path: Path, path: str) -> None:
    view = _write_view(tmp_path, path)
    with pytest.raises(ViewDefinitionError) as err:
        load_view(view)
    assert str(view) in str(err.value)
    assert "family_name" in str(err.value)


def test_unknown_column_type_and_select_keys_fail(tmp_path: Path) -> None:
    doc = json.loads((views_folder() / "practitioner.json").read_text())
    doc["select"][0]["column"][1]["type"] = "Quantity"
    target = tmp_path / "bad.json"
    target.write_text(json.dumps(doc))
    with pytest.raises(ViewDefinitionError, match="type 'Quantity' is not supported"):
        load_view(target)
    doc = json.loads((views_folder() / "practitioner.json").read_text())
    doc["select"][0]["forEachAll"] = "name"
    target.write_text(json.dumps(doc))
    with pytest.raises(ViewDefinitionError, match="'forEachAll' is not supported"):
        load_view(target)


def test_parser_rejects_unknown_functions() -> None:
    with pytest.raises(FHIRPathError, match="iif"):
        parse("iif(a, b, c)")
    assert parse("code.coding.where(system = %sct).first()") is not None


@pytest.mark.parametrize(
    ("reference", "wanted", "key"),
    [
        ("Patient/abc", "Patient", "abc"),
        # Edges of the no-regex path for `Type/id`: they must answer as the general rule does.
        ("Patient/", "Patient", ""),
        ("Patient/a?b", "Patient", None),
        ("Patients/abc", "Patient", None),
        ("Patient/abc/_history/3", "Patient", "abc"),
        ("https://fhir.example.nhs.uk/R4/Patient/abc", "Patient", "abc"),
        ("urn:uuid:8f2d4c1e-1a2b", "Patient", "8f2d4c1e-1a2b"),
        (
            "Organization?identifier=https://github.com/synthetichealth/synthea|ef58",
            "Organization",
            "ef58",
        ),
        (
            "Organization?identifier=https://github.com/synthetichealth/synthea|ef58",
            "Patient",
            None,
        ),
        ("Practitioner/p1", "Organization", None),
        ("Practitioner/p1", "", "p1"),
    ],
)
def test_reference_keys(reference: str, wanted: str, key: str | None) -> None:
    sql = reference_key_sql("$1", wanted).replace("$1", "CAST($1 AS VARCHAR)")
    assert duckdb.connect().execute(f"SELECT {sql}", [reference]).fetchone() == (key,)


def _run(view: dict[str, object], resources: list[dict[str, object]]) -> list[tuple]:
    """(columns..., __error) per row of `view` over `resources`, as ingest computes them."""
    compiled = compile_view({"resource": "Patient", **view}, "test.json")
    con = duckdb.connect()
    con.execute("CREATE TABLE blk AS SELECT * FROM (VALUES (0, '{}')) AS t(seq, line) LIMIT 0")
    for seq, resource in enumerate(resources):
        con.execute("INSERT INTO blk VALUES (?, ?)", [seq, json.dumps(resource)])
    structure = compiled.structure.replace("'", "''")
    return con.execute(
        f"WITH parsed AS (SELECT seq, from_json(line, '{structure}') AS r FROM blk) "
        f"SELECT * EXCLUDE (seq) FROM ({compiled.rows_sql}) ORDER BY seq"
    ).fetchall()


def _columns(*columns: tuple[str, str, str]) -> dict[str, object]:
    return {"select": [{"column": [{"name": n, "path": p, "type": t} for n, p, t in columns]}]}


def test_true_and_false_are_boolean_literals() -> None:
    patients = [{"id": "a", "active": True}, {"id": "b", "active": False}, {"id": "c"}]
    view = _columns(("id", "id", "id"), ("on", "active = true", "boolean"))
    assert _run(view, patients) == [("a", True, None), ("b", False, None), ("c", None, None)]
    view = {**_columns(("id", "id", "id")), "where": [{"path": "active != true"}]}
    assert [row[0] for row in _run(view, patients)] == ["b"]


def test_get_reference_key_compares_as_the_key() -> None:
    patients = [{"id": "p1", "link": [{"other": {"reference": "Patient/p1"}}]}]
    view = _columns(("same", "getResourceKey() = link.other.getReferenceKey(Patient)", "boolean"))
    assert _run(view, patients) == [(True, None)]


def test_a_literal_column_is_a_value_not_an_error() -> None:
    assert _run(_columns(("kind", "'person'", "string")), [{"id": "a"}]) == [("person", None)]


def test_several_values_without_collection_is_an_error() -> None:
    patients = [{"id": "a", "name": [{"family": "X"}, {"family": "Y"}]}]
    [(_family, error)] = _run(_columns(("family", "name.family", "string")), patients)
    assert "several values" in error


def test_reference_key_of_a_type_skips_references_of_other_types() -> None:
    gps = [{"reference": "Practitioner/g1"}, {"reference": "Organization/o1"}]
    view = _columns(("practice", "generalPractitioner.getReferenceKey(Organization)", "id"))
    assert _run(view, [{"id": "a", "generalPractitioner": gps}]) == [("o1", None)]


def test_boolean_element_alone_inside_an_expression_is_refused_naming_the_view() -> None:
    # A view `where` of the element alone is accepted (a non-boolean value quarantines the
    # resource: tests/unit/test_viewdef_constructs.py); inside `and`, it needs `= true`.
    view = {**_columns(("id", "id", "id")), "where": [{"path": "active and id = 'a'"}]}
    with pytest.raises(ViewDefinitionError, match=r"test\.json.*active and id.*= true"):
        compile_view({"resource": "Patient", **view}, "test.json")
