"""Entra ID's deviations from RFC 7643/7644 in resource bodies, normalized for scim2-models.

Does: check that a parsed body is plain, storable JSON (no NUL, no lone surrogate, finite numbers,
integers within 64 bits, bounded depth); turn a POST/PUT body into what scim2-models validates plus
the parts it cannot hold (undeclared custom extensions, group member ids). On the way it drops
client-sent ``id``/``meta``/``schemas``/nulls, rewrites ``schemas``, unpacks role shapes
(``scim.roles``), maps legacy top-level enterprise attributes (``manager``, ``department``…) into
the enterprise extension, reads every manager shape (object, raw id, one-element array,
``$ref``-only; ``""``/``{"value":""}``/null/``[]`` remove it) and fills ``$ref``, and reads Entra's
member shapes (bare id string, ``"$ref": null``). ``scim.patch_body`` reads PATCH bodies with the
same readers (custom URNs, undeclared values, manager and member shapes).
Leaves to scim2-models (under ``ResourceModels.policy``): case-insensitive attribute names, string
booleans (pydantic's lax booleans), unknown attributes dropped, and every type check.
Does not: read PATCH operations (``scim.patch_body``), or apply anything to a stored resource
(``scim.documents`` does).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from scim2_models import InvalidSyntaxException, InvalidValueException

from scimbridge.scim import roles
from scimbridge.scim.extensions import ENTERPRISE_URN, GROUP_URN, USER_URN, ResourceModels

Scalar = str | int | float | bool
MAX_DEPTH = 64
_INT_LIMIT = 2**63
_CUSTOM_URN = re.compile(
    r"^(urn:ietf:params:scim:schemas:extension:[^:]+(?::[^:]+)*?:2\.0:User)(?::(.*))?$", re.I
)
ATTRIBUTE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
READ_ONLY_KEYS = frozenset({"id", "meta", "schemas"})
# Enterprise attributes that legacy Entra samples send at the top level or as bare paths.
ENTERPRISE_NAMES = frozenset(
    {"manager", "department", "employeenumber", "costcenter", "organization", "division"}
)


@dataclass(frozen=True)
class ResourceBody:
    """A POST/PUT body split into what scim2-models validates and what it cannot hold."""

    attributes: dict[str, Any]
    undeclared: dict[str, dict[str, Scalar]]
    members: list[str] | None = None
    member_displays: dict[str, str] = field(default_factory=dict)


def check_json(value: Any) -> None:
    """Refuse what a JSON column or PostgreSQL would choke on; iterative, never recurses.

    It runs on every body, so the kinds a JSON parser makes are told by their exact type first;
    anything else (a float, a subclass) goes through the ``isinstance`` checks.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    push = stack.append
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise InvalidSyntaxException(detail=f"the body nests deeper than {MAX_DEPTH} levels")
        kind = type(node)
        if kind is str:
            _check_string(node)
        elif kind is dict or (kind is not list and isinstance(node, dict)):
            for key, item in node.items():
                if not isinstance(key, str):
                    raise InvalidSyntaxException(detail="object keys must be strings")
                _check_string(key)
                push((item, depth + 1))
        elif kind is list or isinstance(node, list):
            stack.extend((item, depth + 1) for item in node)
        elif node is None or isinstance(node, bool):
            continue
        elif isinstance(node, str):
            _check_string(node)
        elif isinstance(node, int):
            if not -_INT_LIMIT <= node < _INT_LIMIT:
                raise InvalidValueException(detail="integers must fit in 64 bits")
        elif isinstance(node, float):
            if not math.isfinite(node):
                raise InvalidValueException(detail="numbers must be finite")
        else:
            raise InvalidSyntaxException(detail="the body is not JSON")


def _check_string(text: str) -> None:
    if "\x00" in text:
        raise InvalidValueException(detail="strings cannot hold the NUL character")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidValueException(detail="strings must be valid Unicode") from None


def json_object(body: Any, what: str) -> dict[str, Any]:
    check_json(body)
    if not isinstance(body, dict):
        raise InvalidSyntaxException(detail=f"{what} must be a JSON object")
    return body


def without_nulls(value: Any) -> Any:
    """``value`` with every null member and null list entry left out (Entra skips nulls)."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value if v is not None]
    return value


def custom_urn(key: str, models: ResourceModels) -> tuple[str, str | None, bool] | None:
    """(extension URN, attribute or None, declared?) when ``key`` names a custom user extension."""
    match = _CUSTOM_URN.match(key)
    if match is None:
        return None
    urn, attribute = match.group(1), match.group(2)
    return urn, attribute, urn.lower() in models.declared_urns


def scalar_value(value: Any, where: str) -> Scalar | None:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise InvalidValueException(detail=f"{where} is an undeclared extension attribute: scalar only")


def undeclared_values(urn: str, value: Any) -> dict[str, Scalar | None]:
    """The attributes of an undeclared extension object; None values mean "remove"."""
    if not isinstance(value, dict):
        raise InvalidValueException(detail=f"{urn} must be an object")
    for name in value:
        if not ATTRIBUTE_NAME.match(name):
            raise InvalidValueException(detail=f"{name!r} is no attribute name of {urn}")
    return {name: scalar_value(item, f"{urn}:{name}") for name, item in value.items()}


def manager_value(value: Any) -> dict[str, str] | None:
    """Every manager shape as ``{"value", "$ref"}``; None when the shape means "no manager"."""
    if isinstance(value, list):
        items = [item for item in value if item is not None]
        if len(items) > 1:
            raise InvalidValueException(detail="manager holds a single user")
        value = items[0] if items else None
    ref: Any = None
    if isinstance(value, dict):
        folded = {k.lower(): v for k, v in value.items()}
        ref = folded.get("$ref")
        value = folded.get("value")
        if value is None and isinstance(ref, str) and ref.rstrip("/"):
            value = ref.rstrip("/").rsplit("/", 1)[-1]
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidValueException(detail="manager is identified by a user id string")
    if not isinstance(ref, str) or not ref:
        ref = "../Users/" + quote(value, safe="")
    return {"value": value, "$ref": ref}


def _extensionjson_object(value: Any, urn: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidValueException(detail=f"{urn} must be an object")
    result: dict[str, Any] = {}
    for key, item in without_nulls(value).items():
        if urn == ENTERPRISE_URN and key.lower() == "manager":
            manager = manager_value(item)
            if manager is not None:
                result["manager"] = manager
        else:
            result[key] = item
    return result


def member_ids(value: Any) -> list[str]:
    """Member ids from a list of members, one member, or bare id strings; deduplicated."""
    ids: dict[str, None] = {}
    for entry in value if isinstance(value, list) else [value]:
        member = entry
        if isinstance(entry, dict):
            member = {k.lower(): v for k, v in entry.items()}.get("value")
        if entry is None:
            continue
        if not isinstance(member, str) or not member:
            raise InvalidValueException(detail="each member needs a non-empty string value")
        ids[member] = None
    return list(ids)


def member_displays(value: Any) -> dict[str, str]:
    """The ``display`` each member entry carries, by member id (entries without one left out)."""
    displays: dict[str, str] = {}
    for entry in value if isinstance(value, list) else [value]:
        if isinstance(entry, dict):
            folded = {k.lower(): v for k, v in entry.items()}
            member, display = folded.get("value"), folded.get("display")
            if isinstance(member, str) and isinstance(display, str) and display:
                displays[member] = display
    return displays


def user_body(body: Any, models: ResourceModels) -> ResourceBody:
    """A POST/PUT /Users body, ready for ``models.user_model`` in a request context."""
    attributes: dict[str, Any] = {}
    undeclared: dict[str, dict[str, Scalar]] = {}
    extensions: dict[str, dict[str, Any]] = {}
    for key, value in json_object(body, "a user").items():
        folded = key.lower()
        if value is None or folded in READ_ONLY_KEYS:
            continue
        custom = custom_urn(key, models)
        if custom is not None and custom[2]:
            urn = models.urn_spelling[custom[0].lower()]
            part = {custom[1]: value} if custom[1] else value
            extensions.setdefault(urn, {}).update(_extensionjson_object(part, urn))
        elif custom is not None:
            urn, name = custom[0], custom[1]
            part = undeclared_values(urn, {name: value} if name else value)
            target = undeclared.setdefault(urn, {})
            target.update({k: v for k, v in part.items() if v is not None})
        elif folded in ENTERPRISE_NAMES:
            legacy = _extensionjson_object({key: value}, ENTERPRISE_URN)
            for name, item in legacy.items():
                extensions.setdefault(ENTERPRISE_URN, {}).setdefault(name, item)
        elif folded == "roles":
            attributes[key] = roles.canonical_roles(value)
        else:
            attributes[key] = without_nulls(value)
    attributes.update({urn: part for urn, part in extensions.items() if part})
    attributes["schemas"] = [USER_URN, *(urn for urn, part in extensions.items() if part)]
    return ResourceBody(attributes, {urn: part for urn, part in undeclared.items() if part})


def group_body(body: Any, models: ResourceModels) -> ResourceBody:
    """A POST/PUT /Groups body: attributes for ``models.group_model`` and the member ids."""
    attributes: dict[str, Any] = {}
    members: list[str] | None = None
    displays: dict[str, str] = {}
    for key, value in json_object(body, "a group").items():
        folded = key.lower()
        if value is None or folded in READ_ONLY_KEYS:
            continue
        if folded == "members":
            members = member_ids(value)
            displays = member_displays(value)
        else:
            attributes[key] = without_nulls(value)
    attributes["schemas"] = [GROUP_URN]
    return ResourceBody(attributes, {}, members, displays)
