"""SCIM roles (Entra app-role assignments) and group memberships → the Flex ``roles`` attribute.

Does: turn a stored user's canonical ``roles`` list (``{value, display, type, primary}``) plus the
display names of their groups into Flex roles: ``admin``, ``supervisor``, ``agent`` and Insights
``wfo.*`` roles pass through (lower-cased); ``[flex.role_map]`` translates other app-role values or
display names and ``[flex.group_roles]`` grants roles by group. Comma-separated values
(``"agent, supervisor"``) are split, duplicates dropped in first-seen order, unknown roles dropped
and reported, and ``default_roles`` used when nothing is left.
Does not: parse the role shapes Entra sends on the wire (the SCIM layer stores them canonical), or
grant ``flex.readonlyadmin``, which Flex refuses to take from an IdP.

Matching: an entry's ``value`` is tried first, then its ``display``; ``role_map`` entries win over
the pass-through names (so ``"admin" = "supervisor"`` demotes), and all matching is
case-insensitive.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from scimbridge.config.tables import toml_key
from scimbridge.flex.mapping.paths import get_key

FLEX_ROLES = ("admin", "supervisor", "agent")
INSIGHTS_ROLE_PREFIX = "wfo."
DEFAULT_ROLES = ("agent",)


@dataclass(frozen=True)
class RoleMap:
    """Parsed role configuration. Keys are case-folded; values are valid Flex role names."""

    aliases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    group_roles: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    default_roles: tuple[str, ...] = DEFAULT_ROLES


@dataclass(frozen=True)
class RoleResolution:
    """The Flex roles of one user, what could not be mapped, and where each role came from."""

    roles: tuple[str, ...]
    unknown: tuple[str, ...] = ()
    defaulted: bool = False
    origins: tuple[tuple[str, str], ...] = ()


def flex_role(name: str) -> str | None:
    """``name`` as a Flex role if it is one (case-insensitively), else ``None``."""
    folded = name.strip().casefold()
    if folded in FLEX_ROLES:
        return folded
    if folded.startswith(INSIGHTS_ROLE_PREFIX) and len(folded) > len(INSIGHTS_ROLE_PREFIX):
        return folded
    return None


def split_roles(value: str) -> list[str]:
    """``"agent, supervisor"`` → ``["agent", "supervisor"]``, as Flex splits the SSO claim."""
    return [part.strip() for part in value.split(",") if part.strip()]


def parse_role_names(raw: Any, where: str) -> tuple[tuple[str, ...], list[str]]:
    """Read a role list from config (a string, comma-separated string or array); return problems."""
    items = split_roles(raw) if isinstance(raw, str) else raw
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        return (), [f"{where}: must be a role name or an array of role names"]
    roles: list[str] = []
    problems: list[str] = []
    for item in items:
        for name in split_roles(item):
            role = flex_role(name)
            if role is None:
                problems.append(
                    f"{where}: {name!r} is not a Flex role (admin, supervisor, agent or wfo.*)"
                )
            elif role not in roles:
                roles.append(role)
    return tuple(roles), problems


def parse_role_table(raw: Any, where: str) -> tuple[dict[str, tuple[str, ...]], list[str]]:
    """Read ``[flex.role_map]`` / ``[flex.group_roles]``: names → Flex roles; return problems."""
    if not isinstance(raw, Mapping):
        return {}, [f"{where}: must be a table of names to Flex roles"]
    table: dict[str, tuple[str, ...]] = {}
    problems: list[str] = []
    for key, value in raw.items():
        roles, found = parse_role_names(value, toml_key(where, str(key)))
        problems.extend(found)
        if not str(key).strip():
            problems.append(f"{where}: an empty name cannot be matched")
        table[str(key).strip().casefold()] = roles
    return table, problems


def _entries(scim_roles: Any) -> Iterable[tuple[str, str]]:
    """(value, display) of each role entry, tolerating strings and ``displayName``."""
    if isinstance(scim_roles, str | Mapping):
        scim_roles = [scim_roles]
    if not isinstance(scim_roles, list):
        return
    for entry in scim_roles:
        if isinstance(entry, str):
            yield entry, ""
        elif isinstance(entry, Mapping):
            value = get_key(entry, "value")
            display = get_key(entry, "display") or get_key(entry, "displayName")
            yield (
                value if isinstance(value, str) else "",
                display if isinstance(display, str) else "",
            )


def _translate(name: str, role_map: RoleMap) -> tuple[str, ...]:
    alias = role_map.aliases.get(name.strip().casefold())
    if alias is not None:
        return alias
    role = flex_role(name)
    return (role,) if role else ()


def _resolve_text(value: str, role_map: RoleMap) -> tuple[list[str], list[str]]:
    found: list[str] = []
    unknown: list[str] = []
    for name in split_roles(value):
        roles = _translate(name, role_map)
        if roles:
            found.extend(roles)
        else:
            unknown.append(name)
    return found, unknown


def resolve_roles(scim_roles: Any, groups: Sequence[str], role_map: RoleMap) -> RoleResolution:
    """The Flex roles of a user with SCIM ``roles`` who is in ``groups`` (display names)."""
    roles: list[str] = []
    unknown: list[str] = []
    origins: list[tuple[str, str]] = []

    def add(found: Iterable[str], origin: str) -> None:
        for role in found:
            if role not in roles:
                roles.append(role)
                origins.append((role, origin))

    for value, display in _entries(scim_roles):
        found, missing = _resolve_text(value, role_map)
        if found:
            add(found, f"role {value!r}")
            unknown.extend(missing)
            continue
        found, missing_display = _resolve_text(display, role_map)
        if found:
            add(found, f"role {display!r}")
            unknown.extend(missing_display)
        elif value or display:
            both = value and display and value.casefold() != display.casefold()
            unknown.append(f"{value} ({display})" if both else value or display)
    for group in groups:
        add(role_map.group_roles.get(group.strip().casefold(), ()), f"group {group!r}")
    if not roles and role_map.default_roles:
        return RoleResolution(
            roles=role_map.default_roles,
            unknown=tuple(unknown),
            defaulted=True,
            origins=tuple((role, "default_roles") for role in role_map.default_roles),
        )
    return RoleResolution(tuple(roles), tuple(unknown), False, tuple(origins))
