"""The scim2-models classes this service validates with, custom extensions included.

Does: turn the custom extensions declared in the configuration (``Settings.extensions``) into
scim2-models ``Extension`` classes, compose ``User[EnterpriseUser | <declared>]`` and ``Group``
with their ``PatchOp`` classes, hold the Entra-tolerant ``ScimPolicy``, and describe it all as
the ``/Schemas`` and ``/ResourceTypes`` resources.
Does not: read requests (``scim.dialect`` and ``scim.documents`` do), know HTTP, or add ``meta``
to the discovery resources (``scim.discovery`` does, with the base URL it knows).
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from functools import reduce
from typing import Any, ClassVar, cast

from scim2_models import (
    Attribute,
    CaseExact,
    ComplexAttribute,
    Context,
    Email,
    EnterpriseUser,
    Extension,
    Group,
    Mutability,
    PatchOp,
    Photo,
    Required,
    Resource,
    Returned,
    Schema,
    ScimPolicy,
    Uniqueness,
    User,
)

from scimbridge.config.errors import ConfigError
from scimbridge.config.settings import ExtensionSchema

USER_URN = str(User.__schema__)
GROUP_URN = str(Group.__schema__)
ENTERPRISE_URN = str(EnterpriseUser.__schema__)

_ATTRIBUTE_TYPES = {
    "string": Attribute.Type.string,
    "boolean": Attribute.Type.boolean,
    "integer": Attribute.Type.integer,
    "decimal": Attribute.Type.decimal,
    "dateTime": Attribute.Type.date_time,
    "reference": Attribute.Type.reference,
}

# RFC 7643 §8.7.1 names the core schemas; Entra's reference tests look for "User Account".
_DESCRIPTIONS = {
    USER_URN: ("User", "User Account"),
    GROUP_URN: ("Group", "Group"),
    ENTERPRISE_URN: ("EnterpriseUser", "Enterprise User"),
}


class _EmailAsSent(Email):
    """An email whose value is kept as sent.

    pydantic's ``EmailStr`` lower-cases the domain and refuses addresses Entra does send
    (on-premises ``.local`` domains, bare hosts); RFC 7643 §4.1.2 types it as a plain string.
    """

    value: str | None = None


class _PhotoAsSent(Photo):
    """A photo whose value is kept as sent (see ``_User.profile_url``)."""

    value: str | None = None  # type: ignore[assignment]


class _User(User[Any]):
    """The core User, with emails, ``profileUrl`` and photo values stored exactly as sent.

    scim2-models refuses an external reference that does not parse as an absolute URL
    ("Invalid URI"). Entra sends whatever string the mapped directory attribute holds, and
    Microsoft's SCIM validator sends random words (``"profileUrl": "BAPNQLJSRQGD"``); such a
    string is a relative reference (RFC 3986 §4.2), which RFC 7643 §2.3.7 allows. Nothing here
    dereferences it. ``/Schemas`` still describes both as references (it is built from ``User``).
    """

    # Narrower entry types than the base declares: what pydantic validates with.
    emails: list[_EmailAsSent] | None = None  # type: ignore[assignment]
    Emails: ClassVar[type[ComplexAttribute]] = _EmailAsSent
    profile_url: str | None = None  # type: ignore[assignment]
    photos: list[_PhotoAsSent] | None = None  # type: ignore[assignment]
    Photos: ClassVar[type[ComplexAttribute]] = _PhotoAsSent


def _declared_schema(
    declared: ExtensionSchema, class_name: str, *, references_as_strings: bool = False
) -> Schema:
    """The RFC 7643 §7 schema of a declared extension; ``class_name`` names its Python class.

    With ``references_as_strings`` its reference attributes are typed ``string``: the schema
    the model validates with, so that a reference is kept as sent (see ``_User``).
    """

    def kind(attribute_type: str) -> Attribute.Type:
        if references_as_strings and attribute_type == "reference":
            return Attribute.Type.string
        return _ATTRIBUTE_TYPES[attribute_type]

    return Schema(
        id=declared.urn,
        name=class_name,
        description=declared.description or declared.name,
        attributes=[
            Attribute(
                name=attribute.name,
                type=kind(attribute.type),
                multi_valued=False,
                description=attribute.description or None,
                required=Required.true if attribute.required else Required.false,
                case_exact=CaseExact.false,
                mutability=Mutability.read_write,
                returned=Returned.default,
                uniqueness=Uniqueness.none,
                reference_types=["external"]
                if kind(attribute.type) is Attribute.Type.reference
                else None,
            )
            for attribute in declared.attributes
        ],
    )


class ResourceModels:
    """Everything scim2-models needs to read and write this service's users and groups.

    Built once per process from ``Settings.extensions``; immutable afterwards. Raises
    :class:`~scimbridge.config.errors.ConfigError` when a declared extension reuses the
    enterprise URN, repeats another one, or cannot be turned into a model.
    """

    def __init__(self, extensions: Sequence[ExtensionSchema]) -> None:
        self.declared: tuple[ExtensionSchema, ...] = tuple(extensions)
        self.extension_models: dict[str, type[Extension]] = {ENTERPRISE_URN.lower(): EnterpriseUser}
        self._declared_names: dict[str, str] = {}
        # What /Schemas publishes for a declared extension (its model types references as strings).
        self._declared_schemas: dict[str, Schema] = {}
        for index, declared in enumerate(self.declared):
            key = declared.urn.lower()
            if key in self.extension_models:
                raise ConfigError(f"the extension {declared.urn} is declared twice or is built in")
            class_name = f"Declared{index}"
            try:
                model = Extension.from_schema(
                    _declared_schema(declared, class_name, references_as_strings=True)
                )
                published = Extension.from_schema(_declared_schema(declared, class_name))
            except (ValueError, TypeError) as exc:
                raise ConfigError(f"the extension {declared.urn} cannot be built: {exc}") from exc
            self.extension_models[key] = model
            self._declared_names[key] = declared.name
            self._declared_schemas[key] = published.to_schema()

        union: Any = reduce(operator.or_, self.extension_models.values())
        self.user_model: type[User[Any]] = cast("type[User[Any]]", _User.__class_getitem__(union))
        self.group_model: type[Group] = Group
        self.user_patch: type[PatchOp[Any]] = PatchOp.__class_getitem__(self.user_model)
        self.group_patch: type[PatchOp[Any]] = PatchOp.__class_getitem__(Group)
        self.policy = ScimPolicy(
            unknown=ScimPolicy.Unknown.ignore,
            remove_value_as_filter=ScimPolicy.RemoveValue.apply,
            unmatched_path_filter=ScimPolicy.UnmatchedPathFilter.create,
        )
        self.declared_urns: frozenset[str] = frozenset(self.extension_models)
        # Lower-cased URN -> the spelling the configuration (or RFC 7643) gives it.
        self.urn_spelling: dict[str, str] = {
            key: str(model.__schema__) for key, model in self.extension_models.items()
        }

    def schemas(self) -> list[dict[str, Any]]:
        """The ``/Schemas`` resources: User, Group, EnterpriseUser and each declared extension.

        JSON-ready, camelCase characteristics, nulls omitted, no ``meta``.
        """
        resources = []
        described: list[type[Resource[Any]] | type[Extension]] = [User, Group]
        described.extend(self.extension_models.values())
        for model in described:
            declared_schema = self._declared_schemas.get(str(model.__schema__).lower())
            schema = (declared_schema or model.to_schema()).model_copy(deep=True)
            urn = str(schema.id)
            name, description = _DESCRIPTIONS.get(urn, (None, None))
            key = urn.lower()
            if key in self._declared_names:
                name = self._declared_names[key]
                description = schema.description
            schema.name = name or schema.name
            schema.description = description or schema.description
            resources.append(schema.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))
        return resources

    def resource_types(self) -> list[dict[str, Any]]:
        """The ``/ResourceTypes`` resources, User (with its extensions) then Group; no ``meta``."""
        resource_type_schema = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
        return [
            {
                "schemas": [resource_type_schema],
                "id": "User",
                "name": "User",
                "description": "User Account",
                "endpoint": "/Users",
                "schema": USER_URN,
                "schemaExtensions": [
                    {"schema": urn, "required": False} for urn in self.urn_spelling.values()
                ],
            },
            {
                "schemas": [resource_type_schema],
                "id": "Group",
                "name": "Group",
                "description": "Group",
                "endpoint": "/Groups",
                "schema": GROUP_URN,
                "schemaExtensions": [],
            },
        ]
