"""What /openapi.json says about the bodies, search parameters and headers the FHIR routes
read by hand (`http.read_body`, `request.query_params`, `If-Match`), so a client, the docs
page and the fuzz test (tests/integration/test_api_fuzz.py) see them.

A route declares them with `openapi_extra=`: one of the search constants below, or
`body(Model)`. The body schema is the pydantic resource model's own JSON Schema (the same
model `read_body` validates with), put into the document's components by `add_body_schemas`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from houseofcare.api.fhir.datatypes import NHS_NUMBER_SYSTEM
from houseofcare.api.fhir.http import ACCEPTED_TYPES
from houseofcare.api.inputs import ID_RANGE, MAX_ID, TEXT_PATTERN
from houseofcare.store.models import CarePlanStatus, GoalStatus

#: The models whose JSON Schema goes into the OpenAPI components (see `add_body_schemas`).
BODY_MODELS: dict[str, type[BaseModel]] = {}


def query(
    name: str, description: str, schema: dict[str, Any], *, required: bool = False
) -> dict[str, Any]:
    """One query parameter as OpenAPI declares it."""
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema,
    }


def _patient(name: str = "patient") -> dict[str, Any]:
    return query(
        name,
        f"The person: `Patient/<id>` or `<id>`, the id {ID_RANGE}",
        {"type": "string", "pattern": r"^(Patient/)?[0-9]{1,10}$"},
    )


def _count(maximum: int) -> dict[str, Any]:
    return query(
        "_count",
        f"At most this many results (1 to {maximum})",
        {"type": "integer", "minimum": 1, "maximum": maximum},
    )


IF_MATCH: dict[str, Any] = {
    "name": "If-Match",
    "in": "header",
    "required": True,
    "description": 'The ETag of the version you read, e.g. W/"3" (428 without it, 412 if stale)',
    "schema": {"type": "string", "pattern": r'^W/"[0-9]{1,9}"$'},
}


def operation(
    body: type[BaseModel] | None = None,
    *,
    parameters: Iterable[dict[str, Any]] = (),
    if_match: bool = False,
) -> dict[str, Any]:
    """`openapi_extra` for a FHIR route: the body it reads with `read_body` (as
    application/fhir+json or application/json) and the parameters it reads by hand."""
    extra: dict[str, Any] = {}
    declared = list(parameters) + ([IF_MATCH] if if_match else [])
    if declared:
        extra["parameters"] = declared
    if body is not None:
        BODY_MODELS[body.__name__] = body
        ref = {"$ref": f"#/components/schemas/{body.__name__}"}
        extra["requestBody"] = {
            "required": True,
            "content": {media: {"schema": ref} for media in ACCEPTED_TYPES},
        }
    return extra


def body(model: type[BaseModel], *, if_match: bool = False) -> dict[str, Any]:
    """A create (`POST`) or, with `if_match`, an update (`PUT`) of `model`."""
    return operation(model, if_match=if_match)


CAREPLAN_SEARCH = operation(
    parameters=[
        _patient(),
        _patient("subject"),
        query("status", "The plan's status", {"enum": [s.value for s in CarePlanStatus]}),
        _count(500),
    ]
)
GOAL_SEARCH = operation(
    parameters=[
        _patient(),
        _patient("subject"),
        query("lifecycle-status", "The goal's status", {"enum": [s.value for s in GoalStatus]}),
        _count(500),
    ]
)
CONSENT_SEARCH = operation(
    parameters=[_patient(), _patient("subject")],
)
PATIENT_SEARCH = operation(
    parameters=[
        query(
            "identifier",
            f"The NHS number: `{NHS_NUMBER_SYSTEM}|<NHS number>` (the system may be left out)",
            {"type": "string", "pattern": r"^(https://fhir\.nhs\.uk/Id/nhs-number\|)?[0-9]{10}$"},
            required=True,
        )
    ]
)
AUDIT_SEARCH = operation(
    parameters=[
        _patient(),
        query(
            "agent",
            f"The user's id ({ID_RANGE})",
            {"type": "integer", "minimum": 1, "maximum": MAX_ID},
        ),
        query(
            "entity-type",
            "The resource type, e.g. CarePlan",
            {"type": "string", "maxLength": 64, "pattern": TEXT_PATTERN},
        ),
        _count(1000),
    ]
)


def add_body_schemas(openapi: dict[str, Any]) -> dict[str, Any]:
    """Put the JSON Schema of every model named by `operation` into the OpenAPI components."""
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    for name, model in BODY_MODELS.items():
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for part, definition in {**schema.pop("$defs", {}), name: schema}.items():
            if schemas.get(part, definition) != definition:
                raise RuntimeError(f"two different OpenAPI schemas are named {part}")
            schemas[part] = definition
    return openapi
