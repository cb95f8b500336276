"""Which names a mapping ``source`` may read: the attributes a stored SCIM user can have.

Does: list the known sources (the core User schema's attributes and their sub-attributes, the
enterprise extension's, and those of the extensions declared in ``[[scim.extensions]]``, each
also under its schema URN), and say why a ``source`` names none of them, listing what the schema
has. Any attribute of an undeclared custom extension (``urn:ietf:params:scim:schemas:extension:
<Name>:2.0:User:<attr>``) is accepted: Entra sends those without schema discovery.
An OIDC claim name (``given_name``, ``sub``, …: ``flex.mapping.oidc_claims``) is a known source
as well, matched exactly (claim names are case-sensitive).
Does not: read documents (``flex.mapping.paths``) or parse the mapping (``flex.mapping.config``).
"""

from __future__ import annotations

import types
from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel
from scim2_models import EnterpriseUser, User

from scimbridge.config.settings import CUSTOM_EXTENSION_PREFIX, ExtensionSchema
from scimbridge.flex.mapping import oidc_claims
from scimbridge.flex.mapping.paths import CORE_USER_SCHEMA, PathError, parse_path

ENTERPRISE_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def _model(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside ``X | None`` or ``list[X] | None``, if any."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType, list):
        for arg in get_args(annotation):
            found = _model(arg)
            if found is not None:
                return found
        return None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _attribute_names(model: type[BaseModel]) -> list[tuple[str, type[BaseModel] | None]]:
    names = []
    for name, info in model.model_fields.items():
        if name == "schemas":
            continue
        names.append((info.serialization_alias or info.alias or name, _model(info.annotation)))
    return names


def _paths(model: type[BaseModel]) -> list[str]:
    """``userName``, ``name``, ``name.givenName``, … (one level of sub-attributes)."""
    found: list[str] = []
    for name, complex_type in _attribute_names(model):
        found.append(name)
        if complex_type is not None:
            found.extend(f"{name}.{sub}" for sub, _ in _attribute_names(complex_type))
    return found


@cache
def _schema_paths() -> dict[str, tuple[str, ...]]:
    return {CORE_USER_SCHEMA: tuple(_paths(User)), ENTERPRISE_SCHEMA: tuple(_paths(EnterpriseUser))}


def _schemas(extensions: Sequence[ExtensionSchema]) -> dict[str, tuple[str, ...]]:
    schemas = dict(_schema_paths())
    for extension in extensions:
        schemas[extension.urn] = tuple(attribute.name for attribute in extension.attributes)
    return schemas


def known_sources(extensions: Sequence[ExtensionSchema] = ()) -> frozenset[str]:
    """Every name a ``source`` may use, case-folded: ``username``, ``name.givenname``,
    ``urn:…:user:username``, ``urn:…:enterprise:2.0:user:department``, …"""
    names: set[str] = set()
    for urn, paths in _schemas(extensions).items():
        for path in paths:
            names.add(f"{urn}:{path}".casefold())
            if urn == CORE_USER_SCHEMA:
                names.add(path.casefold())
    return frozenset(names)


def _key(source: str) -> tuple[str | None, str]:
    parsed = parse_path(source)
    dotted = ".".join(step.name for step in parsed.steps[:2])
    return parsed.schema, dotted


def source_problem(source: str, extensions: Sequence[ExtensionSchema] = ()) -> str | None:
    """Why ``source`` reads nothing a SCIM user can hold, or None when it names a known source.

    Only the attribute and one sub-attribute are checked (``emails[type eq "work"].value``
    checks ``emails.value``); value filters are not.
    """
    if oidc_claims.alias(source) is not None:
        return None
    try:
        schema, dotted = _key(source)
    except PathError as exc:
        return f"is not an attribute path: {exc}"
    declared = {extension.urn.casefold() for extension in extensions}
    if schema is not None:
        folded = schema.casefold()
        custom = folded.startswith(CUSTOM_EXTENSION_PREFIX.casefold())
        if custom and folded != ENTERPRISE_SCHEMA.casefold() and folded not in declared:
            return None  # an undeclared custom extension: any attribute may arrive
    names = known_sources(extensions)
    full = f"{schema}:{dotted}" if schema else dotted
    if full.casefold() in names or (schema is None and source.casefold() in names):
        return None
    core = ", ".join(name for name in _schema_paths()[CORE_USER_SCHEMA] if "." not in name)
    return (
        f"{source!r} names no SCIM attribute; the User schema has {core} (sub-attributes as "
        f"name.givenName, emails.value), the enterprise extension {ENTERPRISE_SCHEMA}:department "
        f"and the like, any {CUSTOM_EXTENSION_PREFIX}<Name>:2.0:User:<attribute>, and the OIDC "
        f"claims {', '.join(oidc_claims.CLAIMS)}"
    )


def source_problems(
    sources: Iterable[tuple[str, str]], extensions: Sequence[ExtensionSchema] = ()
) -> list[str]:
    """``where: reason`` for each (where, source) pair whose source names no known attribute."""
    found = []
    for where, source in sources:
        reason = source_problem(source, extensions)
        if reason:
            found.append(f"{where}: {reason}")
    return found
