"""Why a resource that parses is still unfit to load: an element of the wrong JSON shape, or a
string holding a control character.

DuckDB's `from_json` turns an element of the wrong shape into NULL (an object where FHIR has an
array, such as `"coding": {...}`) or into an object of NULLs (a string where FHIR has an object,
such as `"code": "38341003"`): the value would load as missing. FHIR strings may not hold
characters below U+0020 other than tab, CR and LF.

Both are found in steps, so that good input pays little: DuckDB flags the lines that may be
unfit while it stages a block (`shape_suspect_sql`, `control_escape_sql`: tests on the parsed
row, then exact tests on the line, each only for what the step before flagged), and `problem`,
in Python, looks at the flagged lines alone: orjson parses the line and walks it against the
view's structure, giving the path and value for the quarantine reason (or None, and the line
loads, if it is fine after all).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any, Final

import orjson

from houseofcare.ingest.fhirtypes import text_sql

#: A leaf in a `from_json` structure (a primitive: its column checks its type).
LEAF: Final[str] = "JSON"
#: Control characters FHIR strings may not hold: below U+0020 except tab, LF and CR.
_CONTROL: Final[re.Pattern[str]] = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
#: The letters after the backslash of any JSON escape of such a character (`\u0000`, `\b`,
#: `\f`).
CONTROL_ESCAPE_LETTERS: Final[bytes] = b"bfu"
#: A JSON escape of such a character, not preceded by an escaping backslash. The first,
#: loose pattern is cheap and rare in good data; the exact one runs on its matches.
_CONTROL_ESCAPE_LOOSE: Final[str] = r"\\(u00[01]|[bf])"
_CONTROL_ESCAPE: Final[str] = r"(^|[^\\])(\\\\)*\\(u000[0-8bBcCeEfF]|u001[0-9a-fA-F]|[bf])"

Structure = Any  # a from_json structure: dict (object), [x] (array) or LEAF


def fits_view_sql(resource_type: str, resource_id: str, expected: str) -> str:
    """SQL, true for a resource the view stages: of the expected type, with a non-empty string
    id (`resource_type` and `resource_id` are raw JSON). Both ingest paths decide with it."""
    rt, rid = text_sql(resource_type), text_sql(resource_id)
    return f"(({rt}) IS NOT DISTINCT FROM '{expected}' AND coalesce(({rid}) <> '', false))"


def control_escape_sql(line: str = "line") -> str:
    """SQL, true for a line holding a JSON escape of a control character FHIR forbids.

    In JSON text such a character can only be an escape (`\\u0000`, `\\b`, `\\f`; a raw one
    is not valid JSON). A loose, cheap pattern first; then the exact one, for which an escaped
    backslash followed by `b` is not an escape. Used only for blocks whose bytes hold such a
    sequence at all (`sources.Block.escapes`).
    """
    return (
        f"(regexp_matches({line}, '{_CONTROL_ESCAPE_LOOSE}') "
        f"AND regexp_matches({line}, '{_CONTROL_ESCAPE}'))"
    )


def shape_suspect_sql(structure: dict[str, Structure], row: str = "r", line: str = "line") -> str:
    """SQL, true for every resource line (`line`, parsed as `row`) with a wrong-shaped element
    the view reads (and rarely for a good one); `problem` then says why.

    Each element is tested in up to two steps, the second only for rows the first flags:

    1. On the parsed row: an array that is NULL, or an object (or array element) of which
       every element the view reads is NULL. Absent elements look the same, so this flags
       good rows too (an Observation without components); list lambdas for array elements.
    2. `json_type` at the element's path (with `[*]` inside arrays): exact, one parse of the
       line per element flagged.
    """
    variables = (f"e{n}" for n in itertools.count(1))
    outside: list[tuple[str, str, str]] = []  # (step 1 SQL, JSON path, expected JSON type)
    inside: list[tuple[str, list[tuple[str, str]]]] = []  # per array: step 1, [(path, type)]
    for name, node in sorted(structure.items()):
        _outside(node, f'{row}."{name}"', f"$.{name}", None, outside, inside, variables)
    tests = dict.fromkeys(
        f"({flagged} AND {_json_type_sql(line, path, kind)})" for flagged, path, kind in outside
    )
    for flagged, paths in inside:
        wrong = " OR ".join(_json_type_sql(line, path, kind) for path, kind in paths)
        tests[f"({flagged} AND ({wrong}))"] = None
    return "(" + " OR ".join(tests) + ")" if tests else "false"


def _outside(
    node: Structure,
    ref: str,
    path: str,
    parent: str | None,
    outside: list[tuple[str, str, str]],
    inside: list[tuple[str, list[tuple[str, str]]]],
    variables: Iterator[str],
) -> None:
    """Collect the tests of an element that is not inside an array (one value per row)."""
    if node == LEAF:
        return
    present = f"{parent} IS NOT NULL AND " if parent else ""
    if isinstance(node, list):
        outside.append((f"{present}{ref} IS NULL", path, "ARRAY"))
        element = node[0]
        if element != LEAF:
            var = next(variables)
            flagged = _element_flags(element, var, variables)
            inside.append(
                (
                    f"coalesce(list_bool_or(list_transform({ref}, lambda {var}: {flagged})), "
                    "false)",
                    _element_paths(element, f"{path}[*]"),
                )
            )
        return
    outside.append((f"{ref} IS NOT NULL AND {_all_null_sql(node, ref)}", path, "OBJECT"))
    for child, sub in sorted(node.items()):
        _outside(sub, f'{ref}."{child}"', f"{path}.{child}", ref, outside, inside, variables)


def _element_flags(element: dict[str, Structure], var: str, variables: Iterator[str]) -> str:
    """Step 1 for one array element (`var`) and everything below it, as one condition."""
    flags = [f"({var} IS NOT NULL AND {_all_null_sql(element, var)})"]
    for child, sub in sorted(element.items()):
        flags.extend(_node_flags(sub, f'{var}."{child}"', var, variables))
    return "(" + " OR ".join(dict.fromkeys(flags)) + ")"


def _node_flags(node: Structure, ref: str, parent: str, variables: Iterator[str]) -> list[str]:
    if node == LEAF:
        return []
    if isinstance(node, list):
        flags = [f"({parent} IS NOT NULL AND {ref} IS NULL)"]
        if node[0] != LEAF:
            var = next(variables)
            each = f"list_transform({ref}, lambda {var}: {_element_flags(node[0], var, variables)})"
            flags.append(f"coalesce(list_bool_or({each}), false)")
        return flags
    flags = [f"({ref} IS NOT NULL AND {_all_null_sql(node, ref)})"]
    for child, sub in sorted(node.items()):
        flags.extend(_node_flags(sub, f'{ref}."{child}"', ref, variables))
    return flags


def _element_paths(element: dict[str, Structure], path: str) -> list[tuple[str, str]]:
    """(JSON path, expected JSON type) of an array's elements and everything below them."""
    paths = [(path, "OBJECT")]
    for child, sub in sorted(element.items()):
        paths.extend(_node_paths(sub, f"{path}.{child}"))
    return paths


def _node_paths(node: Structure, path: str) -> list[tuple[str, str]]:
    if node == LEAF:
        return []
    if isinstance(node, list):
        below = [] if node[0] == LEAF else _element_paths(node[0], f"{path}[*]")
        return [(path, "ARRAY"), *below]
    paths = [(path, "OBJECT")]
    for child, sub in sorted(node.items()):
        paths.extend(_node_paths(sub, f"{path}.{child}"))
    return paths


def _all_null_sql(node: dict[str, Structure], ref: str) -> str:
    nulls = [f'{ref}."{child}" IS NULL' for child in sorted(node)]
    return nulls[0] if len(nulls) == 1 else "(" + " AND ".join(nulls) + ")"


def _json_type_sql(line: str, path: str, expected: str) -> str:
    """The element at `path` is there and is neither `expected` nor null (any of them, for a
    path with `[*]`)."""
    kinds = f"json_type({line}, '{path}')"
    if "[*]" not in path:
        return f"{kinds} NOT IN ('{expected}', 'NULL')"
    return (
        f"coalesce(list_bool_or(list_transform({kinds}, "
        f"lambda k: k NOT IN ('{expected}', 'NULL'))), false)"
    )


def problem(line: str, structure: dict[str, Structure]) -> str | None:
    """Why this resource line may not load (the first problem found), or None.

    The reason names the element by a FHIRPath-like path with 0-based indexes, and shows the
    value as written, e.g. `code.coding is {"system":…}, expected an array`.
    """
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError as err:
        # JSON to DuckDB (it staged the line) but not to orjson (nested too deep): it cannot
        # be shown to be fine, so it does not load.
        return f"the resource cannot be checked: {err}"
    if not isinstance(doc, dict):
        return None
    return _shape_problem(doc, structure, "") or _control_problem(doc, "")


def _shape_problem(value: Any, node: Structure, path: str) -> str | None:
    if node == LEAF or value is None:
        return None
    if isinstance(node, list):
        if not isinstance(value, list):
            return _wrong(path, value, "an array")
        for index, item in enumerate(value):
            found = _shape_problem(item, node[0], f"{path}[{index}]")
            if found:
                return found
        return None
    if not isinstance(value, dict):
        return _wrong(path, value, "an object")
    for name, sub in sorted(node.items()):
        found = _shape_problem(value.get(name), sub, f"{path}.{name}" if path else name)
        if found:
            return found
    return None


def _wrong(path: str, value: Any, expected: str) -> str:
    shown = orjson.dumps(value).decode()
    if len(shown) > 80:
        shown = shown[:79] + "…"
    return f"{path} is {shown}, expected {expected}"


def _control_problem(value: Any, path: str) -> str | None:
    if isinstance(value, str):
        found = _CONTROL.search(value)
        return _control(path, found.group()) if found else None
    if isinstance(value, list):
        for index, item in enumerate(value):
            problem_ = _control_problem(item, f"{path}[{index}]")
            if problem_:
                return problem_
        return None
    if isinstance(value, dict):
        for name, item in value.items():
            found = _CONTROL.search(name)
            if found:
                return _control(f"a key of {path or 'the resource'}", found.group())
            problem_ = _control_problem(item, f"{path}.{name}" if path else name)
            if problem_:
                return problem_
    return None


def _control(path: str, char: str) -> str:
    return (
        f"{path} holds a control character (U+{ord(char):04X}), "
        "which FHIR strings may not (only tab, CR and LF)"
    )
