"""Entra ID's deviations from RFC 7643/7644, normalized in one place before scim2-models validates.

Does: check that a parsed body is plain, storable JSON (no NUL, no lone surrogate, finite numbers,
integers within 64 bits, bounded depth); turn a POST/PUT body into what scim2-models validates plus
the parts it cannot hold (undeclared custom extensions, group member ids); turn a PATCH body into
a list of steps, each for scim2-models, for an undeclared extension, or for group membership.
On the way it drops client-sent ``id``/``meta``/``schemas``/nulls and unknown operation members,
rewrites ``schemas``, unpacks role shapes (``scim.roles``), maps legacy top-level enterprise
attributes (``manager``, ``department``…) into the enterprise extension, reads every manager shape
(object, raw id, one-element array, ``$ref``-only; ``""``/``{"value":""}``/null/``[]`` remove it)
and fills ``$ref``, expands path-less operations key by key (so dotted and URN-prefixed keys are
paths), turns add/replace of null into remove, and reads Entra's member shapes (bare id string,
``"$ref": null``, ``Remove`` with a value list, ``members[value eq "…" or …]``).
Leaves to scim2-models (under ``ResourceModels.policy``): case-insensitive ops and attribute
names, string booleans (pydantic's lax booleans), filters that match nothing creating the entry,
unknown attributes dropped, and every type check.
Does not: apply anything to a stored resource (``scim.documents`` does).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

from scim2_models import (
    EnterpriseUser,
    InvalidFilterException,
    InvalidPathException,
    InvalidSyntaxException,
    InvalidValueException,
    NoTargetException,
    Path,
    User,
)
from scim2_models.path import CompareOperator, Comparison, FilterNode, LogicalExpr, LogicalOperator

from scimbridge.scim import roles
from scimbridge.scim.extensions import ENTERPRISE_URN, GROUP_URN, USER_URN, ResourceModels

Scalar = str | int | float | bool
Kind = Literal["User", "Group"]
MAX_DEPTH = 64
_INT_LIMIT = 2**63
_CUSTOM_URN = re.compile(
    r"^(urn:ietf:params:scim:schemas:extension:[^:]+(?::[^:]+)*?:2\.0:User)(?::(.*))?$", re.I
)
_ATTRIBUTE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
_READ_ONLY_KEYS = frozenset({"id", "meta", "schemas"})
# Enterprise attributes that legacy Entra samples send at the top level or as bare paths.
_ENTERPRISE_NAMES = frozenset(
    {"manager", "department", "employeenumber", "costcenter", "organization", "division"}
)
_HEAD = re.compile(r"^[^.\[\s]*")


@dataclass(frozen=True)
class ResourceBody:
    """A POST/PUT body split into what scim2-models validates and what it cannot hold."""

    attributes: dict[str, Any]
    undeclared: dict[str, dict[str, Scalar]]
    members: list[str] | None = None
    member_displays: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelOperation:
    """A PATCH operation for scim2-models; ``path`` is never empty."""

    op: str
    path: str
    value: Any = None

    def payload(self) -> dict[str, Any]:
        if self.op == "remove" and self.value is None:
            return {"op": self.op, "path": self.path}
        return {"op": self.op, "path": self.path, "value": self.value}


@dataclass(frozen=True)
class UndeclaredOperation:
    """A PATCH operation on an undeclared extension: one attribute, or several (``attribute``
    None, ``value`` a dict). A None value removes; ``op`` is "set" or "remove"."""

    op: Literal["set", "remove"]
    urn: str
    attribute: str | None
    value: Any = None


@dataclass(frozen=True)
class MembersOperation:
    """A change of group membership; ``ids`` None with ``remove`` means every member."""

    op: Literal["add", "remove", "replace"]
    ids: tuple[str, ...] | None
    displays: tuple[tuple[str, str], ...] = ()


PatchStep = ModelOperation | UndeclaredOperation | MembersOperation


def check_json(value: Any) -> None:
    """Refuse what a JSON column or PostgreSQL would choke on; iterative, never recurses."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise InvalidSyntaxException(detail=f"the body nests deeper than {MAX_DEPTH} levels")
        if isinstance(node, dict):
            for key, item in node.items():
                if not isinstance(key, str):
                    raise InvalidSyntaxException(detail="object keys must be strings")
                stack.append((key, depth))
                stack.append((item, depth + 1))
        elif isinstance(node, list):
            stack.extend((item, depth + 1) for item in node)
        elif isinstance(node, str):
            if "\x00" in node:
                raise InvalidValueException(detail="strings cannot hold the NUL character")
            try:
                node.encode("utf-8")
            except UnicodeEncodeError:
                raise InvalidValueException(detail="strings must be valid Unicode") from None
        elif isinstance(node, bool) or node is None:
            continue
        elif isinstance(node, int):
            if not -_INT_LIMIT <= node < _INT_LIMIT:
                raise InvalidValueException(detail="integers must fit in 64 bits")
        elif isinstance(node, float):
            if not math.isfinite(node):
                raise InvalidValueException(detail="numbers must be finite")
        else:
            raise InvalidSyntaxException(detail="the body is not JSON")


def _object(body: Any, what: str) -> dict[str, Any]:
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


def _scalar(value: Any, where: str) -> Scalar | None:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise InvalidValueException(detail=f"{where} is an undeclared extension attribute: scalar only")


def undeclared_values(urn: str, value: Any) -> dict[str, Scalar | None]:
    """The attributes of an undeclared extension object; None values mean "remove"."""
    if not isinstance(value, dict):
        raise InvalidValueException(detail=f"{urn} must be an object")
    for name in value:
        if not _ATTRIBUTE_NAME.match(name):
            raise InvalidValueException(detail=f"{name!r} is no attribute name of {urn}")
    return {name: _scalar(item, f"{urn}:{name}") for name, item in value.items()}


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


def _extension_object(value: Any, urn: str) -> dict[str, Any]:
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


def _selected_ids(node: FilterNode) -> list[str]:
    if isinstance(node, LogicalExpr) and node.op == LogicalOperator.or_:
        return [member for term in node.terms for member in _selected_ids(term)]
    if (
        isinstance(node, Comparison)
        and node.op == CompareOperator.eq
        and node.attr_path.attr.lower() == "value"
        and node.attr_path.sub_attr is None
        and isinstance(node.value, str)
    ):
        return [node.value]
    raise InvalidFilterException(detail='members are selected by value eq "<id>", joined by or')


def user_body(body: Any, models: ResourceModels) -> ResourceBody:
    """A POST/PUT /Users body, ready for ``models.user_model`` in a request context."""
    attributes: dict[str, Any] = {}
    undeclared: dict[str, dict[str, Scalar]] = {}
    extensions: dict[str, dict[str, Any]] = {}
    for key, value in _object(body, "a user").items():
        folded = key.lower()
        if value is None or folded in _READ_ONLY_KEYS:
            continue
        custom = custom_urn(key, models)
        if custom is not None and custom[2]:
            urn = models.urn_spelling[custom[0].lower()]
            part = {custom[1]: value} if custom[1] else value
            extensions.setdefault(urn, {}).update(_extension_object(part, urn))
        elif custom is not None:
            urn, name = custom[0], custom[1]
            part = undeclared_values(urn, {name: value} if name else value)
            target = undeclared.setdefault(urn, {})
            target.update({k: v for k, v in part.items() if v is not None})
        elif folded in _ENTERPRISE_NAMES:
            legacy = _extension_object({key: value}, ENTERPRISE_URN)
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
    for key, value in _object(body, "a group").items():
        folded = key.lower()
        if value is None or folded in _READ_ONLY_KEYS:
            continue
        if folded == "members":
            members = member_ids(value)
            displays = member_displays(value)
        else:
            attributes[key] = without_nulls(value)
    attributes["schemas"] = [GROUP_URN]
    return ResourceBody(attributes, {}, members, displays)


def _operations(body: Any) -> list[dict[str, Any]]:
    operations = {k.lower(): v for k, v in _object(body, "a PATCH body").items()}.get("operations")
    if not isinstance(operations, list) or not operations:
        raise InvalidValueException(detail="Operations must hold one or more operations")
    result = []
    for operation in operations:
        if not isinstance(operation, dict):
            raise InvalidValueException(detail="each operation must be an object")
        result.append({k.lower(): v for k, v in operation.items()})
    return result


def patch_steps(body: Any, models: ResourceModels, kind: Kind) -> list[PatchStep]:
    """A PATCH body as steps applied in order; raises a SCIMException for what cannot apply."""
    steps: list[PatchStep] = []
    for operation in _operations(body):
        op = operation.get("op")
        op = op.strip().lower() if isinstance(op, str) else op
        if op not in ("add", "remove", "replace"):
            raise InvalidValueException(detail=f"{op!r} is not a PATCH op: add, remove or replace")
        path = operation.get("path")
        if path is not None and not isinstance(path, str):
            raise InvalidPathException(detail="path must be a string")
        if op != "remove" and "value" not in operation:
            raise InvalidValueException(detail=f"value is required for {op} operations")
        value = operation.get("value")
        if path is None or not path.strip():
            if op == "remove":
                raise NoTargetException(detail="Remove operation requires a path")
            steps.extend(_pathless(op, value, models, kind))
        else:
            steps.extend(_path_steps(op, path.strip(), value, models, kind, pathless=False))
    return steps


def _pathless(op: str, value: Any, models: ResourceModels, kind: Kind) -> list[PatchStep]:
    if not isinstance(value, dict):
        raise InvalidValueException(detail=f"a {op} without path takes an object value")
    steps: list[PatchStep] = []
    for key, item in value.items():
        if key.strip() and key.lower() not in _READ_ONLY_KEYS:
            steps.extend(_path_steps(op, key.strip(), item, models, kind, pathless=True))
    return steps


def _path_steps(
    op: str, text: str, value: Any, models: ResourceModels, kind: Kind, *, pathless: bool
) -> list[PatchStep]:
    head = _HEAD.match(text.removeprefix(f"{GROUP_URN}:"))
    head_name = head.group(0).lower() if head else ""
    if kind == "Group" and head_name == "members":
        return [_members_step(op, text, value, models)]
    custom = custom_urn(text, models) if kind == "User" else None
    if custom is not None and not custom[2]:
        return [_undeclared_step(op, custom[0], custom[1], value)]
    if kind == "User" and ":" not in text and head_name in _ENTERPRISE_NAMES:
        text = f"{ENTERPRISE_URN}:{text}"
    model = models.user_model if kind == "User" else models.group_model
    try:
        path = Path.__class_getitem__(model)(text)
    except InvalidPathException:
        if pathless:
            return []
        raise
    if path.model is not None and path.model is not model:
        if op == "remove" or value is None:
            return [ModelOperation("remove", text)]
        if not isinstance(value, dict):
            raise InvalidValueException(detail=f"{text} takes an object value")
        return [
            step
            for key, item in value.items()
            if key.lower() != "schemas"
            for step in _path_steps(op, f"{text}:{key}", item, models, kind, pathless=True)
        ]
    binding = path.resolve()
    if binding is not None and binding.model is EnterpriseUser and binding.field_name == "manager":
        if binding.sub_field_name not in (None, "value"):
            return [ModelOperation(op, text, value)]
        manager_path = f"{ENTERPRISE_URN}:manager"
        manager = None if op == "remove" else manager_value(value)
        if manager is None:
            return [ModelOperation("remove", manager_path)]
        return [ModelOperation(op, manager_path, manager)]
    if (
        binding is not None
        and issubclass(binding.model, User)
        and binding.field_name == "roles"
        and binding.sub_field_name is None
        and value is not None
    ):
        single = path.value_filter is not None and not isinstance(value, list)
        value = roles.canonical_role(value) if single else roles.canonical_roles(value)
    if op == "remove" and binding is not None and not binding.is_multivalued:
        # Only a multi-valued attribute has entries a value can select; elsewhere it says nothing.
        value = None
    if value is None and op != "remove":
        return [ModelOperation("remove", text)]
    return [ModelOperation(op, text, value)]


def _undeclared_step(op: str, urn: str, attribute: str | None, value: Any) -> UndeclaredOperation:
    if attribute is not None and not _ATTRIBUTE_NAME.match(attribute):
        raise InvalidPathException(path=f"{urn}:{attribute}", detail="no such attribute name")
    if op == "remove" or value is None:
        return UndeclaredOperation("remove", urn, attribute)
    if attribute is None:
        return UndeclaredOperation("set", urn, None, undeclared_values(urn, value))
    return UndeclaredOperation("set", urn, attribute, _scalar(value, f"{urn}:{attribute}"))


def _members_step(op: str, text: str, value: Any, models: ResourceModels) -> MembersOperation:
    path = Path.__class_getitem__(models.group_model)(text)
    if len(path.parts) > 1:
        raise InvalidPathException(path=text, detail="member sub-attributes cannot be patched")
    selection = path.value_filter
    if selection is not None:
        if op != "remove" or value is not None:
            raise InvalidPathException(path=text, detail="a member filter only selects removals")
        return MembersOperation("remove", tuple(dict.fromkeys(_selected_ids(selection))))
    if op == "remove":
        return MembersOperation("remove", None if value is None else tuple(member_ids(value)))
    if op == "add" and value is None:
        raise InvalidValueException(detail="add members needs members")
    return MembersOperation(
        "add" if op == "add" else "replace",
        tuple(member_ids(value)),
        tuple(member_displays(value).items()),
    )
