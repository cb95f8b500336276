"""The everyday user POST turned into its dump without scim2-models.

Entra creates users with a handful of strings (``userName``, ``externalId``, ``displayName``, the
``name`` parts), ``active``, a work email and a few enterprise attributes. Validating that in
scim2-models' creation context (mutability, necessity and primary checks over every field of
every nested model) and dumping it again is most of what turning such a body into a document
costs.

Does: take the attributes ``scim.dialect.user_body`` prepared and, when every key (in any case,
each once) is ``schemas`` (the core and enterprise URNs), a singular core string (``userName``,
``externalId``, ``displayName``, ``nickName``, ``title``, ``userType``, ``preferredLanguage``,
``locale``, ``timezone``), ``name`` or the enterprise extension holding only their strings,
``active`` (a boolean, ``"True"``/``"False"`` too), ``emails`` or ``phoneNumbers`` (entries of
string ``value``/``display``/``type`` and boolean ``primary``, at most one primary; ``type``
folded to its canonical value as scim2-models does), or ``roles`` as an empty list, and every
string is non-empty, return the ``model_dump(scim_ctx=Context.DEFAULT)`` of the resource
scim2-models would validate in the creation context, keys in its order (empty lists left out);
return None for anything else (other attributes, ``profileUrl``, ``manager``, declared custom
extensions, a role, empty strings, other types, a key spelled twice, a missing ``userName``, two
primary entries), which then goes through scim2-models. A property test compares the two ways
on generated bodies.
Does not: check column lengths or a blank ``userName``, drop what is never stored, or add the
undeclared extensions (``scim.documents`` does, for both ways); or touch ``attributes``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from scim2_models import Email, PhoneNumber

from scimbridge.scim.extensions import ENTERPRISE_URN, USER_URN

_NAME = ("formatted", "familyName", "givenName", "middleName", "honorificPrefix", "honorificSuffix")
_ENTERPRISE = ("employeeNumber", "costCenter", "organization", "division", "department")
_ENTRY = ("value", "display", "type", "primary")
_BOOLEANS = {"true": True, "false": False}
_SCHEMAS = frozenset({USER_URN, ENTERPRISE_URN})
_NAME_KEYS = {name.lower(): name for name in _NAME}
_ENTERPRISE_KEYS = {name.lower(): name for name in _ENTERPRISE}
_ENTRY_KEYS = {name.lower(): name for name in _ENTRY}
_EMAIL_TYPES = {str(member.value).lower(): str(member.value) for member in Email.Type}
_PHONE_TYPES = {str(member.value).lower(): str(member.value) for member in PhoneNumber.Type}


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


def _strings(value: Any, canonical: dict[str, str]) -> dict[str, str]:
    parts = _folded(value, canonical)
    names = canonical.values()
    return {name: _string(parts[name]) for name in names if name in parts}


def _entries(value: Any, types: dict[str, str]) -> list[dict[str, Any]]:
    """Email or phone number entries as dumped; two primary entries are left to scim2-models,
    which refuses them."""
    if type(value) is not list:
        raise _Unusual
    entries: list[dict[str, Any]] = []
    for item in value:
        parts = _folded(item, _ENTRY_KEYS)
        entry: dict[str, Any] = {}
        for name in _ENTRY:
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


_READERS: dict[str, Callable[[Any], Any]] = {
    "externalId": _string,
    "userName": _string,
    "name": lambda value: _strings(value, _NAME_KEYS),
    "displayName": _string,
    "nickName": _string,
    "title": _string,
    "userType": _string,
    "preferredLanguage": _string,
    "locale": _string,
    "timezone": _string,
    "active": _boolean,
    "emails": lambda value: _entries(value, _EMAIL_TYPES),
    "phoneNumbers": lambda value: _entries(value, _PHONE_TYPES),
    # Entra's tutorial POST sends ``"roles": []``; any role is left to scim2-models.
    "roles": _empty,
    ENTERPRISE_URN: lambda value: _strings(value, _ENTERPRISE_KEYS),
}
# The order of the model's fields, which is the order of its dump.
_ORDER = ("schemas", *_READERS)
_ORDER_KEYS = {name.lower(): name for name in _ORDER}


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


def document(attributes: dict[str, Any]) -> dict[str, Any] | None:
    """The dump scim2-models would give for ``attributes`` validated in the creation context, or
    None when they are not an everyday user."""
    try:
        return _dump(attributes)
    except _Unusual:
        return None
