"""A PATCH request body read once: bounded, summarized for the audit log, and turned into steps.

Does: walk a PATCH body's ``Operations`` one time, refusing (invalidValue) more than the configured
number of operations, and give back a ``PatchRequest``: the steps applied in order (each for
scim2-models, for an undeclared extension, or for group membership) and what the body touches
(ops and paths, never values) for the audit log. On the way it applies the Entra dialect for
PATCH: path-less operations expanded key by key (so dotted and URN-prefixed keys are paths),
add/replace of null turned into remove, legacy bare enterprise paths, every manager shape
(``scim.dialect``), role shapes (``scim.roles``) and Entra's member shapes (bare id string,
``Remove`` with a value list, ``members[value eq "…" or …]``).
Does not: apply anything to a stored resource (``scim.documents`` does), or read the database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from scim2_models import (
    EnterpriseUser,
    InvalidFilterException,
    InvalidPathException,
    InvalidValueException,
    NoTargetException,
    Path,
    User,
)
from scim2_models.path import (
    AttributeBinding,
    CompareOperator,
    Comparison,
    FilterNode,
    LogicalExpr,
    LogicalOperator,
)

from scimbridge.scim import dialect, roles
from scimbridge.scim.extensions import ENTERPRISE_URN, GROUP_URN, ResourceModels

Kind = Literal["User", "Group"]
_HEAD = re.compile(r"^[^.\[\s]*")
_SUMMARY_LIMIT = 100
# Paths longer than this are parsed each time rather than kept.
_CACHED_PATH_LENGTH = 200


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


@dataclass(frozen=True)
class PatchRequest:
    """A PATCH body as read: ``steps`` in order, ``summary`` the ops and paths it touches."""

    steps: tuple[PatchStep, ...]
    summary: tuple[dict[str, str], ...]


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


def _operations(body: Any, limit: int) -> list[Any]:
    folded = {k.lower(): v for k, v in dialect.json_object(body, "a PATCH body").items()}
    operations = folded.get("operations")
    if not isinstance(operations, list) or not operations:
        raise InvalidValueException(detail="Operations must hold one or more operations")
    if len(operations) > limit:
        raise InvalidValueException(detail=f"a PATCH holds at most {limit} operations")
    return operations


def _summary(op: Any, path: Any, value: Any) -> list[dict[str, str]]:
    """What one operation touches, for the audit log: its op and paths, never its values."""
    if isinstance(path, str) and path:
        paths = [path]
    elif isinstance(value, dict):
        paths = [key for key in value if isinstance(key, str)]
    else:
        paths = [""]
    return [{"op": str(op)[:16].lower(), "path": p[:200]} for p in paths]


def read_patch(
    body: Any, models: ResourceModels, kind: Kind, *, max_operations: int
) -> PatchRequest:
    """A PATCH body read in one walk; raises a SCIMException for what cannot apply."""
    steps: list[PatchStep] = []
    summary: list[dict[str, str]] = []
    for raw in _operations(body, max_operations):
        if not isinstance(raw, dict):
            raise InvalidValueException(detail="each operation must be an object")
        operation = {k.lower(): v for k, v in raw.items()}
        op = operation.get("op")
        path = operation.get("path")
        value = operation.get("value")
        summary.extend(_summary(op, path, value))
        op = op.strip().lower() if isinstance(op, str) else op
        if op not in ("add", "remove", "replace"):
            raise InvalidValueException(detail=f"{op!r} is not a PATCH op: add, remove or replace")
        if path is not None and not isinstance(path, str):
            raise InvalidPathException(detail="path must be a string")
        if op != "remove" and "value" not in operation:
            raise InvalidValueException(detail=f"value is required for {op} operations")
        if path is None or not path.strip():
            if op == "remove":
                raise NoTargetException(detail="Remove operation requires a path")
            steps.extend(_pathless(op, value, models, kind))
        else:
            steps.extend(_path_steps(op, path.strip(), value, models, kind, pathless=False))
    return PatchRequest(tuple(steps), tuple(summary[:_SUMMARY_LIMIT]))


def _pathless(op: str, value: Any, models: ResourceModels, kind: Kind) -> list[PatchStep]:
    if not isinstance(value, dict):
        raise InvalidValueException(detail=f"a {op} without path takes an object value")
    steps: list[PatchStep] = []
    for key, item in value.items():
        if key.strip() and key.lower() not in dialect.READ_ONLY_KEYS:
            steps.extend(_path_steps(op, key.strip(), item, models, kind, pathless=True))
    return steps


def _path_steps(
    op: str, text: str, value: Any, models: ResourceModels, kind: Kind, *, pathless: bool
) -> list[PatchStep]:
    head = _HEAD.match(text.removeprefix(f"{GROUP_URN}:"))
    head_name = head.group(0).lower() if head else ""
    if kind == "Group" and head_name == "members":
        return [_members_step(op, text, value, models)]
    custom = dialect.custom_urn(text, models) if kind == "User" else None
    if custom is not None and not custom[2]:
        return [_undeclared_step(op, custom[0], custom[1], value)]
    if kind == "User" and ":" not in text and head_name in dialect.ENTERPRISE_NAMES:
        text = f"{ENTERPRISE_URN}:{text}"
    model = models.user_model if kind == "User" else models.group_model
    try:
        path = _parsed(model, text)
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
    binding = path.binding()
    if binding is not None and binding.model is EnterpriseUser and binding.field_name == "manager":
        if binding.sub_field_name not in (None, "value"):
            return [ModelOperation(op, text, value)]
        manager_path = f"{ENTERPRISE_URN}:manager"
        manager = None if op == "remove" else dialect.manager_value(value)
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


class _ParsedPath:
    """What a PATCH path says under one model: the model it designates (None: the resource's
    own), its value filter, and its binding (resolved on first use, then kept)."""

    _UNRESOLVED: Any = object()

    def __init__(self, path: Path[Any]) -> None:
        self.path = path
        self.model = path.model
        self.value_filter = path.value_filter
        self._binding: Any = self._UNRESOLVED

    def binding(self) -> AttributeBinding | None:
        if self._binding is self._UNRESOLVED:
            self._binding = self.path.resolve()
        binding: AttributeBinding | None = self._binding
        return binding


@lru_cache(maxsize=512)
def _parsed_cached(model: Any, text: str) -> _ParsedPath:
    return _parse(model, text)


def _parse(model: Any, text: str) -> _ParsedPath:
    return _ParsedPath(Path.__class_getitem__(model)(text))


def _parsed(model: Any, text: str) -> _ParsedPath:
    """``text`` parsed as a path of ``model``. Entra sends the same few paths on every cycle,
    and scim2-models parses and resolves them anew each time (a tenth of a PATCH's CPU), so
    short ones are kept; a parse that fails raises each time (InvalidPathException)."""
    if len(text) > _CACHED_PATH_LENGTH:
        return _parse(model, text)
    return _parsed_cached(model, text)


def _undeclared_step(op: str, urn: str, attribute: str | None, value: Any) -> UndeclaredOperation:
    if attribute is not None and not dialect.ATTRIBUTE_NAME.match(attribute):
        raise InvalidPathException(path=f"{urn}:{attribute}", detail="no such attribute name")
    if op == "remove" or value is None:
        return UndeclaredOperation("remove", urn, attribute)
    if attribute is None:
        return UndeclaredOperation("set", urn, None, dialect.undeclared_values(urn, value))
    return UndeclaredOperation(
        "set", urn, attribute, dialect.scalar_value(value, f"{urn}:{attribute}")
    )


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
        return MembersOperation(
            "remove", None if value is None else tuple(dialect.member_ids(value))
        )
    if op == "add" and value is None:
        raise InvalidValueException(detail="add members needs members")
    return MembersOperation(
        "add" if op == "add" else "replace",
        tuple(dialect.member_ids(value)),
        tuple(dialect.member_displays(value).items()),
    )
