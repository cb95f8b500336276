"""SCIM filters (RFC 7644 §3.4.2.2) and ``sortBy`` as SQLAlchemy expressions over users and groups.

Does: parse a filter with scim2-models, bound its size, accept Entra's legacy forms, bind it to
the resource model (names resolve case-insensitively, values are checked and typed), and return
one boolean for the repository's WHERE; ``sortBy`` likewise as an ORDER BY expression. Filtering
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
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from scim2_models import (
    BaseModel,
    InvalidFilterException,
    InvalidValueException,
    Resource,
    ScimFilter,
)
from scim2_models.path import (
    AttributeBinding,
    AttrPath,
    Comparison,
    FilterNode,
    LogicalExpr,
    Not,
    Present,
    ValuePath,
)
from sqlalchemy import (
    ColumnElement,
    String,
    Table,
    case,
    func,
    literal_column,
    select,
)
from sqlalchemy import (
    cast as sql_cast,
)

from scimbridge.store.filter_sql import (
    ALWAYS_PRESENT,
    ColumnTarget,
    Relation,
    Scope,
    SqlVisitor,
    Targets,
    bound_filter,
    is_complex,
    json_keys,
)
from scimbridge.store.json_sql import JsonDialect, Node, json_dialect
from scimbridge.store.tables import group_members, groups, users

__all__ = ["group_filter", "group_sort_key", "parse_filter", "user_filter", "user_sort_key"]

_OPERATOR_THEN_WORD = re.compile(r"(?i)(?<=\s)(eq|ne|co|sw|ew|gt|ge|lt|le)(\s+)([^\s\"()\[\]]+)")
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
_LITERAL = re.compile(r"(?i)^(?:true|false|null|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)$")


def _etag(table: Table) -> ColumnElement[Any]:
    return (
        literal_column("'W/\"'", String)
        + sql_cast(table.c.version, String)
        + literal_column("'\"'", String)
    )


def _common_columns(
    table: Table, resource_type: str
) -> dict[tuple[str, str | None], ColumnTarget | None]:
    return {
        ("id", None): ColumnTarget(table.c.id),
        ("external_id", None): ColumnTarget(table.c.external_id, nullable=True),
        ("display_name", None): ColumnTarget(
            table.c.display_name_key, nullable=bool(table.c.display_name_key.nullable)
        ),
        ("meta", None): ALWAYS_PRESENT,
        ("meta", "created"): ColumnTarget(table.c.created_at),
        ("meta", "last_modified"): ColumnTarget(table.c.updated_at),
        ("meta", "resource_type"): ColumnTarget(literal_column(f"'{resource_type}'", String)),
        ("meta", "version"): ColumnTarget(_etag(table)),
        ("meta", "location"): None,
    }


_USER_TARGETS = Targets(
    columns={
        **_common_columns(users, "User"),
        ("user_name", None): ColumnTarget(users.c.user_name_key),
        ("active", None): ColumnTarget(users.c.active),
        ("password", None): None,
    },
    relations={"groups": Relation(group_members, "user_id", "group_id", groups, "direct")},
    owner_id=users.c.id,
)
_GROUP_TARGETS = Targets(
    columns=_common_columns(groups, "Group"),
    relations={"members": Relation(group_members, "group_id", "user_id", users, "User")},
    owner_id=groups.c.id,
)


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


# -- Entra's attribute names ------------------------------------------------------------------


def _probe(model: type[Resource[Any]]) -> ScimFilter[Any]:
    return bound_filter(model, "id pr")


def _entra_path(path: AttrPath, probe: ScimFilter[Any], *, comparison: bool) -> AttrPath:
    """Qualify a core-unknown name by the extension declaring it; compare ``manager`` by value."""
    model = cast(type[Resource[Any]], probe.model)
    if path.uri is None and probe.resolve(path, strict=False) is None:
        for schema in model.get_extension_models():
            candidate = AttrPath(path.attr, path.sub_attr, str(schema))
            if probe.resolve(candidate, strict=False) is not None:
                path = candidate
                break
    if comparison and path.sub_attr is None:
        binding = probe.resolve(path, strict=False)
        if binding is not None and _has_value(binding) and not binding.is_multivalued:
            path = AttrPath(path.attr, "value", path.uri)
    return path


def _has_value(binding: AttributeBinding) -> bool:
    field_type = binding.field_type
    return (
        isinstance(field_type, type)
        and issubclass(field_type, BaseModel)
        and ("value" in field_type.model_fields)
    )


def _entra_paths(node: FilterNode, probe: ScimFilter[Any]) -> FilterNode:
    """Apply :func:`_entra_path` to the attributes of the filter (not inside value selections)."""
    if isinstance(node, LogicalExpr):
        return replace(node, terms=tuple(_entra_paths(term, probe) for term in node.terms))
    if isinstance(node, Not):
        return replace(node, expr=_entra_paths(node.expr, probe))
    if isinstance(node, Comparison):
        return replace(node, attr_path=_entra_path(node.attr_path, probe, comparison=True))
    if isinstance(node, Present | ValuePath):
        return replace(node, attr_path=_entra_path(node.attr_path, probe, comparison=False))
    return node


def _known_schemas(model: type[Resource[Any]]) -> frozenset[str]:
    schemas = [str(model.__schema__), *model.get_extension_models()]
    return frozenset(schema.lower() for schema in schemas)


# -- filters ----------------------------------------------------------------------------------


def _filter(
    expression: str,
    model: type[Resource[Any]],
    dialect_name: str,
    table: Table,
    targets: Targets,
    *,
    max_length: int,
    max_terms: int,
) -> ColumnElement[bool]:
    d = json_dialect(dialect_name)
    ast = _entra_paths(
        parse_filter(expression, max_length=max_length, max_terms=max_terms), _probe(model)
    )
    bound = bound_filter(model, ast)
    document = Node(table.c.resource)
    scope = Scope(
        d, bound, document, targets, undeclared=document, known_schemas=_known_schemas(model)
    )
    return SqlVisitor(scope).visit(bound.ast)


def user_filter(
    expression: str,
    user_model: type[Resource[Any]],
    dialect_name: str,
    *,
    max_length: int = 2048,
    max_terms: int = 50,
) -> ColumnElement[bool]:
    """A WHERE clause on ``users`` selecting the users ``expression`` matches.

    :raises InvalidFilterException: bad syntax, an unknown attribute, an operator or a value the
        attribute cannot take, a filter too long or with too many comparisons.
    """
    return _filter(
        expression,
        user_model,
        dialect_name,
        users,
        _USER_TARGETS,
        max_length=max_length,
        max_terms=max_terms,
    )


def group_filter(
    expression: str,
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
        _GROUP_TARGETS,
        max_length=max_length,
        max_terms=max_terms,
    )


# -- sortBy -----------------------------------------------------------------------------------


def _sort_path(sort_by: str) -> AttrPath:
    raw, uri = sort_by.strip(), None
    if raw.lower().startswith("urn:"):
        uri, _, raw = raw.rpartition(":")
    attr, _, sub = raw.partition(".")
    try:
        return AttrPath(attr=attr, sub_attr=sub or None, uri=uri)
    except ValueError:
        raise InvalidValueException(detail="sortBy must name an attribute") from None


def _sort_value(
    d: JsonDialect, node: Node, target_type: Any, case_exact: bool
) -> ColumnElement[Any]:
    """The value to order by: typed as the attribute is, NULL when the JSON type differs."""
    if target_type is bool:
        return case((d.kind_is(node, "boolean"), d.kind_is(node, "true")))
    if isinstance(target_type, type) and issubclass(target_type, int | float | Decimal):
        return case((d.kind_is(node, "number"), d.number(node)))
    if target_type is datetime:
        return case((d.timestamp_guard(node), d.timestamp(d.text(node))))
    text = d.text(node) if case_exact else func.lower(d.text(node))
    return d.ordered(case((d.kind_is(node, "string"), text)))


def _sort_key(
    sort_by: str, model: type[Resource[Any]], dialect_name: str, table: Table, targets: Targets
) -> ColumnElement[Any]:
    d = json_dialect(dialect_name)
    probe = _probe(model)
    path = _entra_path(_sort_path(sort_by), probe, comparison=True)
    document = Node(table.c.resource)
    scope = Scope(
        d, probe, document, targets, undeclared=document, known_schemas=_known_schemas(model)
    )
    if scope.is_undeclared(path):
        rows, member = scope.undeclared_rows(path, refuse=InvalidValueException)
        member_value = _sort_value(d, member, str, False)
        return rows.with_only_columns(member_value).limit(1).scalar_subquery()
    binding = probe.resolve_comparison(path, strict=False)
    if binding is None:
        raise InvalidValueException(detail=f"sortBy names no attribute of {model.__name__}: {path}")
    refuse = InvalidValueException(detail=f"sortBy cannot order by {binding.urn}")
    key = (binding.field_name, binding.sub_field_name)
    if binding.model is model and key in targets.columns:
        target = targets.columns[key]
        if target is None or target is ALWAYS_PRESENT:
            raise refuse
        expr = target.expr
        return d.ordered(expr) if isinstance(expr.type, String) else expr
    if binding.model is model and binding.field_name in targets.relations:
        raise refuse
    keys, sub = json_keys(binding)
    head = document.child(*keys)
    target_type, case_exact = binding.target_type, binding.case_exact
    if not binding.is_multivalued:
        if sub is None and is_complex(binding):
            raise refuse
        return _sort_value(d, head.child(sub) if sub else head, target_type, case_exact)
    # RFC 7644 §3.4.2.3: a multi-valued attribute sorts by its primary value, else its first.
    items = d.elements(head)
    leaf = items.node.child(sub) if sub else items.node
    value = _sort_value(d, leaf, target_type, case_exact)
    item_fields = binding.field_type.model_fields if is_complex(binding) else {}  # type: ignore[union-attr]
    primary = d.kind_is(items.node.child("primary"), "true")
    order = [primary.desc()] if "primary" in item_fields else []
    return (
        select(value)
        .select_from(items.source)
        .where(items.guard, value.is_not(None))
        .order_by(*order, items.position)
        .limit(1)
        .scalar_subquery()
    )


def user_sort_key(
    sort_by: str, user_model: type[Resource[Any]], dialect_name: str
) -> ColumnElement[Any]:
    """The ORDER BY expression for ``sortBy`` on users (ascending; ``.desc()`` for descending).

    NULLs (users without the attribute) sort where the database puts them.

    :raises InvalidValueException: not an attribute path, an unknown attribute, or one that
        cannot be ordered (a complex attribute, memberships, ``meta.location``).
    """
    return _sort_key(sort_by, user_model, dialect_name, users, _USER_TARGETS)


def group_sort_key(
    sort_by: str, group_model: type[Resource[Any]], dialect_name: str
) -> ColumnElement[Any]:
    """The ORDER BY expression for ``sortBy`` on groups (see user_sort_key)."""
    return _sort_key(sort_by, group_model, dialect_name, groups, _GROUP_TARGETS)
