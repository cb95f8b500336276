"""The ``[flex]`` section of the TOML file, parsed into a :class:`FlexMapping`.

Does: check every key of ``Settings.flex`` through :class:`~scimbridge.config.tables.TableReader`,
noting every problem with its TOML key path in the document's
:class:`~scimbridge.config.tables.Problems`; compile expressions; build the effective attribute
rules (built-in defaults, then the operator's overrides). Does not: evaluate anything for a user
(``mapping`` does).

Shape, with every default spelled out::

    [flex]
    friendly_name = "userName"        # SCIM path; must match the SSO NameID source
    default_roles = ["agent"]         # when a user maps to no Flex role
    custom_extensions = true          # urn:ietf:params:scim:schemas:extension:<Name>:…:User
                                      #   attributes → worker keys under their bare names
    on_disable = "offline"            # active=false → "offline" (move to unavailable_activity)
                                      #   or "delete" (delete the worker; stops named-user billing)
    unavailable_activity = "Offline"  # activity friendly name used by "offline"
    # available_activity = "Available"  # unset: re-enabling leaves the activity alone
    on_delete = "delete"              # SCIM DELETE → "delete" the worker, or "offline"
    mode = "taskrouter"               # or "users_api" (Flex Users API v4 Provision/Deprovision)

    [flex.role_map]                   # app-role value or display name → Flex role(s)
    "Flex Supervisor" = "supervisor"
    [flex.group_roles]                # group display name → Flex role(s)
    "Contoso Flex Admins" = ["admin", "wfo.full_access"]

    [flex.group_skills]               # group display name → TaskRouter skill (see skills_config)
    "Queue - Spanish" = { skill = "spanish", level = 5 }

    [flex.attributes.department]      # one table per worker key; exactly one of
    source = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"
    default = "unassigned"            #   source / constant / expression, plus optional
    [flex.attributes.location]        #   default (used when the value is empty) and
    expression = 'Coalesce([addresses[type eq "work"].locality], "remote")'
    [flex.attributes.tier]            #   type = string | int | bool | string_list
    constant = "gold"
    [flex.attributes.full_name]
    enabled = false                   # stop owning a built-in key (e.g. SSO owns it)

Built-in keys (overridable): ``email`` (work, else primary, else first email, else userName),
``full_name`` (displayName, else name.formatted, else given + family name), ``roles`` (see
``roles``) and ``contact_uri`` (``client:`` + escaped friendly_name). Targets must be bare names
(no ``/`` or ``:``, not ``http…``) and may not be keys no SSO claim can set (``routing``,
``routing.*``, ``disabled_skills``, ``team_sid``); every SSO claim key (``team_id``, ``team_name``,
``channel.<name>.capacity``, …) may be mapped.
A ``source`` is a SCIM path or an OIDC claim name (``sub``, ``given_name``, …: see
:mod:`.oidc_claims`). Without ``type``, a rule gives a string, as an SSO claim would, except that a
constant keeps its TOML type and ``email_verified``/``phone_number_verified`` give booleans.
Re-enabling a user does not force an activity unless ``available_activity`` is set: the agent
chooses when to become available, so tasks never route to someone who has not logged in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast, get_args

from scimbridge.config.settings import CUSTOM_EXTENSION_PREFIX
from scimbridge.config.tables import Problems, TableReader
from scimbridge.flex.mapping.attributes import foreign_key_reason
from scimbridge.flex.mapping.expression_arguments import integer, is_empty, text
from scimbridge.flex.mapping.expressions import Expression, MappingError, compile_expression
from scimbridge.flex.mapping.oidc_claims import alias, collision
from scimbridge.flex.mapping.paths import PathError, get_key, parse_path
from scimbridge.flex.mapping.roles import (
    DEFAULT_ROLES,
    RoleMap,
    parse_role_names,
    parse_role_table,
)
from scimbridge.flex.mapping.skills_config import SkillConfig, read_skill_config

AttributeType = Literal["string", "int", "bool", "string_list"]
DerivedValue = Literal["roles", "contact_uri"]
ENTERPRISE_EXTENSION = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
MAX_TARGET_LENGTH = 128
FLEX_KEYS = (
    "friendly_name", "default_roles", "custom_extensions", "on_disable", "unavailable_activity",
    "available_activity", "on_delete", "mode", "role_map", "group_roles", "attributes",
    "group_skills", "attribute_skills",
)  # fmt: skip
RULE_KEYS = ("source", "constant", "expression", "default", "type", "enabled")


@dataclass(frozen=True)
class AttributeRule:
    """How one owned worker key gets its value: one of source, constant, expression, derived."""

    target: str
    source: str | None = None
    constant: Any = None
    expression: Expression | None = None
    default: Any = None
    type: AttributeType = "string"
    derived: DerivedValue | None = None


@dataclass(frozen=True)
class DeprovisionPolicy:
    """What the sync does to a worker when its user is disabled, re-enabled or deleted."""

    on_disable: Literal["offline", "delete"] = "offline"
    unavailable_activity: str = "Offline"
    available_activity: str | None = None
    on_delete: Literal["delete", "offline"] = "delete"


@dataclass(frozen=True)
class FlexMapping:
    """The parsed ``[flex]`` section. Build it with :func:`parse_mapping`."""

    friendly_name_source: str = "userName"
    rules: tuple[AttributeRule, ...] = ()
    include_custom_extensions: bool = True
    role_map: RoleMap = field(default_factory=RoleMap)
    deprovision_policy: DeprovisionPolicy = field(default_factory=DeprovisionPolicy)
    mode: Literal["taskrouter", "users_api"] = "taskrouter"
    skills: SkillConfig = field(default_factory=SkillConfig)

    @property
    def default_roles(self) -> tuple[str, ...]:
        return self.role_map.default_roles

    def owned_keys(self, document: Mapping[str, Any]) -> frozenset[str]:
        """The worker keys this mapping writes (or clears) for the user ``document``."""
        keys = {rule.target for rule in self.rules}
        if self.include_custom_extensions:
            skills_source = (self.skills.source or "").casefold()
            keys.update(
                name
                for urn, name, _value in custom_extension_values(document)
                if valid_target(name) is None and f"{urn}:{name}".casefold() != skills_source
            )
        return frozenset(keys)


def custom_extension_values(document: Mapping[str, Any]) -> list[tuple[str, str, Any]]:
    """(URN, attribute, value) of every custom extension attribute, in a stable order."""
    found: list[tuple[str, str, Any]] = []
    prefix, enterprise = CUSTOM_EXTENSION_PREFIX.casefold(), ENTERPRISE_EXTENSION.casefold()
    for urn in sorted(document, key=str.casefold):
        extension = document[urn]
        folded = urn.casefold()
        if folded.startswith(prefix) and folded != enterprise and isinstance(extension, Mapping):
            found.extend((urn, str(name), value) for name, value in extension.items())
    return found


def valid_target(name: str) -> str | None:
    """Why ``name`` cannot be a worker key the sync owns, or ``None`` if it can."""
    if not name or not name.strip() or any(char.isspace() for char in name):
        return "must be a non-empty name without spaces"
    if len(name) > MAX_TARGET_LENGTH:
        return f"must be at most {MAX_TARGET_LENGTH} characters"
    if "/" in name or ":" in name or name.casefold().startswith("http"):
        return "must be a bare name: Flex ignores namespaced claim names"
    foreign = foreign_key_reason(name)
    if foreign:
        return (
            f"is not the directory's: {foreign}, and no SSO claim can set it, so the sync never "
            "writes it (keys SSO claims set, such as team_id, team_name, department or "
            "channel.<name>.capacity, may be mapped)"
        )
    return None


def _builtin_rules() -> dict[str, AttributeRule]:
    email = (
        'Coalesce([emails[type eq "work"].value], [emails[primary eq true].value], '
        "[emails.value], [userName])"
    )
    full_name = (
        'Coalesce([displayName], [name.formatted], Join(" ", [name.givenName], [name.familyName]))'
    )
    return {
        "email": AttributeRule("email", expression=compile_expression(email)),
        "full_name": AttributeRule("full_name", expression=compile_expression(full_name)),
        "roles": AttributeRule("roles", type="string_list", derived="roles"),
        "contact_uri": AttributeRule("contact_uri", derived="contact_uri"),
    }


def read_mapping(raw: Any, problems: Problems) -> FlexMapping:
    """The ``[flex]`` table ``raw`` (``Settings.flex``) as a mapping; every problem noted in
    ``problems`` with its key path (the mapping returned then is not to be used)."""
    flex = TableReader(raw, "flex", problems, FLEX_KEYS, colon=True, strict=True)
    friendly_name = flex.text("friendly_name", "userName") or "userName"
    try:
        parse_path(friendly_name)
    except PathError as exc:
        flex.say("friendly_name", str(exc))
    custom_extensions = flex.flag("custom_extensions", True)
    default_roles, found = parse_role_names(
        flex.raw.get("default_roles", list(DEFAULT_ROLES)), "flex.default_roles"
    )
    flex.extend(found)
    aliases, found = parse_role_table(flex.raw.get("role_map", {}), "flex.role_map")
    flex.extend(found)
    group_roles, found = parse_role_table(flex.raw.get("group_roles", {}), "flex.group_roles")
    flex.extend(found)
    policy = DeprovisionPolicy(
        on_disable=cast(Any, flex.choice("on_disable", "offline", ("offline", "delete"))),
        unavailable_activity=flex.text("unavailable_activity", "Offline") or "Offline",
        available_activity=flex.text("available_activity"),
        on_delete=cast(Any, flex.choice("on_delete", "delete", ("delete", "offline"))),
    )
    mode = flex.choice("mode", "taskrouter", ("taskrouter", "users_api"))
    skills = read_skill_config(flex)
    rules = _builtin_rules()
    attributes = flex.table("attributes", must="a table of worker keys")
    for target in attributes.given():
        rule = _read_rule(attributes, target)
        if rule is None:
            rules.pop(target, None)
        else:
            rules[rule.target] = rule
    return FlexMapping(
        friendly_name_source=friendly_name,
        rules=tuple(rules.values()),
        include_custom_extensions=custom_extensions,
        role_map=RoleMap(aliases=aliases, group_roles=group_roles, default_roles=default_roles),
        deprovision_policy=policy,
        mode=cast(Any, mode),
        skills=skills,
    )


def parse_mapping(raw: Mapping[str, Any]) -> FlexMapping:
    """The ``[flex]`` table alone (tests, tools): :func:`read_mapping`, raising
    :class:`MappingError` with every problem."""
    problems = Problems()
    mapping = read_mapping(raw, problems)
    problems.raise_any(MappingError)
    return mapping


def _read_rule(attributes: TableReader, target: str) -> AttributeRule | None:
    """One ``[flex.attributes.<target>]`` table; ``None`` means the key is not owned."""
    where = attributes.name(target)
    reason = valid_target(target)
    if reason:
        attributes.note(where, f"the target {reason}")
        return None
    spec = attributes.raw[target]
    if not isinstance(spec, Mapping):
        attributes.note(where, "must be a table with source, constant or expression")
        return None
    table = attributes.table(target, RULE_KEYS)
    if not table.flag("enabled", True):
        return None
    kinds = [key for key in ("source", "constant", "expression") if key in spec]
    if len(kinds) != 1:
        table.note(
            where, "needs exactly one of source, constant or expression (or enabled = false)"
        )
        return None
    kind = kinds[0]
    type_name = spec.get("type", _default_type(kind, spec[kind]))
    if type_name not in get_args(AttributeType):
        allowed = ", ".join(get_args(AttributeType))
        table.say("type", f"must be one of {allowed}, got {type_name!r}")
        return None
    attribute_type = cast(AttributeType, type_name)
    for key in ("constant", "default"):
        problem = coerce(spec[key], attribute_type)[1] if key in spec else None
        if problem:
            table.say(key, problem)
    default = spec.get("default")
    if kind == "constant":
        return AttributeRule(target, constant=spec[kind], default=default, type=attribute_type)
    text_value = spec[kind]
    if not isinstance(text_value, str):
        table.say(kind, "must be a string")
        return None
    try:
        if kind == "source":
            ambiguous = collision(text_value)
            if ambiguous:
                table.say("source", ambiguous)
                return None
            if alias(text_value) is None:
                parse_path(text_value)
            return AttributeRule(target, source=text_value, default=default, type=attribute_type)
        expression = compile_expression(text_value)
    except (PathError, MappingError) as exc:
        table.say(kind, str(exc))
        return None
    return AttributeRule(target, expression=expression, default=default, type=attribute_type)


def _default_type(kind: str, value: Any) -> str:
    if kind == "constant":
        return _constant_type(value)
    claim = alias(value) if kind == "source" and isinstance(value, str) else None
    return claim.default_type if claim else "string"


def _constant_type(constant: Any) -> str:
    if isinstance(constant, bool):
        return "bool"
    if isinstance(constant, int):
        return "int"
    return "string_list" if isinstance(constant, list) else "string"


_BOOLEANS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def coerce(value: Any, attribute_type: AttributeType) -> tuple[Any, str | None]:
    """``value`` as ``attribute_type``: ``(value, None)``, ``(None, None)`` if empty, or
    ``(None, problem)`` if it cannot be converted.

    string: text as Entra spells it (booleans ``"True"``/``"False"``; a list gives its first
    non-empty value; a complex value its ``value``). int: whole numbers and strings spelling them,
    never booleans. bool: booleans, ``true/false/yes/no/1/0`` in any case, and 0/1. string_list: a
    list of the non-empty texts; a single value becomes a one-element list.
    """
    if is_empty(value):
        return None, None
    if attribute_type == "string_list":
        items = value if isinstance(value, list) else [value]
        texts = [t for t in (text(item) for item in items) if t]
        return (texts or None), None
    if isinstance(value, list):
        value = next(item for item in value if not is_empty(item))
    if isinstance(value, Mapping) and get_key(value, "value") is None:
        return None, "is a complex value with no 'value' to use"
    if attribute_type == "string":
        return text(value) or None, None
    if attribute_type == "int":
        whole = None if isinstance(value, bool) else integer(value)
        return (
            (whole, None) if whole is not None else (None, f"{_show(value)} is not a whole number")
        )
    if isinstance(value, bool):
        return value, None
    folded = (text(value) or "").strip().casefold()
    if folded in _BOOLEANS:
        return _BOOLEANS[folded], None
    return None, f"{_show(value)} is not true or false"


def _show(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 40 else shown[:37] + "..."
