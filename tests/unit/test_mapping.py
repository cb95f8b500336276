"""The Flex mapping: config parsing, desired worker attributes, merge, size limit and hash."""

from __future__ import annotations

import copy
import json
import tomllib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scimbridge.config.settings import load_settings
from scimbridge.flex.mapping.attributes import (
    DesiredWorker,
    attributes_hash,
    merge_attributes,
)
from scimbridge.flex.mapping.config import DeprovisionPolicy, coerce, parse_mapping
from scimbridge.flex.mapping.desired import desired_worker, explain
from scimbridge.flex.mapping.expressions import MappingError
from scimbridge.flex.mapping.identity import IdentityError
from scimbridge.flex.twilio.errors import AttributesTooLarge
from scimbridge.flex.twilio.taskrouter import encode_attributes

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
FLEX_AGENT = "urn:ietf:params:scim:schemas:extension:FlexAgent:2.0:User"
ANN: dict[str, Any] = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
    "userName": "ann.lee@contoso.com",
    "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
    "active": True,
    "displayName": "Ann Lee",
    "name": {"givenName": "Ann", "familyName": "Lee", "formatted": "Ann Lee"},
    "emails": [{"value": "ann.lee@contoso.com", "type": "work", "primary": True}],
    "roles": [
        {
            "value": "Flex Supervisor",
            "display": "Flex Supervisor",
            "type": "WindowsAzureActiveDirectoryRole",
            "primary": False,
        }
    ],
    ENTERPRISE: {
        "department": "Sales",
        "manager": {"value": "26118915-6090-4d97-8d3b-d0f8cd1a9f0c"},
    },
    FLEX_AGENT: {"skillLevel": 3, "site": "London"},
}

README_TOML = """
[flex]
friendly_name = "userName"
default_roles = ["agent"]
custom_extensions = true
on_disable = "offline"
unavailable_activity = "Offline"
on_delete = "delete"
mode = "taskrouter"
[flex.role_map]
"Flex Supervisor" = "supervisor"
[flex.attributes.department]
source = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"
default = "unassigned"
[flex.attributes.location]
expression = 'Coalesce([addresses[type eq "work"].locality], "remote")'
[flex.attributes.tier]
constant = "gold"
[flex.attributes."skill_level"]
source = "urn:ietf:params:scim:schemas:extension:FlexAgent:2.0:User:skillLevel"
type = "int"
"""


def user(**changes: Any) -> dict[str, Any]:
    document = copy.deepcopy(ANN)
    for key, value in changes.items():
        if value is None:
            document.pop(key, None)
        else:
            document[key] = value
    return document


# --- defaults with no configuration -------------------------------------------------------------


def test_defaults_with_no_config() -> None:
    worker = desired_worker(ANN, [], parse_mapping({}))
    assert worker.friendly_name == "ann.lee@contoso.com"
    assert worker.active is True
    assert worker.attributes == {
        "email": "ann.lee@contoso.com",
        "full_name": "Ann Lee",
        "roles": ["agent"],
        "contact_uri": "client:ann_2Elee_40contoso_2Ecom",
        "skillLevel": 3,
        "site": "London",
    }
    assert worker.owned_keys == set(worker.attributes)
    assert worker.problems == (
        "roles: no Flex role for 'Flex Supervisor' (add it to [flex.role_map]); dropped",
    )


def test_enterprise_extension_is_not_copied_by_default() -> None:
    worker = desired_worker(ANN, [], parse_mapping({}))
    assert "department" not in worker.attributes and "manager" not in worker.attributes


@pytest.mark.parametrize(
    ("emails", "expected"),
    [
        (
            [{"value": "p@x", "type": "home", "primary": True}, {"value": "w@x", "type": "work"}],
            "w@x",
        ),
        (
            [{"value": "o@x", "type": "other"}, {"value": "p@x", "type": "home", "primary": True}],
            "p@x",
        ),
        ([{"value": "first@x", "type": "home"}, {"value": "second@x"}], "first@x"),
        (None, "ann.lee@contoso.com"),
    ],
)
def test_email_prefers_work_then_primary_then_first_then_username(
    emails: Any, expected: str
) -> None:
    assert (
        desired_worker(user(emails=emails), [], parse_mapping({})).attributes["email"] == expected
    )


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, "Ann Lee"),
        ({"displayName": None}, "Ann Lee"),
        ({"displayName": None, "name": {"givenName": "Ann", "familyName": "Lee"}}, "Ann Lee"),
        ({"displayName": None, "name": {"givenName": "Ann"}}, "Ann"),
        ({"displayName": "Annie", "name": {"formatted": "Ann Lee"}}, "Annie"),
    ],
)
def test_full_name_prefers_display_name_then_formatted_then_given_family(
    changes: dict[str, Any], expected: str
) -> None:
    assert (
        desired_worker(user(**changes), [], parse_mapping({})).attributes["full_name"] == expected
    )


def test_user_with_no_name_at_all_owns_full_name_but_does_not_write_it() -> None:
    worker = desired_worker(user(displayName=None, name=None), [], parse_mapping({}))
    assert "full_name" not in worker.attributes
    assert "full_name" in worker.owned_keys


def test_custom_extensions_can_be_turned_off() -> None:
    worker = desired_worker(ANN, [], parse_mapping({"custom_extensions": False}))
    assert "skillLevel" not in worker.owned_keys and "site" not in worker.owned_keys


def test_custom_extension_attribute_named_like_a_foreign_key_is_never_owned() -> None:
    document = user(**{FLEX_AGENT: {"team_sid": "WT1", "routing": "x", "site": "Leeds"}})
    worker = desired_worker(document, [], parse_mapping({}))
    assert worker.attributes["site"] == "Leeds"
    assert not {"team_sid", "routing"} & worker.owned_keys
    assert any(problem.startswith("team_sid:") for problem in worker.problems)
    assert not {"team_sid", "routing"} & parse_mapping({}).owned_keys(document)


def test_same_attribute_in_two_extensions_first_urn_wins_and_is_reported() -> None:
    other = "urn:ietf:params:scim:schemas:extension:Acme:2.0:User"
    worker = desired_worker(user(**{other: {"site": "Paris"}}), [], parse_mapping({}))
    assert worker.attributes["site"] == "Paris"
    assert any("site: also in" in problem for problem in worker.problems)


def test_complex_extension_value_is_reported_not_written() -> None:
    worker = desired_worker(user(**{FLEX_AGENT: {"badge": {"x": 1}}}), [], parse_mapping({}))
    assert "badge" not in worker.attributes
    assert any(problem.startswith("badge: is a complex value") for problem in worker.problems)


def test_role_map_and_group_roles_feed_roles() -> None:
    mapping = parse_mapping(
        {
            "role_map": {"Flex Supervisor": "supervisor"},
            "group_roles": {"QA": "wfo.quality_manager"},
        }
    )
    worker = desired_worker(ANN, ["QA"], mapping)
    assert worker.attributes["roles"] == ["supervisor", "wfo.quality_manager"]
    assert worker.problems == ()


def test_owned_keys_match_what_desired_worker_owns() -> None:
    mapping = parse_mapping(tomllib.loads(README_TOML)["flex"])
    assert mapping.owned_keys(ANN) == desired_worker(ANN, [], mapping).owned_keys
    assert mapping.owned_keys(ANN) == {
        "email", "full_name", "roles", "contact_uri", "department", "location", "tier",
        "skill_level", "skillLevel", "site",
    }  # fmt: skip


# --- configured rules -----------------------------------------------------------------------------


def test_readme_example_config() -> None:
    mapping = parse_mapping(tomllib.loads(README_TOML)["flex"])
    worker = desired_worker(ANN, [], mapping)
    assert worker.attributes["department"] == "Sales"
    assert worker.attributes["location"] == "remote"
    assert worker.attributes["tier"] == "gold"
    assert worker.attributes["skill_level"] == 3
    assert worker.attributes["roles"] == ["supervisor"]
    no_department = user(**{ENTERPRISE: {}})
    assert desired_worker(no_department, [], mapping).attributes["department"] == "unassigned"


def test_settings_flex_section_parses() -> None:
    settings = load_settings(env={}, document=tomllib.loads(README_TOML))
    assert parse_mapping(settings.flex).friendly_name_source == "userName"


def test_deprovision_policy_defaults_and_choices() -> None:
    assert parse_mapping({}).deprovision_policy == DeprovisionPolicy(
        on_disable="offline",
        unavailable_activity="Offline",
        available_activity=None,
        on_delete="delete",
    )
    mapping = parse_mapping(
        {
            "on_disable": "delete",
            "on_delete": "offline",
            "available_activity": "Available",
            "mode": "users_api",
        }
    )
    assert mapping.deprovision_policy.on_disable == "delete"
    assert mapping.deprovision_policy.on_delete == "offline"
    assert mapping.deprovision_policy.available_activity == "Available"
    assert mapping.mode == "users_api"
    assert parse_mapping({"default_roles": ["supervisor"]}).default_roles == ("supervisor",)


def test_builtin_can_be_overridden_or_disowned() -> None:
    mapping = parse_mapping(
        {
            "attributes": {
                "email": {"source": 'emails[type eq "home"].value', "default": "none@contoso.com"},
                "full_name": {"enabled": False},
            }
        }
    )
    worker = desired_worker(ANN, [], mapping)
    assert worker.attributes["email"] == "none@contoso.com"
    assert "full_name" not in worker.owned_keys


def test_friendly_name_source_is_configurable() -> None:
    mapping = parse_mapping({"friendly_name": "externalId"})
    worker = desired_worker(ANN, [], mapping)
    assert worker.friendly_name == ANN["externalId"]
    assert worker.attributes["contact_uri"].startswith("client:0a21f0f2_2D8d2a")


def test_too_long_friendly_name_stops_the_user() -> None:
    with pytest.raises(IdentityError, match="at most 64"):
        desired_worker(user(userName="x" * 65), [], parse_mapping({}))


def test_expressions_see_is_soft_deleted_and_groups() -> None:
    mapping = parse_mapping(
        {
            "attributes": {
                "enabled": {
                    "expression": 'Switch([IsSoftDeleted], , "False", "True", "True", "False")',
                    "type": "bool",
                },
                "teams": {"source": "groups", "type": "string_list"},
            }
        }
    )
    active = desired_worker(ANN, ["Sales", "QA"], mapping)
    disabled = desired_worker(user(active="False"), [], mapping)
    assert active.attributes["enabled"] is True and active.attributes["teams"] == ["Sales", "QA"]
    assert disabled.attributes["enabled"] is False and disabled.active is False
    assert "teams" not in disabled.attributes


def test_value_that_cannot_be_coerced_is_a_problem_not_a_failure() -> None:
    mapping = parse_mapping({"attributes": {"level": {"source": "displayName", "type": "int"}}})
    worker = desired_worker(ANN, [], mapping)
    assert "level" not in worker.attributes and "level" in worker.owned_keys
    assert worker.problems[-1] == "level: 'Ann Lee' is not a whole number"
    assert worker.attributes["email"] == "ann.lee@contoso.com"


@pytest.mark.parametrize(
    ("value", "attribute_type", "expected"),
    [
        ("Sales", "string", ("Sales", None)),
        (3, "string", ("3", None)),
        (True, "string", ("True", None)),
        (["", "a", "b"], "string", ("a", None)),
        ({"value": "boss"}, "string", ("boss", None)),
        ({"x": 1}, "string", (None, "is a complex value with no 'value' to use")),
        ("", "string", (None, None)),
        (None, "int", (None, None)),
        ("42", "int", (42, None)),
        (" 7 ", "int", (7, None)),
        (3.0, "int", (3, None)),
        (3.5, "int", (None, "3.5 is not a whole number")),
        (True, "int", (None, "True is not a whole number")),
        ("abc", "int", (None, "'abc' is not a whole number")),
        ("TRUE", "bool", (True, None)),
        ("no", "bool", (False, None)),
        (0, "bool", (False, None)),
        (False, "bool", (False, None)),
        ("maybe", "bool", (None, "'maybe' is not true or false")),
        ("a", "string_list", (["a"], None)),
        (["a", None, "", 2], "string_list", (["a", "2"], None)),
        ([], "string_list", (None, None)),
    ],
)
def test_coercion_rules(value: Any, attribute_type: Any, expected: tuple[Any, str | None]) -> None:
    assert coerce(value, attribute_type) == expected


def test_explain_says_where_each_value_came_from() -> None:
    mapping = parse_mapping(tomllib.loads(README_TOML)["flex"])
    rows = {
        target: (value, origin)
        for target, value, origin in explain(user(**{ENTERPRISE: {}}), [], mapping)
    }
    assert rows["(friendly_name)"] == ("ann.lee@contoso.com", "source userName")
    assert rows["(active)"] == (True, "active")
    assert rows["department"] == (
        "unassigned",
        f"source {ENTERPRISE}:department was empty; default",
    )
    assert rows["tier"] == ("gold", "constant")
    assert rows["roles"] == (["supervisor"], "supervisor from role 'Flex Supervisor'")
    assert rows["site"] == ("London", f"custom extension {FLEX_AGENT}")


def test_explain_keeps_going_when_the_friendly_name_is_refused() -> None:
    rows = explain(user(userName=None), [], parse_mapping({}))
    assert rows[0][0] == "(friendly_name)" and rows[0][1] is None
    assert "will not sync" in rows[0][2]
    assert (
        "contact_uri",
        None,
        "client: + escaped friendly_name; not written: no friendly_name",
    ) in rows


# --- config errors --------------------------------------------------------------------------------


def rule(target: str, spec: Any = None, **fields: Any) -> dict[str, Any]:
    """A ``[flex]`` section with one ``[flex.attributes.<target>]`` table."""
    return {"attributes": {target: fields if spec is None else spec}}


OWNED_BY_OTHERS = "the target is not the directory's"


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"bogus": 1}, "flex.bogus: unknown key"),
        ({"mode": "graph"}, "flex.mode: must be one of 'taskrouter', 'users_api', got 'graph'"),
        ({"on_disable": "wipe"}, "flex.on_disable: must be one of"),
        ({"on_delete": 1}, "flex.on_delete: must be one of"),
        ({"unavailable_activity": ""}, "flex.unavailable_activity: must be a non-empty string"),
        ({"friendly_name": "emails[type eq]"}, "flex.friendly_name: expected a quoted string"),
        ({"custom_extensions": "yes"}, "flex.custom_extensions: must be true or false"),
        ({"default_roles": ["boss"]}, "flex.default_roles: 'boss' is not a Flex role"),
        ({"role_map": {"X": "flex.readonlyadmin"}}, "flex.role_map.X: 'flex.readonlyadmin' is not"),
        ({"group_roles": []}, "flex.group_roles: must be a table"),
        ({"attributes": []}, "flex.attributes: must be a table of worker keys"),
        (rule("routing", constant="x"), f"flex.attributes.routing: {OWNED_BY_OTHERS}"),
        (
            rule("routing.skills", constant="x"),
            f'flex.attributes."routing.skills": {OWNED_BY_OTHERS}',
        ),
        (rule("team_sid", constant="x"), f"flex.attributes.team_sid: {OWNED_BY_OTHERS}"),
        (
            rule("disabled_skills", constant="x"),
            f"flex.attributes.disabled_skills: {OWNED_BY_OTHERS}",
        ),
        (rule("routing.levels", constant=1), "the Flex skills UI, supervisors and plugins"),
        (rule("Disabled_Skills", constant=1), "the Flex skills UI writes disabled skills"),
        (rule("team_sid", constant=1), "the Flex Teams page writes team_sid"),
        (rule("http://schemas.xmlsoap.org/claims/email", constant="x"), "must be a bare name"),
        (rule("urn:x", constant="x"), "must be a bare name"),
        (rule("a b", constant="x"), "without spaces"),
        (rule("x", "userName"), "flex.attributes.x: must be a table"),
        (rule("x"), "flex.attributes.x: needs exactly one of"),
        (rule("x", source="a", constant=1), "flex.attributes.x: needs exactly one of"),
        (rule("x", source="a", colour=1), "flex.attributes.x.colour: unknown key"),
        (rule("x", source="a["), "flex.attributes.x.source: expected an attribute name"),
        (rule("x", source=5), "flex.attributes.x.source: must be a string"),
        (
            rule("x", expression="Nope()"),
            "flex.attributes.x.expression: unknown function 'Nope' at position 1",
        ),
        (rule("x", source="a", type="float"), "flex.attributes.x.type: must be one of"),
        (
            rule("x", source="a", type="int", default="n/a"),
            "flex.attributes.x.default: 'n/a' is not a whole number",
        ),
        (
            rule("x", constant="x", type="bool"),
            "flex.attributes.x.constant: 'x' is not true or false",
        ),
        (rule("x", source="a", enabled="no"), "flex.attributes.x.enabled: must be true or false"),
    ],
)
def test_every_config_problem_names_its_toml_key(raw: dict[str, Any], problem: str) -> None:
    with pytest.raises(MappingError) as caught:
        parse_mapping(raw)
    assert any(problem in found for found in caught.value.problems), caught.value.problems


def test_all_config_problems_are_reported_at_once() -> None:
    raw = {"mode": "x", "on_delete": "x", "attributes": {"routing": {"constant": 1}, "y": {}}}
    with pytest.raises(MappingError) as caught:
        parse_mapping(raw)
    assert len(caught.value.problems) == 4
    assert str(caught.value).startswith("[flex] has 4 problem(s):")


def test_constant_keeps_its_toml_type_without_an_explicit_type() -> None:
    mapping = parse_mapping(
        {
            "attributes": {
                "n": {"constant": 5},
                "b": {"constant": True},
                "l": {"constant": ["a", "b"]},
            }
        }
    )
    attributes = desired_worker(ANN, [], mapping).attributes
    assert (attributes["n"], attributes["b"], attributes["l"]) == (5, True, ["a", "b"])


# --- merging into the worker's current attributes ------------------------------------------------

FOREIGN = {
    "routing": {"skills": ["sales", "support"], "levels": {"sales": 3}},
    "disabled_skills": {"skills": [], "levels": {}},
    "team_sid": "WT00000000000000000000000000000000",
    "team_name": "London",
    "channel.voice.capacity": 2,
    "counselorLanguage": "en",
}


def test_merge_overwrites_owned_keys_and_keeps_everyone_elses() -> None:
    current = {
        **FOREIGN,
        "email": "old@contoso.com",
        "full_name": "Old Name",
        "image_url": "https://x",
    }
    desired = desired_worker(ANN, [], parse_mapping({}))
    merged = merge_attributes(current, desired, previously_owned=())
    for key, value in FOREIGN.items():
        assert merged[key] == value
    assert merged["image_url"] == "https://x"
    assert merged["email"] == "ann.lee@contoso.com" and merged["full_name"] == "Ann Lee"


def test_merge_drops_keys_owned_before_but_no_longer_produced() -> None:
    current = {**FOREIGN, "site": "London", "oldKey": "x", "full_name": "Ann"}
    desired = DesiredWorker("ann", {"email": "a@x"}, owned_keys=frozenset({"email", "full_name"}))
    merged = merge_attributes(current, desired, previously_owned={"site", "oldKey"})
    assert merged == {**FOREIGN, "email": "a@x"}


def test_merge_never_touches_keys_no_claim_can_set_even_if_claimed() -> None:
    desired = DesiredWorker(
        "ann", {"team_sid": "WTx", "email": "a@x"}, owned_keys=frozenset({"routing"})
    )
    merged = merge_attributes(
        FOREIGN, desired, previously_owned={"routing.levels", "disabled_skills"}
    )
    assert merged == {**FOREIGN, "email": "a@x"}


SSO_CLAIM_KEYS = {
    "team_id": "T-7",
    "team_name": "London",
    "team_name_in_hierarchy": "UK,London,Sales",
    "department": "Sales",
    "location": "London",
    "manager": "Bea Ruiz",
    "phone": "+441632960000",
    "image_url": "https://example.com/ann.png",
    "channel.chat.capacity": 3,
    "channel.voice.availability": True,
}


def test_every_key_an_sso_claim_can_set_may_be_mapped_and_is_written() -> None:
    attributes = {key: {"constant": value} for key, value in SSO_CLAIM_KEYS.items()}
    desired = desired_worker(ANN, [], parse_mapping({"attributes": attributes}))
    assert SSO_CLAIM_KEYS.items() <= desired.attributes.items()
    merged = merge_attributes({"team_name": "Paris", "channel.chat.capacity": 1}, desired, ())
    assert SSO_CLAIM_KEYS.items() <= merged.items()


def test_a_custom_extension_attribute_named_team_id_is_written() -> None:
    worker = desired_worker(user(**{FLEX_AGENT: {"team_id": "T-7"}}), [], parse_mapping({}))
    assert worker.attributes["team_id"] == "T-7" and "team_id" in worker.owned_keys
    assert not [problem for problem in worker.problems if problem.startswith("team_id")]


def test_an_unmapped_sso_claim_key_is_left_alone() -> None:
    desired = desired_worker(ANN, [], parse_mapping({}))
    merged = merge_attributes({"team_name": "London", "channel.chat.capacity": 3}, desired, ())
    assert (merged["team_name"], merged["channel.chat.capacity"]) == ("London", 3)


def test_a_key_mapped_before_and_unmapped_now_is_removed_like_any_other() -> None:
    desired = desired_worker(ANN, [], parse_mapping({}))
    merged = merge_attributes({"team_name": "London"}, desired, previously_owned={"team_name"})
    assert "team_name" not in merged


KEYS = st.sampled_from(
    [
        "email",
        "full_name",
        "roles",
        "site",
        "routing",
        "team_sid",
        "channel.voice.capacity",
        "x",
        "y",
    ]
)
VALUES = st.one_of(st.text(max_size=5), st.integers(), st.lists(st.text(max_size=3), max_size=2))


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    current=st.dictionaries(KEYS, VALUES),
    desired_attributes=st.dictionaries(KEYS, VALUES),
    owned=st.frozensets(KEYS),
    previously_owned=st.frozensets(KEYS),
)
def test_merge_never_changes_a_key_outside_owned_keys(
    current: dict[str, Any],
    desired_attributes: dict[str, Any],
    owned: frozenset[str],
    previously_owned: frozenset[str],
) -> None:
    desired = DesiredWorker("u", desired_attributes, owned_keys=owned | set(desired_attributes))
    merged = merge_attributes(current, desired, previously_owned)
    touchable = (desired.owned_keys | previously_owned) - {"routing", "team_sid"}
    for key in set(current) | set(merged):
        if key not in touchable:
            assert merged.get(key) == current.get(key)
    for key in touchable:
        assert merged.get(key) == desired_attributes.get(key)


# --- serialization --------------------------------------------------------------------------------


def test_encoded_attributes_are_minified_and_count_characters_not_bytes() -> None:
    assert encode_attributes({"b": 1, "a": {"x": "é"}}) == '{"b":1,"a":{"x":"é"}}'
    assert attributes_hash({"b": 1, "a": 2}) == attributes_hash({"a": 2, "b": 1})


def test_encoded_attributes_allow_exactly_4096_characters_and_refuse_more() -> None:
    padding = 4096 - len('{"k":""}')
    assert len(encode_attributes({"k": "x" * padding})) == 4096
    with pytest.raises(AttributesTooLarge) as caught:
        encode_attributes({"k": "x" * (padding + 1)})
    assert caught.value.length == 4097
    assert (
        "4097 characters" in caught.value.message
        and "Largest keys: k (4095)" in caught.value.message
    )


def test_too_large_is_raised_never_truncated() -> None:
    attributes = {**FOREIGN, "bio": "é" * 4000}
    original = copy.deepcopy(attributes)
    with pytest.raises(AttributesTooLarge):
        encode_attributes(attributes)
    assert attributes == original
    assert len(json.dumps(attributes, ensure_ascii=False)) > 4096


def test_attributes_hash_is_stable_and_content_sensitive() -> None:
    assert attributes_hash({"a": 1, "b": [1, 2]}) == attributes_hash({"b": [1, 2], "a": 1})
    assert attributes_hash({"a": 1}) != attributes_hash({"a": "1"})
    assert attributes_hash({"a": 1}) != attributes_hash({"a": 1, "b": None})
    assert len(attributes_hash({})) == 64


def test_unchanged_user_hashes_the_same() -> None:
    mapping = parse_mapping(tomllib.loads(README_TOML)["flex"])
    first = desired_worker(ANN, ["QA"], mapping).attributes
    again = desired_worker(copy.deepcopy(ANN), ["QA"], mapping).attributes
    renamed = desired_worker(user(displayName="Ann B. Lee"), ["QA"], mapping).attributes
    assert attributes_hash(first) == attributes_hash(again) != attributes_hash(renamed)
