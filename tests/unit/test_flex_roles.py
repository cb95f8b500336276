"""SCIM roles and groups → Flex roles."""

from __future__ import annotations

from typing import Any

import pytest

from scimbridge.flex.mapping.roles import (
    RoleMap,
    parse_role_names,
    parse_role_table,
    resolve_roles,
)


def role(value: str, display: str | None = None) -> dict[str, Any]:
    return {
        "value": value,
        "display": value if display is None else display,
        "type": "WindowsAzureActiveDirectoryRole",
        "primary": False,
    }


def role_map(
    aliases: dict[str, Any] | None = None, groups: dict[str, Any] | None = None
) -> RoleMap:
    parsed_aliases, problems = parse_role_table(aliases or {}, "flex.role_map")
    parsed_groups, more = parse_role_table(groups or {}, "flex.group_roles")
    assert not problems + more
    return RoleMap(aliases=parsed_aliases, group_roles=parsed_groups)


def test_flex_role_names_pass_through_lower_cased() -> None:
    result = resolve_roles(
        [role("Admin"), role("SUPERVISOR"), role("agent"), role("WFO.Team_Leader")], [], RoleMap()
    )
    assert result.roles == ("admin", "supervisor", "agent", "wfo.team_leader")
    assert not result.unknown and not result.defaulted


def test_role_map_matches_value_or_display_case_insensitively() -> None:
    mapping = role_map(
        {"Flex Supervisor": "supervisor", "Contact Centre Admin": ["admin", "wfo.full_access"]}
    )
    by_value = resolve_roles([role("flex supervisor")], [], mapping)
    by_display = resolve_roles([role("8c2f-role-id", "Contact Centre Admin")], [], mapping)
    assert by_value.roles == ("supervisor",)
    assert by_display.roles == ("admin", "wfo.full_access")


def test_role_map_wins_over_pass_through() -> None:
    assert resolve_roles([role("admin")], [], role_map({"admin": "supervisor"})).roles == (
        "supervisor",
    )


def test_comma_separated_roles_are_split() -> None:
    result = resolve_roles([role("agent, supervisor")], [], RoleMap())
    assert result.roles == ("agent", "supervisor")
    assert resolve_roles("agent,wfo.dashboard_viewer", [], RoleMap()).roles == (
        "agent",
        "wfo.dashboard_viewer",
    )


def test_unknown_roles_are_dropped_and_reported() -> None:
    result = resolve_roles(
        [role("supervisor"), role("Janitor"), role("42", "Night Shift")], [], RoleMap()
    )
    assert result.roles == ("supervisor",)
    assert result.unknown == ("Janitor", "42 (Night Shift)")


def test_unknown_part_of_a_comma_separated_value_is_reported() -> None:
    result = resolve_roles([role("agent, janitor")], [], RoleMap())
    assert result.roles == ("agent",)
    assert result.unknown == ("janitor",)


def test_duplicates_are_removed_in_first_seen_order() -> None:
    mapping = role_map({"Flex Supervisor": "supervisor, agent"})
    result = resolve_roles(
        [role("Flex Supervisor"), role("agent"), role("Supervisor")], [], mapping
    )
    assert result.roles == ("supervisor", "agent")


def test_default_roles_when_user_has_none_or_only_unknown() -> None:
    assert resolve_roles([], [], RoleMap()).roles == ("agent",)
    assert resolve_roles(None, [], RoleMap()).defaulted
    only_unknown = resolve_roles(
        [role("Janitor")], [], RoleMap(default_roles=("agent", "wfo.dashboard_viewer"))
    )
    assert only_unknown.roles == ("agent", "wfo.dashboard_viewer")
    assert only_unknown.unknown == ("Janitor",)


def test_empty_default_leaves_no_roles() -> None:
    assert resolve_roles([], [], RoleMap(default_roles=())).roles == ()


def test_groups_grant_roles() -> None:
    mapping = role_map(groups={"Flex Admins": "admin"})
    result = resolve_roles([role("agent")], ["Sales", "flex admins"], mapping)
    assert result.roles == ("agent", "admin")
    assert dict(result.origins)["admin"] == "group 'flex admins'"


def test_readonly_admin_is_never_passed_through() -> None:
    result = resolve_roles([role("flex.readonlyadmin")], [], RoleMap())
    assert result.roles == ("agent",)
    assert result.unknown == ("flex.readonlyadmin",)


@pytest.mark.parametrize(
    "entries",
    [
        ["supervisor"],
        [{"value": "supervisor"}],
        [{"displayName": "supervisor"}],
        {"value": "supervisor"},
    ],
)
def test_tolerates_role_entry_shapes(entries: Any) -> None:
    assert resolve_roles(entries, [], RoleMap()).roles == ("supervisor",)


def test_config_parsing_reports_each_bad_role_with_its_key() -> None:
    _table, problems = parse_role_table(
        {"Flex Supervisor": "supervisor", "Readonly": "flex.readonlyadmin", "x": 3}, "flex.role_map"
    )
    assert problems == [
        "flex.role_map.Readonly: 'flex.readonlyadmin' is not a Flex role "
        "(admin, supervisor, agent or wfo.*)",
        "flex.role_map.x: must be a role name or an array of role names",
    ]
    assert parse_role_table(["x"], "flex.role_map")[1] == [
        "flex.role_map: must be a table of names to Flex roles"
    ]


def test_config_role_keys_with_spaces_are_quoted_in_problems() -> None:
    _table, problems = parse_role_table({"Night Shift": "janitor"}, "flex.role_map")
    assert problems[0].startswith('flex.role_map."Night Shift":')


def test_default_roles_parse_from_string_or_list() -> None:
    assert parse_role_names("agent, Supervisor", "flex.default_roles") == (
        ("agent", "supervisor"),
        [],
    )
    assert parse_role_names(["agent", "agent"], "flex.default_roles") == (("agent",), [])
    assert parse_role_names([1], "flex.default_roles")[1]
