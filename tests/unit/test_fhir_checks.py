"""The checks that keep wrong-shaped elements, control characters and bad NHS numbers out of
the store: the Python reasons, and the SQL that flags lines held to the same answers."""

from __future__ import annotations

import json
import random
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from houseofcare.ingest.checks import (
    LEAF,
    control_escape_sql,
    problem,
    shape_suspect_sql,
)
from houseofcare.ingest.viewdef import load_views
from houseofcare.nhs_number import is_valid_nhs_number, nhs_number_problem_sql

VIEWS = {v.resource: v for v in load_views().values()}
STRUCTURES = {r: json.loads(v.structure) for r, v in VIEWS.items()}


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        ({"code": {"coding": {"code": "1"}}}, 'code.coding is {"code":"1"}, expected an array'),
        ({"code": "38341003"}, 'code is "38341003", expected an object'),
        ({"code": {"coding": [{"code": "1"}, 7]}}, "code.coding[1] is 7, expected an object"),
        ({"component": [{"code": {"coding": [{}]}}, {"code": []}]},
         "component[1].code is [], expected an object"),
        ({"subject": {"reference": "Patient/1"}, "note": [{"text": "a\x00b"}]},
         "note[0].text holds a control character (U+0000)"),
        ({"identifier": [{"value": "1", "x\x1fy": 1}]},
         "a key of identifier[0] holds a control character (U+001F)"),
    ],
)  # fmt: skip
def test_problem_names_the_path_and_shows_the_value(doc: dict[str, Any], reason: str) -> None:
    doc = {"resourceType": "Observation", "id": "o1", **doc}
    found = problem(json.dumps(doc), STRUCTURES["Observation"])
    assert found is not None and found.startswith(reason), found


@pytest.mark.parametrize(
    "line",
    [
        json.dumps({"resourceType": "Observation", "id": "o", "code": {"text": "x"}}),
        json.dumps({"resourceType": "Observation", "id": "o", "code": None, "note": "\t\r\n"}),
        json.dumps({"resourceType": "Observation", "id": "o", "unread": {"coding": 5}}),
        '{"resourceType": "Observation", "id": "o", "note": "\\\\u0000 is text"}',
    ],
)
def test_problem_passes_good_lines(line: str) -> None:
    assert problem(line, STRUCTURES["Observation"]) is None


def test_a_line_orjson_cannot_parse_cannot_be_shown_fine() -> None:
    line = '{"resourceType": "Observation", "id": "o", "note": ' + "[" * 1100 + "]" * 1100 + "}"
    reason = problem(line, STRUCTURES["Observation"])
    assert reason is not None and reason.startswith("the resource cannot be checked"), reason


def _value(node: Any) -> st.SearchStrategy[Any]:
    """JSON for one element of a view's structure: absent-like, right or wrong in shape."""
    scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text("ab", max_size=2))
    if node == LEAF:
        return scalars
    if isinstance(node, list):
        right: st.SearchStrategy[Any] = st.lists(_value(node[0]), max_size=3)
    else:
        right = st.fixed_dictionaries({}, optional={k: _value(v) for k, v in node.items()})
    wrong = st.one_of(scalars, st.just({"other": 1}), st.just([1]))
    return st.one_of(right, right, wrong)


def _document(resource: str) -> st.SearchStrategy[dict[str, Any]]:
    structure = STRUCTURES[resource]
    children = {k: _value(v) for k, v in structure.items() if k not in ("resourceType", "id")}
    return st.fixed_dictionaries(
        {"resourceType": st.just(resource), "id": st.just("x")}, optional=children
    )


@pytest.mark.parametrize("resource", ["Observation", "Patient", "Encounter", "Practitioner"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_sql_flags_exactly_the_lines_with_a_wrong_shape(
    con: duckdb.DuckDBPyConnection, resource: str, data: st.DataObject
) -> None:
    docs = data.draw(st.lists(_document(resource), min_size=1, max_size=40))
    lines = [json.dumps(d) for d in docs]
    structure = VIEWS[resource].structure.replace("'", "''")
    flagged = con.execute(
        f"SELECT {shape_suspect_sql(STRUCTURES[resource])} FROM (SELECT line, "
        f"from_json(line, '{structure}') AS r FROM unnest($lines) AS t(line))",
        {"lines": lines},
    ).fetchall()
    for line, (sql,) in zip(lines, flagged, strict=True):
        assert bool(sql) == (problem(line, STRUCTURES[resource]) is not None), line


@pytest.mark.parametrize(
    ("text", "bad"),
    [
        ("fe\u0000male", True),
        ("esc \u001b", True),
        ("back\bspace", True),
        ("tab\tline\nreturn\r", False),
        ("a literal \\u0000 and \\b", False),
        ("accents é \u00e9", False),
    ],
)
def test_control_character_sql_agrees_with_the_python_check(
    con: duckdb.DuckDBPyConnection, text: str, bad: bool
) -> None:
    for ensure_ascii in (True, False):
        line = json.dumps(
            {"resourceType": "Patient", "id": "p", "x": text}, ensure_ascii=ensure_ascii
        )
        [(sql,)] = con.execute(f"SELECT {control_escape_sql('?')}", [line, line]).fetchall()
        assert bool(sql) == bad == (problem(line, {}) is not None), line


def test_nhs_number_sql_agrees_with_the_shared_validator(con: duckdb.DuckDBPyConnection) -> None:
    """Every one-digit change and adjacent transposition of valid numbers (each caught by the
    check digit unless it leaves a valid number), spaced and short forms, and random digits."""
    rng = random.Random(11)
    valid = ["9434765919", "9990000018", "4010232137"]
    numbers = [*valid, "943 476 5919", "94347659", "94347659190", "94347659l9", ""]
    for number in valid:
        for i in range(10):
            numbers += [number[:i] + d + number[i + 1 :] for d in "0123456789"]
            numbers.append(number[:i] + number[i + 1 : i + 2] + number[i] + number[i + 2 :])
    numbers += ["".join(rng.choices("0123456789", k=10)) for _ in range(20_000)]
    got = con.execute(
        f"SELECT n, {nhs_number_problem_sql('n')} FROM unnest($numbers) AS t(n)",
        {"numbers": numbers},
    ).fetchall()
    assert len(got) == len(numbers)
    for number, reason in got:
        assert (reason is None) == is_valid_nhs_number(number), (number, reason)
    assert sum(reason is None for _, reason in got) > 1_000  # random digits: about 1 in 11
