"""Every shape Entra sends roles in, reduced to one canonical list.

Does: turn each role shape into canonical role objects ``{value, display, type, primary}`` in
which a key is present only when the role sets it (no nulls, no other keys):

- SingleAppRoleAssignment POST objects ``{"primary": true, "type": …, "value": "Admin"}``;
- PATCH values holding a JSON-encoded object ``{"value": "{\\"id\\":…,\\"value\\":\\"25\\",
  \\"displayName\\":\\"Role1234\\"}"}`` (value ← its ``value``, else its ``id``; display ← its
  ``displayName``/``display``; Entra's role ``id`` is dropped, ``value`` identifies the role);
- AppRoleAssignmentsComplex objects, where ``displayName`` stands for ``display``;
- bare strings (a role value) and string booleans (``"True"``, any case) for ``primary``.

A comma-separated value stays one role as sent: splitting is the Flex mapping's business.
Duplicates by ``value`` are merged (:func:`merge_roles`), so Entra's add-only PATCH of a role the
user already has changes nothing but the keys it sends.
Does not: decide how an operation combines roles (scim2-models applies add, replace and remove,
including ``roles[primary eq "True"].value`` paths), or validate beyond the shape.
"""

from __future__ import annotations

import json
from typing import Any

from scim2_models import InvalidValueException

ROLE_KEYS = ("value", "display", "type", "primary")
# A JSON-encoded role is a short object; longer strings are plain role values.
_MAX_ENCODED_ROLE = 8192


def _decoded_object(text: str) -> dict[str, Any] | None:
    """The object a JSON-encoded role holds, or None when ``text`` is a plain value."""
    stripped = text.strip()
    if not (stripped.startswith("{") and len(stripped) <= _MAX_ENCODED_ROLE):
        return None
    try:
        decoded = json.loads(stripped)
    except (ValueError, RecursionError):
        return None
    return decoded if isinstance(decoded, dict) else None


def _boolean(value: Any) -> Any:
    """``"True"``/``"False"`` in any case become booleans; anything else is left to validation."""
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return value


def _text(value: Any) -> Any:
    """A number used as a role value or name becomes its string; other types stay as sent."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def _from_object(obj: dict[str, Any]) -> dict[str, Any]:
    folded: dict[str, Any] = {}
    for key, item in obj.items():
        if isinstance(key, str) and item is not None:
            folded.setdefault(key.lower(), item)
    role: dict[str, Any] = {}
    value = folded.get("value", folded.get("id"))
    encoded = _decoded_object(value) if isinstance(value, str) else None
    if encoded is not None:
        inner = _from_object(encoded)
        value = inner.get("value")
        for key in ("display", "type", "primary"):
            if key in inner:
                role[key] = inner[key]
    if value is not None:
        role["value"] = _text(value)
    display = folded.get("display", folded.get("displayname"))
    if display is not None:
        role["display"] = _text(display)
    if folded.get("type") is not None:
        role["type"] = _text(folded["type"])
    if folded.get("primary") is not None:
        role["primary"] = _boolean(folded["primary"])
    return {key: role[key] for key in ROLE_KEYS if key in role}


def canonical_role(item: Any) -> dict[str, Any]:
    """One role, in any shape Entra sends, as a canonical role object.

    Raises ``InvalidValueException`` for what cannot be a role (a number, a list, null).
    """
    if isinstance(item, str):
        encoded = _decoded_object(item)
        return _from_object(encoded) if encoded is not None else {"value": item}
    if isinstance(item, dict):
        return _from_object(item)
    raise InvalidValueException(detail="a role is an object or a string")


def canonical_roles(value: Any) -> list[dict[str, Any]]:
    """A list of roles, or a single role, as a list of canonical role objects.

    Null entries are skipped; empty roles (no key set) are dropped.
    """
    items = value if isinstance(value, list) else [value]
    roles = [canonical_role(item) for item in items if item is not None]
    return [role for role in roles if role]


def merge_roles(roles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Merge roles sharing a ``value`` into the first one; later keys win.

    Roles without a value are kept as they are. The order of first appearance is kept.
    """
    merged: list[dict[str, Any]] = []
    by_value: dict[str, dict[str, Any]] = {}
    for role in roles:
        value = role.get("value")
        if not isinstance(value, str):
            merged.append(dict(role))
            continue
        if value in by_value:
            by_value[value].update(role)
            continue
        by_value[value] = dict(role)
        merged.append(by_value[value])
    return [{key: role[key] for key in ROLE_KEYS if key in role} for role in merged]
