"""FHIR R4 XML read as FHIR JSON, so that XML files take the same ingest path as JSON.

UK Core publishes its examples as XML. Ingest reads an XML file (a single resource or a Bundle
of any type) whole, converts each resource to the FHIR JSON object it represents and hands
the objects to `sources`, which writes them as one line each; the loader then stages them
exactly as it stages JSON. The rules are those of the FHIR R4 XML and JSON pages
(https://hl7.org/fhir/R4/xml.html, json.html):

- every FHIR element is in the namespace ``http://hl7.org/fhir``; a primitive's value is its
  ``value`` attribute; ``id`` (of an element) and ``url`` (of an extension) are attributes;
- an element that repeats in FHIR becomes a JSON array, even when it appears once; whether it
  repeats comes from `fhir_r4_elements.json` (FHIR R4 cardinalities of the resources
  houseofcare reads and their datatypes). An element outside that list is an array when it
  appears more than once (never a value dropped) or when the view compiler's list of
  repeating names says so (`viewdef.is_array_element`); an element the list knows to be
  single that appears twice is an error for its resource;
- a choice element is named by its type (``valueQuantity``), in XML as in JSON, so the
  suffix gives the type;
- decimal, integer, positiveInt and unsignedInt values become JSON numbers written with the
  XML's own digits (``orjson.Fragment``: ``5.10`` stays ``5.10`` in the line; ingest reads
  numbers as DOUBLE), booleans become ``true``/``false``; a value that is not a valid number
  or boolean stays a string, which the views' type checks then quarantine if they read it;
- a primitive's ``id`` and extensions become ``_name`` (``_birthDate``), aligned with ``null``
  for repeating primitives (``_given``);
- the narrative ``<div xmlns="http://www.w3.org/1999/xhtml">`` becomes its XHTML as a string;
- a contained resource or a Bundle entry's resource is wrapped in an element named by its
  type (``<resource><Patient>…</Patient></resource>``) and becomes an object with
  ``resourceType``.

The parser resolves no entities, loads no DTD and touches no network, and a document with a
DOCTYPE is refused before its content is read (it is never needed for FHIR, and is how XML
entity attacks start).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Final

import orjson
from lxml import etree

from houseofcare.ingest.viewdef import is_array_element

FHIR_NS: Final[str] = "http://hl7.org/fhir"
XHTML_NS: Final[str] = "http://www.w3.org/1999/xhtml"
_FHIR: Final[str] = "{" + FHIR_NS + "}"
_DATA_FILE: Final[str] = "fhir_r4_elements.json"
#: FHIR R4 primitive types (xhtml apart): a value attribute, JSON string unless below.
PRIMITIVES: Final[frozenset[str]] = frozenset(
    {
        "base64Binary", "boolean", "canonical", "code", "date", "dateTime", "decimal", "id",
        "instant", "integer", "markdown", "oid", "positiveInt", "string", "time",
        "unsignedInt", "uri", "url", "uuid",
    }
)  # fmt: skip
#: The FHIR R4 lexical form of each number type; it is valid JSON number text as it is
#: (a positiveInt's optional "+" apart, which is dropped).
_NUMBERS: Final[dict[str, re.Pattern[str]]] = {
    "decimal": re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?"),
    "integer": re.compile(r"-?(0|[1-9][0-9]*)"),
    "unsignedInt": re.compile(r"0|[1-9][0-9]*"),
    "positiveInt": re.compile(r"\+?[1-9][0-9]*"),
}
_SHOWN: Final[int] = 60


class FhirXmlError(ValueError):
    """XML that cannot be read as FHIR, with why and the line (lxml's `sourceline`; 0 when
    the line is not known)."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.line = line or 0


@dataclass(frozen=True)
class XmlResource:
    """One resource of an XML file, as FHIR JSON, or why it could not be converted.

    `line` is where the resource starts in the file. `resource` is None for a Bundle entry
    without a resource (a JSON Bundle's such entry is read as `null` too) and for a resource
    that could not be converted (`error` says why; `resource_type` and `resource_id` are
    given when they can be read).
    """

    line: int
    resource: dict[str, Any] | None
    error: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None


@dataclass(frozen=True)
class _Element:
    """What FHIR R4 says of an element: its type (None: unknown), whether it repeats, and
    whether the definitions know it (a known single element may not appear twice)."""

    type: str | None
    repeats: bool
    known: bool


class Definitions:
    """The FHIR R4 element definitions of `fhir_r4_elements.json`, bases merged in."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.resource_types: frozenset[str] = frozenset(doc["resourceTypes"])
        raw: dict[str, dict[str, str]] = doc["types"]
        self.elements: dict[str, dict[str, _Element]] = {}
        #: Per type, each choice element's name without `[x]` and its allowed types
        #: (None: any type).
        self.choices: dict[str, dict[str, frozenset[str] | None]] = {}
        for name in raw:
            elements: dict[str, _Element] = {}
            choices: dict[str, frozenset[str] | None] = {}
            for owner in reversed(list(self._lineage(raw, name))):
                for element, spec in raw[owner].items():
                    if element == "@base":
                        continue
                    if element.endswith("[x]"):
                        allowed = None if spec == "*" else frozenset(spec.split("|"))
                        choices[element[:-3]] = allowed
                    else:
                        kind = spec.removesuffix("*")
                        elements[element] = _Element(kind, spec.endswith("*"), True)
            self.elements[name] = elements
            self.choices[name] = choices

    @staticmethod
    def _lineage(raw: dict[str, dict[str, str]], name: str) -> Iterator[str]:
        """The type and its bases, nearest first."""
        current: str | None = name
        while current is not None:
            yield current
            current = raw[current].get("@base")

    def element(self, owner: str | None, resource: str, name: str, at_root: bool) -> _Element:
        """The definition of element `name` of type `owner` (None: not known) in `resource`."""
        known = self.elements.get(owner or "")
        if known is not None:
            found = known.get(name)
            if found is not None:
                return found
            for base, allowed in self.choices[owner or ""].items():
                if len(name) > len(base) and name.startswith(base) and name[len(base)].isupper():
                    kind = _suffix_type(name[len(base) :])
                    if allowed is None or kind in allowed:
                        return _Element(kind, False, True)
        if name in ("extension", "modifierExtension"):
            return _Element("Extension", True, True)
        return _Element(None, is_array_element(resource, name, at_root), False)


def _suffix_type(suffix: str) -> str:
    """The type a choice element's name ends with: `DateTime` → dateTime, `Quantity`."""
    primitive = suffix[0].lower() + suffix[1:]
    return primitive if primitive in PRIMITIVES else suffix


@cache
def definitions() -> Definitions:
    """The element definitions shipped with houseofcare (read once)."""
    text = resources.files("houseofcare.ingest").joinpath(_DATA_FILE).read_bytes()
    return Definitions(orjson.loads(text))


def _parser(target: object | None = None) -> etree.XMLParser:
    """A parser that resolves no entity, loads no DTD, touches no network and refuses huge
    trees; one per document (lxml parsers are not shared between threads)."""
    return etree.XMLParser(
        target=target,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


class _PrologSeen(Exception):
    """Raised by `_Prolog` to stop the first look at a document."""

    def __init__(self, doctype: bool, line: int | None = None) -> None:
        super().__init__()
        self.doctype = doctype
        self.line = line


class _Prolog:
    """A parser target for the first look at a document: it stops at a DOCTYPE, before any
    of its declarations is read, or at the root element's start when there is none."""

    def doctype(self, name: str, pubid: str | None, system: str | None) -> None:
        raise _PrologSeen(doctype=True)

    def start(self, tag: str, attrib: dict[str, str], nsmap: object = None) -> None:
        raise _PrologSeen(doctype=False)

    def close(self) -> None:
        return None


def parse(data: bytes) -> etree._Element:
    """The root element of an XML document, parsed safely.

    A first look stops at the root element and refuses a DOCTYPE before any of its
    declarations is read (libxml2 substitutes internal entities in attribute values even
    when told not to resolve entities, so a DTD is never let in). The document is then parsed
    with no entity resolved, no DTD loaded, no network and no huge tree. Comments and
    processing instructions are dropped (FHIR gives them no meaning). Raises `FhirXmlError`
    with the line for XML that is not well-formed.
    """
    try:
        try:
            etree.fromstring(data, _parser(_Prolog()))
        except _PrologSeen as seen:
            if seen.doctype:
                raise FhirXmlError(
                    "the XML has a DOCTYPE, which FHIR XML never has; it is refused unread "
                    "(no DTD or entity is ever read)",
                    _first_line_of(data, b"<!DOCTYPE"),
                ) from None
        return etree.fromstring(data, _parser())
    except etree.LxmlError as err:
        line = getattr(err, "lineno", 0)
        message = getattr(err, "msg", None) or str(err)
        raise FhirXmlError(
            f"not well-formed XML: {message}", line if isinstance(line, int) else 0
        ) from err


def _first_line_of(data: bytes, marker: bytes) -> int | None:
    """The line where `marker` first occurs (for a message; None if it is not found, as in a
    UTF-16 document)."""
    at = data.find(marker)
    return data.count(b"\n", 0, at) + 1 if at >= 0 else None


def read_resources(data: bytes) -> list[XmlResource]:
    """The resources of an XML document: a Bundle's entries' resources, or the one resource.

    Raises `FhirXmlError` (with the line) when the document as a whole cannot be read: not
    well-formed, a DOCTYPE, a root element outside the FHIR namespace or not a FHIR R4
    resource type. A resource that cannot be converted is returned with its `error`, so
    that it alone is quarantined.
    """
    root = parse(data)
    namespace, name = _split(root)
    if namespace != FHIR_NS:
        shown = f"namespace {namespace!r}" if namespace else "no namespace"
        raise FhirXmlError(
            f"the root element <{name}> has {shown}, expected {FHIR_NS!r}: not FHIR XML",
            root.sourceline,
        )
    if name not in definitions().resource_types:
        raise FhirXmlError(
            f"the root element <{name}> is not a FHIR R4 resource type", root.sourceline
        )
    if name != "Bundle":
        return [_converted(root)]
    found: list[XmlResource] = []
    for entry in root.iterchildren(_FHIR + "entry"):
        wrappers = list(entry.iterchildren(_FHIR + "resource"))
        if not wrappers:
            found.append(XmlResource(entry.sourceline or 0, None))
            continue
        inner = [c for c in wrappers[0] if isinstance(c.tag, str)]
        if len(wrappers) > 1 or len(inner) != 1:
            line = wrappers[0].sourceline or entry.sourceline or 0
            found.append(
                XmlResource(line, None, "Bundle.entry.resource must hold exactly one resource")
            )
            continue
        found.append(_converted(inner[0]))
    return found


def _converted(element: etree._Element) -> XmlResource:
    line = element.sourceline or 0
    try:
        return XmlResource(line, _Converter(definitions()).resource(element))
    except FhirXmlError as err:
        namespace, name = _split(element)
        kind = name if namespace == FHIR_NS and name in definitions().resource_types else None
        ident = element.find(_FHIR + "id")
        rid = ident.get("value") if ident is not None else None
        where = f" (line {err.line})" if err.line and err.line != line else ""
        return XmlResource(line, None, f"{err.reason}{where}", kind, rid)


def _split(element: etree._Element) -> tuple[str, str]:
    qname = etree.QName(element)
    return qname.namespace or "", qname.localname


class _Absent:
    """A primitive without a value (only an id or extensions)."""


_ABSENT: Final = _Absent()


class _Converter:
    def __init__(self, defs: Definitions) -> None:
        self.defs = defs

    def resource(self, element: etree._Element) -> dict[str, Any]:
        namespace, name = _split(element)
        if namespace != FHIR_NS or name not in self.defs.resource_types:
            raise FhirXmlError(f"<{name}> is not a FHIR R4 resource", element.sourceline)
        self._attributes(element, name, allowed=())
        obj: dict[str, Any] = {"resourceType": name}
        # A type the definitions do not cover still has the elements every resource has
        # (id, meta, text, contained, extension).
        owner = name if name in self.defs.elements else "DomainResource"
        self._fill(obj, element, owner=owner, resource=name, path=name, at_root=True)
        return obj

    def _attributes(
        self, element: etree._Element, path: str, allowed: tuple[str, ...]
    ) -> dict[str, str]:
        """The element's FHIR attributes; attributes in a namespace (`xsi:schemaLocation`)
        carry no FHIR data and are passed over; any other attribute would be lost, so it is
        an error."""
        found: dict[str, str] = {}
        for key, value in element.attrib.items():
            if key.startswith("{"):
                continue
            if key not in allowed:
                raise FhirXmlError(
                    f"{path} has an attribute {key}={_shown(value)}, which FHIR XML does not "
                    "have (values go in value attributes)",
                    element.sourceline,
                )
            found[key] = value
        return found

    def _fill(
        self,
        obj: dict[str, Any],
        element: etree._Element,
        *,
        owner: str | None,
        resource: str,
        path: str,
        at_root: bool,
    ) -> None:
        """Add the child elements of `element` (of type `owner`) to `obj`, in order."""
        _no_text(element.text, path, element.sourceline)
        groups: dict[str, list[etree._Element]] = {}
        for child in element:
            if not isinstance(child.tag, str):
                raise FhirXmlError(f"{path} holds an XML entity reference", child.sourceline)
            namespace, name = _split(child)
            if namespace != FHIR_NS and not (namespace == XHTML_NS and name == "div"):
                raise FhirXmlError(
                    f"{path}.{name} is in namespace {namespace!r}, expected {FHIR_NS!r}",
                    child.sourceline,
                )
            _no_text(child.tail, path, child.sourceline)
            groups.setdefault(name, []).append(child)
        for name, children in groups.items():
            where = f"{path}.{name}"
            spec = self.defs.element(owner, resource, name, at_root)
            repeats = spec.repeats
            if len(children) > 1 and not repeats:
                if spec.known:
                    lines = ", ".join(str(c.sourceline) for c in children)
                    raise FhirXmlError(
                        f"{where} appears {len(children)} times (lines {lines}), but FHIR R4 "
                        "allows it once"
                    )  # the lines are in the message
                repeats = True  # not in the definitions: keep every value
            pairs = [self._value(c, spec.type, resource, where) for c in children]
            pairs = [(v, x) for v, x in pairs if v is not _ABSENT or x is not None]
            if not pairs:
                continue
            if repeats:
                if any(v is not _ABSENT for v, _ in pairs):
                    obj[name] = [None if v is _ABSENT else v for v, _ in pairs]
                if any(x is not None for _, x in pairs):
                    obj["_" + name] = [x for _, x in pairs]
            else:
                [(value, extra)] = pairs
                if value is not _ABSENT:
                    obj[name] = value
                if extra is not None:
                    obj["_" + name] = extra

    def _value(
        self, element: etree._Element, kind: str | None, resource: str, path: str
    ) -> tuple[Any, dict[str, Any] | None]:
        """An element's JSON value, and for a primitive its `_name` object (id, extensions)."""
        namespace, _ = _split(element)
        if namespace == XHTML_NS or kind == "xhtml":
            if namespace != XHTML_NS:
                raise FhirXmlError(
                    f"{path} must be an XHTML <div> (namespace {XHTML_NS!r})", element.sourceline
                )
            return _xhtml(element), None
        if kind is None and self._wraps_resource(element):
            kind = "Resource"  # e.g. Parameters.parameter.resource, outside the definitions
        if kind == "Resource":
            self._attributes(element, path, allowed=())
            _no_text(element.text, path, element.sourceline)
            inner = [c for c in element if isinstance(c.tag, str)]
            if len(inner) != 1:
                raise FhirXmlError(f"{path} must hold exactly one resource", element.sourceline)
            _no_text(inner[0].tail, path, inner[0].sourceline)
            return self.resource(inner[0]), None
        if kind in PRIMITIVES or (kind is None and "value" in element.attrib):
            return self._primitive(element, kind or "string", resource, path)
        allowed = ("id", "url") if kind in ("Extension", None) else ("id",)
        attributes = self._attributes(element, path, allowed=allowed)
        obj: dict[str, Any] = dict(attributes)
        self._fill(obj, element, owner=kind, resource=resource, path=path, at_root=False)
        return obj, None

    def _wraps_resource(self, element: etree._Element) -> bool:
        """An element holding one element named by a resource type (FHIR element names
        start in lower case, resource types in upper case): a resource's wrapper."""
        inner = [c for c in element if isinstance(c.tag, str)]
        if len(inner) != 1 or element.attrib:
            return False
        namespace, name = _split(inner[0])
        return namespace == FHIR_NS and name in self.defs.resource_types

    def _primitive(
        self, element: etree._Element, kind: str, resource: str, path: str
    ) -> tuple[Any, dict[str, Any] | None]:
        attributes = self._attributes(element, path, allowed=("id", "value"))
        for child in element:
            if not isinstance(child.tag, str) or child.tag != _FHIR + "extension":
                name = _split(child)[1] if isinstance(child.tag, str) else "an entity"
                raise FhirXmlError(
                    f"{path} is a {kind}, which holds only extensions, not {name}",
                    child.sourceline,
                )
        extra: dict[str, Any] = {}
        if "id" in attributes:
            extra["id"] = attributes["id"]
        self._fill(extra, element, owner="Element", resource=resource, path=path, at_root=False)
        raw = attributes.get("value")
        value = _ABSENT if raw is None else _json_primitive(raw, kind)
        return value, extra or None


def _json_primitive(raw: str, kind: str) -> Any:
    """A primitive's value attribute as its JSON value (numbers keep their own digits)."""
    if kind == "boolean":
        return {"true": True, "false": False}.get(raw, raw)
    pattern = _NUMBERS.get(kind)
    if pattern is not None and pattern.fullmatch(raw):
        return orjson.Fragment(raw.removeprefix("+"))
    return raw


def _xhtml(element: etree._Element) -> str:
    """The narrative div as the XHTML string FHIR JSON holds, in the default namespace
    (a prefixed `h:div` is rewritten; declarations of outer namespaces are left out)."""
    div = etree.Element(element.tag, attrib=dict(element.attrib), nsmap={None: XHTML_NS})
    div.text = element.text
    for child in element:
        div.append(copy.deepcopy(child))
    etree.cleanup_namespaces(div, top_nsmap={None: XHTML_NS})
    return etree.tostring(div, encoding="unicode", with_tail=False)


def _no_text(text: str | None, path: str, line: int | None) -> None:
    """Text between FHIR elements would be lost: FHIR XML has none (values are attributes)."""
    if text is not None and text.strip():
        raise FhirXmlError(
            f"{path} holds the text {_shown(text.strip())}; FHIR XML puts values in value "
            "attributes",
            line,
        )


def _shown(value: str) -> str:
    text = value if len(value) <= _SHOWN else value[:_SHOWN] + "…"
    return orjson.dumps(text).decode()
