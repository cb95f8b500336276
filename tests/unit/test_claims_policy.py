"""Claims-mapping policies (Twilio's guide, both forms) translated into a mapping, and merged into a
TOML file without losing what the file holds."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any

import pytest

from scimbridge.config_merge import MergeError, merge_into_file, render_attributes
from scimbridge.flex.mapping.claims_policy import PolicyError, read_policy, translate
from scimbridge.flex.mapping.config import parse_mapping
from scimbridge.flex.mapping.desired import desired_worker

DATA = Path(__file__).parent.parent / "data" / "claims_policy"
GRAPH = DATA / "claims-mapping-policy.graph-response.json"
UNESCAPED = DATA / "claims-mapping-policy.json"
FLEX_AGENT = "urn:ietf:params:scim:schemas:extension:FlexAgent:2.0:User"
NAME_ID = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier"
MANDATORY = [
    {"Source": "user", "ID": "displayname", "SamlClaimType": "full_name"},
    {"Source": "user", "ID": "assignedroles", "SamlClaimType": "roles"},
    {"Source": "user", "ID": "mail", "SamlClaimType": "email"},
]


def policy(*entries: dict[str, Any]) -> str:
    return json.dumps({"ClaimsMappingPolicy": {"Version": 1, "ClaimsSchema": list(entries)}})


def extension(extension_id: str, claim: str) -> dict[str, str]:
    return {"Source": "user", "ExtensionID": extension_id, "SamlClaimType": claim}


def test_both_forms_of_the_guides_policy_import_into_a_mapping() -> None:
    graph = translate(read_policy(GRAPH.read_text()))
    unescaped = translate(read_policy(UNESCAPED.read_text()))
    assert graph.attributes == {
        "full_name": {"source": "displayName"},
        "email": {"source": 'emails[type eq "work"].value'},
        "exampleclaimattribute": {"source": f"{FLEX_AGENT}:exampleclaimattribute"},
    }
    assert unescaped.attributes == {
        "full_name": {"source": "displayName"},
        "email": {"source": 'emails[type eq "work"].value'},
        "language": {"source": f"{FLEX_AGENT}:language"},
        "team_id": {"source": f"{FLEX_AGENT}:team_id"},
    }
    for translation in (graph, unescaped):
        assert translation.name_id_source == "userName"
        (roles,) = translation.not_carried
        assert "(ID 'assignedroles'): SSO writes the app role values as they are" in roles
        assert "[flex.role_map]" in roles
        flex = tomllib.loads(render_attributes(translation.attributes))["flex"]
        mapping = parse_mapping(flex)
        assert {rule.target for rule in mapping.rules} >= set(translation.attributes)
    rows = {(m.entra, m.scim, m.claim, m.custom) for m in unescaped.provisioning}
    assert rows == {
        ("userPrincipalName", "userName", "NameID", False),
        ("displayName", "displayName", "full_name", False),
        ("AppRoleAssignmentsComplex([appRoleAssignments])", "roles", "roles", False),
        ("mail", 'emails[type eq "work"].value', "email", False),
        (
            "extension_1b2c3d4e5f6a47b8a9c0d1e2f3a4b5c6_language",
            f"{FLEX_AGENT}:language",
            "language",
            True,
        ),
        (
            "extension_1b2c3d4e5f6a47b8a9c0d1e2f3a4b5c6_teamId",
            f"{FLEX_AGENT}:team_id",
            "team_id",
            True,
        ),
    }


def test_a_graph_list_answer_with_one_policy_is_read_like_the_policy() -> None:
    answer = json.loads(GRAPH.read_text())
    listed = json.dumps({"value": [answer]})
    assert read_policy(listed) == read_policy(GRAPH.read_text())


def test_namespaced_claims_and_missing_mandatory_claims_are_reported_not_written() -> None:
    translation = translate(
        read_policy(
            policy(
                {"Source": "user", "ID": "userprincipalname", "SamlClaimType": NAME_ID},
                {
                    "Source": "user",
                    "ID": "mail",
                    "SamlClaimType": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/email",
                },
                {"Source": "user", "ID": "department", "SamlClaimType": "department"},
            )
        )
    )
    assert list(translation.attributes) == ["department"]
    namespaced, *missing = translation.not_carried
    assert "ClaimsSchema entry 2 (ID 'mail')" in namespaced
    assert "Flex ignores namespaced claims" in namespaced
    assert [note.split("'")[1] for note in missing] == ["email", "full_name", "roles"]
    assert all("45050" in note for note in missing)


def test_type_suffixes_give_the_json_type_sso_would() -> None:
    translation = translate(
        read_policy(
            policy(
                *MANDATORY,
                extension("extension_a_level", "skill.int"),
                extension("extension_a_vip", "vip.boolean"),
                {"Source": "user", "ID": "jobtitle", "SamlClaimType": "channel.chat.capacity.int"},
            )
        )
    )  # fmt: skip
    assert translation.attributes["skill"] == {"source": f"{FLEX_AGENT}:skill", "type": "int"}
    assert translation.attributes["vip"] == {"source": f"{FLEX_AGENT}:vip", "type": "bool"}
    assert translation.attributes["channel.chat.capacity"]["type"] == "int"
    parse_mapping(tomllib.loads(render_attributes(translation.attributes))["flex"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not JSON"),
        ('{"id": "x", "displayName": "y"}', "not a claims-mapping policy"),
        ('{"definition": ["{oops"]}', "definition[0] is not JSON"),
        ('{"value": []}', "lists 0 policies"),
        (policy({"Source": "user", "ID": "favouritecolour", "SamlClaimType": "colour"}),
         "ClaimsSchema entry 1 (ID 'favouritecolour'): unknown user property"),
        (policy({"Source": "user", "SamlClaimType": "x"}), "entry 1 ('x') needs exactly one of"),
        (policy({"Source": "application", "ID": "displayname", "SamlClaimType": "x"}),
         "has Source 'application'"),
        (policy({"Source": "user", "ExtensionID": "language", "SamlClaimType": "x"}),
         "not a directory extension property"),
        (policy(*MANDATORY, {"Source": "user", "ID": "jobtitle", "SamlClaimType": "email"}),
         "ClaimsSchema entry 4 (ID 'jobtitle'): writes the worker attribute 'email', as "
         "ClaimsSchema entry 3 (ID 'mail') already does"),
        (policy({"Source": "user", "ID": "mail", "SamlClaimType": "skills.intarray"}),
         "a list of ints"),
        (policy({"Source": "user", "ExtensionID": "extension_a_b", "SamlClaimType": "1.b"}),
         "gives no SCIM attribute name"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_naming_the_entry(text: str, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        translate(read_policy(text))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("claim", ["routing.skills", "disabled_skills", "team_sid", "routing"])
def test_a_claim_no_sso_login_may_set_is_refused(claim: str) -> None:
    text = policy(*MANDATORY, {"Source": "user", "ID": "department", "SamlClaimType": claim})
    with pytest.raises(PolicyError, match=rf"entry 4 \(ID 'department'\): the claim '{claim}'"):
        translate(read_policy(text))


def test_a_dotted_claim_from_an_extension_arrives_camel_cased_and_says_so() -> None:
    text = policy(*MANDATORY, extension("extension_a_chat", "channel.chat.capacity.int"))
    translation = translate(read_policy(text))
    assert translation.attributes["channel.chat.capacity"] == {
        "source": f"{FLEX_AGENT}:channelChatCapacity",
        "type": "int",
    }
    assert translation.provisioning[-1].scim == f"{FLEX_AGENT}:channelChatCapacity"
    roles, note = translation.not_carried
    assert "assignedroles" in roles
    assert "custom_extensions = true the worker also gets 'channelChatCapacity'" in note
    mapping = parse_mapping(tomllib.loads(render_attributes(translation.attributes))["flex"])
    user = {"userName": "ann", FLEX_AGENT: {"channelChatCapacity": "3"}}
    assert desired_worker(user, [], mapping).attributes["channel.chat.capacity"] == 3


@pytest.mark.parametrize("claim", ["team_id", "team_name", "channel.voice.capacity.int", "phone"])
def test_claims_flex_insights_and_capacity_use_are_carried_over(claim: str) -> None:
    text = policy(*MANDATORY, {"Source": "user", "ID": "department", "SamlClaimType": claim})
    translation = translate(read_policy(text))
    parse_mapping(tomllib.loads(render_attributes(translation.attributes))["flex"])


EXISTING = """\
# scimbridge settings, kept by hand
[scim.limits]
max_results = 200   # Entra pages at 100

[flex]
friendly_name = "userName"
on_disable = "delete"

[flex.role_map]
"Flex Supervisor" = "supervisor"

[flex.attributes.department]   # from the enterprise extension
source = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"

[flex.attributes.email]
source = "userName"

[sync]
max_attempts = 5
"""


def test_write_keeps_every_other_table_and_comment_and_reports_replaced_rules(
    tmp_path: Path,
) -> None:
    target = tmp_path / "scimbridge.toml"
    target.write_text(EXISTING)
    os.chmod(target, 0o600)
    translation = translate(read_policy(UNESCAPED.read_text()))
    result = merge_into_file(target, translation.attributes)
    assert result.replaced == ("email",)
    assert result.added == ("full_name", "language", "team_id")
    text = target.read_text()
    for line in EXISTING.splitlines():
        if line not in ("[flex.attributes.email]", 'source = "userName"'):
            assert line in text
    merged = tomllib.loads(text)
    assert merged["sync"] == {"max_attempts": 5}
    assert merged["scim"] == {"limits": {"max_results": 200}}
    assert merged["flex"]["role_map"] == {"Flex Supervisor": "supervisor"}
    assert merged["flex"]["on_disable"] == "delete"
    assert merged["flex"]["attributes"] == {
        "department": {
            "source": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"
        },
        **translation.attributes,
    }
    parse_mapping(merged["flex"])
    assert os.stat(target).st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scimbridge.toml"]


def test_write_creates_a_missing_file(tmp_path: Path) -> None:
    target = tmp_path / "new.toml"
    translation = translate(read_policy(GRAPH.read_text()))
    merge_into_file(target, translation.attributes)
    assert tomllib.loads(target.read_text())["flex"]["attributes"] == translation.attributes


@pytest.mark.parametrize(
    ("content", "message"),
    [("[flex\nbroken", "is not TOML"), ("[flex]\nattributes = 3\n", "[flex.attributes]")],
)
def test_write_refuses_a_file_it_cannot_merge_into_and_leaves_it_as_it_was(
    tmp_path: Path, content: str, message: str
) -> None:
    target = tmp_path / "scimbridge.toml"
    target.write_text(content)
    translation = translate(read_policy(GRAPH.read_text()))
    with pytest.raises(MergeError) as caught:
        merge_into_file(target, translation.attributes)
    assert message in str(caught.value)
    assert target.read_text() == content
    assert [p.name for p in tmp_path.iterdir()] == ["scimbridge.toml"]
