"""Checking ORUK records against the published JSON schemas shipped in `selfcare/schemas/`.

Offline and exact: the schemas are the profile's own files (their README names the source
and commit), read once; `jsonschema` applies them (Draft 7). A failure is reported as the JSON
pointer of the failing field and the schema's reason, so whoever keeps the feed can find it.

A feed of thousands of services is mostly valid, and `jsonschema` walks a nested service at
several milliseconds a record; so each record is first checked by the same schema compiled
to Python by `fastjsonschema` (formats not checked, defaults not filled in, as with
`jsonschema` here), and only a record it fails is walked by `jsonschema` for the reasons.
`jsonschema` stays the judge: a record it finds no fault with is valid.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any, Literal

import fastjsonschema
from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

Version = Literal["3.0", "1.0"]

#: The shipped schema files: (version, name) → file under `selfcare/schemas/`.
SCHEMA_FILES: dict[tuple[Version, str], str] = {
    ("3.0", "service"): "oruk-3.0/service.json",
    ("3.0", "service_list"): "oruk-3.0/service_list.json",
    ("3.0", "service_list_item"): "oruk-3.0/service_list_item.json",
    ("3.0", "api_details"): "oruk-3.0/api_details.json",
    ("1.0", "service"): "oruk-1.0/service.json",
    ("1.0", "service_list"): "oruk-1.0/service_list.json",
}


@dataclass(frozen=True)
class SchemaProblem:
    """One way a record breaks the schema: where (a JSON pointer) and why."""

    pointer: str
    reason: str

    def __str__(self) -> str:
        return f"{self.pointer or '/'}: {self.reason}"


def schema_text(version: Version, name: str) -> dict[str, Any]:
    """One shipped schema, parsed."""
    path = files("houseofcare.selfcare").joinpath("schemas", SCHEMA_FILES[(version, name)])
    return json.loads(path.read_text(encoding="utf-8"))


@cache
def _registry() -> Registry:
    """Every shipped file under its own name, so a `$ref` between them resolves offline."""
    return Registry().with_resources(
        (
            f"urn:houseofcare:oruk-{version}:{name}",
            Resource.from_contents(schema_text(version, name), default_specification=DRAFT7),
        )
        for version, name in SCHEMA_FILES
    )


@cache
def validator(version: Version, name: str = "service") -> Draft7Validator:
    """The validator for one shipped schema (built once)."""
    schema = schema_text(version, name)
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema, registry=_registry())


@cache
def _fast_check(version: Version, name: str) -> Any:
    return fastjsonschema.compile(
        schema_text(version, name), use_default=False, use_formats=False, detailed_exceptions=False
    )


def pointer(error: ValidationError) -> str:
    """The failing field as a JSON pointer (RFC 6901)."""
    parts = [str(p).replace("~", "~0").replace("/", "~1") for p in error.absolute_path]
    return "/" + "/".join(parts) if parts else ""


def _reason(error: ValidationError) -> str:
    if error.validator == "required":
        return str(error.message).replace("is a required property", "is required")
    if error.validator == "type":
        return f"{error.instance!r} is not of type {error.validator_value!r}"
    return str(error.message)


def schema_problems(
    document: Any, version: Version = "3.0", name: str = "service", limit: int = 5
) -> list[SchemaProblem]:
    """Where and why `document` breaks the schema (empty: it is valid); the first `limit`,
    shallowest first."""
    try:
        _fast_check(version, name)(document)
        return []
    except fastjsonschema.JsonSchemaException:
        pass
    errors = sorted(
        validator(version, name).iter_errors(document),
        key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))),
    )
    return [SchemaProblem(pointer(e), _reason(e)) for e in errors[:limit]]
