"""Each SQL-on-FHIR v2 construct the view compiler supports, on small inline views and resources.

The rows come from the same path ingest takes (`compile_view`, `from_json` into the view's
structure, quarantine of bad rows), through `run_view` of `benchmarks/sof_conformance.py`, so
these tests need nothing outside the repository.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from houseofcare.ingest.viewdef import ViewDefinitionError, compile_view
from tests.unit.test_sof_conformance import _runner

PATIENTS: list[dict[str, Any]] = [
    {
        "resourceType": "Patient",
        "id": "p1",
        "gender": "female",
        "birthDate": "1978-03-12",
        "deceasedBoolean": True,
        "name": [
            {"use": "official", "family": "Smith", "given": ["Ada", "Mary"]},
            {"family": "Jones", "given": ["Ann"]},
        ],
        "contact": [
            {"telecom": [{"value": "111"}, {"value": "222"}]},
            {"telecom": [{"value": "333"}]},
        ],
    },
    {"resourceType": "Patient", "id": "p2", "gender": "male", "name": [{"family": "Brown"}]},
    {"resourceType": "Patient", "id": "p3"},
]
OBSERVATIONS: list[dict[str, Any]] = [
    {"resourceType": "Observation", "id": "o1", "valueInteger": 12},
    {"resourceType": "Observation", "id": "o2", "valueInteger": 10},
    {"resourceType": "Observation", "id": "o3", "valueQuantity": {"value": 1.1}},
    {"resourceType": "Observation", "id": "o4", "valueQuantity": {"value": 7}},
    {"resourceType": "Observation", "id": "o5", "valueString": "12"},
]


def _rows(view: dict[str, Any], resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return _runner().run_view(view, resources)[1]


def _same(got: list[dict[str, Any]], expected: list[dict[str, Any]]) -> bool:
    return Counter(map(repr, map(sorted, map(dict.items, got)))) == Counter(
        map(repr, map(sorted, map(dict.items, expected)))
    )


def _view(resource: str, *select: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"resourceType": "ViewDefinition", "resource": resource, "select": list(select), **extra}


def _col(name: str, path: str, fhir_type: str = "string", **extra: Any) -> dict[str, Any]:
    return {"name": name, "path": path, "type": fhir_type, **extra}


# -- typed constants ------------------------------------------------------------------------
def test_code_and_date_constants_compare_as_text() -> None:
    view = _view(
        "Patient",
        {"column": [_col("id", "id", "id"), _col("f", "gender = %g", "boolean")]},
        {"column": [_col("born", "birthDate = %bd", "boolean")]},
        constant=[{"name": "g", "valueCode": "female"}, {"name": "bd", "valueDate": "1978-03-12"}],
    )
    assert _same(
        _rows(view, PATIENTS),
        [
            {"id": "p1", "f": True, "born": True},
            {"id": "p2", "f": False, "born": None},
            {"id": "p3", "f": None, "born": None},
        ],
    )


def test_boolean_constant_compares_with_a_boolean_element() -> None:
    view = _view(
        "Patient",
        {"column": [_col("id", "id", "id")]},
        constant=[{"name": "dead", "valueBoolean": True}],
        where=[{"path": "deceased.ofType(boolean) = %dead"}],
    )
    assert _rows(view, PATIENTS) == [{"id": "p1"}]


def test_number_constants_compare_as_numbers_and_a_string_never_matches() -> None:
    view = _view(
        "Observation",
        {"column": [_col("id", "id", "id"), _col("is12", "value.ofType(integer) = %n", "boolean")]},
        constant=[{"name": "n", "valueUnsignedInt": 12}],
    )
    got = {row["id"]: row["is12"] for row in _rows(view, OBSERVATIONS)}
    assert got == {"o1": True, "o2": False, "o3": None, "o4": None, "o5": None}


def test_decimal_constant_with_less_than() -> None:
    view = _view(
        "Observation",
        {"column": [_col("id", "id", "id")]},
        constant=[{"name": "v", "valueDecimal": 1.2}],
        where=[{"path": "value.ofType(Quantity).value < %v"}],
    )
    assert _rows(view, OBSERVATIONS) == [{"id": "o3"}]


@pytest.mark.parametrize(
    ("op", "ids"),
    [(">", {"o1"}), ("<", {"o2"}), (">=", {"o1"}), ("<=", {"o2"}), ("!=", {"o1", "o2"})],
)
def test_ordering_against_a_number_literal(op: str, ids: set[str]) -> None:
    view = _view(
        "Observation",
        {"column": [_col("id", "id", "id")]},
        where=[{"path": f"where(value.ofType(integer) {op} 11).exists()"}],
    )
    assert {row["id"] for row in _rows(view, OBSERVATIONS)} == ids


@pytest.mark.parametrize(
    "constant",
    [
        {"name": "x", "valueInteger": "1"},
        {"name": "x", "valueBoolean": "true"},
        {"name": "x", "valueInteger": 1.5},
        {"name": "x", "valueQuantity": {"value": 1}},
        {"name": "x"},
    ],
)
def test_malformed_or_unsupported_constants_are_refused(constant: dict[str, Any]) -> None:
    view = _view("Patient", {"column": [_col("id", "id", "id")]}, constant=[constant])
    with pytest.raises(ViewDefinitionError, match="constant"):
        compile_view(view, "v.json")


def test_ordering_without_a_number_is_refused() -> None:
    view = _view("Patient", {"column": [_col("id", "id", "id"), _col("b", "id < 'x'", "boolean")]})
    with pytest.raises(ViewDefinitionError, match="number"):
        compile_view(view, "v.json")


# -- indexing -------------------------------------------------------------------------------
def test_index_from_zero_past_the_end_gives_null() -> None:
    view = _view(
        "Patient",
        {
            "column": [
                _col("id", "id", "id"),
                _col("first", "name[0].family"),
                _col("second", "name[%i].family"),
                _col("third", "name[2].family"),
            ]
        },
        constant=[{"name": "i", "valueInteger": 1}],
    )
    assert _same(
        _rows(view, PATIENTS),
        [
            {"id": "p1", "first": "Smith", "second": "Jones", "third": None},
            {"id": "p2", "first": "Brown", "second": None, "third": None},
            {"id": "p3", "first": None, "second": None, "third": None},
        ],
    )


def test_index_in_for_each() -> None:
    view = _view("Patient", {"forEach": "contact.telecom[0]", "column": [_col("tel", "value")]})
    assert _rows(view, PATIENTS) == [{"tel": "111"}]


@pytest.mark.parametrize("index", ["name[-1]", "name[1.5]", "name[%s]"])
def test_index_must_be_a_whole_number_known_in_the_view(index: str) -> None:
    view = _view(
        "Patient",
        {"column": [_col("f", f"{index}.family")]},
        constant=[{"name": "s", "valueString": "1"}],
    )
    with pytest.raises(ViewDefinitionError, match=r"index|unexpected"):
        compile_view(view, "v.json")


# -- %rowIndex ------------------------------------------------------------------------------
def test_row_index_is_zero_at_the_top_level() -> None:
    view = _view("Patient", {"column": [_col("id", "id", "id"), _col("i", "%rowIndex", "integer")]})
    assert _same(
        _rows(view, PATIENTS),
        [{"id": "p1", "i": 0}, {"id": "p2", "i": 0}, {"id": "p3", "i": 0}],
    )


def test_row_index_counts_each_for_each_from_zero_nested_and_or_null() -> None:
    view = _view(
        "Patient",
        {"column": [_col("id", "id", "id")]},
        {
            "forEachOrNull": "contact",
            "column": [_col("c", "%rowIndex", "integer")],
            "select": [
                {
                    "forEach": "telecom",
                    "column": [_col("t", "%rowIndex", "integer"), _col("tel", "value")],
                }
            ],
        },
    )
    assert _same(
        _rows(view, PATIENTS),
        [
            {"id": "p1", "c": 0, "t": 0, "tel": "111"},
            {"id": "p1", "c": 0, "t": 1, "tel": "222"},
            {"id": "p1", "c": 1, "t": 0, "tel": "333"},
        ],
    )


def test_row_index_of_a_union_option_without_for_each_is_the_enclosing_one() -> None:
    view = _view(
        "Patient",
        {
            "forEach": "name",
            "unionAll": [
                {
                    "forEach": "given",
                    "column": [_col("i", "%rowIndex", "integer"), _col("v", "$this")],
                },
                {"column": [_col("i", "%rowIndex", "integer"), _col("v", "family")]},
            ],
        },
    )
    assert _same(
        _rows(view, PATIENTS),
        [
            {"i": 0, "v": "Ada"},
            {"i": 1, "v": "Mary"},
            {"i": 0, "v": "Smith"},
            {"i": 0, "v": "Ann"},
            {"i": 1, "v": "Jones"},
            {"i": 0, "v": "Brown"},
        ],
    )


def test_row_index_is_computed_only_when_read() -> None:
    plain = _view("Patient", {"forEach": "name", "column": [_col("f", "family")]})
    indexed = _view(
        "Patient",
        {"forEach": "name", "column": [_col("f", "family"), _col("i", "%rowIndex", "integer")]},
    )
    assert "range(" not in compile_view(plain, "v.json").rows_sql
    assert "range(" in compile_view(indexed, "v.json").rows_sql


# -- join() ---------------------------------------------------------------------------------
def test_join_with_and_without_separator_and_empty_gives_empty_text() -> None:
    view = _view(
        "Patient",
        {
            "column": [
                _col("id", "id", "id"),
                _col("comma", "name.given.join(', ')"),
                _col("plain", "name.given.join()"),
            ]
        },
    )
    assert _same(
        _rows(view, PATIENTS),
        [
            {"id": "p1", "comma": "Ada, Mary, Ann", "plain": "AdaMaryAnn"},
            {"id": "p2", "comma": "", "plain": ""},
            {"id": "p3", "comma": "", "plain": ""},
        ],
    )


def test_join_of_elements_with_children_is_refused_or_quarantined() -> None:
    read = _view("Patient", {"column": [_col("n", "name.join(',')"), _col("f", "name.family")]})
    with pytest.raises(ViewDefinitionError, match="join"):
        compile_view(read, "v.json")
    unread = _view("Patient", {"column": [_col("id", "id", "id"), _col("n", "name.join(',')")]})
    _, rows, errors = _runner().run_view_with_errors(unread, PATIENTS)
    assert rows == [{"id": "p3", "n": ""}]
    assert "expected a string" in errors[0]


# -- collection: true -----------------------------------------------------------------------
def test_collection_column_lists_every_value_and_empty_list_when_none() -> None:
    view = _view(
        "Patient",
        {
            "column": [
                _col("id", "id", "id"),
                _col("given", "name.given", collection=True),
                _col("born", "birthDate", "date", collection=True),
            ]
        },
    )
    got = {row["id"]: (row["given"], row["born"]) for row in _rows(view, PATIENTS)}
    assert got == {
        "p1": (["Ada", "Mary", "Ann"], ["1978-03-12"]),  # the runner compares plain values
        "p2": ([], []),
        "p3": ([], []),
    }


def test_collection_column_with_a_bad_element_quarantines_the_row() -> None:
    view = _view(
        "Patient", {"column": [_col("id", "id", "id"), _col("g", "name.given", collection=True)]}
    )
    resources = [{"resourceType": "Patient", "id": "bad", "name": [{"given": ["Ok", 12]}]}]
    _, rows, errors = _runner().run_view_with_errors(view, resources)
    assert rows == []
    assert "name.given (g) has 12, expected a string" in errors[0]


def test_several_values_without_collection_is_an_error_per_row() -> None:
    view = _view("Patient", {"column": [_col("id", "id", "id"), _col("g", "name.given")]})
    _, rows, errors = _runner().run_view_with_errors(view, PATIENTS)
    assert [row["id"] for row in rows] == ["p2", "p3"]
    assert "gives several values" in errors[0]


# -- comparisons and arithmetic -------------------------------------------------------------
def test_a_collection_equals_a_value_only_when_it_holds_that_one_value() -> None:
    view = _view(
        "Patient",
        {
            "column": [
                _col("id", "id", "id"),
                _col("is_brown", "name.family = 'Brown'", "boolean"),
                _col("not_brown", "name.family != 'Brown'", "boolean"),
            ]
        },
    )
    assert _same(
        _rows(view, PATIENTS),
        [
            {"id": "p1", "is_brown": False, "not_brown": True},  # two families
            {"id": "p2", "is_brown": True, "not_brown": False},
            {"id": "p3", "is_brown": None, "not_brown": None},  # none: empty
        ],
    )


RANGE: dict[str, Any] = {
    "resourceType": "Observation",
    "id": "r1",
    "valueRange": {"low": {"value": 2}, "high": {"value": 3.0}},
}


@pytest.mark.parametrize(
    ("path", "fhir_type", "expected"),
    [
        ("low.value + high.value", "decimal", 5),
        ("high.value - low.value", "decimal", 1),
        ("low.value * high.value", "decimal", 6),
        ("high.value / low.value", "decimal", 1.5),
        ("high.value / (low.value - 2)", "decimal", None),
        ("low.value + 1", "integer", 3),
        ("low.value = 2.0", "boolean", True),
        ("high.value = low.value", "boolean", False),
        ("high.value = 3", "boolean", True),
        ("high.value > low.value", "boolean", True),
        ("high.value <= low.value", "boolean", False),
        ("low.unit + 'x'", "string", None),
    ],
)
def test_arithmetic_and_comparison_of_numbers(path: str, fhir_type: str, expected: Any) -> None:
    view = _view(
        "Observation",
        {"forEach": "value.ofType(Range)", "column": [_col("x", path, fhir_type)]},
    )
    assert _rows(view, [RANGE]) == [{"x": expected}]


def test_plus_joins_text_and_two_string_elements() -> None:
    view = _view(
        "Patient",
        {"forEach": "name", "column": [_col("s", "family + '!'"), _col("u", "use + family")]},
    )
    assert _rows(view, PATIENTS[:1]) == [
        {"s": "Smith!", "u": "officialSmith"},
        {"s": "Jones!", "u": None},
    ]


def test_arithmetic_with_a_boolean_is_refused() -> None:
    view = _view("Patient", {"column": [_col("x", "birthDate - true", "decimal")]})
    with pytest.raises(ViewDefinitionError, match="number"):
        compile_view(view, "v.json")


# -- a view `where` on a boolean element ----------------------------------------------------
ACTIVE: list[dict[str, Any]] = [
    {"resourceType": "Patient", "id": "yes", "active": True},
    {"resourceType": "Patient", "id": "no", "active": False},
    {"resourceType": "Patient", "id": "unknown"},
]


def test_where_on_a_boolean_element_keeps_the_true_ones() -> None:
    view = _view("Patient", {"column": [_col("id", "id", "id")]}, where=[{"path": "active"}])
    assert _rows(view, ACTIVE) == [{"id": "yes"}]


def test_where_on_an_element_that_is_not_boolean_quarantines_the_resource() -> None:
    view = _view("Patient", {"column": [_col("id", "id", "id")]}, where=[{"path": "gender"}])
    _, rows, errors = _runner().run_view_with_errors(view, PATIENTS)
    assert rows == []  # p3 has no gender: not kept, no error
    assert len(errors) == 2
    assert all("gender" in e and "expected true or false" in e for e in errors)


def test_where_on_a_collection_is_refused() -> None:
    view = _view("Patient", {"column": [_col("id", "id", "id")]}, where=[{"path": "name.family"}])
    with pytest.raises(ViewDefinitionError, match="boolean"):
        compile_view(view, "v.json")


# -- repeat ---------------------------------------------------------------------------------
def _item(link: str, *children: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"linkId": link, **({"item": list(children)} if children else {}), **extra}


ANSWERED = _item("1.1", answer=[{"valueString": "yes", "item": [_item("1.1.1")]}])
RESPONSES: list[dict[str, Any]] = [
    {
        "resourceType": "QuestionnaireResponse",
        "id": "q1",
        "item": [_item("1", ANSWERED, _item("1.2", _item("1.2.1", _item("1.2.1.1")))), _item("2")],
    },
    {"resourceType": "QuestionnaireResponse", "id": "q2"},
]


def test_repeat_descends_to_any_depth_depth_first_with_row_index() -> None:
    view = _view(
        "QuestionnaireResponse",
        {"column": [_col("id", "id", "id")]},
        {
            "repeat": ["item"],
            "column": [_col("link", "linkId"), _col("i", "%rowIndex", "integer")],
        },
    )
    assert _rows(view, RESPONSES) == [
        {"id": "q1", "link": link, "i": i}
        for i, link in enumerate(["1", "1.1", "1.2", "1.2.1", "1.2.1.1", "2"])
    ]


def test_repeat_follows_several_paths() -> None:
    view = _view(
        "QuestionnaireResponse",
        {"repeat": ["item", "answer.item"], "column": [_col("link", "linkId")]},
    )
    links = sorted(row["link"] for row in _rows(view, RESPONSES))
    assert links == ["1", "1.1", "1.1.1", "1.2", "1.2.1", "1.2.1.1", "2"]


def test_repeat_with_for_each_or_null_below_it() -> None:
    view = _view(
        "QuestionnaireResponse",
        {
            "repeat": ["item"],
            "select": [
                {"column": [_col("link", "linkId")]},
                {"forEachOrNull": "answer", "column": [_col("a", "value.ofType(string)")]},
            ],
        },
    )
    got = {row["link"]: row["a"] for row in _rows(view, RESPONSES)}
    assert got == {"1": None, "1.1": "yes", "1.2": None, "1.2.1": None, "1.2.1.1": None, "2": None}


def test_repeat_element_of_the_wrong_shape_quarantines_the_resource() -> None:
    view = _view(
        "QuestionnaireResponse",
        {
            "repeat": ["item"],
            "select": [{"forEach": "answer", "column": [_col("a", "value.ofType(string)")]}],
        },
    )
    bad = {
        "resourceType": "QuestionnaireResponse",
        "id": "bad",
        "item": [_item("1", _item("1.1", answer={"valueString": "not in a list"}))],
    }
    _, rows, errors = _runner().run_view_with_errors(view, [*RESPONSES, bad])
    assert sorted(row["a"] for row in rows) == ["yes"]
    assert "wrong shape" in errors[0] and "not in a list" in errors[0]


@pytest.mark.parametrize(
    ("select", "message"),
    [
        ({"repeat": ["item.where(linkId = '1')"]}, "chain of repeating elements"),
        ({"repeat": ["status"]}, "chain of repeating elements"),
        ({"repeat": []}, "list of paths"),
        ({"repeat": ["item"], "forEach": "item"}, "one of forEach"),
        ({"forEach": "item", "select": [{"repeat": ["item"]}]}, "not in a forEach"),
    ],
)
def test_repeat_outside_the_supported_form_is_refused(select: dict[str, Any], message: str) -> None:
    view = _view("QuestionnaireResponse", {**select, "column": [_col("link", "linkId")]})
    with pytest.raises(ViewDefinitionError, match=message):
        compile_view(view, "v.json")


def test_repeat_of_an_element_the_view_also_reads_elsewhere_is_refused() -> None:
    view = _view(
        "QuestionnaireResponse",
        {"column": [_col("first", "item.linkId.first()")]},
        {"repeat": ["item"], "column": [_col("link", "linkId")]},
    )
    with pytest.raises(ViewDefinitionError, match="read elsewhere"):
        compile_view(view, "v.json")
