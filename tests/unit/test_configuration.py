"""The whole configuration is read once: every problem of the variables, the database URL and every
table ([sync], [flex], [auth], …) is named at once, each with its variable or TOML key path."""

from __future__ import annotations

import pytest

from scimbridge.config.errors import ConfigError
from scimbridge.config.settings import load_settings
from scimbridge.configuration import configuration_of, load_configuration

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"


def test_problems_of_every_section_are_named_in_one_error() -> None:
    document = {
        "sync": {"max_attempts": 0},
        "flex": {"mode": "x", "attributes": {"routing": {"constant": 1}}},
        "auth": {"throttle": {"max_failures": 0}, "tokens": {}},
    }
    env = {"SCIMBRIDGE_DATABASE_URL": "sqlte:///x.db", "SCIMBRIDGE_LOG_FORMAT": "xml"}
    with pytest.raises(ConfigError) as caught:
        load_configuration(env=env, document=document)
    problems = caught.value.problems
    expected = [
        "SCIMBRIDGE_LOG_FORMAT must be plain or json",
        "sync.max_attempts must be at least 1, got 0",
        "SCIMBRIDGE_DATABASE_URL starts with 'sqlte'",
        "flex.mode: must be one of 'taskrouter', 'users_api', got 'x'",
        "flex.attributes.routing: the target is not the directory's",
        "unknown [auth] keys: tokens",
        "auth.throttle.max_failures must be at least 1, got 0",
    ]
    assert len(problems) == len(expected), problems
    for problem, start in zip(problems, expected, strict=True):
        assert problem.startswith(start), (problem, start)
    message = str(caught.value)
    assert message.startswith("7 problems:\n  ")
    assert message.count("\n  ") == 7, "one problem a line"


def test_problems_all_in_one_table_say_the_table() -> None:
    with pytest.raises(ConfigError) as caught:
        load_configuration(env={}, document={"flex": {"mode": "x", "on_delete": "y"}})
    assert str(caught.value).startswith("[flex] has 2 problem(s):\n  flex.on_delete: ")


def test_one_problem_is_one_sentence() -> None:
    with pytest.raises(ConfigError) as caught:
        load_configuration(env={}, document={"auth": {"throttle": {"enabled": "yes"}}})
    assert str(caught.value) == "auth.throttle.enabled must be true or false, got 'yes'"


def test_a_valid_file_gives_each_section_typed() -> None:
    document = {
        "sync": {"batch_size": 5},
        "flex": {"mode": "users_api", "default_roles": ["supervisor"]},
        "auth": {"entra_jwt": {"tenant_id": TENANT, "app_ids": [TENANT]}},
    }
    configuration = load_configuration(env={}, document=document)
    assert configuration.settings.sync.batch_size == 5
    assert configuration.mapping.mode == "users_api"
    assert configuration.mapping.default_roles == ("supervisor",)
    assert configuration.auth.entra_jwt is not None
    assert configuration.auth.entra_jwt.tenant_id == TENANT


def test_settings_read_alone_are_typed_the_same_way() -> None:
    document = {"flex": {"mode": "users_api"}, "auth": {"throttle": {"max_clients": 500}}}
    configuration = configuration_of(load_settings(env={}, document=document))
    assert configuration.mapping.mode == "users_api"
    assert configuration.auth.throttle.max_clients == 500
    broken = load_settings(env={}, document={"flex": {"mode": 1}, "auth": {"x": {}}})
    with pytest.raises(ConfigError) as caught:
        configuration_of(broken)
    assert len(caught.value.problems) == 2, caught.value.problems
