"""What comparing a JSON value in SQL means, whichever engine stores the document.

Does: name a value inside a stored document (or inside a row of an array or object being
iterated), declare what an engine must offer to read it (:class:`JsonDialect`, implemented in
``store.query.json_engines``), and build on it the comparison of a value with a filter operand, as
JSON types compare, and RFC 7644 presence. Every predicate built here is two-valued (never SQL
NULL), so ``NOT`` is exact.
Does not: parse filters or know SCIM attribute names (``store.query.filter_sql`` does), or load
rows.

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
    case,
    false,
    func,
    literal_column,
    or_,
    select,
)

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
class JsonNode:
    """A JSON value in SQL: document ``doc`` at ``keys``.

    ``item_type`` is set on SQLite for a row of ``json_each``: its ``value`` column is the item
    itself (SQL text for a string, JSON text for an object), and its type is in another column.
    """

    doc: ColumnElement[Any]
    keys: tuple[str, ...] = ()
    item_type: ColumnElement[Any] | None = None

    def child(self, *keys: str) -> JsonNode:
        return JsonNode(self.doc, (*self.keys, *keys), self.item_type)


@dataclass(frozen=True)
class Items:
    """A correlated iteration over an array (or an object's members) inside a document."""

    source: FromClause
    node: JsonNode
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
    def kind_is(self, node: JsonNode, *kinds: Kind) -> ColumnElement[bool]:
        """Whether the value is of one of ``kinds`` (``absent``: JSON null or missing)."""

    @abstractmethod
    def text(self, node: JsonNode) -> ColumnElement[Any]:
        """The value as SQL: the text of a string, the number of a number (guard with kind_is)."""

    @abstractmethod
    def number(self, node: JsonNode) -> ColumnElement[Any]:
        """The numeric value of a JSON number (guard with kind_is)."""

    @abstractmethod
    def timestamp(self, value: ColumnElement[Any] | str) -> ColumnElement[Any]:
        """A comparable form of an RFC 3339 string, SQL NULL when it is not one."""

    @abstractmethod
    def timestamp_guard(self, node: JsonNode) -> ColumnElement[bool]:
        """Whether the value is a string :meth:`timestamp` can read without an error."""

    @abstractmethod
    def elements(self, node: JsonNode) -> Items:
        """The elements of the array at ``node`` (none when it is not an array)."""

    @abstractmethod
    def members(self, node: JsonNode) -> tuple[Items, ColumnElement[Any]]:
        """The members of the object at ``node`` and the column holding their names."""

    @abstractmethod
    def pattern(
        self, left: ColumnElement[Any], op: CompareOperator, value: str
    ) -> ColumnElement[bool]:
        """``co``/``sw``/``ew`` as a case-sensitive match; wildcards in ``value`` are literal."""

    @abstractmethod
    def nonempty_container(self, node: JsonNode) -> ColumnElement[bool]:
        """Whether the value is an array or object with something in it."""

    def ordered(self, expr: ColumnElement[Any]) -> ColumnElement[Any]:
        """A string expression compared by code point, as Python compares strings."""
        return expr

    def text_hint(self, document: ColumnElement[Any], value: str) -> ColumnElement[bool] | None:
        """A cheap test every row whose ``document`` holds ``value`` (any case) passes, or None."""
        return None


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
    d: JsonDialect, node: JsonNode, op: CompareOperator, operand: Any, *, case_exact: bool
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


def present(d: JsonDialect, node: JsonNode) -> ColumnElement[bool]:
    """RFC 7644 ``pr`` for a simple value: not null, not an empty string or container."""
    return or_(
        d.kind_is(node, "number", "boolean"),
        case((d.kind_is(node, "string"), d.text(node) != ""), else_=false()),
        d.nonempty_container(node),
    )


def present_object(d: JsonDialect, node: JsonNode) -> ColumnElement[bool]:
    """``pr`` for a complex value: some sub-attribute is present."""
    items, _ = d.members(node)
    return items.exists(present(d, items.node))
