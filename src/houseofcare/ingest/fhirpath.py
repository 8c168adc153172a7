"""Parsing the small FHIRPath subset that our ViewDefinitions use into a syntax tree.

Only parsing lives here; `viewdef.py` turns the tree into DuckDB SQL. Keeping the grammar tiny
and explicit means an unsupported expression fails when the view is loaded, with the view file
and the path in the message, instead of producing wrong rows in the middle of an ingest.

Supported: member navigation (`code.coding.code`), `$this`, string, boolean and number
literals, `%constant`, indexing (`name[0]`), `=`, `!=`, `<`, `>`, `<=`, `>=`, `and`, `or`,
`+`, `-`, `*`, `/`, `|` (union, order kept) and parentheses, and the functions in `FUNCTIONS`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final


class FHIRPathError(ValueError):
    """An expression outside the supported subset, or malformed."""


#: Functions the compiler understands, with how many arguments each takes.
FUNCTIONS: Final[dict[str, tuple[int, int]]] = {
    "first": (0, 0),
    "where": (1, 1),
    "exists": (0, 1),
    "empty": (0, 0),
    "not": (0, 0),
    "ofType": (1, 1),
    "extension": (1, 1),
    "getResourceKey": (0, 0),
    "getReferenceKey": (0, 1),
    "join": (0, 1),
}


@dataclass(frozen=True)
class Member:
    """Navigate to a child element (`code`), applied to `base` or to the context."""

    base: Node | None
    name: str


@dataclass(frozen=True)
class Call:
    """A function call (`first()`, `where(system = 'x')`) on `base` or on the context."""

    base: Node | None
    name: str
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Literal:
    """A string literal."""

    value: str


@dataclass(frozen=True)
class NumberLiteral:
    """An integer or decimal literal, kept as written (`1`, `1.5`)."""

    text: str


@dataclass(frozen=True)
class Index:
    """`base[index]`: the element at a 0-based position of a collection."""

    base: Node
    index: Node


@dataclass(frozen=True)
class BooleanLiteral:
    """`true` or `false`."""

    value: bool


@dataclass(frozen=True)
class Constant:
    """A `%name` constant declared in the view's `constant` list."""

    name: str


@dataclass(frozen=True)
class This:
    """`$this`: the current context."""


@dataclass(frozen=True)
class TypeName:
    """A bare type name used as a function argument (`ofType(Quantity)`)."""

    name: str


@dataclass(frozen=True)
class Binary:
    """`=`, `!=`, `<`, `>`, `<=`, `>=`, `and`, `or` or `|`."""

    op: str
    left: Node
    right: Node


Node = (
    Member
    | Call
    | Literal
    | NumberLiteral
    | BooleanLiteral
    | Constant
    | This
    | TypeName
    | Binary
    | Index
)

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^'\\]|\\.)*')|(?P<const>%[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<this>\$this)|(?P<num>\d+(?:\.\d+)?)|(?P<ident>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>!=|<=|>=|[.()=|,<>\[\]+*/-]))"
)


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise FHIRPathError(f"unexpected character {text[pos:].strip()[:1]!r} at {pos}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value):
            raise FHIRPathError(f"expected {value or 'more'} at token {self.pos + 1}")
        self.pos += 1
        return token

    def parse(self) -> Node:
        node = self.or_expr()
        if self.peek() is not None:
            raise FHIRPathError(f"unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return node

    def or_expr(self) -> Node:
        node = self.and_expr()
        while self.peek() == ("ident", "or"):
            self.take()
            node = Binary("or", node, self.and_expr())
        return node

    def and_expr(self) -> Node:
        node = self.eq_expr()
        while self.peek() == ("ident", "and"):
            self.take()
            node = Binary("and", node, self.eq_expr())
        return node

    def eq_expr(self) -> Node:
        node = self.order_expr()
        token = self.peek()
        if token and token[0] == "op" and token[1] in ("=", "!="):
            self.take()
            node = Binary(token[1], node, self.order_expr())
        return node

    def order_expr(self) -> Node:
        node = self.union_expr()
        token = self.peek()
        if token and token[0] == "op" and token[1] in ("<", ">", "<=", ">="):
            self.take()
            node = Binary(token[1], node, self.union_expr())
        return node

    def union_expr(self) -> Node:
        node = self.additive_expr()
        while self.peek() == ("op", "|"):
            self.take()
            node = Binary("|", node, self.additive_expr())
        return node

    def additive_expr(self) -> Node:
        node = self.multiplicative_expr()
        while self.peek() in (("op", "+"), ("op", "-")):
            node = Binary(self.take()[1], node, self.multiplicative_expr())
        return node

    def multiplicative_expr(self) -> Node:
        node = self.path_expr()
        while self.peek() in (("op", "*"), ("op", "/")):
            node = Binary(self.take()[1], node, self.path_expr())
        return node

    def path_expr(self) -> Node:
        node = self.term()
        while self.peek() in (("op", "."), ("op", "[")):
            if self.take()[1] == "[":
                node = Index(node, self.or_expr())
                self.take("]")
            else:
                node = self.invocation(node)
        return node

    def term(self) -> Node:
        token = self.peek()
        if token is None:
            raise FHIRPathError("unexpected end of expression")
        kind, value = token
        if kind == "str":
            self.take()
            return Literal(value[1:-1].replace("\\'", "'").replace("\\\\", "\\"))
        if kind == "const":
            self.take()
            return Constant(value[1:])
        if kind == "num":
            self.take()
            return NumberLiteral(value)
        if kind == "this":
            self.take()
            return This()
        if value == "(":
            self.take()
            node = self.or_expr()
            self.take(")")
            return node
        if kind == "ident" and value in ("true", "false"):
            self.take()
            return BooleanLiteral(value == "true")
        if kind == "ident":
            return self.invocation(None)
        raise FHIRPathError(f"unexpected {value!r}")

    def invocation(self, base: Node | None) -> Node:
        kind, name = self.take()
        if kind != "ident":
            raise FHIRPathError(f"expected a name, got {name!r}")
        if self.peek() != ("op", "("):
            return Member(base, name)
        if name not in FUNCTIONS:
            raise FHIRPathError(f"function {name}() is not supported")
        self.take("(")
        args: list[Node] = []
        while self.peek() != ("op", ")"):
            if name in ("ofType", "getReferenceKey") and self.peek() and self.peek()[0] == "ident":  # type: ignore[index]
                args.append(TypeName(self.take()[1]))
            else:
                args.append(self.or_expr())
            if self.peek() == ("op", ","):
                self.take()
        self.take(")")
        low, high = FUNCTIONS[name]
        if not low <= len(args) <= high:
            raise FHIRPathError(f"{name}() takes {low}..{high} arguments, got {len(args)}")
        return Call(base, name, tuple(args))


def parse(text: str) -> Node:
    """Parse one FHIRPath expression of the supported subset, or raise `FHIRPathError`."""
    if not text or not text.strip():
        raise FHIRPathError("empty expression")
    return _Parser(text).parse()
