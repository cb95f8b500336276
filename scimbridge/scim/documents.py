"""The pure SCIM operations the HTTP layer calls: request body + stored document → new document.

A *document* is a resource as stored: the scim2-models dump (``Context.DEFAULT``) without ``id``,
``meta`` and ``password`` (never stored: nothing here authenticates users), with roles merged by
value (``scim.roles``), ``schemas`` listing the core schema and every extension present, each
undeclared custom extension as a top-level ``"<urn>": {attribute: scalar}`` key, and for groups
without ``members`` (they live in their own table; a PATCH yields a ``MembershipChange``).

Does: validate POST/PUT/PATCH bodies after ``scim.dialect`` normalized them, apply RFC 7644 PUT
(readOnly kept, immutable checked, absent attributes cleared; a group PUT without ``members``
keeps its membership) and PATCH (atomic: any error raises, ``current`` is never touched): the
everyday user create and PATCH by ``scim.fast_path``, the rest through scim2-models.
Every refusal is a scim2-models ``SCIMException`` subclass carrying its ``scimType``.
Does not: read or write the database, enforce uniqueness (the directory does), render
responses (``scim.rendering``), read PATCH bodies (``scim.patch_body``), or know HTTP.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from pydantic import ValidationError
from scim2_models import (
    Context,
    Error,
    InvalidValueException,
    Resource,
    SCIMException,
)

from scimbridge.scim import dialect, fast_path, roles
from scimbridge.scim.extensions import GROUP_URN, USER_URN, ResourceModels
from scimbridge.scim.patch_body import (
    MembersOperation,
    ModelOperation,
    PatchRequest,
    PatchStep,
    UndeclaredOperation,
)
from scimbridge.store.limits import MEMBER_DISPLAY_LENGTH
from scimbridge.store.resources import MembershipChange

R = TypeVar("R")
_NOT_STORED = ("id", "meta", "password", "members")


def _scim_errors(call: Callable[[], R]) -> R:
    """Run a scim2-models call, turning whatever it raises on client input into a SCIMException."""
    try:
        return call()
    except SCIMException as exc:
        cause = exc.__cause__
        if not isinstance(cause, ValidationError) or not cause.errors():
            raise
        # scim2-models words a failed PATCH write as the whole pydantic report; keep its gist.
        first = Error.from_validation_errors(cause)[0]
        raise type(exc)(detail=first.detail or exc.detail) from None
    except ValidationError as exc:
        errors = Error.from_validation_errors(exc)
        if errors and errors[0].scim_type:
            raise SCIMException.from_error(errors[0]) from None
        detail = errors[0].detail if errors else str(exc)
        raise InvalidValueException(detail=detail) from None
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise InvalidValueException(detail=f"the request cannot apply: {exc}") from None


def _validated(
    model: type[Resource[Any]], body: dict[str, Any], context: Context, models: ResourceModels
) -> Any:
    return _scim_errors(
        lambda: model.model_validate(body, scim_ctx=context, scim_policy=models.policy)
    )


def _undeclared_part(document: dict[str, Any], models: ResourceModels) -> dict[str, dict[str, Any]]:
    return {
        key: dict(value)
        for key, value in document.items()
        if isinstance(value, dict) and (custom := dialect.custom_urn(key, models)) and not custom[2]
    }


def _load(document: dict[str, Any], models: ResourceModels, model: type[Resource[Any]]) -> Any:
    """The stored document as a model (a fresh copy: nothing done to it reaches ``document``)."""
    undeclared = _undeclared_part(document, models)
    declared = {k: v for k, v in document.items() if k not in undeclared}
    return _validated(model, declared, Context.DEFAULT, models)


def _document(
    resource: Resource[Any], undeclared: dict[str, dict[str, Any]], core: str
) -> dict[str, Any]:
    dumped: dict[str, Any] = _scim_errors(lambda: resource.model_dump(scim_ctx=Context.DEFAULT))
    return _stored(dumped, undeclared, core)


def _stored(
    dumped: dict[str, Any], undeclared: dict[str, dict[str, Any]], core: str
) -> dict[str, Any]:
    """The document a resource's dump (``Context.DEFAULT``) stores; ``dumped`` is consumed."""
    # RFC 7643 §4.1.1: a non-empty userName; the same holds for the name a group is known by.
    identifier = "userName" if core == USER_URN else "displayName"
    if not str(dumped.get(identifier) or "").strip():
        raise InvalidValueException(detail=f"{identifier} must not be empty")
    for key in _NOT_STORED:
        dumped.pop(key, None)
    if "roles" in dumped:
        merged = roles.merge_roles(dumped.pop("roles"))
        if merged:
            dumped["roles"] = merged
    dumped.pop("schemas", None)
    dumped.update({urn: part for urn, part in undeclared.items() if part})
    extensions = [key for key in dumped if key.lower().startswith("urn:")]
    return {"schemas": [core, *extensions], **dumped}


def _membership(change: MembershipChange) -> MembershipChange:
    """``change``, refused (invalidValue) if a member display is longer than the column holds."""
    limit = MEMBER_DISPLAY_LENGTH
    if any(len(display) > limit for display in change.displays.values()):
        raise InvalidValueException(detail=f"a member display is longer than {limit} characters")
    return change


def _apply_undeclared(store: dict[str, dict[str, Any]], step: UndeclaredOperation) -> None:
    urn = next((key for key in store if key.lower() == step.urn.lower()), step.urn)
    if step.op == "remove" and step.attribute is None:
        store.pop(urn, None)
        return
    part = store.setdefault(urn, {})
    values = {step.attribute: step.value} if step.attribute is not None else dict(step.value)
    for name, value in values.items():
        existing = next((key for key in part if key.lower() == name.lower()), None)
        if existing is not None:
            del part[existing]
        if value is not None:
            part[existing or name] = value
    if not part:
        del store[urn]


def _patch_model(
    resource: Resource[Any],
    steps: Sequence[PatchStep],
    patch_model: Any,
    models: ResourceModels,
) -> None:
    operations = [step.payload() for step in steps if isinstance(step, ModelOperation)]
    if not operations:
        return

    def apply() -> None:
        patch = patch_model.model_validate(
            {"Operations": operations},
            scim_ctx=Context.RESOURCE_PATCH_REQUEST,
            scim_policy=models.policy,
        )
        patch.patch(resource, scim_policy=models.policy)

    _scim_errors(apply)


def create_user(body: Any, models: ResourceModels) -> dict[str, Any]:
    """The document a POST /Users body creates. ``userName`` missing → invalidValue.

    An everyday body takes ``scim.fast_path``; the document is the one ``create_user_by_model``
    gives."""
    parsed = dialect.user_body(body, models)
    dumped = fast_path.created(parsed.attributes)
    if dumped is None:
        return _created_by_model(parsed, models)
    return _stored(dumped, parsed.undeclared, USER_URN)


def create_user_by_model(body: Any, models: ResourceModels) -> dict[str, Any]:
    """The document a POST /Users body creates, always validated by scim2-models."""
    return _created_by_model(dialect.user_body(body, models), models)


def _created_by_model(parsed: dialect.ResourceBody, models: ResourceModels) -> dict[str, Any]:
    resource = _validated(
        models.user_model, parsed.attributes, Context.RESOURCE_CREATION_REQUEST, models
    )
    return _document(resource, parsed.undeclared, USER_URN)


def replace_user(body: Any, current: dict[str, Any], models: ResourceModels) -> dict[str, Any]:
    """The document a PUT /Users/{id} body leaves; unknown attributes are dropped."""
    parsed = dialect.user_body(body, models)
    resource = _validated(
        models.user_model, parsed.attributes, Context.RESOURCE_REPLACEMENT_REQUEST, models
    )
    original = _load(current, models, models.user_model)
    _scim_errors(lambda: resource.replace(original))
    return _document(resource, parsed.undeclared, USER_URN)


def patch_user(
    patch: PatchRequest, current: dict[str, Any], models: ResourceModels
) -> dict[str, Any]:
    """The document a PATCH /Users/{id} request leaves; all operations apply, or none.

    Everyday operations take ``scim.fast_path``; the document is the one ``patch_user_by_model``
    gives."""
    simple = fast_path.patched(patch.steps, current)
    if simple is not None:
        return simple
    return patch_user_by_model(patch, current, models)


def patch_user_by_model(
    patch: PatchRequest, current: dict[str, Any], models: ResourceModels
) -> dict[str, Any]:
    """The document a PATCH /Users/{id} request leaves, always applied by scim2-models."""
    resource = _load(current, models, models.user_model)
    undeclared = _undeclared_part(current, models)
    _patch_model(resource, patch.steps, models.user_patch, models)
    for step in patch.steps:
        if isinstance(step, UndeclaredOperation):
            _apply_undeclared(undeclared, step)
    return _document(resource, undeclared, USER_URN)


def create_group(body: Any, models: ResourceModels) -> tuple[dict[str, Any], MembershipChange]:
    """The document a POST /Groups body creates, and the membership it sets."""
    parsed = dialect.group_body(body, models)
    resource = _validated(
        models.group_model, parsed.attributes, Context.RESOURCE_CREATION_REQUEST, models
    )
    return _document(resource, {}, GROUP_URN), _membership(
        MembershipChange(replace=frozenset(parsed.members or ()), displays=parsed.member_displays)
    )


def replace_group(
    body: Any, current: dict[str, Any], models: ResourceModels
) -> tuple[dict[str, Any], MembershipChange]:
    """PUT /Groups/{id}: the new document and the membership it sets.

    ``members`` absent (or null) keeps the membership: a rename by PUT must not empty a group of
    50k members; ``"members": []`` empties it.
    """
    parsed = dialect.group_body(body, models)
    resource = _validated(
        models.group_model, parsed.attributes, Context.RESOURCE_REPLACEMENT_REQUEST, models
    )
    original = _load(current, models, models.group_model)
    _scim_errors(lambda: resource.replace(original))
    membership = (
        MembershipChange()
        if parsed.members is None
        else MembershipChange(replace=frozenset(parsed.members), displays=parsed.member_displays)
    )
    return _document(resource, {}, GROUP_URN), _membership(membership)


def patch_group(
    patch: PatchRequest, current: dict[str, Any], models: ResourceModels
) -> tuple[dict[str, Any], MembershipChange]:
    """PATCH /Groups/{id}: the new document and the membership change, folded in order.

    Add and remove stay disjoint; once a replace (or a remove of every member) happens, later
    adds and removes fold into ``replace``, so the change never needs the current member list.
    """
    resource = _load(current, models, models.group_model)
    _patch_model(resource, patch.steps, models.group_patch, models)
    add: set[str] = set()
    remove: set[str] = set()
    replace: set[str] | None = None
    displays: dict[str, str] = {}
    for step in patch.steps:
        if not isinstance(step, MembersOperation):
            continue
        displays.update(step.displays)
        ids = set(step.ids or ())
        if step.op == "replace" or step.ids is None:
            replace, add, remove = (ids if step.op == "replace" else set()), set(), set()
        elif replace is not None:
            replace = replace | ids if step.op == "add" else replace - ids
        elif step.op == "add":
            add, remove = add | ids, remove - ids
        else:
            add, remove = add - ids, remove | ids
    membership = MembershipChange(
        add=frozenset(add),
        remove=frozenset(remove),
        replace=None if replace is None else frozenset(replace),
        displays=displays,
    )
    return _document(resource, {}, GROUP_URN), _membership(membership)
