"""The ingest ViewDefinitions, compiled for Apache Spark: the DuckDB compiler's SQL, carried over.

There is one compiler (`viewdef.py`) and one set of views. For Spark, each compiled view's
DuckDB SQL is transpiled by SQLGlot (`houseofcare.engine.spark_sql`'s translator) after a few
rewrites on its syntax tree, which say how the two engines hold what the views read:

- A leaf of the `from_json` structure is DuckDB ``JSON`` (raw JSON text); on Spark it is a
  ``VARIANT``. So a leaf's text, ``x::VARCHAR``, is ``to_json(x)`` on Spark (``"abc"`` with its
  quotes, ``12.5``, ``{...}``), and the string inside it, ``x ->> '$'``, is
  ``variant_get(x, '$', 'string')``. That keeps the compiler's wrong-type detection: a number
  where a code belongs is still seen as a number, not silently read as text.
- DuckDB list indexes are 1-based and NULL out of range; Spark's ``arr[i]`` is 0-based and fails
  out of range under ANSI mode (Spark 4's default), so an index becomes ``try_element_at``.
- DuckDB's ``flatten`` skips NULL inner lists; Spark's returns NULL if any inner list is NULL
  (one address without extensions would hide another's), so NULL inner lists are filtered first.
- ``len(list)`` is ``size``; ``strlen`` is ``length``; ``regexp_full_match`` is an anchored
  ``RLIKE``; ``UNION ALL BY NAME`` is ``UNION ALL`` (the compiler gives every branch the same
  columns in the same order); the one strptime format the compiler uses gets its Java pattern.

A construct the rewrites and SQLGlot cannot carry fails when the view is compiled, naming the
view, never silently at run time: `repeat()` (DuckDB's ``json_tree`` / ``json_type``) and a
``forEach`` numbered with ``%rowIndex`` (two unnests in one SELECT, which DuckDB runs side by
side and Spark would cross). A computed value made JSON (``to_json`` of a boolean, a number, a
text or an object) becomes a VARIANT through a one-field object, the one way Spark takes all
of them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

import sqlglot
from sqlglot import exp

from houseofcare.ingest.checks import LEAF
from houseofcare.ingest.viewdef import CompiledView, ViewDefinitionError

#: strptime / strftime formats the compiler writes, as Java date-time patterns.
_JAVA_FORMATS: Final[dict[str, str]] = {"%Y-%m-%dT%H:%M:%SZ": "yyyy-MM-dd'T'HH:mm:ss'Z'"}
#: DuckDB functions the compiler writes that Spark lacks, and the construct that uses them.
_DUCKDB_ONLY: Final[dict[str, str]] = {
    "json_tree": "repeat()'s descent through the resource",
    "json_type": "repeat()'s test of a node's kind",
}
#: The column `from_json` fills with the whole line when the line does not fit the structure
#: (not JSON, or an element of the wrong shape); `checks.problem` then says why.
CORRUPT: Final[str] = "_corrupt_record"


@dataclass(frozen=True)
class SparkView:
    """A view ready for Spark: the `from_json` schema (DDL) and the SQL over `parsed(seq, r)`."""

    view: CompiledView
    schema: str  # the structure as a Spark DDL type, with `_corrupt_record`
    rows_sql: str  # Spark SQL over the temp view `parsed(seq, r)`: seq, typed columns, __error
    structure: dict[str, Any]  # for `checks.problem`


def spark_schema(node: Any) -> str:
    """A `from_json` structure (objects, arrays, JSON leaves) as a Spark DDL type."""
    if node == LEAF:
        return "VARIANT"
    if isinstance(node, list):
        return f"ARRAY<{spark_schema(node[0])}>"
    fields = ", ".join(f"`{name}`: {spark_schema(sub)}" for name, sub in node.items())
    return f"STRUCT<{fields}>"


def compile_for_spark(view: CompiledView) -> SparkView:
    """The compiled view carried to Spark; raises `ViewDefinitionError` naming the view."""
    structure = json.loads(view.structure)
    schema = spark_schema(structure)
    schema = f"{schema[:-1]}, `{CORRUPT}`: STRING>"
    try:
        rows_sql = spark_view_sql(view.rows_sql)
    except (sqlglot.errors.SqlglotError, ValueError) as err:
        raise ViewDefinitionError(f"{view.source_file}: cannot be carried to Spark: {err}") from err
    return SparkView(view=view, schema=schema, rows_sql=rows_sql, structure=structure)


def spark_view_sql(duckdb_sql: str) -> str:
    """A view's DuckDB SQL as Spark SQL (see the module docstring for the rewrites)."""
    tree = sqlglot.parse_one(duckdb_sql, read="duckdb")
    tree = tree.transform(_leaf_idioms)
    # Children first, so that a rewritten node holds its children's rewrites.
    for node in reversed(list(tree.dfs())):
        new = _rewrite(node)
        if new is not node:
            if node is tree:
                tree = new
            else:
                node.replace(new)
    return tree.sql(dialect="spark", unsupported_level=sqlglot.ErrorLevel.RAISE)


def _json_text_of(node: exp.Expression) -> exp.Expression | None:
    """`x` of `x::VARCHAR`, a JSON leaf's text in the DuckDB SQL (else None)."""
    if isinstance(node, exp.Cast) and node.to.this == exp.DataType.Type.TEXT:
        return node.this
    return None


def _leaf_idioms(node: exp.Expression) -> exp.Expression:
    """Two idioms of the compiler on JSON leaves, said directly on a VARIANT (several times
    cheaper than printing the leaf as JSON text to look at it, once per leaf per row):

    - the string inside a leaf (`fhirtypes._text`: NULL unless the text starts with a quote)
      is `variant_get` of a leaf whose type is STRING;
    - `x::VARCHAR = 'null'` (a JSON null) is `is_variant_null(x)`.
    """
    if isinstance(node, exp.Case) and node.args.get("ifs"):
        first = node.args["ifs"][0].this
        if (
            isinstance(first, exp.Not)
            and isinstance(first.this, exp.StartsWith)
            and first.this.expression == exp.Literal.string('"')
        ):
            leaf = _json_text_of(first.this.this)
            if leaf is not None:
                is_string = exp.EQ(
                    this=_call("SCHEMA_OF_VARIANT", leaf.copy()),
                    expression=exp.Literal.string("STRING"),
                )
                text = _call(
                    "VARIANT_GET",
                    leaf.copy(),
                    exp.Literal.string("$"),
                    exp.Literal.string("string"),
                )
                return exp.Case(ifs=[exp.If(this=is_string, true=text)])
    if isinstance(node, exp.Cast) and node.to.this == exp.DataType.Type.JSON:
        # `number::VARCHAR::JSON`: a computed number as JSON (a number leaf).
        text = _json_text_of(node.this)
        if text is None:
            raise ValueError(f"only text is cast to JSON on Spark, not {node.sql('duckdb')}")
        return _as_variant(text)
    if isinstance(node, (exp.EQ, exp.NEQ)) and node.expression == exp.Literal.string("null"):
        leaf = _json_text_of(node.this)
        if leaf is not None:
            null = _call("IS_VARIANT_NULL", leaf.copy())
            return null if isinstance(node, exp.EQ) else exp.Not(this=null)
    return node


def _call(name: str, *args: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this=name, expressions=list(args))


def _as_variant(value: exp.Expression) -> exp.Expression:
    """Any value (object, list, number, boolean, text) as a VARIANT, NULL staying NULL.

    Spark casts only atomic values to VARIANT and `to_variant_object` takes only objects and
    lists, and the SQL does not say which a computed value is: so the value is wrapped in an
    object and taken out again, which takes both.
    """
    wrapped = _call(
        "TO_VARIANT_OBJECT", _call("NAMED_STRUCT", exp.Literal.string("v"), value.copy())
    )
    variant = _call(
        "VARIANT_GET", wrapped, exp.Literal.string("$.v"), exp.Literal.string("variant")
    )
    present = exp.Not(this=exp.Is(this=value, expression=exp.Null()))
    return exp.Case(ifs=[exp.If(this=present, true=variant)])


def _rewrite(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.JSONType) or (
        isinstance(node, exp.Anonymous) and str(node.this).lower() in _DUCKDB_ONLY
    ):
        name = "json_type" if isinstance(node, exp.JSONType) else str(node.this).lower()
        raise ValueError(f"{_DUCKDB_ONLY[name]} (DuckDB's {name}) has no Spark equivalent")
    if isinstance(node, exp.Select) and _unnests(node) > 1:
        # DuckDB runs the unnests of one SELECT side by side (%rowIndex: the elements beside
        # their positions); Spark's explodes would pair every element with every position.
        raise ValueError(
            "several unnests in one SELECT (a forEach with %rowIndex): Spark would cross them"
        )
    if isinstance(node, exp.Cast) and node.to.this in (exp.DataType.Type.TEXT,):
        return _call("TO_JSON", node.this)
    if isinstance(node, exp.JSONExtractScalar):
        path = node.expression
        if not (isinstance(path, exp.JSONPath) and path.sql() in ("'$'", "$")):
            raise ValueError(f"only ->> '$' is carried to Spark, not {node.sql('duckdb')}")
        return _call(
            "VARIANT_GET", node.this, exp.Literal.string("$"), exp.Literal.string("string")
        )
    if isinstance(node, exp.Anonymous) and str(node.this).lower() == "to_json":
        # DuckDB makes an object or a computed value JSON here; on Spark it becomes a
        # variant, which the casts above then print as JSON text like any leaf.
        (value,) = node.expressions
        return _as_variant(value)
    if isinstance(node, exp.Bracket):
        (index,) = node.expressions
        # SQLGlot holds DuckDB's 1-based index 0-based; element_at is 1-based (and -1 = last).
        return _call("TRY_ELEMENT_AT", node.this, exp.Literal.number(_constant(index) + 1))
    if isinstance(node, exp.Flatten):
        element = exp.to_identifier("inner_list")
        not_null = exp.Not(this=exp.Is(this=exp.column(element), expression=exp.Null()))
        kept = exp.ArrayFilter(
            this=node.this, expression=exp.Lambda(this=not_null, expressions=[element])
        )
        return _call("FLATTEN", kept)
    if isinstance(node, exp.Length):
        return _call("SIZE", node.this)
    if isinstance(node, exp.Anonymous) and str(node.this).lower() == "strlen":
        return _call("LENGTH", *node.expressions)
    if isinstance(node, exp.RegexpFullMatch):
        pattern = node.expression
        if not isinstance(pattern, exp.Literal):
            raise ValueError("regexp_full_match needs a constant pattern")
        return exp.RegexpLike(
            this=node.this, expression=exp.Literal.string(f"^(?:{pattern.this})$")
        )
    if isinstance(node, exp.Anonymous) and str(node.this).lower() == "try_strptime":
        text, fmt = node.expressions
        return _call("TRY_TO_TIMESTAMP", text, _java_format(fmt))
    if isinstance(node, exp.TimeToStr):
        return _call("DATE_FORMAT", node.this, _java_format(node.args["format"]))
    if isinstance(node, exp.Union) and node.args.get("by_name"):
        node.set("by_name", False)
    return node


def _unnests(select: exp.Select) -> int:
    """How many of the SELECT's columns are unnests (explodes, to SQLGlot)."""
    return sum(isinstance(column.unalias(), exp.Explode) for column in select.expressions)


def _constant(index: exp.Expression) -> int:
    """A constant list index (SQLGlot parses `-3` as the negation of 3)."""
    if isinstance(index, exp.Neg):
        return -_constant(index.this)
    if isinstance(index, exp.Literal) and not index.is_string:
        return int(index.this)
    raise ValueError(f"only constant list indexes are carried to Spark: {index.sql()}")


def _java_format(fmt: exp.Expression) -> exp.Expression:
    if not isinstance(fmt, exp.Literal) or fmt.this not in _JAVA_FORMATS:
        raise ValueError(f"no Java pattern for the date format {fmt.sql()}")
    return exp.Literal.string(_JAVA_FORMATS[fmt.this])
