"""What a request may carry: ids, references to them, and text. One rule each, in one place.

- **Ids** are the stores' integer primary keys: 1 to 2³¹−1 (PostgreSQL `integer`; SQLite's
  integers are wider, so that range is safe on both). A path id is `ResourceId` (or
  `VersionId`); an id inside a search parameter or a body reference is read by `parse_id`.
  Either refuses anything else (0, 2³¹, a 5000-digit number, '²' or '١' which
  `str.isdigit()` accepts) with a 400 naming the parameter or field, before the store sees it.
- **Text**: control characters other than tab, CR and LF, and lone surrogates, are refused
  in every request string: FHIR bodies by `fhir.http.read_body` (`text_problems`), other
  declared strings by `CleanStr`, and query strings by `refuse_control_characters`, an
  app-wide dependency. PostgreSQL cannot store U+0000 at all; the rest have no place in a
  care record and break what reads it later.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Any, Final

from fastapi import Path, Request
from pydantic import AfterValidator

from houseofcare.api.errors import InvalidResource

#: The largest id the stores hold (PostgreSQL `integer`).
MAX_ID: Final = 2**31 - 1
#: How an id is described in errors and in the OpenAPI description.
ID_RANGE: Final = f"a whole number from 1 to {MAX_ID}"

_ID_TEXT = re.compile(r"0*([0-9]{1,10})")
#: C0 controls but tab, LF and CR; DEL; C1 controls; lone surrogates (not valid Unicode).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
#: The same rule as a JSON Schema pattern, so /openapi.json tells a client what text it may send.
TEXT_PATTERN: Final = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$"

ResourceId = Annotated[
    int, Path(ge=1, le=MAX_ID, description=f"The resource's id: {ID_RANGE}", examples=[1])
]
VersionId = Annotated[
    int, Path(ge=1, le=MAX_ID, description=f"The version: {ID_RANGE}", examples=[1])
]


def parse_id(text: str | None) -> int | None:
    """The id in `text` (ASCII digits, 1..MAX_ID, leading zeros allowed), else None."""
    if text is None:
        return None
    match = _ID_TEXT.fullmatch(text)
    if match is None:
        return None
    value = int(match.group(1))
    return value if 1 <= value <= MAX_ID else None


def reference_id(text: str | None, resource_type: str) -> int | None:
    """The id of `Type/<id>` or a bare `<id>` (a search parameter), else None."""
    if text is None:
        return None
    return parse_id(text.removeprefix(f"{resource_type}/"))


#: What a JSON body must contain to hold a refused character: an escape (`\u…`, `\b`, `\f`:
#: a raw C0 control is not JSON, a lone surrogate not UTF-8), a raw DEL, or a raw C1 control
#: (UTF-8 C2 80 – C2 9F).
_MAYBE_CONTROL_JSON = re.compile(rb"\\[ubf]|\x7f|\xc2[\x80-\x9f]")


def may_hold_control_characters(raw: bytes) -> bool:
    """False when a JSON body certainly holds no refused character: the common case, which
    then skips the walk over every string."""
    return _MAYBE_CONTROL_JSON.search(raw) is not None


def control_character(text: str) -> str | None:
    """The first refused character in `text`, as `U+0000`, or None when the text is clean."""
    found = _CONTROL.search(text)
    return None if found is None else f"U+{ord(found.group()):04X}"


def _why(code: str) -> str:
    return f"contains the control character {code}; only tab, CR and LF are allowed in text"


def text_problems(data: Any, where: str) -> Iterator[tuple[str, str]]:
    """(field, reason) for every string, key or value, in parsed JSON with a refused character;
    fields named FHIR-style from `where` (`CarePlan.activity[0].detail.description`).
    Iterative, so JSON nested as deep as the parser allows cannot exhaust Python's stack."""
    stack: list[tuple[Any, str]] = [(data, where)]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            code = control_character(item)
            if code is not None:
                yield path, _why(code)
        elif isinstance(item, dict):
            for key, value in reversed(item.items()):
                code = control_character(key)
                if code is not None:
                    shown = key.encode("unicode_escape").decode()
                    yield f"{path}.{shown}", "field name " + _why(code)
                else:
                    stack.append((value, f"{path}.{key}"))
        elif isinstance(item, list):
            stack.extend((value, f"{path}[{i}]") for i, value in reversed(list(enumerate(item))))


class DescribedAsText:
    """Annotation for a string type: its JSON Schema carries `TEXT_PATTERN` (validation is
    unchanged: `read_body` or `CleanStr` refuses the characters with the field named)."""

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: Any) -> Any:
        schema = handler(core_schema)
        schema["pattern"] = TEXT_PATTERN
        return schema


def _clean(text: str) -> str:
    code = control_character(text)
    if code is not None:
        raise ValueError(_why(code))
    return text


#: A request string declared to FastAPI (form field, JSON field of an /app body).
CleanStr = Annotated[str, AfterValidator(_clean), DescribedAsText()]


async def refuse_control_characters(request: Request) -> None:
    """App-wide dependency: a query parameter (name or value) with a refused character is a 400
    naming it, before the route runs.

    Async on purpose: a plain `def` dependency runs in the thread pool, which would cost every
    request of the app (even /health) a thread hop for a check of a few microseconds.
    """
    problems = []
    for name, value in request.query_params.multi_items():
        code = control_character(name) or control_character(value)
        if code is not None:
            problems.append((name.encode("unicode_escape").decode(), _why(code)))
    if problems:
        raise InvalidResource(problems)
