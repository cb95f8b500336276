"""SCIM filters (RFC 7644 §3.4.2.2) and ``sortBy`` as SQLAlchemy expressions over users and groups.

Does: parse a filter with scim2-models, bound its size, accept Entra's legacy forms, bind it to
the resource model (names resolve case-insensitively, values are checked and typed), and return
one boolean for the directory's WHERE; ``sortBy`` likewise as an ORDER BY expression. Filtering
happens in the database, with bound parameters only, on SQLite and PostgreSQL alike.
Does not: run queries or load rows, URL-decode (the HTTP layer hands over the decoded string),
or build the models (``scim.extensions`` does).

Every refusal is a scim2-models ``InvalidFilterException`` (400 ``invalidFilter``), or for sortBy
``InvalidValueException`` (400 ``invalidValue``). Where attributes are read:

- ``id``, ``externalId`` (case-exact), ``userName`` and ``displayName`` (their ``*_key``
  columns, so an ``eq`` is an index lookup), ``active``, ``meta.created``, ``meta.lastModified``
  (naive times read as UTC), ``meta.resourceType``, ``meta.version`` (the ETag ``W/"<n>"``):
  columns. ``meta.location`` and ``password`` are not kept and refused.
- group ``members`` and user ``groups``: the ``group_members`` table (``value``, ``display``,
  ``type``; ``$ref`` is refused).
- everything else: the JSON document, compared as its JSON type.

Entra leniencies, decided here:

- A bare word after an operator (legacy ``externalId eq jyoung``) is read as a string, but only
  when the filter does not parse as written; otherwise the original syntax error is reported.
- A name the core schema lacks but a declared extension has (``manager eq "<id>"``) is that
  extension's attribute.
- A comparison on a single-valued complex attribute with a ``value`` sub-attribute (enterprise
  ``manager``) compares that ``value``; scim2-models alone would never match it.
- ``urn:ietf:params:scim:schemas:extension:<…>:<attr>`` under a schema no model declares (Entra's
  custom attributes of non-gallery apps) is read from the document's object under that URN, the
  URN and the name matched case-insensitively, strings compared case-insensitively; its
  sub-attributes and value selections on it are refused.
"""

from __future__ import annotations

import json
import re
from typing import Any

from scim2_models import InvalidFilterException, Resource, ScimFilter
from scim2_models.path import FilterNode, LogicalExpr, Not, ValuePath
from sqlalchemy import BinaryExpression, BooleanClauseList, ColumnElement, Table
from sqlalchemy.sql import operators

from scimbridge.store.query.filter_columns import GROUP_TARGETS, USER_TARGETS, Targets
from scimbridge.store.query.filter_names import entra_paths, known_schemas, model_binder
from scimbridge.store.query.filter_sql import Scope, SqlVisitor, bound_filter
from scimbridge.store.query.json_engines import json_dialect
from scimbridge.store.query.json_sql import JsonNode
from scimbridge.store.query.sort_keys import group_sort_key, user_sort_key
from scimbridge.store.tables import groups, users

__all__ = [
    "group_filter",
    "group_sort_key",
    "is_index_lookup",
    "parse_filter",
    "user_filter",
    "user_sort_key",
]

_OPERATOR_THEN_WORD = re.compile(r"(?i)(?<=\s)(eq|ne|co|sw|ew|gt|ge|lt|le)(\s+)([^\s\"()\[\]]+)")
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
_LITERAL = re.compile(r"(?i)^(?:true|false|null|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)$")


# -- parsing ----------------------------------------------------------------------------------


def parse_filter(expression: str, *, max_length: int = 2048, max_terms: int = 50) -> FilterNode:
    """The syntax tree of a filter; refused past ``max_length`` chars or ``max_terms`` tests."""
    if len(expression) > max_length:
        raise InvalidFilterException(detail=f"the filter is longer than {max_length} characters")
    try:
        ast = ScimFilter(expression).ast
    except InvalidFilterException as original:
        lenient = _quote_bare_operands(expression)
        if lenient == expression:
            raise
        try:
            ast = ScimFilter(lenient).ast
        except InvalidFilterException:
            raise original from None
    terms = _count_terms(ast)
    if terms > max_terms:
        raise InvalidFilterException(
            detail=f"the filter has {terms} comparisons; at most {max_terms} are accepted"
        )
    return ast


def _quote_bare_operands(expression: str) -> str:
    """Quote a bare word after an operator outside strings: ``eq jyoung`` → ``eq "jyoung"``."""

    def quote(match: re.Match[str]) -> str:
        operator, space, word = match.groups()
        return match.group(0) if _LITERAL.match(word) else f"{operator}{space}{json.dumps(word)}"

    parts, last = [], 0
    for quoted in _QUOTED.finditer(expression):
        parts += [_OPERATOR_THEN_WORD.sub(quote, expression[last : quoted.start()]), quoted.group()]
        last = quoted.end()
    parts.append(_OPERATOR_THEN_WORD.sub(quote, expression[last:]))
    return "".join(parts)


def _count_terms(node: FilterNode) -> int:
    if isinstance(node, LogicalExpr):
        return sum(_count_terms(term) for term in node.terms)
    if isinstance(node, Not):
        return _count_terms(node.expr)
    if isinstance(node, ValuePath):
        return _count_terms(node.val_filter)
    return 1


# -- filters ----------------------------------------------------------------------------------


def _filter(
    expression: str | FilterNode,
    model: type[Resource[Any]],
    dialect_name: str,
    table: Table,
    targets: Targets,
    *,
    max_length: int,
    max_terms: int,
) -> ColumnElement[bool]:
    d = json_dialect(dialect_name)
    parsed = (
        parse_filter(expression, max_length=max_length, max_terms=max_terms)
        if isinstance(expression, str)
        else expression
    )
    ast = entra_paths(parsed, model_binder(model))
    bound = bound_filter(model, ast)
    document = JsonNode(table.c.resource)
    scope = Scope(d, bound, document, targets, row=document, known_schemas=known_schemas(model))
    return SqlVisitor(scope).visit(bound.ast)


def user_filter(
    expression: str | FilterNode,
    user_model: type[Resource[Any]],
    dialect_name: str,
    *,
    max_length: int = 2048,
    max_terms: int = 50,
) -> ColumnElement[bool]:
    """A WHERE clause on ``users`` selecting the users ``expression`` matches.

    ``expression`` is the filter's text (parsed here, bounded by ``max_length`` and
    ``max_terms``) or the tree :func:`parse_filter` made of it.

    :raises InvalidFilterException: bad syntax, an unknown attribute, an operator or a value the
        attribute cannot take, a filter too long or with too many comparisons.
    """
    return _filter(
        expression,
        user_model,
        dialect_name,
        users,
        USER_TARGETS,
        max_length=max_length,
        max_terms=max_terms,
    )


def group_filter(
    expression: str | FilterNode,
    group_model: type[Resource[Any]],
    dialect_name: str,
    *,
    max_length: int = 2048,
    max_terms: int = 50,
) -> ColumnElement[bool]:
    """A WHERE clause on ``groups`` selecting what ``expression`` matches (see user_filter)."""
    return _filter(
        expression,
        group_model,
        dialect_name,
        groups,
        GROUP_TARGETS,
        max_length=max_length,
        max_terms=max_terms,
    )


# -- cost ---------------------------------------------------------------------------------------

# Equality on these is an index lookup: the rows it selects do not grow with the table.
_LOOKUP_COLUMNS = {
    users: (users.c.id, users.c.user_name_key, users.c.external_id),
    groups: (groups.c.id, groups.c.display_name_key, groups.c.external_id),
}


def is_index_lookup(where: ColumnElement[bool] | None, table: Table) -> bool:
    """Whether ``where`` pins an indexed identifier by equality (``userName eq "…"``, ``id eq``,
    ``externalId eq``, group ``displayName eq``), alone or as a term of an ``and``: the query
    then costs an index lookup, whatever the number of rows stored."""
    columns = _LOOKUP_COLUMNS.get(table, ())
    if isinstance(where, BinaryExpression) and where.operator is operators.eq:
        return any(where.left is column for column in columns)
    if isinstance(where, BooleanClauseList) and where.operator is operators.and_:
        return any(is_index_lookup(term, table) for term in where.clauses)
    return False
