"""Every Entra request shape becomes the stored document a user of the service expects."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scim2_models import (
    InvalidValueException,
    MutabilityException,
    NoTargetException,
    SCIMException,
)

from scimbridge.config.settings import ExtensionAttribute, ExtensionSchema
from scimbridge.scim import documents, patch_body, rendering
from scimbridge.scim.extensions import ENTERPRISE_URN, GROUP_URN, USER_URN, ResourceModels
from scimbridge.store.resources import MembershipChange
from tests.unit.scim_samples import ENTRA_TUTORIAL_POST

ACME = "urn:ietf:params:scim:schemas:extension:Acme:2.0:User"
CUSTOM = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"
ADSCIM = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
MODELS = ResourceModels(
    [
        ExtensionSchema(
            urn=ACME,
            name="Acme",
            attributes=(
                ExtensionAttribute("skillLevel", "integer"),
                ExtensionAttribute("isAgent", "boolean"),
                ExtensionAttribute("team", "string"),
            ),
        )
    ]
)
META = {"resourceType": "User", "location": "https://h/scim/v2/Users/1"}


def create(body: dict[str, Any]) -> dict[str, Any]:
    return documents.create_user(body, MODELS)


def read(body: Any, kind: patch_body.Kind = "User") -> patch_body.PatchRequest:
    return patch_body.read_patch(body, MODELS, kind, max_operations=100)


def patch(current: dict[str, Any], *operations: dict[str, Any]) -> dict[str, Any]:
    return documents.patch_user(read({"Operations": list(operations)}), current, MODELS)


def user(**attributes: Any) -> dict[str, Any]:
    return create({"schemas": [USER_URN], "userName": "bjensen", **attributes})


# -- create ------------------------------------------------------------------------------------


def test_tutorial_create_ignores_meta_and_empty_roles() -> None:
    document = create(ENTRA_TUTORIAL_POST)
    assert document == {
        "schemas": [USER_URN],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1",
        "name": {"formatted": "givenName familyName", "familyName": "f", "givenName": "g"},
        "active": True,
        "emails": [{"value": "Test_User@testuser.com", "type": "work", "primary": True}],
    }


def test_legacy_create_with_nulls_and_the_malformed_urn_is_accepted() -> None:
    document = create(
        {
            "schemas": [USER_URN, "urn:ietf:params:scim:schemas:extension:enterprise:2.0User"],
            "userName": "UserName123",
            "active": True,
            "addresses": None,
            "displayName": "John Doe",
            "emails": [{"primary": True, "type": "work", "value": "jdoe@example.com"}],
            "externalId": "UserName123",
            "meta": {"resourceType": "User"},
            "name": {"familyName": "Doe", "givenName": "John"},
            "phoneNumbers": None,
            "title": None,
            "department": None,
            "manager": None,
            "roles": [],
        }
    )
    assert document["schemas"] == [USER_URN]
    assert document["displayName"] == "John Doe"
    assert "title" not in document
    assert ENTERPRISE_URN not in document


def test_extensions_are_stored_without_their_urn_in_schemas() -> None:
    document = create(
        {
            "schemas": [USER_URN],
            "userName": "u",
            ACME: {"skillLevel": "3", "isAgent": "True"},
            CUSTOM: {"CustomAttribute": "55555555555", "flag": "True", "level": 2},
        }
    )
    assert document[ACME] == {"skillLevel": 3, "isAgent": True}
    assert document[CUSTOM] == {"CustomAttribute": "55555555555", "flag": "True", "level": 2}
    assert document["schemas"] == [USER_URN, ACME, CUSTOM]


def test_postman_capitalised_enterprise_attributes() -> None:
    document = create(
        {
            "schemas": [USER_URN, ENTERPRISE_URN],
            "userName": "u",
            ENTERPRISE_URN: {"Department": "Sales", "Manager": {"Value": "m-1"}},
            "emails": [{"Primary": "True", "Type": "work", "Value": "u@example.com"}],
        }
    )
    assert document[ENTERPRISE_URN] == {
        "department": "Sales",
        "manager": {"value": "m-1", "$ref": "../Users/m-1"},
    }
    assert document["emails"] == [{"value": "u@example.com", "type": "work", "primary": True}]


def test_schema_example_manager_as_a_bare_string() -> None:
    document = create({"userName": "u", ENTERPRISE_URN: {"manager": "123456"}})
    assert document[ENTERPRISE_URN]["manager"] == {"value": "123456", "$ref": "../Users/123456"}


@pytest.mark.parametrize("sent", ["True", "true", "TRUE", True])
def test_postman_string_active_is_a_boolean(sent: Any) -> None:
    assert user(active=sent)["active"] is True


def test_roles_from_post_are_canonical() -> None:
    document = user(
        roles=[
            {"primary": "True", "type": "WindowsAzureActiveDirectoryRole", "value": "Admin"},
            {
                "primary": False,
                "type": "WindowsAzureActiveDirectoryRole",
                "displayName": "Agent",
                "value": "agent",
            },
        ]
    )
    assert document["roles"] == [
        {"value": "Admin", "type": "WindowsAzureActiveDirectoryRole", "primary": True},
        {
            "value": "agent",
            "display": "Agent",
            "type": "WindowsAzureActiveDirectoryRole",
            "primary": False,
        },
    ]


@pytest.mark.parametrize(
    "body",
    [
        {"schemas": [USER_URN]},
        {"userName": None},
        {"userName": ""},
        {"userName": 5},
        {"userName": "u", ACME: {"skillLevel": "high"}},
        {"userName": "u", CUSTOM: {"CustomAttribute": ["x"]}},
        {
            "userName": "u",
            "emails": [
                {"value": "a@x.com", "primary": True},
                {"value": "b@x.com", "primary": True},
            ],
        },
        {"userName": "u", "name": ["not", "an", "object"]},
    ],
)
def test_invalid_creations_are_invalid_value(body: dict[str, Any]) -> None:
    with pytest.raises(InvalidValueException):
        create(body)


def test_emails_are_stored_exactly_as_sent() -> None:
    emails = [{"value": "John.Doe@Contoso.COM", "type": "work"}, {"value": "jd@corp.local"}]
    assert user(emails=emails)["emails"] == emails


def test_passwords_are_never_stored() -> None:
    assert "password" not in user(password="Secret!23")


# -- replace (PUT) ------------------------------------------------------------------------------


def test_put_replaces_drops_misspelt_attributes_and_needs_a_user_name() -> None:
    current = user(externalId="x", title="Dr", **{CUSTOM: {"a": "1"}})
    replaced = documents.replace_user(
        {
            "schemas": [USER_URN],
            "userName": "bjensen",
            "name": {"formatted": "B J"},
            "titel": "typo",
        },
        current,
        MODELS,
    )
    assert replaced == {"schemas": [USER_URN], "userName": "bjensen", "name": {"formatted": "B J"}}
    with pytest.raises(InvalidValueException):
        documents.replace_user({"schemas": [USER_URN], "displayName": "x"}, current, MODELS)


# -- PATCH --------------------------------------------------------------------------------------


def test_default_entra_patch_one_op_per_attribute() -> None:
    current = user(emails=[{"type": "work", "value": "old@x.com"}])
    document = patch(
        current,
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "new@x.com"},
        {"op": "Replace", "path": "name.familyName", "value": "Jensen"},
        {"op": "Replace", "path": "userName", "value": "babs"},
        {"op": "Replace", "path": "externalId", "value": "ext-1"},
        {"op": "Replace", "path": f"{ENTERPRISE_URN}:employeeNumber", "value": "701984"},
        {"op": "Add", "path": "nickName", "value": "Babs"},
    )
    assert document["emails"] == [{"value": "new@x.com", "type": "work"}]
    assert document["name"] == {"familyName": "Jensen"}
    assert (document["userName"], document["externalId"], document["nickName"]) == (
        "babs",
        "ext-1",
        "Babs",
    )
    assert document[ENTERPRISE_URN] == {"employeeNumber": "701984"}
    assert document["schemas"] == [USER_URN, ENTERPRISE_URN]


def test_filters_matching_nothing_create_the_entry() -> None:
    document = patch(
        user(),
        {"op": "Add", "path": 'phoneNumbers[type eq "mobile"].value', "value": "+1 555 0100"},
        {"op": "Add", "path": 'emails[type eq "work"].value', "value": "w@x.com"},
        {"op": "Replace", "path": 'addresses[type eq "other"].Formatted', "value": "1 Main St"},
    )
    assert document["phoneNumbers"] == [{"value": "+1 555 0100", "type": "mobile"}]
    assert document["emails"] == [{"value": "w@x.com", "type": "work"}]
    assert document["addresses"] == [{"formatted": "1 Main St", "type": "other"}]


def test_aad_opt_path_less_replace_resolves_dotted_and_urn_keys() -> None:
    document = patch(
        user(),
        {
            "op": "replace",
            "value": {
                "displayName": "Bjfe",
                "name.givenName": "Kkom",
                "name.familyName": "Unua",
                f"{ENTERPRISE_URN}:employeeNumber": "Aklq",
            },
        },
    )
    assert document["displayName"] == "Bjfe"
    assert document["name"] == {"familyName": "Unua", "givenName": "Kkom"}
    assert document[ENTERPRISE_URN] == {"employeeNumber": "Aklq"}
    assert "name.givenName" not in document


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "Replace", "path": "active", "value": "False"},
        {"op": "replace", "path": "active", "value": False},
        {"op": "Replace", "value": {"active": "false"}},
        {"op": "replace", "path": "active", "value": "FALSE"},
    ],
)
def test_disable_in_every_form(operation: dict[str, Any]) -> None:
    disabled = patch(user(active=True), operation)
    assert disabled["active"] is False
    assert patch(disabled, {"op": "Replace", "path": "active", "value": "True"})["active"] is True


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "add", "path": f"{ENTERPRISE_URN}:manager", "value": {"value": "m-2"}},
        {"op": "replace", "path": f"{ENTERPRISE_URN}:manager", "value": "m-2"},
        {"op": "Add", "path": "manager", "value": [{"$ref": "../Users/m-2", "value": "m-2"}]},
        {"op": "replace", "value": {f"{ENTERPRISE_URN}:manager": {"Value": "m-2"}}},
        {"op": "replace", "path": f"{ENTERPRISE_URN}:manager.value", "value": "m-2"},
    ],
)
def test_manager_add_and_replace_variants(operation: dict[str, Any]) -> None:
    document = patch(user(**{ENTERPRISE_URN: {"manager": "m-1", "department": "D"}}), operation)
    assert document[ENTERPRISE_URN] == {
        "department": "D",
        "manager": {"value": "m-2", "$ref": "../Users/m-2"},
    }


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "replace", "path": f"{ENTERPRISE_URN}:manager", "value": {"value": ""}},
        {"op": "replace", "path": f"{ENTERPRISE_URN}:manager", "value": ""},
        {"op": "replace", "path": f"{ENTERPRISE_URN}:manager", "value": None},
        {"op": "remove", "path": f"{ENTERPRISE_URN}:manager"},
    ],
)
def test_manager_removal_variants(operation: dict[str, Any]) -> None:
    with_manager = user(**{ENTERPRISE_URN: {"manager": {"value": "m-1"}}})
    assert ENTERPRISE_URN not in patch(with_manager, operation)
    assert ENTERPRISE_URN not in patch(user(), operation)


def test_single_app_role_assignment_patch_json_string() -> None:
    encoded = '{"id":"06b0c6a8","value":"25","displayName":"Role1234"}'
    document = patch(user(), {"op": "Add", "path": "roles", "value": [{"value": encoded}]})
    assert document["roles"] == [{"value": "25", "display": "Role1234"}]


def test_complex_role_patch_adds_without_removing_or_duplicating() -> None:
    current = user(
        roles=[
            {
                "primary": False,
                "type": "WindowsAzureActiveDirectoryRole",
                "displayName": "Agent",
                "value": "agent",
            }
        ]
    )
    encoded = '{"id":"1","value":"agent","displayName":"Agent"}'
    again = patch(current, {"op": "Add", "path": "roles", "value": [{"value": encoded}]})
    assert again["roles"] == current["roles"]
    added = patch(again, {"op": "Add", "path": "roles", "value": ['{"id":"2","value":"sup"}']})
    assert [role["value"] for role in added["roles"]] == ["agent", "sup"]


def test_assertive_replace_sets_the_whole_role_set() -> None:
    current = user(roles=[{"value": "a"}, {"value": "b"}])
    document = patch(
        current,
        {
            "op": "replace",
            "path": "roles",
            "value": [{"primary": False, "type": "T", "display": "C", "value": "c"}],
        },
    )
    assert document["roles"] == [{"value": "c", "display": "C", "type": "T", "primary": False}]


def test_validator_add_attributes_verbose_roles_create_one_primary_role() -> None:
    document = patch(
        user(),
        {"op": "add", "path": 'roles[primary eq "True"].display', "value": "Admin"},
        {"op": "add", "path": 'roles[primary eq "True"].value', "value": "admin"},
        {
            "op": "add",
            "path": 'roles[primary eq "True"].type',
            "value": "WindowsAzureActiveDirectoryRole",
        },
    )
    assert document["roles"] == [
        {
            "value": "admin",
            "display": "Admin",
            "type": "WindowsAzureActiveDirectoryRole",
            "primary": True,
        }
    ]


def test_declared_extension_patch_is_typed() -> None:
    document = patch(
        user(),
        {"op": "add", "path": f"{ACME}:skillLevel", "value": "4"},
        {"op": "replace", "value": {f"{ACME}:isAgent": "True"}},
    )
    assert document[ACME] == {"skillLevel": 4, "isAgent": True}
    with pytest.raises(InvalidValueException):
        patch(document, {"op": "replace", "path": f"{ACME}:skillLevel", "value": "four"})


def test_undeclared_extension_patch_is_stored_as_sent() -> None:
    current = user(**{CUSTOM: {"CustomAttribute": "a", "old": "x"}})
    document = patch(
        current,
        {"op": "Replace", "path": f"{CUSTOM}:customattribute", "value": "b"},
        {"op": "replace", "value": {f"{CUSTOM}:flag": "True", f"{CUSTOM}:n": 55555555555}},
        {"op": "remove", "path": f"{CUSTOM}:old"},
    )
    assert document[CUSTOM] == {"CustomAttribute": "b", "flag": "True", "n": 55555555555}
    assert ENTERPRISE_URN not in document
    emptied = patch(document, {"op": "remove", "path": CUSTOM})
    assert CUSTOM not in emptied
    assert emptied["schemas"] == [USER_URN]
    with pytest.raises(InvalidValueException):
        patch(current, {"op": "add", "path": f"{CUSTOM}:x", "value": [1]})


def test_null_update_empties_attributes() -> None:
    current = user(title="Dr")
    assert patch(current, {"op": "replace", "path": "title", "value": ""})["title"] == ""
    assert "title" not in patch(current, {"op": "replace", "path": "title", "value": None})


def test_several_operations_on_the_same_attribute_apply_in_order() -> None:
    document = patch(
        user(title="Dr"),
        {"op": "remove", "path": "title"},
        {"op": "add", "path": "title", "value": "Prof"},
        {"op": "replace", "path": "title", "value": "Sir"},
    )
    assert document["title"] == "Sir"


def test_a_failing_operation_changes_nothing() -> None:
    current = user(title="Dr", **{CUSTOM: {"a": "1"}})
    before = copy.deepcopy(current)
    with pytest.raises(InvalidValueException):
        patch(
            current,
            {"op": "replace", "path": "title", "value": "Prof"},
            {"op": "replace", "path": f"{CUSTOM}:a", "value": "2"},
            {"op": "add", "path": f"{ACME}:skillLevel", "value": "four"},
        )
    assert current == before


@pytest.mark.parametrize(
    ("operation", "error"),
    [
        ({"op": "remove", "path": "userName"}, MutabilityException),
        ({"op": "replace", "path": "id", "value": "x"}, MutabilityException),
        ({"op": "remove"}, NoTargetException),
    ],
)
def test_rfc_refusals_keep_their_scim_type(
    operation: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        patch(user(), operation)


def test_string_boolean_filters_match_existing_primary_entries() -> None:
    current = user(
        emails=[{"value": "a@x.com", "primary": True}], roles=[{"value": "r", "primary": True}]
    )
    document = patch(
        current,
        {"op": "replace", "path": 'emails[primary eq "True"].value', "value": "b@x.com"},
        {"op": "replace", "path": 'roles[primary eq "true"].display', "value": "R"},
    )
    assert document["emails"] == [{"value": "b@x.com", "primary": True}]
    assert document["roles"] == [{"value": "r", "display": "R", "primary": True}]


def test_unknown_attributes_in_patch_are_ignored() -> None:
    assert patch(user(), {"op": "add", "path": "favouriteColour", "value": "blue"}) == user()


# -- groups -------------------------------------------------------------------------------------


def group(**attributes: Any) -> dict[str, Any]:
    document, _ = documents.create_group({"displayName": "Sales", **attributes}, MODELS)
    return document


def patch_group(
    current: dict[str, Any], *operations: dict[str, Any]
) -> tuple[dict[str, Any], MembershipChange]:
    return documents.patch_group(read({"Operations": list(operations)}, "Group"), current, MODELS)


def test_group_create_tolerates_adscim_and_meta() -> None:
    document, members = documents.create_group(
        {
            "schemas": [GROUP_URN, ADSCIM],
            "externalId": "8aa1a0c0",
            "displayName": "Group1",
            "meta": {"resourceType": "Group"},
        },
        MODELS,
    )
    assert document == {"schemas": [GROUP_URN], "externalId": "8aa1a0c0", "displayName": "Group1"}
    assert members.replace == frozenset()
    _, members = documents.create_group(
        {"displayName": "G", "members": [{"value": "u1", "display": "Ann"}, "u2", {"value": "u1"}]},
        MODELS,
    )
    assert members.replace == {"u1", "u2"}
    assert members.displays == {"u1": "Ann"}


def test_group_member_operations_fold_in_order() -> None:
    document, change = patch_group(
        group(),
        {"op": "Add", "path": "members", "value": [{"$ref": None, "value": "u1"}]},
        {"op": "Add", "path": "members", "value": "u2", "name": "addMember"},
        {"op": "Remove", "path": "members", "value": [{"value": "u3"}]},
        {"op": "remove", "path": 'members[value eq "u4"]'},
        {"op": "Replace", "path": "displayName", "value": "Renamed"},
    )
    assert document["displayName"] == "Renamed"
    assert change == MembershipChange(
        add=frozenset({"u1", "u2"}), remove=frozenset({"u3", "u4"}), replace=None
    )


def test_add_then_remove_of_the_same_member_removes_it() -> None:
    _, change = patch_group(
        group(),
        {"op": "add", "path": "members", "value": [{"value": "u1"}]},
        {"op": "remove", "path": 'members[value eq "u1"]'},
    )
    assert change == MembershipChange(remove=frozenset({"u1"}))


def test_replace_and_clear_fold_later_operations_into_the_new_set() -> None:
    _, change = patch_group(
        group(),
        {"op": "replace", "path": "members", "value": [{"value": "u1"}, {"value": "u2"}]},
        {"op": "remove", "path": 'members[value eq "u1"]'},
        {"op": "add", "path": "members", "value": [{"value": "u3"}]},
    )
    assert change == MembershipChange(replace=frozenset({"u2", "u3"}))
    _, cleared = patch_group(group(), {"op": "remove", "path": "members"})
    assert cleared == MembershipChange(replace=frozenset())


def test_validator_path_less_group_replace() -> None:
    document, change = patch_group(
        group(),
        {"op": "replace", "value": {"displayName": "New", "externalId": "e-2"}},
        {"op": "replace", "value": {"members": [{"value": "u9"}]}},
    )
    assert (document["displayName"], document["externalId"]) == ("New", "e-2")
    assert change.replace == frozenset({"u9"})


def test_group_put_replaces_membership_only_when_members_are_sent() -> None:
    current = group(externalId="e")
    document, change = documents.replace_group(
        {"displayName": "Sales", "members": [{"value": "u1"}]}, current, MODELS
    )
    assert document == {"schemas": [GROUP_URN], "displayName": "Sales"}
    assert change == MembershipChange(replace=frozenset({"u1"}))
    _, kept = documents.replace_group({"displayName": "Sales"}, current, MODELS)
    assert kept == MembershipChange()


def test_group_display_name_is_required() -> None:
    with pytest.raises(InvalidValueException):
        documents.create_group({"schemas": [GROUP_URN]}, MODELS)
    with pytest.raises(MutabilityException):
        patch_group(group(), {"op": "remove", "path": "displayName"})


# -- rendering ----------------------------------------------------------------------------------


def full_user() -> dict[str, Any]:
    return user(
        emails=[{"type": "work", "value": "w@x.com"}, {"type": "home", "value": "h@x.com"}],
        name={"givenName": "B", "familyName": "J"},
        roles=[{"value": "a", "type": "T"}],
        **{ENTERPRISE_URN: {"department": "D", "manager": "m"}, CUSTOM: {"c": "1"}},
    )


def test_render_returns_id_schemas_and_meta_with_every_extension() -> None:
    rendered = rendering.render_user(full_user(), id="1", meta=META)
    assert list(rendered)[:2] == ["schemas", "id"]
    assert rendered["schemas"] == [USER_URN, ENTERPRISE_URN, CUSTOM]
    assert rendered["meta"] == META
    assert rendered[CUSTOM] == {"c": "1"}
    json.dumps(rendered)


def test_render_with_attributes_keeps_the_asked_ones() -> None:
    rendered = rendering.render_user(
        full_user(),
        id="1",
        meta=META,
        attributes=["userName", "Emails", f"{ENTERPRISE_URN}:manager"],
    )
    assert rendered == {
        "schemas": [USER_URN, ENTERPRISE_URN],
        "id": "1",
        "userName": "bjensen",
        "emails": full_user()["emails"],
        ENTERPRISE_URN: {"manager": {"value": "m", "$ref": "../Users/m"}},
        "meta": META,
    }


def test_render_attribute_with_a_value_filter_and_sub_attributes() -> None:
    filtered = rendering.render_user(
        full_user(), id="1", meta=META, attributes=['emails[type eq "work"]', "name.givenName"]
    )
    assert filtered["emails"] == full_user()["emails"]
    assert filtered["name"] == {"givenName": "B"}
    whole = rendering.render_user(full_user(), id="1", meta=META, attributes=[CUSTOM])
    assert whole[CUSTOM] == {"c": "1"}
    assert whole["schemas"] == [USER_URN, CUSTOM]


def test_render_with_excluded_attributes() -> None:
    rendered = rendering.render_user(
        full_user(),
        id="1",
        meta=META,
        excluded=["emails", "roles.type", ENTERPRISE_URN, "id", f"{USER_URN}:name"],
    )
    assert "emails" not in rendered and "name" not in rendered
    assert rendered["roles"] == [{"value": "a"}]
    assert ENTERPRISE_URN not in rendered
    assert rendered["id"] == "1"
    assert rendered["schemas"] == [USER_URN, CUSTOM]


def test_render_group_members_and_their_exclusion() -> None:
    document = group(externalId="e")
    rendered = rendering.render_group(
        document,
        [("u1", "alice"), "u2"],
        id="g",
        meta={"resourceType": "Group"},
        base_url="https://h/scim/v2",
    )
    assert rendered["members"] == [
        {"value": "u1", "display": "alice", "$ref": "https://h/scim/v2/Users/u1", "type": "User"},
        {"value": "u2", "$ref": "https://h/scim/v2/Users/u2", "type": "User"},
    ]
    excluded = rendering.render_group(document, None, id="g", meta={}, excluded=["members"])
    assert excluded == {
        "schemas": [GROUP_URN],
        "id": "g",
        "externalId": "e",
        "displayName": "Sales",
        "meta": {},
    }


# -- helpers the routes use ---------------------------------------------------------------------


def test_patch_size_and_summary() -> None:
    body = {
        "Operations": [
            {"op": "Replace", "path": "password", "value": "Secret!23"},
            {"op": "replace", "value": {"active": False, "name.givenName": "x"}},
        ]
    }
    summary = patch_body.read_patch(body, MODELS, "User", max_operations=2).summary
    with pytest.raises(InvalidValueException):
        patch_body.read_patch(body, MODELS, "User", max_operations=1)
    assert list(summary) == [
        {"op": "replace", "path": "password"},
        {"op": "replace", "path": "active"},
        {"op": "replace", "path": "name.givenName"},
    ]
    assert "Secret" not in json.dumps(summary)
    for garbage in (["garbage"], {"Operations": [5, {"op": None}]}):
        with pytest.raises(SCIMException):
            read(garbage)


def test_scim_exceptions_carry_a_scim_type() -> None:
    with pytest.raises(SCIMException) as caught:
        create({"userName": "u", "active": "perhaps"})
    assert caught.value.scim_type == "invalidValue"
    assert caught.value.status == 400


# -- any JSON: a document or a SCIMException, never anything else -------------------------------

_KEYS = st.sampled_from(
    [
        "userName",
        "UserName",
        "active",
        "emails",
        "value",
        "Value",
        "primary",
        "type",
        "roles",
        "display",
        "displayName",
        "members",
        "$ref",
        "manager",
        "Manager",
        "name",
        "givenName",
        "schemas",
        "id",
        "meta",
        "Operations",
        "op",
        "path",
        "externalId",
        "title",
        "password",
        ENTERPRISE_URN,
        ACME,
        CUSTOM,
        f"{CUSTOM}:attr",
        f"{ENTERPRISE_URN}:manager",
        f"{ACME}:isAgent",
        "name.givenName",
    ]
) | st.text(max_size=8)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["True", "false", "", "u1", "a@b.com", '{"value":"25","displayName":"R"}'])
)
_JSON = st.recursive(
    _SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_KEYS, children, max_size=5),
    max_leaves=24,
)
_PATHS = st.sampled_from(
    [
        None,
        "",
        "userName",
        "active",
        "title",
        "roles",
        'roles[primary eq "True"].value',
        'emails[type eq "work"].value',
        "emails",
        "members",
        'members[value eq "u1"]',
        f"{ENTERPRISE_URN}:manager",
        "manager",
        ENTERPRISE_URN,
        f"{CUSTOM}:a",
        CUSTOM,
        f"{ACME}:skillLevel",
        "name.givenName",
        "displayName",
        "id",
        "meta.created",
        "emails[",
        'phoneNumbers[type eq "mobile"].value',
        "schemas",
        "groups",
        "x509Certificates",
    ]
) | st.text(max_size=16)
_VALUES = (
    st.sampled_from(
        [
            "True",
            "False",
            "x",
            "u1",
            "a@b.com",
            "",
            True,
            False,
            3,
            '{"id":"1","value":"25","displayName":"R"}',
            {"value": "u1"},
            {"value": ""},
            [{"value": "u1"}, {"value": "u2"}],
            [{"value": "r", "primary": "True"}],
            {"givenName": "B", "familyName": None},
            {"manager": "m", "department": "D"},
        ]
    )
    | _JSON
)
_WELL_FORMED = st.one_of(
    st.builds(
        lambda op, path, value: {"op": op, "path": path, "value": value},
        st.sampled_from(["add", "Add", "replace", "Replace"]),
        _PATHS.filter(bool),
        _VALUES,
    ),
    st.builds(
        lambda op, value: {"op": op, "value": value},
        st.sampled_from(["add", "replace"]),
        st.dictionaries(_KEYS, _VALUES, max_size=4),
    ),
    st.builds(lambda path: {"op": "remove", "path": path}, _PATHS.filter(bool)),
)
_OPERATION = _WELL_FORMED | st.fixed_dictionaries(
    {"op": st.sampled_from(["add", "Add", "remove", "Remove", "replace", "Replace", "move"])},
    optional={"path": _PATHS, "value": _JSON, "name": st.text(max_size=4)},
)
_PATCH = st.fixed_dictionaries({"Operations": st.lists(_OPERATION, min_size=1, max_size=5)})


def _stored_form(document: dict[str, Any]) -> None:
    """What a route would store must be plain JSON a database accepts."""
    json.dumps(document, allow_nan=False)
    assert document["schemas"][0] in (USER_URN, GROUP_URN)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=_JSON | _PATCH)
def test_any_json_creates_or_is_refused_with_a_scim_error(body: Any) -> None:
    for create_function in (documents.create_user, documents.create_group):
        try:
            result = create_function(body, MODELS)
        except SCIMException:
            continue
        _stored_form(result if isinstance(result, dict) else result[0])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=_PATCH | _JSON)
def test_any_patch_applies_or_is_refused_and_never_mutates_current(body: Any) -> None:
    for current, function in (
        (full_user(), documents.patch_user),
        (user(), documents.replace_user),
        (group(externalId="e"), documents.patch_group),
    ):
        before = copy.deepcopy(current)
        try:
            if function is documents.replace_user:
                result = function(body, current, MODELS)
            else:
                kind: patch_body.Kind = "Group" if function is documents.patch_group else "User"
                result = function(read(body, kind), current, MODELS)
        except SCIMException:
            assert current == before
            continue
        assert current == before
        document = result if isinstance(result, dict) else result[0]
        _stored_form(document)
        rendering.render_user(document, id="1", meta=META, attributes=["userName", CUSTOM])
        if function is not documents.patch_group:
            # What was stored can be patched again: the document is a valid resource.
            renamed = patch(document, {"op": "replace", "path": "nickName", "value": "n"})
            assert renamed["nickName"] == "n"
