"""The settings are read once, and every problem of the environment and the file is said at once,
each with its TOML key path or variable name."""

from __future__ import annotations

import pytest

from scimbridge.config.errors import ConfigError
from scimbridge.config.settings import SyncSettings, load_settings


def test_one_problem_is_one_sentence() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env={}, document={"sync": {"max_atempts": 3}})
    assert str(caught.value) == "unknown [sync] keys: max_atempts"
    assert caught.value.problems == ("unknown [sync] keys: max_atempts",)


def test_every_problem_of_every_table_is_found_in_one_pass() -> None:
    document = {
        "sync": {"max_attempts": 0, "poll_interval": "soon"},
        "ops": {"max_backlog": "many", "colour": "red"},
        "scim": {"limits": {"max_results": -1}},
    }
    env = {"SCIMBRIDGE_FAKE_FLEX": "maybe", "SCIMBRIDGE_LOG_FORMAT": "xml"}
    with pytest.raises(ConfigError) as caught:
        load_settings(env=env, document=document)
    assert set(caught.value.problems) == {
        "SCIMBRIDGE_LOG_FORMAT must be plain or json",
        "sync.max_attempts must be at least 1, got 0",
        "sync.poll_interval must be a number, got 'soon'",
        "unknown [ops] keys: colour",
        "ops.max_backlog must be an integer, got 'many'",
        "scim.limits.max_results must be at least 1, got -1",
        "SCIMBRIDGE_FAKE_FLEX must be true or false, got 'maybe'",
    }
    assert str(caught.value).startswith("7 problems:\n  ")


def test_the_environment_overrides_the_file_and_values_are_typed() -> None:
    settings = load_settings(
        env={
            "SCIMBRIDGE_SYNC": "off",
            "SCIMBRIDGE_TWILIO_MAX_RPS": "2.5",
            "TWILIO_ACCOUNT_SID": "AC1",
            "TWILIO_AUTH_TOKEN": "t",
        },
        document={"sync": {"enabled": True, "batch_size": "5"}},
    )
    assert settings.sync == SyncSettings(enabled=False, batch_size=5)
    assert settings.twilio is not None and settings.twilio.max_rps == 2.5


def test_the_raw_flex_and_auth_tables_cannot_be_changed_after_reading() -> None:
    settings = load_settings(env={}, document={"flex": {"mode": "taskrouter"}, "auth": {}})
    with pytest.raises(TypeError):
        settings.flex["mode"] = "users_api"  # type: ignore[index]
    assert settings.flex["mode"] == "taskrouter"
