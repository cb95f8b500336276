"""How the attribute names of a filter or a sortBy bind to the resource model, Entra's way.

Does: qualify a name the core schema lacks with the declared extension that has it (Entra's
``manager eq "<id>"``), make a comparison on a single-valued complex attribute with a ``value``
(enterprise ``manager``) compare that ``value``, and list the schemas a model declares.
Does not: parse filters (``store.query.filters``) or build SQL (``store.query.filter_sql``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, cast

from scim2_models import BaseModel, Resource, ScimFilter
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

from scimbridge.store.query.filter_sql import bound_filter


def model_binder(model: type[Resource[Any]]) -> ScimFilter[Any]:
    """A filter bound to ``model``, whose ``resolve`` methods bind names against it."""
    return bound_filter(model, "id pr")


def entra_path(path: AttrPath, binder: ScimFilter[Any], *, comparison: bool) -> AttrPath:
    """Qualify a core-unknown name by the extension declaring it; compare ``manager`` by value."""
    model = cast(type[Resource[Any]], binder.model)
    if path.uri is None and binder.resolve(path, strict=False) is None:
        for schema in model.get_extension_models():
            candidate = AttrPath(path.attr, path.sub_attr, str(schema))
            if binder.resolve(candidate, strict=False) is not None:
                path = candidate
                break
    if comparison and path.sub_attr is None:
        binding = binder.resolve(path, strict=False)
        if binding is not None and has_value(binding) and not binding.is_multivalued:
            path = AttrPath(path.attr, "value", path.uri)
    return path


def has_value(binding: AttributeBinding) -> bool:
    """Whether the bound attribute is complex with a ``value`` sub-attribute."""
    field_type = binding.field_type
    return (
        isinstance(field_type, type)
        and issubclass(field_type, BaseModel)
        and ("value" in field_type.model_fields)
    )


def entra_paths(node: FilterNode, binder: ScimFilter[Any]) -> FilterNode:
    """Apply :func:`entra_path` to the attributes of the filter (not inside value selections)."""
    if isinstance(node, LogicalExpr):
        return replace(node, terms=tuple(entra_paths(term, binder) for term in node.terms))
    if isinstance(node, Not):
        return replace(node, expr=entra_paths(node.expr, binder))
    if isinstance(node, Comparison):
        return replace(node, attr_path=entra_path(node.attr_path, binder, comparison=True))
    if isinstance(node, Present | ValuePath):
        return replace(node, attr_path=entra_path(node.attr_path, binder, comparison=False))
    return node


def known_schemas(model: type[Resource[Any]]) -> frozenset[str]:
    """The schema URNs ``model`` declares, its own and its extensions', lowercased."""
    schemas = [str(model.__schema__), *model.get_extension_models()]
    return frozenset(schema.lower() for schema in schemas)
