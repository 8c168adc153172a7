"""The FHIR R4 data types houseofcare accepts, as strict pydantic models.

Only the subset the care plan needs is accepted; every model forbids unknown fields, so a
misspelt or unsupported element is refused with its path named instead of being silently
dropped (a dropped element would be care information lost).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Final

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from houseofcare.api.inputs import DescribedAsText

NHS_NUMBER_SYSTEM: Final = "https://fhir.nhs.uk/Id/nhs-number"
ODS_SYSTEM: Final = "https://fhir.nhs.uk/Id/ods-organization-code"
HOC: Final = "https://houseofcare.org.uk/fhir"

_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


def _fhir_id(value: str) -> str:
    if not _ID.match(value):
        raise ValueError("must be 1-64 letters, digits, '-' or '.' (a FHIR id)")
    return value


def _utc_instant(value: dt.datetime) -> dt.datetime:
    try:
        value.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError("must be a time that exists in UTC (years 1 to 9999)") from None
    return value


#: A date-time with its zone; stored in UTC, so it must have a UTC time
#: (9999-12-31T23:00-05:00 has none).
DateTime = Annotated[AwareDatetime, AfterValidator(_utc_instant)]
FhirId = Annotated[str, AfterValidator(_fhir_id), Field(json_schema_extra={"pattern": _ID.pattern})]
#: Text in a FHIR body (control characters are refused by `read_body`, with the field named).
Text = Annotated[str, Field(min_length=1, max_length=10_000), DescribedAsText()]
ShortText = Annotated[str, Field(min_length=1, max_length=500), DescribedAsText()]


class Strict(BaseModel):
    """Base: unknown fields are errors; values are not coerced across types."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Coding(Strict):
    system: ShortText | None = None
    code: ShortText
    display: ShortText | None = None


class CodeableConcept(Strict):
    coding: list[Coding] | None = None
    text: Text | None = None


class Identifier(Strict):
    system: ShortText
    value: ShortText


class Reference(Strict):
    reference: ShortText | None = None
    type: ShortText | None = None
    identifier: Identifier | None = None
    display: ShortText | None = None


class Period(Strict):
    start: dt.date | None = None
    end: dt.date | None = None


class DateTimePeriod(Strict):
    start: DateTime | None = None
    end: DateTime | None = None


class Quantity(Strict):
    value: float | int
    unit: ShortText | None = None


class Annotation(Strict):
    authorString: ShortText | None = None
    time: DateTime | None = None
    text: Text


class Meta(Strict):
    """Accepted on input so a client can send back what it read; the server sets it."""

    versionId: ShortText | None = None
    lastUpdated: DateTime | None = None


class Extension(Strict):
    """A FHIR extension: a url and one value, or nested extensions (a complex extension)."""

    id: FhirId | None = None
    url: ShortText
    valueCode: ShortText | None = None
    valueString: Text | None = None
    valueBoolean: bool | None = None
    valueDate: dt.date | None = None
    valueDateTime: DateTime | None = None
    valueReference: Reference | None = None
    extension: list[Extension] | None = None


def reference_id(reference: Reference | None, resource_type: str) -> str | None:
    """The id in `Type/id`, or None when the reference is absent or of another type."""
    if reference is None or reference.reference is None:
        return None
    kind, slash, ident = reference.reference.partition("/")
    if kind != resource_type or not slash or not _ID.match(ident):
        return None
    return ident
