"""The everyday user PATCH applied straight to the stored document.

Entra's incremental updates are, overwhelmingly, ``Replace`` (or ``Add``) of one or a few
singular strings — ``displayName``, ``name.givenName``, ``title``, the enterprise
``department`` — and ``active``. Running those through scim2-models' PATCH (validate the
operations, load the whole resource as a model, resolve each path, apply, dump it again) costs
several times more than the database write that follows.

Does: apply a list of PATCH steps to a user document when every step sets or removes one of the
singular string attributes below, or sets ``active`` to a boolean (``"True"``/``"False"`` too),
and return the new document; return None for anything else (multi-valued attributes, filters,
objects, other types, custom extensions, an empty string, the ``name`` or enterprise object
appearing or emptied), which then goes through scim2-models. The result is the document
scim2-models' PATCH would have produced: a property test compares the two on generated
operations.
Does not: validate column lengths or ``userName`` (``scim.documents`` does, for both ways), or
touch the caller's document (it copies what it changes).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from scimbridge.scim.dialect import ModelOperation, PatchStep
from scimbridge.scim.extensions import ENTERPRISE_URN, USER_URN

# Singular, mutable, plain strings: folded path → (container key or None, attribute name).
_CORE = ("displayName", "nickName", "title", "userType", "preferredLanguage", "locale", "timezone")
_NAME = ("formatted", "familyName", "givenName", "middleName", "honorificPrefix", "honorificSuffix")
_ENTERPRISE = ("employeeNumber", "costCenter", "organization", "division", "department")
_STRINGS: dict[str, tuple[str | None, str]] = {
    **{name.lower(): (None, name) for name in _CORE},
    **{f"name.{name.lower()}": ("name", name) for name in _NAME},
    **{f"{ENTERPRISE_URN.lower()}:{name.lower()}": (ENTERPRISE_URN, name) for name in _ENTERPRISE},
}
_CORE_PREFIX = USER_URN.lower() + ":"
_BOOLEANS = {"true": True, "false": False}


def _target(path: str) -> tuple[str | None, str] | None:
    folded = path.lower().removeprefix(_CORE_PREFIX)
    return _STRINGS.get(folded)


def _active(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _BOOLEANS.get(value.lower())
    return None


def apply(steps: Sequence[PatchStep], current: dict[str, Any]) -> dict[str, Any] | None:
    """``current`` with ``steps`` applied, or None when a step is not an everyday one."""
    if not steps or not all(isinstance(step, ModelOperation) for step in steps):
        return None
    document = dict(current)
    copied: set[str] = set()
    for step in steps:
        assert isinstance(step, ModelOperation)
        if step.path.lower().removeprefix(_CORE_PREFIX) == "active":
            active = _active(step.value) if step.op != "remove" else None
            if active is None:
                return None
            document["active"] = active
            continue
        target = _target(step.path)
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
