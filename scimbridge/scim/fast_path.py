"""The everyday user create and PATCH without scim2-models, from a table read off its models.

Entra creates users with a handful of strings (``userName``, ``externalId``, ``displayName``, the
``name`` parts), ``active``, a work email and a few enterprise attributes, and updates them,
overwhelmingly, by ``Replace`` (or ``Add``) of one or a few singular strings and ``active``.
Validating that in scim2-models (mutability, necessity and primary checks over every field of every
nested model), resolving each path and dumping the resource again costs several times more than
the database write that follows.

The attribute table is read at import from scim2-models' ``User`` and ``EnterpriseUser`` (and the
``Name``, ``Email`` and ``PhoneNumber`` they hold): which attributes are singular strings (a
``str | None`` annotation, neither readOnly nor writeOnly), their serialized names, the order of
the dump (the order of the model's fields), the sub-attributes of ``name``, of the enterprise
extension and of an email or phone entry, and the canonical ``type`` values. PATCH takes only the
strings that carry no other characteristic: ``userName`` (server-unique) and ``externalId``
(case-exact) are left to scim2-models.

Does: ``created`` — for a POST body as ``scim.dialect.user_body`` prepared it, when every key (in
any case, each once) is ``schemas`` (the core and enterprise URNs), a singular string, ``name`` or
the enterprise extension holding only their strings, ``active`` (a boolean, ``"True"``/``"False"``
too), ``emails`` or ``phoneNumbers`` (entries of string ``value``/``display``/``type`` and boolean
``primary``, at most one primary; ``type`` folded to its canonical value as scim2-models does), or
``roles`` as an empty list, and every string is non-empty, return the dump
(``Context.DEFAULT``) scim2-models would give in the creation context, keys in its order;
``patched`` — apply PATCH steps that each set or remove one of the PATCH strings (core, ``name.``
or enterprise) or set ``active`` to a boolean, and return the new document. Both return None for
anything else (other attributes, custom extensions, a role, empty strings, other types, a key
spelled twice, a missing ``userName``, two primary entries, the ``name`` or enterprise object
appearing or emptied), which then goes through scim2-models. Property tests compare the two ways
on generated bodies and operations.
Does not: check column lengths or a blank ``userName``, drop what is never stored, add the
undeclared extensions (``scim.documents`` does, for both ways), or touch the caller's document.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from types import UnionType
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel
from scim2_models import Email, EnterpriseUser, Mutability, Name, PhoneNumber, User

from scimbridge.scim.extensions import ENTERPRISE_URN, USER_URN
from scimbridge.scim.patch_body import ModelOperation, PatchStep

_BOOLEANS = {"true": True, "false": False}
_SCHEMAS = frozenset({USER_URN, ENTERPRISE_URN})
_CORE_PREFIX = USER_URN.lower() + ":"


def _fields(model: type[BaseModel]) -> dict[str, tuple[Any, list[Any]]]:
    """Serialized name → (annotation without None, metadata), in the order of the dump."""
    fields: dict[str, tuple[Any, list[Any]]] = {}
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if get_origin(annotation) in (Union, UnionType):  # ``X | None``: X
            args = [arg for arg in get_args(annotation) if arg is not type(None)]
            annotation = args[0] if len(args) == 1 else annotation
        fields[info.serialization_alias or name] = (annotation, list(info.metadata))
    return fields


def _writable(metadata: list[Any]) -> bool:
    return Mutability.read_only not in metadata and Mutability.write_only not in metadata


def _strings(model: type[BaseModel], *, plain: bool = False) -> tuple[str, ...]:
    """The singular string attributes of ``model`` one may write; ``plain``: with no other
    characteristic (uniqueness, case-exactness) either."""
    return tuple(
        name
        for name, (annotation, metadata) in _fields(model).items()
        if annotation is str and (not metadata if plain else _writable(metadata))
    )


def _entry(model: type[BaseModel]) -> tuple[tuple[str, ...], dict[str, str]]:
    """An email or phone entry's sub-attributes and its ``type`` values (folded → canonical)."""
    fields = _fields(model)
    kind: type[enum.Enum] = fields["type"][0]
    return tuple(fields), {str(m.value).lower(): str(m.value) for m in kind}


_USER = _fields(User)
_CORE = _strings(User)
_CORE_PLAIN = _strings(User, plain=True)
_NAME = _strings(Name)
_ENTERPRISE = _strings(EnterpriseUser)
_EMAIL, _EMAIL_TYPES = _entry(Email)
_PHONE, _PHONE_TYPES = _entry(PhoneNumber)
_NAME_KEYS = {name.lower(): name for name in _NAME}
_ENTERPRISE_KEYS = {name.lower(): name for name in _ENTERPRISE}
_EMAIL_KEYS = {name.lower(): name for name in _EMAIL}
_PHONE_KEYS = {name.lower(): name for name in _PHONE}
# PATCH: folded path → (container key or None, attribute name).
_PATCH_STRINGS: dict[str, tuple[str | None, str]] = {
    **{name.lower(): (None, name) for name in _CORE_PLAIN},
    **{f"name.{name.lower()}": ("name", name) for name in _NAME},
    **{f"{ENTERPRISE_URN.lower()}:{name.lower()}": (ENTERPRISE_URN, name) for name in _ENTERPRISE},
}


class _Unusual(Exception):
    """Raised inside this module when a body is not an everyday one."""


def _folded(value: Any, canonical: dict[str, str]) -> dict[str, Any]:
    """``value`` keyed by canonical spellings (``canonical``: folded → canonical); unusual unless
    it is a non-empty object whose keys all fold to one of them, each once."""
    if type(value) is not dict or not value:
        raise _Unusual
    result: dict[str, Any] = {}
    for key, item in value.items():
        name = canonical.get(key.lower())
        if name is None or name in result:
            raise _Unusual
        result[name] = item
    return result


def _string(value: Any) -> str:
    if type(value) is not str or not value:
        raise _Unusual
    return value


def _boolean(value: Any) -> bool:
    if type(value) is bool:
        return value
    if type(value) is str and value.lower() in _BOOLEANS:
        return _BOOLEANS[value.lower()]
    raise _Unusual


def _string_parts(value: Any, canonical: dict[str, str]) -> dict[str, str]:
    parts = _folded(value, canonical)
    return {name: _string(parts[name]) for name in canonical.values() if name in parts}


def _entries(value: Any, keys: dict[str, str], types: dict[str, str]) -> list[dict[str, Any]]:
    """Email or phone number entries as dumped; two primary entries are left to scim2-models,
    which refuses them."""
    if type(value) is not list:
        raise _Unusual
    entries: list[dict[str, Any]] = []
    for item in value:
        parts = _folded(item, keys)
        entry: dict[str, Any] = {}
        for name in keys.values():
            if name not in parts:
                continue
            if name == "primary":
                entry[name] = _boolean(parts[name])
            elif name == "type":
                kind = _string(parts[name])
                entry[name] = types.get(kind.lower(), kind)
            else:
                entry[name] = _string(parts[name])
        entries.append(entry)
    if sum(entry.get("primary") is True for entry in entries) > 1:
        raise _Unusual
    return entries


def _empty(value: Any) -> list[Any]:
    if type(value) is not list or value:
        raise _Unusual
    return []


_SPECIAL: dict[str, Callable[[Any], Any]] = {
    "name": lambda value: _string_parts(value, _NAME_KEYS),
    "active": _boolean,
    "emails": lambda value: _entries(value, _EMAIL_KEYS, _EMAIL_TYPES),
    "phoneNumbers": lambda value: _entries(value, _PHONE_KEYS, _PHONE_TYPES),
    # Entra's tutorial POST sends ``"roles": []``; any role is left to scim2-models.
    "roles": _empty,
}
# In the order of the model's fields, which is the order of its dump; the extension comes last.
_READERS: dict[str, Callable[[Any], Any]] = {
    **{
        name: _string if name in _CORE else _SPECIAL[name]
        for name in _USER
        if name in _CORE or name in _SPECIAL
    },
    ENTERPRISE_URN: lambda value: _string_parts(value, _ENTERPRISE_KEYS),
}
_ORDER_KEYS = {name.lower(): name for name in ("schemas", *_READERS)}


def _schemas(value: Any) -> None:
    if (
        type(value) is not list
        or USER_URN not in value
        or not all(type(urn) is str and urn in _SCHEMAS for urn in value)
    ):
        raise _Unusual


def _dump(attributes: dict[str, Any]) -> dict[str, Any]:
    parts = _folded(attributes, _ORDER_KEYS)
    _schemas(parts.pop("schemas", None))
    dumped: dict[str, Any] = {}
    for name, value in parts.items():
        read = _READERS[name](value)
        if read != []:  # an empty list is an unassigned attribute: the dump leaves it out
            dumped[name] = read
    if "userName" not in dumped:
        raise _Unusual
    schemas = [USER_URN, ENTERPRISE_URN] if ENTERPRISE_URN in dumped else [USER_URN]
    return {"schemas": schemas, **{name: dumped[name] for name in _READERS if name in dumped}}


def created(attributes: dict[str, Any]) -> dict[str, Any] | None:
    """The dump scim2-models would give for ``attributes`` validated in the creation context, or
    None when they are not an everyday user."""
    try:
        return _dump(attributes)
    except _Unusual:
        return None


def _active(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _BOOLEANS.get(value.lower())
    return None


def patched(steps: Sequence[PatchStep], current: dict[str, Any]) -> dict[str, Any] | None:
    """``current`` with ``steps`` applied, or None when a step is not an everyday one."""
    if not steps or not all(isinstance(step, ModelOperation) for step in steps):
        return None
    document = dict(current)
    copied: set[str] = set()
    for step in steps:
        assert isinstance(step, ModelOperation)
        folded = step.path.lower().removeprefix(_CORE_PREFIX)
        if folded == "active":
            active = _active(step.value) if step.op != "remove" else None
            if active is None:
                return None
            document["active"] = active
            continue
        target = _PATCH_STRINGS.get(folded)
        if target is None:
            return None
        container_key, name = target
        if step.op == "remove":
            value = None
        elif isinstance(step.value, str) and step.value:
            value = step.value
        else:
            return None
        if container_key is None:
            container = document
        else:
            # A container appearing or emptied changes ``schemas`` or the dump's shape: rare
            # enough to leave to scim2-models.
            existing = document.get(container_key)
            if not isinstance(existing, dict) or not existing:
                return None
            if container_key not in copied:
                document[container_key] = dict(existing)
                copied.add(container_key)
            container = document[container_key]
        if value is None:
            container.pop(name, None)
            if not container:
                return None
        else:
            container[name] = value
    return document
