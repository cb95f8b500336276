"""Entra's deviations are normalized before scim2-models sees a payload."""

from __future__ import annotations

import pytest
from scim2_models import (
    InvalidFilterException,
    InvalidPathException,
    InvalidSyntaxException,
    InvalidValueException,
    NoTargetException,
)

from scimbridge.config.settings import ExtensionAttribute, ExtensionSchema
from scimbridge.scim import dialect, patch_body
from scimbridge.scim.extensions import ENTERPRISE_URN, GROUP_URN, USER_URN, ResourceModels
from scimbridge.scim.patch_body import MembersOperation, ModelOperation, UndeclaredOperation

ACME = "urn:ietf:params:scim:schemas:extension:Acme:2.0:User"
CUSTOM = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"
ADSCIM = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
MODELS = ResourceModels(
    [ExtensionSchema(urn=ACME, name="Acme", attributes=(ExtensionAttribute("isAgent", "boolean"),))]
)


def read(body: object, kind: patch_body.Kind = "User") -> list[patch_body.PatchStep]:
    return list(patch_body.read_patch(body, MODELS, kind, max_operations=100).steps)


def steps(
    *operations: dict[str, object], kind: patch_body.Kind = "User"
) -> list[patch_body.PatchStep]:
    return read({"Operations": list(operations)}, kind)


# -- POST / PUT bodies -------------------------------------------------------------------------


def test_legacy_post_drops_nulls_meta_and_the_malformed_urn() -> None:
    body = dialect.user_body(
        {
            "schemas": [USER_URN, "urn:ietf:params:scim:schemas:extension:enterprise:2.0User"],
            "userName": "UserName123",
            "id": "client-chosen",
            "meta": {"resourceType": "User"},
            "addresses": None,
            "phoneNumbers": None,
            "title": None,
            "department": None,
            "manager": None,
            "name": {"givenName": "John", "middleName": None},
            "emails": [None, {"value": "jdoe@example.com", "primary": None}],
        },
        MODELS,
    )
    assert body.attributes == {
        "userName": "UserName123",
        "name": {"givenName": "John"},
        "emails": [{"value": "jdoe@example.com"}],
        "schemas": [USER_URN],
    }
    assert body.undeclared == {}


def test_extension_objects_count_without_their_urn_in_schemas() -> None:
    body = dialect.user_body(
        {"schemas": [USER_URN], "userName": "u", ENTERPRISE_URN: {"department": "Sales"}}, MODELS
    )
    assert body.attributes["schemas"] == [USER_URN, ENTERPRISE_URN]


def test_legacy_top_level_enterprise_attributes_move_into_the_extension() -> None:
    body = dialect.user_body({"userName": "u", "department": "Sales", "manager": "42"}, MODELS)
    assert body.attributes[ENTERPRISE_URN] == {
        "department": "Sales",
        "manager": {"value": "42", "$ref": "../Users/42"},
    }


def test_undeclared_extension_is_split_off_as_sent() -> None:
    body = dialect.user_body(
        {"userName": "u", CUSTOM: {"CustomAttribute": "x", "level": 3, "flag": "True", "n": None}},
        MODELS,
    )
    assert body.undeclared == {CUSTOM: {"CustomAttribute": "x", "level": 3, "flag": "True"}}
    assert CUSTOM not in body.attributes


def test_undeclared_extension_attribute_must_be_a_scalar() -> None:
    with pytest.raises(InvalidValueException):
        dialect.user_body({"userName": "u", CUSTOM: {"CustomAttribute": {"nested": 1}}}, MODELS)
    with pytest.raises(InvalidValueException):
        dialect.user_body({"userName": "u", CUSTOM: ["x"]}, MODELS)


def test_group_body_drops_the_adscim_urn_and_reads_members() -> None:
    body = dialect.group_body(
        {
            "schemas": [GROUP_URN, ADSCIM],
            "displayName": "G",
            "meta": {"resourceType": "Group"},
            "members": [{"value": "u1", "$ref": None}, "u2", {"Value": "u1"}],
        },
        MODELS,
    )
    assert body.attributes == {"displayName": "G", "schemas": [GROUP_URN]}
    assert body.members == ["u1", "u2"]


def test_group_body_without_members_says_so() -> None:
    assert dialect.group_body({"displayName": "G"}, MODELS).members is None


@pytest.mark.parametrize("body", [[1, 2], "text", 5, None])
def test_a_body_that_is_no_object_is_a_syntax_error(body: object) -> None:
    with pytest.raises(InvalidSyntaxException):
        dialect.user_body(body, MODELS)


# -- storable JSON -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["a\x00b", "\ud800", float("nan"), float("inf"), 2**63, -(2**63) - 1],
)
def test_values_no_database_can_store_are_refused(value: object) -> None:
    with pytest.raises(InvalidValueException):
        dialect.check_json({"userName": value})


def test_deep_nesting_is_refused_without_recursion() -> None:
    deep: object = "leaf"
    for _ in range(10_000):
        deep = [deep]
    with pytest.raises(InvalidSyntaxException):
        dialect.check_json(deep)


def test_non_json_types_are_refused() -> None:
    with pytest.raises(InvalidSyntaxException):
        dialect.check_json({"userName": {1, 2}})


# -- manager -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "normalized"),
    [
        ("123456", {"value": "123456", "$ref": "../Users/123456"}),
        ({"value": "m1"}, {"value": "m1", "$ref": "../Users/m1"}),
        ({"Value": "m1", "displayName": "Boss"}, {"value": "m1", "$ref": "../Users/m1"}),
        (
            [{"$ref": "http://host/Users/m1", "value": "m1"}],
            {"value": "m1", "$ref": "http://host/Users/m1"},
        ),
        ({"$ref": "http://host/Users/m1"}, {"value": "m1", "$ref": "http://host/Users/m1"}),
        ({"value": "a b/c"}, {"value": "a b/c", "$ref": "../Users/a%20b%2Fc"}),
        (7, {"value": "7", "$ref": "../Users/7"}),
    ],
)
def test_every_manager_shape_reads_as_value_and_ref(sent: object, normalized: object) -> None:
    assert dialect.manager_value(sent) == normalized


@pytest.mark.parametrize("sent", ["", {"value": ""}, None, [], [{"value": ""}], {"Value": None}])
def test_empty_manager_shapes_mean_removal(sent: object) -> None:
    assert dialect.manager_value(sent) is None


@pytest.mark.parametrize("sent", [[{"value": "a"}, {"value": "b"}], True, {"value": ["a"]}])
def test_impossible_manager_shapes_are_refused(sent: object) -> None:
    with pytest.raises(InvalidValueException):
        dialect.manager_value(sent)


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "Replace", "path": f"{ENTERPRISE_URN}:manager", "value": ""},
        {"op": "replace", "path": f"{ENTERPRISE_URN}:manager", "value": {"value": ""}},
        {"op": "replace", "path": f"{ENTERPRISE_URN}:manager", "value": None},
        {"op": "remove", "path": f"{ENTERPRISE_URN}:manager"},
        {"op": "replace", "value": {f"{ENTERPRISE_URN}:manager": ""}},
        {"op": "replace", "path": ENTERPRISE_URN, "value": {"manager": {"value": ""}}},
    ],
)
def test_manager_removal_variants_become_one_remove(operation: dict[str, object]) -> None:
    assert steps(operation) == [ModelOperation("remove", f"{ENTERPRISE_URN}:manager")]


def test_legacy_manager_path_maps_to_the_enterprise_extension() -> None:
    operation = {
        "op": "Add",
        "path": "manager",
        "value": [{"$ref": "http://h/Users/9", "value": "9"}],
    }
    assert steps(operation) == [
        ModelOperation(
            "add", f"{ENTERPRISE_URN}:manager", {"value": "9", "$ref": "http://h/Users/9"}
        )
    ]


# -- PATCH operations --------------------------------------------------------------------------


def test_path_less_keys_are_paths() -> None:
    result = steps(
        {
            "op": "replace",
            "value": {
                "displayName": "Bjfe",
                "name.givenName": "Kkom",
                f"{ENTERPRISE_URN}:employeeNumber": "Aklq",
                "id": "ignored",
                "schemas": ["ignored"],
            },
        }
    )
    assert result == [
        ModelOperation("replace", "displayName", "Bjfe"),
        ModelOperation("replace", "name.givenName", "Kkom"),
        ModelOperation("replace", f"{ENTERPRISE_URN}:employeeNumber", "Aklq"),
    ]


def test_unknown_operation_members_and_key_case_are_ignored() -> None:
    result = read({"operations": [{"OP": "Add", "Path": "nickName", "Value": "Babs", "name": "x"}]})
    assert result == [ModelOperation("add", "nickName", "Babs")]


def test_replacing_with_null_removes() -> None:
    assert steps({"op": "replace", "path": "title", "value": None}) == [
        ModelOperation("remove", "title")
    ]


def test_roles_values_are_made_canonical() -> None:
    encoded = '{"id":"06b0","value":"25","displayName":"Role1234"}'
    assert steps({"op": "Add", "path": "roles", "value": [{"value": encoded}]}) == [
        ModelOperation("add", "roles", [{"value": "25", "display": "Role1234"}])
    ]


def test_undeclared_extension_paths_are_split_off() -> None:
    assert steps(
        {"op": "replace", "path": f"{CUSTOM}:CustomAttribute", "value": "x"},
        {"op": "add", "value": {f"{CUSTOM}:other": 5}},
        {"op": "remove", "path": f"{CUSTOM}:gone"},
        {"op": "add", "path": CUSTOM, "value": {"a": True}},
    ) == [
        UndeclaredOperation("set", CUSTOM, "CustomAttribute", "x"),
        UndeclaredOperation("set", CUSTOM, "other", 5),
        UndeclaredOperation("remove", CUSTOM, "gone"),
        UndeclaredOperation("set", CUSTOM, None, {"a": True}),
    ]


def test_undeclared_extension_non_scalar_is_refused() -> None:
    with pytest.raises(InvalidValueException):
        steps({"op": "replace", "path": f"{CUSTOM}:CustomAttribute", "value": {"x": 1}})


def test_path_less_remove_has_no_target() -> None:
    with pytest.raises(NoTargetException):
        steps({"op": "Remove"})


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"Operations": []}, InvalidValueException),
        ({"Operations": {"op": "add"}}, InvalidValueException),
        ({}, InvalidValueException),
        ({"Operations": ["add"]}, InvalidValueException),
        ({"Operations": [{"op": "move", "path": "title", "value": "x"}]}, InvalidValueException),
        ({"Operations": [{"op": "replace", "path": "title"}]}, InvalidValueException),
        ({"Operations": [{"op": "add", "path": 5, "value": "x"}]}, InvalidPathException),
        ({"Operations": [{"op": "add", "value": "not an object"}]}, InvalidValueException),
        (
            {"Operations": [{"op": "add", "path": "emails[type eq", "value": "x"}]},
            InvalidPathException,
        ),
    ],
)
def test_malformed_patch_bodies_are_refused(body: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        read(body)


# -- group members -----------------------------------------------------------------------------


def test_member_operations_in_every_entra_shape() -> None:
    assert steps(
        {"op": "Add", "path": "members", "value": [{"$ref": None, "value": "u1"}]},
        {"op": "Add", "path": "members", "value": "u2", "name": "addMember"},
        {"op": "Remove", "path": "members", "value": [{"value": "u3"}]},
        {"op": "remove", "path": 'members[value eq "u4" or value eq "u5"]'},
        {"op": "replace", "path": "members", "value": [{"value": "u6", "display": "Six"}]},
        {"op": "replace", "value": {"members": [{"value": "u7"}], "displayName": "G"}},
        {"op": "remove", "path": f"{GROUP_URN}:members"},
        kind="Group",
    ) == [
        MembersOperation("add", ("u1",)),
        MembersOperation("add", ("u2",)),
        MembersOperation("remove", ("u3",)),
        MembersOperation("remove", ("u4", "u5")),
        MembersOperation("replace", ("u6",), (("u6", "Six"),)),
        MembersOperation("replace", ("u7",)),
        ModelOperation("replace", "displayName", "G"),
        MembersOperation("remove", None),
    ]


@pytest.mark.parametrize(
    ("operation", "error"),
    [
        ({"op": "remove", "path": 'members[display eq "x"]'}, InvalidFilterException),
        (
            {"op": "replace", "path": 'members[value eq "x"].display', "value": "y"},
            InvalidPathException,
        ),
        (
            {"op": "add", "path": 'members[value eq "x"]', "value": {"value": "x"}},
            InvalidPathException,
        ),
        ({"op": "add", "path": "members", "value": [{"display": "no id"}]}, InvalidValueException),
        ({"op": "add", "path": "members", "value": [""]}, InvalidValueException),
        ({"op": "add", "path": "members", "value": None}, InvalidValueException),
    ],
)
def test_member_operations_that_cannot_apply(
    operation: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        steps(operation, kind="Group")


def test_a_value_on_removing_a_single_valued_attribute_is_ignored() -> None:
    assert steps({"op": "Remove", "path": "title", "value": "Dr"}) == [
        ModelOperation("remove", "title")
    ]
    assert steps({"op": "Remove", "path": "emails", "value": [{"value": "a@x.com"}]}) == [
        ModelOperation("remove", "emails", [{"value": "a@x.com"}])
    ]
