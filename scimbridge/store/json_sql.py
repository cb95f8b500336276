"""Reading stored SCIM documents in SQL: JSON1 on SQLite, JSONB on PostgreSQL.

Does: address a value inside a stored document (or inside a row of an array or object being
iterated), test its JSON type, compare it with a filter operand as JSON types compare, iterate
arrays and objects in correlated subqueries, and test RFC 7644 presence, with the same meaning
on both engines. Every predicate built here is two-valued (never SQL NULL), so ``NOT`` is exact.
Does not: parse filters or know SCIM attribute names (``store.filters`` does), or load rows.

Strings are folded with SQL ``lower()``: SQLite folds ASCII letters only, PostgreSQL follows the
database's ``LC_CTYPE``. The hot attributes (``userName``, ``displayName``, ``id``,
``externalId``) never come here: they have columns kept in ``comparison_key`` form.
"""

from __future__ import annotations

import base64
import operator
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from scim2_models.path import CompareOperator
from sqlalchemy import (
    ColumnElement,
    FromClause,
    Numeric,
    Text,
    and_,
    case,
    cast,
    column,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TIMESTAMP

Kind = Literal["string", "number", "boolean", "true", "false", "absent", "array", "object"]

_ORDERING: dict[CompareOperator, Callable[[Any, Any], ColumnElement[bool]]] = {
    CompareOperator.eq: operator.eq,
    CompareOperator.gt: operator.gt,
    CompareOperator.ge: operator.ge,
    CompareOperator.lt: operator.lt,
    CompareOperator.le: operator.le,
}
PATTERNS = frozenset({CompareOperator.co, CompareOperator.sw, CompareOperator.ew})


@dataclass(frozen=True)
class Node:
    """A JSON value in SQL: document ``doc`` at ``keys``.

    ``item_type`` is set on SQLite for a row of ``json_each``: its ``value`` column is the item
    itself (SQL text for a string, JSON text for an object), and its type is in another column.
    """

    doc: ColumnElement[Any]
    keys: tuple[str, ...] = ()
    item_type: ColumnElement[Any] | None = None

    def child(self, *keys: str) -> Node:
        return Node(self.doc, (*self.keys, *keys), self.item_type)


@dataclass(frozen=True)
class Items:
    """A correlated iteration over an array (or an object's members) inside a document."""

    source: FromClause
    node: Node
    position: ColumnElement[Any]
    guard: ColumnElement[bool]

    def exists(self, where: ColumnElement[bool]) -> ColumnElement[bool]:
        """True when some item satisfies ``where``."""
        return (
            select(literal_column("1")).select_from(self.source).where(self.guard, where).exists()
        )


class JsonDialect(ABC):
    """How one engine reads JSON. Use :func:`json_dialect` to get one."""

    @abstractmethod
    def kind_is(self, node: Node, *kinds: Kind) -> ColumnElement[bool]:
        """Whether the value is of one of ``kinds`` (``absent``: JSON null or missing)."""

    @abstractmethod
    def text(self, node: Node) -> ColumnElement[Any]:
        """The value as SQL: the text of a string, the number of a number (guard with kind_is)."""

    @abstractmethod
    def number(self, node: Node) -> ColumnElement[Any]:
        """The numeric value of a JSON number (guard with kind_is)."""

    @abstractmethod
    def timestamp(self, value: ColumnElement[Any] | str) -> ColumnElement[Any]:
        """A comparable form of an RFC 3339 string, SQL NULL when it is not one."""

    @abstractmethod
    def timestamp_guard(self, node: Node) -> ColumnElement[bool]:
        """Whether the value is a string :meth:`timestamp` can read without an error."""

    @abstractmethod
    def elements(self, node: Node) -> Items:
        """The elements of the array at ``node`` (none when it is not an array)."""

    @abstractmethod
    def members(self, node: Node) -> tuple[Items, ColumnElement[Any]]:
        """The members of the object at ``node`` and the column holding their names."""

    @abstractmethod
    def pattern(
        self, left: ColumnElement[Any], op: CompareOperator, value: str
    ) -> ColumnElement[bool]:
        """``co``/``sw``/``ew`` as a case-sensitive match; wildcards in ``value`` are literal."""

    @abstractmethod
    def nonempty_container(self, node: Node) -> ColumnElement[bool]:
        """Whether the value is an array or object with something in it."""

    def ordered(self, expr: ColumnElement[Any]) -> ColumnElement[Any]:
        """A string expression compared by code point, as Python compares strings."""
        return expr


class _Sqlite(JsonDialect):
    _TYPES: dict[str, tuple[str, ...]] = {
        "string": ("text",),
        "number": ("integer", "real"),
        "boolean": ("true", "false"),
        "true": ("true",),
        "false": ("false",),
        "absent": ("null", "missing"),
        "array": ("array",),
        "object": ("object",),
    }
    _TIME_FORMAT = "%Y-%m-%d %H:%M:%f"

    @staticmethod
    def _path(keys: tuple[str, ...]) -> str:
        # Keys come from model names or grammar-checked URNs; a quote would break out of the path.
        if any('"' in key or "\\" in key for key in keys):
            raise ValueError(f"unsupported JSON key in {keys!r}")
        return "$" + "".join(f'."{key}"' for key in keys)

    def _doc(self, node: Node, container: str = "object") -> ColumnElement[Any]:
        """The JSON text to read from; an iterated scalar is not JSON text, so it reads as NULL."""
        if node.item_type is None:
            return node.doc
        return case((node.item_type == (container if not node.keys else "object"), node.doc))

    def _raw_kind(self, node: Node) -> ColumnElement[Any]:
        if node.item_type is not None and not node.keys:
            return node.item_type
        return func.json_type(self._doc(node), self._path(node.keys))

    def kind_is(self, node: Node, *kinds: Kind) -> ColumnElement[bool]:
        names = [name for kind in kinds for name in self._TYPES[kind]]
        return func.coalesce(self._raw_kind(node), "missing").in_(names)

    def text(self, node: Node) -> ColumnElement[Any]:
        if node.item_type is not None and not node.keys:
            return node.doc
        return func.json_extract(self._doc(node), self._path(node.keys))

    def number(self, node: Node) -> ColumnElement[Any]:
        return self.text(node)

    def timestamp(self, value: ColumnElement[Any] | str) -> ColumnElement[Any]:
        return func.strftime(self._TIME_FORMAT, value)

    def timestamp_guard(self, node: Node) -> ColumnElement[bool]:
        return self.kind_is(node, "string")

    def _iterate(self, node: Node, container: Literal["array", "object"]) -> Items:
        args: list[Any] = [self._doc(node, container)]
        if node.keys:
            args.append(self._path(node.keys))
        rows = func.json_each(*args).table_valued("key", "value", "type").alias()
        return Items(
            source=rows,
            node=Node(rows.c.value, item_type=rows.c.type),
            position=rows.c.key,
            guard=self.kind_is(node, container),
        )

    def elements(self, node: Node) -> Items:
        return self._iterate(node, "array")

    def members(self, node: Node) -> tuple[Items, ColumnElement[Any]]:
        items = self._iterate(node, "object")
        return items, items.position

    def pattern(
        self, left: ColumnElement[Any], op: CompareOperator, value: str
    ) -> ColumnElement[bool]:
        # GLOB is case-sensitive (LIKE is not on SQLite) and can use an index for a prefix.
        escaped = "".join(f"[{char}]" if char in "*?[" else char for char in value)
        glob = {"co": f"*{escaped}*", "sw": f"{escaped}*", "ew": f"*{escaped}"}[op.value]
        return left.op("GLOB", is_comparison=True)(glob)

    def nonempty_container(self, node: Node) -> ColumnElement[bool]:
        return and_(
            self.kind_is(node, "array", "object"),
            func.coalesce(self.text(node), "[]").not_in(["[]", "{}"]),
        )


class _Postgres(JsonDialect):
    _TYPES: dict[str, tuple[str, ...]] = {
        "string": ("string",),
        "number": ("number",),
        "boolean": ("boolean",),
        "absent": ("null", "missing"),
        "array": ("array",),
        "object": ("object",),
    }
    # What ::timestamptz reads; a string of another shape would raise instead of not matching.
    _RFC3339 = r"^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?([Zz]|[+-]\d{2}(:?\d{2})?)?$"

    @staticmethod
    def _expr(node: Node) -> ColumnElement[Any]:
        if not node.keys:
            return node.doc
        return func.jsonb_extract_path(
            node.doc, *[literal(key, Text) for key in node.keys], type_=JSONB
        )

    def kind_is(self, node: Node, *kinds: Kind) -> ColumnElement[bool]:
        raw = func.coalesce(func.jsonb_typeof(self._expr(node)), "missing")
        tests: list[ColumnElement[bool]] = []
        for kind in kinds:
            if kind in ("true", "false"):
                tests.append(and_(raw == "boolean", self.text(node) == kind))
            else:
                tests.append(raw.in_(self._TYPES[kind]))
        return or_(*tests) if len(tests) > 1 else tests[0]

    def text(self, node: Node) -> ColumnElement[Any]:
        if node.keys:
            return func.jsonb_extract_path_text(
                node.doc, *[literal(key, Text) for key in node.keys], type_=Text
            )
        return node.doc.op("#>>", return_type=Text)(literal_column("'{}'"))

    def number(self, node: Node) -> ColumnElement[Any]:
        return cast(self.text(node), Numeric)

    def timestamp(self, value: ColumnElement[Any] | str) -> ColumnElement[Any]:
        if isinstance(value, str):
            return literal(datetime.fromisoformat(value), TIMESTAMP(timezone=True))
        return cast(value, TIMESTAMP(timezone=True))

    def timestamp_guard(self, node: Node) -> ColumnElement[bool]:
        return case(
            (
                self.kind_is(node, "string"),
                self.text(node).op("~", is_comparison=True)(self._RFC3339),
            ),
            else_=false(),
        )

    def _iterate(self, node: Node, function: str, empty: str, *names: str) -> FromClause:
        guarded = case(
            (
                self.kind_is(node, "array" if function.endswith("elements") else "object"),
                self._expr(node),
            ),
            else_=literal_column(f"'{empty}'::jsonb"),
        )
        columns = [column(name, JSONB if name == "value" else Text) for name in names]
        ordinality = "ordinality" if function.endswith("elements") else None
        rows: FromClause = (
            getattr(func, function)(guarded)
            .table_valued(*columns, with_ordinality=ordinality)
            .alias()
        )
        return rows

    def elements(self, node: Node) -> Items:
        rows = self._iterate(node, "jsonb_array_elements", "[]", "value")
        return Items(rows, Node(rows.c.value), rows.c.ordinality, true())

    def members(self, node: Node) -> tuple[Items, ColumnElement[Any]]:
        rows = self._iterate(node, "jsonb_each", "{}", "key", "value")
        return Items(rows, Node(rows.c.value), rows.c.key, true()), rows.c.key

    def pattern(
        self, left: ColumnElement[Any], op: CompareOperator, value: str
    ) -> ColumnElement[bool]:
        if op == CompareOperator.co:
            return left.contains(value, autoescape=True)
        if op == CompareOperator.sw:
            return left.startswith(value, autoescape=True)
        return left.endswith(value, autoescape=True)

    def nonempty_container(self, node: Node) -> ColumnElement[bool]:
        return case(
            (
                self.kind_is(node, "array", "object"),
                self._expr(node).not_in(
                    [literal_column("'[]'::jsonb"), literal_column("'{}'::jsonb")]
                ),
            ),
            else_=false(),
        )

    def ordered(self, expr: ColumnElement[Any]) -> ColumnElement[Any]:
        return expr.collate("C")


_DIALECTS: dict[str, JsonDialect] = {"sqlite": _Sqlite(), "postgresql": _Postgres()}


def json_dialect(dialect_name: str) -> JsonDialect:
    """The JSON reader for an engine's dialect name (``sqlite`` or ``postgresql``)."""
    try:
        return _DIALECTS[dialect_name]
    except KeyError:
        raise ValueError(f"filters support sqlite and postgresql, not {dialect_name!r}") from None


def order(op: CompareOperator, left: ColumnElement[Any], right: Any) -> ColumnElement[bool]:
    """``left op right`` for ``eq`` and the ordering operators."""
    return _ORDERING[op](left, right)


def compare_strings(
    d: JsonDialect, left: ColumnElement[Any], op: CompareOperator, right: str
) -> ColumnElement[bool]:
    """``left op right`` for a non-NULL string ``left`` (``ne`` is the caller's ``NOT eq``)."""
    if op in PATTERNS:
        return d.pattern(left, op, right)
    if op == CompareOperator.eq:
        return left == right
    return order(op, d.ordered(left), right)


def compare(
    d: JsonDialect, node: Node, op: CompareOperator, operand: Any, *, case_exact: bool
) -> ColumnElement[bool]:
    """Whether the JSON value at ``node`` satisfies ``op operand``, comparing as JSON types.

    ``operand`` is already in comparison form (a string folded unless ``case_exact``). A value
    of another JSON type than the operand never matches; ``eq null`` matches a null or missing
    value. ``ne`` is not handled here: it is ``NOT eq``, as RFC 7644 leaves it and scim2-models
    evaluates it.
    """
    if op == CompareOperator.ne:
        raise ValueError("ne is the negation of eq")
    if operand is None:
        return d.kind_is(node, "absent") if op == CompareOperator.eq else false()
    if isinstance(operand, bool):
        if op != CompareOperator.eq:
            return false()
        return d.kind_is(node, "true" if operand else "false")
    if isinstance(operand, int | float | Decimal):
        if op in PATTERNS:
            return false()
        number = order(op, d.number(node), operand)
        return case((d.kind_is(node, "number"), number), else_=false())
    if isinstance(operand, datetime):
        if op in PATTERNS:
            return false()
        moment = operand if operand.tzinfo else operand.replace(tzinfo=UTC)
        left = d.timestamp(d.text(node))
        right = d.timestamp(moment.astimezone(UTC).isoformat())
        # A string SQLite cannot read as a time gives NULL; it does not match.
        return func.coalesce(
            case((d.timestamp_guard(node), order(op, left, right)), else_=false()), false()
        )
    if isinstance(operand, bytes):
        operand, case_exact = base64.b64encode(operand).decode("ascii"), True
    if isinstance(operand, str):
        left = d.text(node) if case_exact else func.lower(d.text(node))
        return case(
            (d.kind_is(node, "string"), compare_strings(d, left, op, operand)), else_=false()
        )
    return false()


def present(d: JsonDialect, node: Node) -> ColumnElement[bool]:
    """RFC 7644 ``pr`` for a simple value: not null, not an empty string or container."""
    return or_(
        d.kind_is(node, "number", "boolean"),
        case((d.kind_is(node, "string"), d.text(node) != ""), else_=false()),
        d.nonempty_container(node),
    )


def present_object(d: JsonDialect, node: Node) -> ColumnElement[bool]:
    """``pr`` for a complex value: some sub-attribute is present."""
    items, _ = d.members(node)
    return items.exists(present(d, items.node))
