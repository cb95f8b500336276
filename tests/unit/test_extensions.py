"""Custom extensions declared in the configuration become scim2-models classes and discovery."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError
from scim2_models import Context

from scimbridge.config.errors import ConfigError
from scimbridge.config.settings import ExtensionAttribute, ExtensionSchema, load_settings
from scimbridge.scim.extensions import ENTERPRISE_URN, GROUP_URN, USER_URN, ResourceModels

ACME = "urn:ietf:params:scim:schemas:extension:Acme:2.0:User"


def acme() -> ExtensionSchema:
    return ExtensionSchema(
        urn=ACME,
        name="Acme",
        description="Acme contact-centre attributes",
        attributes=(
            ExtensionAttribute("skillLevel", "integer", "Agent skill"),
            ExtensionAttribute("isAgent", "boolean"),
            ExtensionAttribute("team", "string"),
            ExtensionAttribute("hiredOn", "dateTime"),
            ExtensionAttribute("ratio", "decimal"),
            ExtensionAttribute("site", "reference"),
        ),
    )


def test_extensions_come_from_the_toml_settings() -> None:
    settings = load_settings(
        env={},
        document={
            "scim": {
                "extensions": [
                    {"urn": ACME, "attributes": {"skillLevel": "integer", "team": "string"}}
                ]
            }
        },
    )
    models = ResourceModels(settings.extensions)
    assert models.declared_urns == {ENTERPRISE_URN.lower(), ACME.lower()}


def test_declared_attributes_are_typed() -> None:
    models = ResourceModels([acme()])
    user = models.user_model.model_validate(
        {
            "userName": "bjensen",
            ACME.lower(): {
                "SkillLevel": "5",
                "isAgent": "True",
                "team": "Blue",
                "hiredOn": "2024-03-01T09:00:00Z",
                "ratio": 0.5,
                "site": "https://example.com/sites/1",
            },
        },
        scim_ctx=Context.RESOURCE_CREATION_REQUEST,
        scim_policy=models.policy,
    )
    assert user.model_dump(scim_ctx=Context.DEFAULT)[ACME] == {
        "skillLevel": 5,
        "isAgent": True,
        "team": "Blue",
        "hiredOn": "2024-03-01T09:00:00Z",
        "ratio": 0.5,
        "site": "https://example.com/sites/1",
    }


@pytest.mark.parametrize(
    "attributes",
    [{"skillLevel": "high"}, {"isAgent": "maybe"}, {"team": 5}, {"hiredOn": "yesterday"}],
)
def test_a_wrong_type_is_refused(attributes: dict[str, object]) -> None:
    models = ResourceModels([acme()])
    with pytest.raises(ValidationError):
        models.user_model.model_validate(
            {"userName": "bjensen", ACME: attributes},
            scim_ctx=Context.RESOURCE_CREATION_REQUEST,
            scim_policy=models.policy,
        )


def test_schemas_describe_core_enterprise_and_declared_extensions() -> None:
    schemas = {schema["id"]: schema for schema in ResourceModels([acme()]).schemas()}
    assert list(schemas) == [USER_URN, GROUP_URN, ENTERPRISE_URN, ACME]
    assert schemas[USER_URN]["description"] == "User Account"
    assert schemas[ACME]["name"] == "Acme"
    attributes = {attribute["name"]: attribute for attribute in schemas[ACME]["attributes"]}
    assert attributes["skillLevel"]["type"] == "integer"
    assert attributes["hiredOn"]["type"] == "dateTime"
    assert attributes["isAgent"]["mutability"] == "readWrite"
    text = json.dumps(list(schemas.values()))
    assert "null" not in text
    assert "read_write" not in text
    group_attributes = {attribute["name"] for attribute in schemas[GROUP_URN]["attributes"]}
    assert group_attributes == {"displayName", "members"}


def test_resource_types_list_users_with_their_extensions_then_groups() -> None:
    user, group = ResourceModels([acme()]).resource_types()
    assert user["endpoint"] == "/Users"
    assert user["schema"] == USER_URN
    assert [ext["schema"] for ext in user["schemaExtensions"]] == [ENTERPRISE_URN, ACME]
    assert group["endpoint"] == "/Groups"
    assert group["schema"] == GROUP_URN


def test_without_declared_extensions_users_still_carry_the_enterprise_one() -> None:
    models = ResourceModels([])
    assert models.declared_urns == {ENTERPRISE_URN.lower()}
    assert [schema["id"] for schema in models.schemas()] == [USER_URN, GROUP_URN, ENTERPRISE_URN]


@pytest.mark.parametrize("urn", [ENTERPRISE_URN, ACME.upper().replace("URN:", "urn:")])
def test_an_extension_declared_twice_is_a_configuration_error(urn: str) -> None:
    again = ExtensionSchema(urn=urn, name="Again", attributes=(ExtensionAttribute("x"),))
    with pytest.raises(ConfigError):
        ResourceModels([acme(), again])
