"""Loading SQL-on-FHIR v2 ViewDefinitions and compiling them to DuckDB SQL.

A view file (``views/<table>.json``) says *what* a flat table holds; this module says *how*
DuckDB computes it. Each resource line is parsed once with ``from_json`` into a DuckDB struct
holding only the elements the view touches (leaves stay raw ``JSON`` so a wrong-typed value is
detected, not silently NULLed); FHIRPath navigation becomes struct access and list lambdas;
``forEach``/``forEachOrNull`` become lateral ``UNNEST``; ``unionAll`` becomes ``UNION ALL``.

Anything outside the supported subset raises `ViewDefinitionError` naming the file and path
when the view is loaded.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Final

from houseofcare.ingest import checks, fhirpath
from houseofcare.ingest.fhirpath import (
    Binary,
    BooleanLiteral,
    Call,
    Constant,
    FHIRPathError,
    Index,
    Literal,
    Member,
    Node,
    NumberLiteral,
    This,
    TypeName,
)
from houseofcare.ingest.fhirtypes import (
    FHIR_TYPES,
    VALUE_CHECKS,
    is_bad_sql,
    shown_sql,
    text_sql,
    value_sql,
)


class ViewDefinitionError(ValueError):
    """A view file that is malformed or uses FHIRPath outside the supported subset."""


#: FHIR R4 elements that repeat (0..*) in the resources and datatypes views commonly read.
#: Navigation needs to know, because a repeating element is a JSON array. An element missing
#: here is read as a single value; a resource where it is an array is then quarantined with
#: the path named (see `checks.py`), never loaded with the element silently missing.
ARRAY_ELEMENTS: Final[frozenset[str]] = frozenset(
    {
        "identifier", "name", "given", "prefix", "suffix", "telecom", "address", "line",
        "extension", "modifierExtension", "coding", "component", "category",
        "generalPractitioner", "performer", "participant", "reasonCode", "reasonReference",
        "note", "contained", "profile", "tag", "security", "bodySite", "interpretation",
        "referenceRange", "hasMember", "derivedFrom", "diagnosis", "location", "qualification",
        "communication", "contact", "link", "stage", "evidence", "dosageInstruction", "basedOn",
        "partOf", "alias", "type",
        # Task, Claim/ClaimResponse/ExplanationOfBenefit, Questionnaire(Response), Device
        "input", "output", "item", "adjudication", "answer", "udiCarrier", "enableWhen",
        "answerOption", "initial", "insurance", "supportingInfo", "careTeam", "procedure",
        "addItem", "processNote", "subDetail", "modifier",
        "programCode", "deviceName", "property", "safety", "specialization",
        # Bundle, Composition, CarePlan, Goal, AllergyIntolerance, Immunization, others
        "entry", "section", "attester", "relatesTo", "activity", "goal",
        "addresses", "reaction", "manifestation", "dosage", "instantiatesCanonical",
        "instantiatesUri", "replaces", "supportingInformation", "result",
        "media", "conclusionCode", "presentedForm", "protocolApplied",
        "reasonForUse", "endpoint", "specialty", "availableTime", "notAvailable",
        "healthcareService", "member", "characteristic", "element",
        "mapping", "concept", "designation", "include", "exclude", "filter", "parameter",
        "part", "issue", "payload", "recipient",
        "relatedArtifact", "useContext", "jurisdiction",
        "topic", "contributor", "editor", "reviewer", "endorser", "library",
    }
)  # fmt: skip
#: Exceptions by (resource, element) at the resource's top level, or (None, element) below it.
SINGLE_ELEMENTS: Final[frozenset[tuple[str | None, str]]] = frozenset(
    {("Organization", "name"), (None, "type"), (None, "name")}
)


def is_array_element(resource: str, name: str, at_root: bool) -> bool:
    """Whether `name` repeats (is a JSON array) in `resource`, at its top level or below.

    Known by name alone (`ARRAY_ELEMENTS`, less `SINGLE_ELEMENTS`), which is right for the
    elements views read; FHIR XML input uses it too for elements outside its per-type list
    (`fhirxml`).
    """
    single = (resource if at_root else None, name) in SINGLE_ELEMENTS
    if at_root and name == "type":
        single = resource not in ("Encounter", "Organization")
    if at_root and name == "name":
        single = resource == "Organization"
    return name in ARRAY_ELEMENTS and not single


#: Constant types (`value[x]` of a view's `constant`) compared as text. Dates, times and
#: instants are compared as written: equal only when written alike (see docs/ingest.md).
_TEXT_CONSTANTS: Final[frozenset[str]] = frozenset(
    {
        "String", "Code", "Uri", "Url", "Canonical", "Id", "Oid", "Uuid", "Markdown",
        "Base64Binary", "Date", "DateTime", "Instant", "Time",
    }
)  # fmt: skip
#: Constant types that are numbers: compared as numbers, usable as an index.
_NUMBER_CONSTANTS: Final[frozenset[str]] = frozenset(
    {"Integer", "Decimal", "PositiveInt", "UnsignedInt", "Integer64"}
)
_ORDER_OPS: Final[frozenset[str]] = frozenset({"<", ">", "<=", ">="})
_ARITHMETIC_OPS: Final[frozenset[str]] = frozenset({"+", "-", "*", "/"})
_LOG_PREFIX: Final[str] = "houseofcare ingest"


@dataclass
class Shape:
    """The elements of a JSON object the view reads: becomes the `from_json` structure."""

    is_array: bool = False
    children: dict[str, Shape] = field(default_factory=dict)

    def child(self, resource: str, name: str, at_root: bool) -> Shape:
        if name not in self.children:
            self.children[name] = Shape(is_array=is_array_element(resource, name, at_root))
        return self.children[name]

    def structure(self) -> Any:
        """The `from_json` structure: nested objects, arrays of objects, JSON leaves."""
        inner: Any = (
            {name: c.structure() for name, c in sorted(self.children.items())}
            if self.children
            else "JSON"
        )
        return [inner] if self.is_array else inner


@dataclass(frozen=True)
class _Value:
    """A compiled expression: SQL, whether it is a list, and the shape of its elements."""

    sql: str
    is_list: bool
    shape: Shape | None  # None for booleans and computed strings
    at_root: bool = False
    #: For a single value filtered by where(): the condition and the unfiltered value, so
    #: forEach can filter rows instead of building a copy of the value.
    guard: tuple[str, str] | None = None
    #: For getReferenceKey(): the type asked for ("" for any); the key is computed from text.
    reference_type: str | None = None
    #: A computed boolean (a literal, a comparison, exists()), not text.
    boolean: bool = False
    #: For a value taken from a list (getReferenceKey() of a repeating reference): SQL, true
    #: when the list held more than one, which the spec makes an error.
    many: str | None = None
    #: A computed number (a literal, a number constant, %rowIndex), not JSON.
    number: bool = False
    #: For a number known when the view is compiled (a literal or constant): its value.
    known: float | None = None


@dataclass(frozen=True)
class Column:
    """One output column of a view."""

    name: str
    path: str
    fhir_type: str
    required: bool
    raw_sql: str  # raw JSON for this column, in terms of the branch's FROM clause
    reference_type: str | None = None  # set when the column is a getReferenceKey()
    check: str | None = None  # a `VALUE_CHECKS` name: the value must also pass it
    many_sql: str = "false"  # true when the path gave several values (an error)
    #: `collection: true`: every value, as a list (`raw_sql` is then a list of raw JSON).
    collection: bool = False
    #: Checked like a column but not output: a view `where` reading a boolean element.
    hidden: bool = False
    #: A hidden column whose value (`raw_sql`, JSON text) is the row's error, or NULL.
    problem: bool = False

    @property
    def duckdb_type(self) -> str:
        single = FHIR_TYPES[self.fhir_type].duckdb_type
        return f"{single}[]" if self.collection else single


_Join = tuple[str, str, bool, str | None]


@dataclass(frozen=True)
class _Branch:
    #: (SQL, variable, unnest?, position variable) in order; later ones may use earlier
    #: variables. A list is unnested (one row per element, its position from 0 in the
    #: position variable when `%rowIndex` reads it); a single value is bound once, so the
    #: columns that read it do not each recompute it.
    joins: tuple[_Join, ...]
    columns: tuple[Column, ...]
    filters: tuple[str, ...] = ()


@dataclass(frozen=True)
class CompiledView:
    """A view ready to run: the table it fills, its resource type, structure and SQL."""

    table: str
    resource: str
    source_file: str
    columns: tuple[tuple[str, str], ...]  # (name, DuckDB type) in view order
    structure: str  # the from_json structure, as JSON text
    rows_sql: str  # SELECT over `parsed(seq, r)` giving seq, typed columns and __error
    #: True for a line (`line`, parsed as `r`) that may have a wrong-shaped element:
    #: `checks.problem` decides (see `ingest/checks.py`).
    suspect_sql: str

    def key_column(self) -> str:
        return self.columns[0][0]


def _constant_value(const: dict[str, Any]) -> _Value:
    """A view's `constant` as a computed value: text, a number or a boolean."""
    keys = [k for k in const if k.startswith("value")]
    if not isinstance(const.get("name"), str) or len(keys) != 1:
        raise ViewDefinitionError(f"constant {const!r} needs a name and one value[x]")
    kind, value = keys[0][len("value") :], const[keys[0]]
    if kind in _TEXT_CONSTANTS and isinstance(value, str):
        return _Value(_quote(value), False, None)
    if kind == "Boolean" and isinstance(value, bool):
        return _Value("true" if value else "false", False, None, boolean=True)
    number_ok = isinstance(value, int | float) and not isinstance(value, bool)
    if kind in _NUMBER_CONSTANTS and number_ok and (kind == "Decimal" or float(value).is_integer()):
        return _number(str(value))
    raise ViewDefinitionError(f"constant {const['name']!r}: {keys[0]} is not supported")


def _number(text: str) -> _Value:
    """A number known when the view is compiled, as SQL of the right type."""
    sql = text if "." not in text else f"{text}::DOUBLE"
    return _Value(sql, False, None, number=True, known=float(text))


class _Compiler:
    def __init__(self, resource: str, constants: dict[str, _Value], where_label: str) -> None:
        self.resource = resource
        self.constants = constants
        self.root_shape = Shape()
        self.vars = itertools.count(1)
        self.where_label = where_label
        #: SQL of `%rowIndex` where the compiler is: the innermost forEach's position.
        self.row_index = "0"
        #: The forEach position variables some `%rowIndex` read (only those are computed).
        self.used_indexes: set[str] = set()
        #: The elements each `repeat` select reads (by the select's id), kept from the first
        #: compilation to the second like the resource's shape.
        self.repeat_shapes: dict[int, Shape] = {}
        #: Per repeat, a hidden column: the resource's error when one of its elements has the
        #: wrong shape. It gets a branch of its own (one row per resource with the error),
        #: as the repeat's own rows may be none for that very reason.
        self.problems: list[Column] = []

    # -- FHIRPath expressions -------------------------------------------------------------
    def eval(self, node: Node, ctx: _Value) -> _Value:
        if isinstance(node, This):
            return ctx
        if isinstance(node, Literal):
            return _Value(_quote(node.value), False, None)
        if isinstance(node, BooleanLiteral):
            return _Value("true" if node.value else "false", False, None, boolean=True)
        if isinstance(node, Constant):
            if node.name in ("resource", "rootResource"):
                raise FHIRPathError("%resource is not supported")
            if node.name == "rowIndex":
                self.used_indexes.add(self.row_index)
                return _Value(self.row_index, False, None, number=True)
            if node.name not in self.constants:
                raise FHIRPathError(f"unknown constant %{node.name}")
            return self.constants[node.name]
        if isinstance(node, NumberLiteral):
            return _number(node.text)
        if isinstance(node, Index):
            return self.index(self.eval(node.base, ctx), self.eval(node.index, ctx))
        if isinstance(node, Member):
            base = self.eval(node.base, ctx) if node.base is not None else ctx
            return self.member(base, node.name)
        if isinstance(node, Call):
            return self.call(node, ctx)
        if isinstance(node, Binary):
            return self.binary(node, ctx)
        if isinstance(node, TypeName):
            raise FHIRPathError(f"unexpected type name {node.name}")
        raise FHIRPathError(f"unsupported expression {node!r}")

    def member(self, base: _Value, name: str) -> _Value:
        if base.shape is None:
            raise FHIRPathError(f"cannot navigate to {name!r} from a computed value")
        child = base.shape.child(self.resource, name, base.at_root)
        if not base.is_list:
            return _Value(f'{base.sql}."{name}"', child.is_array, child)
        var = f"v{next(self.vars)}"
        if child.is_array:
            sql = f'flatten(list_transform({base.sql}, lambda {var}: {var}."{name}"))'
        else:
            sql = (
                f'list_filter(list_transform({base.sql}, lambda {var}: {var}."{name}"), '
                f"lambda {var}: {var} IS NOT NULL)"
            )
        return _Value(sql, True, child)

    def index(self, base: _Value, position: _Value) -> _Value:
        """`base[n]`: the n-th (from 0) element, or nothing past the end."""
        known = position.known
        if known is None or known < 0 or not known.is_integer():
            raise FHIRPathError("an index must be a whole number from 0, written in the view")
        if base.is_list:
            return _Value(f"{base.sql}[{int(known) + 1}]", False, base.shape)
        if known == 0:
            return base
        return _Value("NULL", False, base.shape)

    def where(self, base: _Value, criteria: Node) -> _Value:
        var = f"v{next(self.vars)}"
        element = _Value(var, False, base.shape, base.at_root and not base.is_list)
        condition = self.boolean(self.eval(criteria, element))
        if base.is_list:
            return _Value(f"list_filter({base.sql}, lambda {var}: {condition})", True, base.shape)
        # A single value: substitute it for the variable (no list, no lambda, no copy).
        element = _Value(base.sql, False, base.shape, base.at_root)
        condition = self.boolean(self.eval(criteria, element))
        sql = f"(CASE WHEN {condition} THEN {base.sql} END)"
        return _Value(sql, False, base.shape, base.at_root, guard=(condition, base.sql))

    def call(self, node: Call, ctx: _Value) -> _Value:
        name = node.name
        if name == "ofType":
            arg = node.args[0]
            if not isinstance(arg, TypeName) or not isinstance(node.base, Member):
                raise FHIRPathError(
                    "ofType(T) is supported only on a choice element, value.ofType(Quantity)"
                )
            type_name = arg.name[0].upper() + arg.name[1:]
            return self.eval(Member(node.base.base, node.base.name + type_name), ctx)
        if name == "extension":
            url = node.args[0]
            extension = Member(node.base, "extension")
            return self.eval(
                Call(extension, "where", (Binary("=", Member(None, "url"), url),)), ctx
            )
        if name == "first" and isinstance(node.base, Binary) and node.base.op == "|":
            left = self.eval(Call(node.base.left, "first", ()), ctx)
            right = self.eval(Call(node.base.right, "first", ()), ctx)
            if left.shape is not right.shape and (
                left.shape is None
                or right.shape is None
                or left.shape.children
                or right.shape.children
            ):
                raise FHIRPathError("both sides of | must be the same element, or both values")
            return _Value(f"coalesce({left.sql}, {right.sql})", False, left.shape)
        base = self.eval(node.base, ctx) if node.base is not None else ctx
        if name == "first":
            return _Value(f"{base.sql}[1]", False, base.shape) if base.is_list else base
        if name == "where":
            return self.where(base, node.args[0])
        if name in ("exists", "empty"):
            if node.args:
                base = self.where(base, node.args[0])
            present = (
                f"(coalesce(len({base.sql}), 0) > 0)"
                if base.is_list
                else f"({base.sql} IS NOT NULL)"
            )
            sql = present if name == "exists" else f"(NOT {present})"
            return _Value(sql, False, None, boolean=True)
        if name == "join":
            return self.join(base, node.args)
        if name == "not":
            return _Value(f"(NOT {self.truth(base)})", False, None, boolean=True)
        if name == "getResourceKey":
            if not base.at_root:
                raise FHIRPathError("getResourceKey() must be called on the resource")
            return self.member(base, "id")
        if name == "getReferenceKey":
            reference = self.member(base, "reference")
            wanted = node.args[0].name if node.args and isinstance(node.args[0], TypeName) else ""
            if not reference.is_list:
                return _Value(reference.sql, False, reference.shape, reference_type=wanted)
            # The references of the type asked for; more than one is an error, not the first.
            var = f"v{next(self.vars)}"
            key = reference_key_sql(text_sql(var), wanted)
            refs = f"list_filter({reference.sql}, lambda {var}: {key} IS NOT NULL)"
            many = f"(coalesce(len({refs}), 0) > 1)"
            return _Value(f"{refs}[1]", False, reference.shape, reference_type=wanted, many=many)
        raise FHIRPathError(f"function {name}() is not supported")

    def join(self, base: _Value, args: tuple[Node, ...]) -> _Value:
        """`join(sep)`: the values as text, `sep` between (none by default); "" when empty.

        A string gives its text; a number or boolean its JSON text (as FHIRPath's string
        conversion writes them). An element with children cannot be joined: refused when the
        view reads its children, else (an object in the data) the result is that list as
        JSON, which a column sees as the wrong type and quarantines the row for.
        """
        separator = "''"
        if args:
            sep = self.eval(args[0], base)
            if sep.shape is not None or sep.boolean or sep.number or sep.is_list:
                raise FHIRPathError("join() takes a text literal or text constant")
            separator = sep.sql
        if base.shape is None or base.shape.children:
            raise FHIRPathError("join() joins elements without children (strings, numbers)")
        var, listed = f"v{next(self.vars)}", _as_list(base)
        texts = f"list_transform({listed}, lambda {var}: {_leaf_text(var)})"
        joined = f"to_json(coalesce(array_to_string({texts}, {separator}), ''))"
        objects = (
            f"list_filter({listed}, lambda {var}: starts_with({var}::VARCHAR, '{{') "
            f"OR starts_with({var}::VARCHAR, '['))"
        )
        sql = f"(CASE WHEN len({objects}) > 0 THEN to_json({listed}) ELSE {joined} END)"
        return _Value(sql, False, Shape())

    def binary(self, node: Binary, ctx: _Value) -> _Value:
        left, right = self.eval(node.left, ctx), self.eval(node.right, ctx)
        if node.op in ("and", "or"):
            op = node.op.upper()
            sql = f"({self.boolean(left)} {op} {self.boolean(right)})"
            return _Value(sql, False, None, boolean=True)
        if node.op == "|":
            same = left.shape is right.shape
            leaves = left.shape is not None and right.shape is not None
            if not same and not (leaves and not left.shape.children and not right.shape.children):  # type: ignore[union-attr]
                raise FHIRPathError("both sides of | must be the same element, or both values")
            return _Value(f"list_concat({_as_list(left)}, {_as_list(right)})", True, left.shape)
        if node.op in _ARITHMETIC_OPS:
            return self.arithmetic(node.op, left, right)
        if left.is_list != right.is_list and node.op in ("=", "!="):
            return self.list_equality(node.op, left, right)
        return _Value(self.comparison(node.op, left, right), False, None, boolean=True)

    def comparison(self, op: str, left: _Value, right: _Value) -> str:
        """`=`, `!=`, `<`, ... of two single values, as SQL (NULL when either is missing).

        Numbers compare as numbers (with a number on one side, or two JSON numbers); else
        booleans as booleans and the rest as text. Ordering needs numbers.
        """
        sql_op = {"=": "=", "!=": "<>"}.get(op, op)
        if left.number or right.number:
            return f"({self.numeric(left)} {sql_op} {self.numeric(right)})"
        if op in _ORDER_OPS:
            if not (_is_leaf(left) and _is_leaf(right)):
                raise FHIRPathError(f"{op} is supported only between numbers")
            return f"({self.numeric(left)} {sql_op} {self.numeric(right)})"
        if left.boolean or right.boolean:
            return f"({self.truth(left)} {sql_op} {self.truth(right)})"
        as_text = f"({self.text(left)} {sql_op} {self.text(right)})"
        if (
            _is_leaf(left)
            and _is_leaf(right)
            and left.reference_type is None is right.reference_type
        ):
            # Two JSON leaves: two numbers compare as numbers (2 = 2.0), else as text.
            return f"coalesce({self.numeric(left)} {sql_op} {self.numeric(right)}, {as_text})"
        return as_text

    def list_equality(self, op: str, left: _Value, right: _Value) -> _Value:
        """`=`/`!=` of a collection and a single value (FHIRPath compares collections: equal
        when both hold the same one item): empty when the collection is, unequal when it
        holds several."""
        many, one = (left, right) if left.is_list else (right, left)
        if many.shape is None or many.shape.children:
            raise FHIRPathError("= and != compare a collection only of elements without children")
        first = _Value(f"{many.sql}[1]", False, many.shape)
        inner = self.comparison(op, first, one)
        several = "false" if op == "=" else "true"
        sql = (
            f"(CASE coalesce(len({many.sql}), 0) WHEN 0 THEN NULL WHEN 1 THEN {inner} "
            f"ELSE {several} END)"
        )
        return _Value(sql, False, None, boolean=True)

    def arithmetic(self, op: str, left: _Value, right: _Value) -> _Value:
        """`+ - * /` of two single numbers (as DOUBLE); `+` of text is concatenation.

        Two JSON leaves are added as numbers when both are numbers, else joined when both
        are strings (the result is then a JSON leaf, typed by the column like any leaf).
        """
        text_operand = (left.shape is None and not (left.number or left.boolean)) or (
            right.shape is None and not (right.number or right.boolean)
        )
        if op == "+" and text_operand:
            return _Value(f"({self.text(left)} || {self.text(right)})", False, None)
        if left.boolean or right.boolean or left.is_list or right.is_list:
            raise FHIRPathError(f"{op} needs a single number on each side")
        number = f"({self.numeric(left)} {op} {self.numeric(right)})"
        if op == "/":  # FHIRPath: division by zero gives nothing
            number = f"(CASE WHEN {self.numeric(right)} <> 0 THEN {number} END)"
        if left.number or right.number or op != "+":
            return _Value(number, False, None, number=True)
        joined = f"({self.text(left)} || {self.text(right)})"
        sql = (
            f"(CASE WHEN {number} IS NOT NULL THEN {number}::VARCHAR::JSON "
            f"WHEN {joined} IS NOT NULL THEN to_json({joined}) END)"
        )
        return _Value(sql, False, Shape())

    def text(self, value: _Value) -> str:
        """A single value as text, for = and != (a reference key is compared as the key)."""
        if value.is_list:
            raise FHIRPathError("= and != need a single value on each side (use first())")
        if value.boolean:
            raise FHIRPathError("= and != cannot compare a boolean with text")
        if value.reference_type is not None:
            return reference_key_sql(text_sql(value.sql), value.reference_type)
        if value.shape is not None:
            if value.shape.children:
                raise FHIRPathError("= and != cannot compare an element that has children")
            return text_sql(value.sql)
        return value.sql

    def numeric(self, value: _Value) -> str:
        """A single value as a number (a JSON string or boolean gives NULL: no match)."""
        if value.number:
            return value.sql
        if value.is_list or value.boolean or value.shape is None or value.shape.children:
            raise FHIRPathError("a number compares only with a single number element")
        return f"try_cast({value.sql}::VARCHAR AS DOUBLE)"

    def truth(self, value: _Value) -> str:
        """A single value as a boolean, for = and != against true, false or a condition."""
        if value.boolean:
            return value.sql
        if value.is_list or value.shape is None or value.shape.children:
            raise FHIRPathError("= and != compare a boolean only with a single boolean element")
        return f"(CASE {value.sql}::VARCHAR WHEN 'true' THEN true WHEN 'false' THEN false END)"

    def view_filter(self, path: Any, root: _Value, number: int) -> tuple[str, Column | None]:
        """A view `where` as SQL keeping the resource's rows, and, when the path is a single
        element (`active`), a hidden boolean column: a value other than true or false there
        is the resource's error (quarantined), not a silent filter."""
        try:
            value = self.eval(_parse(path), root)
            if value.boolean or not _is_leaf(value) or value.reference_type is not None:
                return self.boolean(value), None
        except FHIRPathError as err:
            raise ViewDefinitionError(f"where path {path!r}: {err}") from err
        present = f"({value.sql} IS NOT NULL AND {value.sql}::VARCHAR <> 'null')"
        keep = f"coalesce({self.truth(value)}, {present})"
        return keep, Column(f"__where_{number}", path, "boolean", False, value.sql, hidden=True)

    def boolean(self, value: _Value) -> str:
        if not value.boolean:
            raise FHIRPathError(
                "expected a boolean expression (e.g. exists() or x = 'y'); "
                "a boolean element needs '= true'"
            )
        return value.sql

    # -- ViewDefinition select tree ------------------------------------------------------
    def select(self, node: dict[str, Any], ctx: _Value, joins: tuple[_Join, ...]) -> list[_Branch]:
        """The rows of one select node as branches (UNION ALL of them); `%rowIndex` inside
        is the position in this node's forEach, or else the enclosing one's."""
        outer_index = self.row_index
        try:
            return self._select(node, ctx, joins)
        finally:
            self.row_index = outer_index

    def _select(self, node: dict[str, Any], ctx: _Value, joins: tuple[_Join, ...]) -> list[_Branch]:
        for key in node:
            if key not in ("column", "select", "unionAll", "forEach", "forEachOrNull", "repeat"):
                raise ViewDefinitionError(f"select key {key!r} is not supported")
        if sum(key in node for key in ("forEach", "forEachOrNull", "repeat")) > 1:
            raise ViewDefinitionError("a select may have one of forEach, forEachOrNull, repeat")
        each = node.get("forEach") or node.get("forEachOrNull")
        filters: tuple[str, ...] = ()
        unnested: tuple[str, str] | None = None
        repeat_problem: Column | None = None
        if "repeat" in node:
            value, repeat_problem = self.repeat(node, ctx)
            var = f"e{next(self.vars)}"
            unnested = (value.sql, var)
            ctx = _Value(var, False, value.shape)
            self.row_index = f"i{next(self.vars)}"
        elif each:
            try:
                value = self.eval(_parse(each), ctx)
            except FHIRPathError as err:
                raise ViewDefinitionError(f"forEach path {each!r}: {err}") from err
            or_null = "forEachOrNull" in node
            if not value.is_list:
                # One value at most: no unnest, the rows are filtered instead (forEach).
                if value.guard is not None and not or_null:
                    condition, unguarded = value.guard
                    ctx, filters = _Value(unguarded, False, value.shape), (condition,)
                else:
                    bound = value.sql
                    if "(" in bound:  # computed, not a plain path: bind it once
                        bound = f"e{next(self.vars)}"
                        joins = (*joins, (value.sql, bound, False, None))
                    ctx = _Value(bound, False, value.shape)
                    filters = () if or_null else (f"{bound} IS NOT NULL",)
                self.row_index = "0"
            else:
                listed = _as_list(value)
                var = f"e{next(self.vars)}"
                if or_null:
                    listed = f"CASE WHEN len({listed}) > 0 THEN {listed} ELSE [NULL] END"
                unnested = (listed, var)
                ctx = _Value(var, False, value.shape)
                self.row_index = f"i{next(self.vars)}"
        columns = tuple(self.column(c, ctx) for c in node.get("column", []))
        if repeat_problem is not None:
            self.problems.append(repeat_problem)
        children = [self.select(child, ctx, ()) for child in node.get("select", [])]
        options: list[_Branch] | None = None
        if "unionAll" in node:
            options = [b for option in node["unionAll"] for b in self.select(option, ctx, ())]
            names = {tuple(c.name for c in b.columns if not c.hidden) for b in options}
            if len(names) > 1:
                raise ViewDefinitionError("every unionAll option must have the same columns")
        if unnested is not None:
            # Known only now: whether a column below read this forEach's %rowIndex.
            index = self.row_index if self.row_index in self.used_indexes else None
            joins = (*joins, (*unnested, True, index))
        branches = [_Branch(joins, columns, filters)]
        for child_branches in children:
            branches = _product(branches, child_branches)
        if options is not None:
            branches = _product(branches, options)
        return branches

    def repeat(self, node: dict[str, Any], ctx: _Value) -> tuple[_Value, Column | None]:
        """`repeat: [paths]`: the elements the paths reach from `ctx`, then from each of
        those, and so on to any depth, in depth-first order (an element before those below
        it), as a list of structs of the elements the view reads.

        The first step is ordinary navigation to raw JSON (`item` is read whole); the
        descent is DuckDB's `json_tree` over it, keeping the nodes whose JSON path is a
        chain of the repeat paths. Each path must be a chain of repeating elements.
        """
        paths = node["repeat"]
        if not isinstance(paths, list) or not paths:
            raise ViewDefinitionError("repeat needs a list of paths")
        if not ctx.at_root:
            raise ViewDefinitionError("repeat is supported from the resource, not in a forEach")
        starts, steps = [], []
        for path in paths:
            try:
                parsed = _parse(path)
            except FHIRPathError as err:
                raise ViewDefinitionError(f"repeat path {path!r}: {err}") from err
            names = _member_chain(parsed)
            if names is None or not all(is_array_element(self.resource, n, False) for n in names):
                raise ViewDefinitionError(
                    f"repeat path {path!r}: a chain of repeating elements is supported "
                    "(item, answer.item)"
                )
            value = self.eval(parsed, ctx)
            if value.shape is None or value.shape.children:
                raise ViewDefinitionError(
                    f"repeat path {path!r}: its elements are read elsewhere in the view"
                )
            starts.append(_as_list(value))
            steps.append("".join(rf"\.{name}\[\d+\]" for name in names))
        shape = self.repeat_shapes.setdefault(id(node), Shape())
        pattern = rf"\$\[\d+\]({'|'.join(steps)})*"
        found = (
            f"(SELECT coalesce(list(value ORDER BY id), []) "
            f"FROM json_tree(to_json(list_concat({', '.join(starts)}, []))) "
            f"WHERE regexp_full_match(fullkey, {_quote(pattern)}))"
        )
        if not shape.children:
            return _Value(found, True, shape), None
        var = f"v{next(self.vars)}"
        structure = shape.structure()
        parsed = f"from_json({var}, {_quote(json.dumps(structure))})"
        parsed_list = f"list_transform({found}, lambda {var}: {parsed})"
        # `from_json` gives NULL for an element of the wrong shape (an object where an array
        # belongs): the same check as ingest's on whole lines makes it the resource's error.
        suspect = checks.shape_suspect_sql(structure, row=f"rp_{var}", line=var)
        wrong = f"list_filter({found}, lambda {var}: {suspect.replace(f'rp_{var}', parsed)})"
        message = _quote(f"repeat {paths!r}: an element of the wrong shape: ")
        problem = Column(
            f"__repeat_{var}",
            str(paths),
            "string",
            False,
            f"(CASE WHEN len({wrong}) > 0 THEN {message} || left({wrong}[1]::VARCHAR, 80) END)",
            hidden=True,
            problem=True,
        )
        return _Value(parsed_list, True, shape), problem

    def column(self, spec: dict[str, Any], ctx: _Value) -> Column:
        try:
            name, path, fhir_type = spec["name"], spec["path"], spec["type"]
        except KeyError as err:
            raise ViewDefinitionError(f"column {spec!r} has no {err.args[0]!r}") from err
        if fhir_type not in FHIR_TYPES:
            raise ViewDefinitionError(f"column {name!r}: type {fhir_type!r} is not supported")
        check = spec.get("check")
        if check is not None and check not in VALUE_CHECKS:
            raise ViewDefinitionError(f"column {name!r}: check {check!r} is not supported")
        try:
            value = self.eval(_parse(path), ctx)
        except FHIRPathError as err:
            raise ViewDefinitionError(f"column {name!r}, path {path!r}: {err}") from err
        if spec.get("collection"):
            return self.collection_column(spec, value)
        raw, many = value.sql, value.many
        if value.is_list:
            # A path giving several values is an error (spec: `collection` is not true).
            raw, many = f"{value.sql}[1]", f"(coalesce(len({value.sql}), 0) > 1)"
        is_object = value.shape is not None and bool(value.shape.children)
        if is_object or value.shape is None:  # an object, or a computed value (not JSON)
            raw = f"to_json({raw})"
        return Column(
            name,
            path,
            fhir_type,
            bool(spec.get("required")),
            raw,
            value.reference_type,
            check,
            many or "false",
        )

    def collection_column(self, spec: dict[str, Any], value: _Value) -> Column:
        """A `collection: true` column: a list of the path's values, in order ([] if none).

        Only elements without children (strings, codes, dates, numbers, booleans): each
        element is converted and checked as a single column's value is.
        """
        name = spec["name"]
        plain = value.shape is not None and not value.shape.children
        if not plain or value.reference_type is not None or spec.get("check") is not None:
            raise ViewDefinitionError(
                f"column {name!r}: a collection column holds elements without children, "
                "with no getReferenceKey() or check"
            )
        var = f"v{next(self.vars)}"
        present = f"lambda {var}: {var} IS NOT NULL AND {var}::VARCHAR <> 'null'"
        raw = f"list_filter({_as_list(value)}, {present})"
        return Column(
            name,
            spec["path"],
            spec["type"],
            bool(spec.get("required")),
            raw,
            collection=True,
        )


def reference_key_sql(text: str, resource_type: str) -> str:
    """SQL resolving a FHIR reference string to the referenced resource's id.

    `Patient/abc`, `Patient/abc/_history/2`, `https://x/fhir/Patient/abc` and `urn:uuid:abc`
    give `abc`; a conditional `Organization?identifier=system|value` gives `value`. With a
    type, a reference naming another type gives NULL.
    """
    plain = f"regexp_replace({text}, '/_history/.*$', '')"
    parts = f"string_split({plain}, '/')"
    if resource_type:
        conditional = (
            f"WHEN contains({text}, '?') THEN CASE WHEN regexp_matches({text}, "
            f"'(^|/){resource_type}[?]') THEN regexp_extract({text}, '[|=]([^|=&]*)$', 1) END "
        )
        typed = (
            f"WHEN NOT contains({text}, '/') THEN {text} "
            f"WHEN {parts}[-2] = '{resource_type}' THEN {parts}[-1] "
            f"WHEN regexp_matches({parts}[-2], '^[A-Z][A-Za-z]+$') THEN NULL "
        )
    else:
        conditional = (
            f"WHEN contains({text}, '?') THEN regexp_extract({text}, '[|=]([^|=&]*)$', 1) "
        )
        typed = ""
    general = (
        f"CASE WHEN starts_with({text}, 'urn:') "
        f"THEN regexp_extract({text}, '^urn:[a-z]+:(.*)$', 1) "
        f"{conditional}{typed}ELSE {parts}[-1] END"
    )
    if not resource_type:
        return general
    # The common `Patient/abc` without regular expressions or list building: several times
    # cheaper, and it runs for every reference of every row.
    prefix = f"{resource_type}/"
    rest = f"substr({text}, {len(prefix) + 1})"
    return (
        f"CASE WHEN starts_with({text}, '{prefix}') AND NOT contains({rest}, '/') "
        f"AND NOT contains({text}, '?') THEN {rest} ELSE {general} END"
    )


def _member_chain(node: Node) -> list[str] | None:
    """`answer.item` as ["answer", "item"]; None for anything but plain navigation."""
    if not isinstance(node, Member):
        return None
    if node.base is None:
        return [node.name]
    base = _member_chain(node.base)
    return None if base is None else [*base, node.name]


def _is_leaf(value: _Value) -> bool:
    """A single JSON element without children (a string, number or boolean as written)."""
    return not value.is_list and value.shape is not None and not value.shape.children


def _leaf_text(raw: str) -> str:
    """A JSON leaf as text: a string's content, else the JSON as written (`12.5`, `true`)."""
    return f"coalesce({text_sql(raw)}, {raw}::VARCHAR)"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _as_list(value: _Value) -> str:
    if value.is_list:
        return f"coalesce({value.sql}, [])"
    return f"list_filter([{value.sql}], lambda x: x IS NOT NULL)"


def _product(left: list[_Branch], right: list[_Branch]) -> list[_Branch]:
    return [
        _Branch(a.joins + b.joins, a.columns + b.columns, a.filters + b.filters)
        for a in left
        for b in right
    ]


def _parse(text: str) -> Node:
    if not isinstance(text, str):
        raise FHIRPathError(f"a path must be a string, got {text!r}")
    return fhirpath.parse(text)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def compile_view(doc: dict[str, Any], source_file: str) -> CompiledView:
    """Compile one ViewDefinition document; errors name `source_file`."""
    try:
        return _compile(doc, source_file)
    except (ViewDefinitionError, FHIRPathError) as err:
        raise ViewDefinitionError(f"{source_file}: {err}") from err


def _compile(doc: dict[str, Any], source_file: str) -> CompiledView:
    if doc.get("resourceType", "ViewDefinition") != "ViewDefinition":
        raise ViewDefinitionError("resourceType must be ViewDefinition")
    # The spec makes `resource` required and `name` optional; ingest needs a name (its table).
    resource, table = doc.get("resource"), doc.get("name", "")
    if not isinstance(resource, str) or not resource:
        raise ViewDefinitionError("a view needs a string 'resource'")
    if not isinstance(table, str):
        raise ViewDefinitionError("a view's 'name' must be a string")
    constants = {const.get("name"): _constant_value(const) for const in doc.get("constant", [])}
    compiler = _Compiler(resource, constants, source_file)
    root = _Value("r", False, compiler.root_shape, at_root=True)
    branches = compiler.select({"select": doc.get("select", [])}, root, ())
    for number, item in enumerate(doc.get("where", [])):
        compiler.view_filter(item.get("path"), root, number)
    # Compile a second time now that the shape is complete: a node's SQL depends on whether
    # it ended up an object (struct) or a leaf (JSON), which only the whole view decides.
    shape = compiler.root_shape
    # Ingest classifies each line from the same parse that feeds the view.
    for element in ("resourceType", "id"):
        shape.child(resource, element, True)
    shape.child(resource, "meta", True).child(resource, "lastUpdated", False)
    repeat_shapes = compiler.repeat_shapes
    compiler = _Compiler(resource, constants, source_file)
    compiler.root_shape = shape
    compiler.repeat_shapes = repeat_shapes
    root = _Value("r", False, shape, at_root=True)
    branches = compiler.select({"select": doc.get("select", [])}, root, ())
    wheres = [
        compiler.view_filter(item.get("path"), root, number)
        for number, item in enumerate(doc.get("where", []))
    ]
    filters = [sql for sql, _ in wheres]
    hidden = [column for _, column in wheres if column is not None]
    first = tuple(c for c in branches[0].columns if not c.hidden)
    if not first:
        raise ViewDefinitionError("the view has no columns")
    names = [c.name for c in first]
    if len(set(names)) != len(names):
        raise ViewDefinitionError(f"duplicate column names in {names}")
    structure = shape.structure()
    return CompiledView(
        table=table,
        resource=resource,
        source_file=source_file,
        columns=tuple((c.name, c.duckdb_type) for c in first),
        structure=json.dumps(structure),
        rows_sql=_rows_sql(
            _with_hidden([*branches, *_problem_branches(compiler)], hidden), filters
        ),
        suspect_sql=checks.shape_suspect_sql(structure),
    )


def _problem_branches(compiler: _Compiler) -> list[_Branch]:
    """One branch per repeat: a row for each resource that has an element of the wrong shape."""
    return [_Branch((), (c,), (f"{c.raw_sql} IS NOT NULL",)) for c in compiler.problems]


def _with_hidden(branches: list[_Branch], hidden: list[Column]) -> list[_Branch]:
    """Every branch with the view's columns, then the same hidden columns in the same order:
    the where checks, and each branch's own problem checks (NULL in the other branches)."""
    problems = {c.name: c for b in branches for c in b.columns if c.problem}
    padded = []
    for b in branches:
        own = {c.name: c for c in b.columns if c.problem}
        fill = [
            own.get(name)
            or Column(name, c.path, "string", False, "NULL", hidden=True, problem=True)
            for name, c in problems.items()
        ]
        shown = tuple(c for c in b.columns if not c.hidden)
        padded.append(_Branch(b.joins, (*shown, *hidden, *fill), b.filters))
    return padded


def _rows_sql(branches: list[_Branch], filters: list[str]) -> str:
    """seq, one raw JSON column per view column, from `parsed(seq, r)`; then typed + checked."""
    parts = []
    for branch in branches:
        cols = ", ".join(
            f"{c.raw_sql} AS {_ident('raw_' + c.name)}, {c.many_sql} AS {_ident('many_' + c.name)}"
            for c in branch.columns
        )
        # Unnest in the select list of nested subqueries: much faster in DuckDB than a
        # lateral CROSS JOIN unnest(), and the optimiser drops whatever is not used.
        source = "parsed"
        for sql, var, unnest, index in branch.joins:
            value = f"unnest({sql})" if unnest else sql
            if index is not None:
                # Two unnests in one select list run side by side: element and position.
                value = f"{value} AS {var}, unnest(range(len({sql}))) AS {index}"
            else:
                value = f"{value} AS {var}"
            source = f"(SELECT *, {value} FROM {source})"
        conditions = [*filters, *branch.filters]
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        parts.append(f"SELECT seq, {cols} FROM {source}{where}")
    raw = " UNION ALL BY NAME ".join(parts)
    columns = branches[0].columns
    # Four layers, so that each value is computed once: raw JSON → text → typed value →
    # error message (which tests the typed value instead of converting again).
    texts, typed, outputs, errors, tests = [], [], [], [], []
    for c in columns:
        name = _ident(c.name)
        rawcol, textcol = _ident("raw_" + c.name), _ident("text_" + c.name)
        manycol = _ident("many_" + c.name)
        if c.collection:
            text, value, test, error = _collection_sql(c)
            texts.append(text)
            typed.append(value)
            outputs.append(name)
            tests.append(test)
            errors.append(error)
            continue
        if c.problem:
            texts.append(f"{rawcol}, {manycol}")
            typed.append(f"{rawcol}, {manycol}")
            tests.append(f"({rawcol} IS NOT NULL)")
            errors.append(f"{rawcol}::VARCHAR")
            continue
        texts.append(f"{rawcol}, {manycol}, {text_sql(rawcol)} AS {textcol}")
        if c.reference_type is not None:
            # The error check is on the reference text; the key is derived from it.
            typed.append(f"{rawcol}, {manycol}, {textcol}")
            outputs.append(f"{reference_key_sql(textcol, c.reference_type)} AS {name}")
            checked = textcol
        else:
            typed.append(
                f"{rawcol}, {manycol}, {value_sql(c.fhir_type, rawcol, textcol)} AS {name}"
            )
            if not c.hidden:
                outputs.append(name)
            checked = name
        expected = FHIR_TYPES[c.fhir_type].expected
        label = _quote(f"{c.path} ({c.name}) is ")
        bad = is_bad_sql(rawcol, checked)
        tests.append(bad)
        errors.append(
            f"CASE WHEN {bad} THEN {label} || {shown_sql(rawcol)} "
            f"|| {_quote(', expected ' + expected)} END"
        )
        if c.check is not None:
            # The value converted; it must also pass the column's check (say why if not).
            problem = VALUE_CHECKS[c.check](checked)
            tests.append(f"({problem} IS NOT NULL)")
            errors.append(f"{label} || {shown_sql(rawcol)} || ', ' || {problem}")
        if c.many_sql != "false":
            tests.append(f"coalesce({manycol}, false)")
            errors.append(
                f"CASE WHEN {manycol} THEN "
                f"{_quote(f'{c.path} ({c.name}) gives several values; use first() or collection')}"
                " END"
            )
        if c.required:
            missing = f"({rawcol} IS NULL OR {rawcol}::VARCHAR = 'null')"
            tests.append(missing)
            errors.append(
                f"CASE WHEN {missing} "
                f"THEN {_quote(f'{c.path} ({c.name}) is required but missing')} END"
            )
    # The message is built only for the rare bad row; a good row costs the checks alone.
    error = f"CASE WHEN {' OR '.join(tests)} THEN concat_ws('; ', {', '.join(errors)}) END"
    return (
        f"SELECT seq, {', '.join(outputs)}, {error} AS __error "
        f"FROM (SELECT seq, {', '.join(typed)} "
        f"FROM (SELECT seq, {', '.join(texts)} FROM ({raw}) AS raw_rows) AS text_rows) "
        "AS typed_rows"
    )


def _collection_sql(c: Column) -> tuple[str, str, str, str]:
    """A collection column's four layers (text, typed, test, error): each element is
    converted like a single value; one that does not convert makes the row an error."""
    rawcol, name = _ident("raw_" + c.name), _ident(c.name)
    element = "element"
    converted = value_sql(c.fhir_type, element, text_sql(element))
    values = f"list_transform({rawcol}, lambda {element}: {converted})"
    bad = f"list_filter({rawcol}, lambda {element}: {is_bad_sql(element, converted)})"
    tests = [f"(len({bad}) > 0)"]
    label = f"{c.path} ({c.name})"
    errors = [
        f"CASE WHEN len({bad}) > 0 THEN {_quote(label + ' has ')} || {shown_sql(bad + '[1]')} "
        f"|| {_quote(', expected ' + FHIR_TYPES[c.fhir_type].expected)} END"
    ]
    if c.required:
        tests.append(f"(len({rawcol}) = 0)")
        errors.append(
            f"CASE WHEN len({rawcol}) = 0 THEN {_quote(label + ' is required but missing')} END"
        )
    return (
        rawcol,
        f"{rawcol}, {values} AS {name}",
        f"({' OR '.join(tests)})",
        f"concat_ws('; ', {', '.join(errors)})",
    )


def load_view(path: Path) -> CompiledView:
    """Load and compile one view file, or raise `ViewDefinitionError` naming it."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ViewDefinitionError(f"{path}: cannot read view: {err}") from err
    if not isinstance(doc, dict):
        raise ViewDefinitionError(f"{path}: a view must be a JSON object")
    return compile_view(doc, str(path))


def views_folder() -> Path:
    """The views shipped in the package."""
    return Path(str(resources.files("houseofcare.ingest").joinpath("views")))


def load_views(folder: Path | None = None) -> dict[str, CompiledView]:
    """Every view in `folder` (default: the package's), keyed by table name."""
    folder = folder or views_folder()
    views: dict[str, CompiledView] = {}
    for path in sorted(folder.glob("*.json")):
        view = load_view(path)
        if not view.table:
            raise ViewDefinitionError(f"{path}: an ingest view needs a 'name' (its table)")
        if view.table in views:
            raise ViewDefinitionError(f"{path}: table {view.table!r} is defined twice")
        views[view.table] = view
    return views
