"""Every role shape Entra sends reduces to one canonical list."""

from __future__ import annotations

import json

import pytest
from scim2_models import InvalidValueException

from scimbridge.scim.roles import canonical_role, canonical_roles, merge_roles


def test_single_app_role_assignment_post_object_is_kept() -> None:
    role = {"primary": True, "type": "WindowsAzureActiveDirectoryRole", "value": "Admin"}
    assert canonical_roles([role]) == [
        {"value": "Admin", "type": "WindowsAzureActiveDirectoryRole", "primary": True}
    ]


def test_json_encoded_patch_value_is_unpacked() -> None:
    encoded = json.dumps({"id": "06b0e2f6", "value": "25", "displayName": "Role1234"})
    assert canonical_roles([{"value": encoded}]) == [{"value": "25", "display": "Role1234"}]


def test_json_encoded_role_without_value_falls_back_to_its_id() -> None:
    encoded = json.dumps({"id": "06b0e2f6", "displayName": "Role1234"})
    assert canonical_role(encoded) == {"value": "06b0e2f6", "display": "Role1234"}


def test_complex_assignment_display_name_is_an_alias_of_display() -> None:
    role = {
        "primary": False,
        "type": "WindowsAzureActiveDirectoryRole",
        "displayName": "Agent",
        "value": "agent",
    }
    assert canonical_role(role) == {
        "value": "agent",
        "display": "Agent",
        "type": "WindowsAzureActiveDirectoryRole",
        "primary": False,
    }


@pytest.mark.parametrize(("sent", "stored"), [("True", True), ("false", False), ("TRUE", True)])
def test_string_booleans_become_booleans(sent: str, stored: bool) -> None:
    assert canonical_role({"value": "a", "Primary": sent}) == {"value": "a", "primary": stored}


def test_capitalised_keys_and_bare_strings() -> None:
    assert canonical_roles(["Admin", {"Value": "b", "Display": "B"}]) == [
        {"value": "Admin"},
        {"value": "b", "display": "B"},
    ]


def test_comma_separated_roles_stay_one_role() -> None:
    assert canonical_roles("Admin,Agent") == [{"value": "Admin,Agent"}]


def test_absent_keys_are_omitted_and_nulls_dropped() -> None:
    assert canonical_roles([None, {"value": "a", "display": None, "id": "x"}, {}]) == [
        {"value": "a"}
    ]


def test_a_string_that_is_not_a_json_object_is_a_plain_value() -> None:
    assert canonical_role("{not json") == {"value": "{not json"}
    assert canonical_role('["a"]') == {"value": '["a"]'}


def test_numbers_as_values_become_strings() -> None:
    assert canonical_role({"value": 25}) == {"value": "25"}


@pytest.mark.parametrize("item", [5, [1], True])
def test_what_cannot_be_a_role_is_refused(item: object) -> None:
    with pytest.raises(InvalidValueException):
        canonical_role(item)


def test_merge_keeps_one_role_per_value_and_later_keys_win() -> None:
    merged = merge_roles(
        [
            {"value": "25", "type": "WindowsAzureActiveDirectoryRole", "primary": False},
            {"display": "no value"},
            {"value": "25", "display": "Role1234"},
            {"value": "26"},
        ]
    )
    assert merged == [
        {
            "value": "25",
            "display": "Role1234",
            "type": "WindowsAzureActiveDirectoryRole",
            "primary": False,
        },
        {"display": "no value"},
        {"value": "26"},
    ]
