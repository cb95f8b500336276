"""RFC 7644 §3.4.2.3 ``sortBy`` as an ORDER BY expression over users or groups.

Does: bind the sortBy attribute to the model (Entra's names as filters take them) and order by
its column, by its JSON value typed as the attribute is (strings folded unless caseExact, by
code point on both engines), or for a multi-valued attribute by its primary value, else its
first.
Does not: add the direction, NULL placement or tie-breakers (``store.listing`` does), or filter.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from scim2_models import InvalidValueException, Resource
from scim2_models.path import AttrPath
from sqlalchemy import ColumnElement, String, Table, case, func, select

from scimbridge.store.query.filter_columns import (
    ALWAYS_PRESENT,
    GROUP_TARGETS,
    USER_TARGETS,
    Targets,
)
from scimbridge.store.query.filter_names import entra_path, known_schemas, model_binder
from scimbridge.store.query.filter_sql import Scope, is_complex, json_keys
from scimbridge.store.query.json_engines import json_dialect
from scimbridge.store.query.json_sql import JsonDialect, JsonNode
from scimbridge.store.tables import groups, users


def parse_sort_by(sort_by: str) -> AttrPath:
    """``[urn:…:]attr[.sub]`` as RFC 7644 writes an attribute; nothing else (no value filter).

    :raises InvalidValueException: anything else.
    """
    raw, uri = sort_by.strip(), None
    if raw.lower().startswith("urn:"):
        uri, _, raw = raw.rpartition(":")
    attr, _, sub = raw.partition(".")
    try:
        return AttrPath(attr=attr, sub_attr=sub or None, uri=uri)
    except ValueError:
        raise InvalidValueException(detail="sortBy must name an attribute") from None


def _sort_value(
    d: JsonDialect, node: JsonNode, target_type: Any, case_exact: bool
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
    sort_by: str | AttrPath,
    model: type[Resource[Any]],
    dialect_name: str,
    table: Table,
    targets: Targets,
) -> ColumnElement[Any]:
    d = json_dialect(dialect_name)
    binder = model_binder(model)
    parsed = parse_sort_by(sort_by) if isinstance(sort_by, str) else sort_by
    path = entra_path(parsed, binder, comparison=True)
    document = JsonNode(table.c.resource)
    scope = Scope(d, binder, document, targets, row=document, known_schemas=known_schemas(model))
    if scope.is_undeclared(path):
        rows, member = scope.undeclared_rows(path, refuse=InvalidValueException)
        member_value = _sort_value(d, member, str, False)
        rows = rows.with_only_columns(member_value).where(member_value.is_not(None))
        return rows.limit(1).scalar_subquery()
    binding = binder.resolve_comparison(path, strict=False)
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
    item_fields = getattr(binding.field_type, "model_fields", {})
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
    sort_by: str | AttrPath, user_model: type[Resource[Any]], dialect_name: str
) -> ColumnElement[Any]:
    """The ORDER BY expression for ``sortBy`` on users (ascending; ``.desc()`` for descending).

    ``sort_by`` is the attribute as sent or as :func:`parse_sort_by` read it.

    NULLs (users without the attribute) sort where the database puts them.

    :raises InvalidValueException: not an attribute path, an unknown attribute, or one that
        cannot be ordered (a complex attribute, memberships, ``meta.location``).
    """
    return _sort_key(sort_by, user_model, dialect_name, users, USER_TARGETS)


def group_sort_key(
    sort_by: str | AttrPath, group_model: type[Resource[Any]], dialect_name: str
) -> ColumnElement[Any]:
    """The ORDER BY expression for ``sortBy`` on groups (see user_sort_key)."""
    return _sort_key(sort_by, group_model, dialect_name, groups, GROUP_TARGETS)
