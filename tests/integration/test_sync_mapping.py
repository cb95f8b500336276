"""What the mapping may write and what a bad value does, end to end: SCIM over HTTP → sync → fake.

Keys Flex SSO sets from a claim (``team_id``, ``team_name``, ``channel.<name>.capacity`` …) are
written when the admin maps them; only keys no claim can set are refused, and ``check-config``
says why. A mapped value that cannot be converted keeps the worker's last good value, and shows
in ``status`` and ``/metrics`` until the source is fixed. Every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from rich.console import Console

from scimbridge.config.settings import load_settings
from scimbridge.config_check import check_configuration
from scimbridge.ops.status import print_status, status_report
from scimbridge.testing.fakeflex.server import FakeFlexServer
from tests.integration.sync_harness import CORE, Harness, running, twilio_env

ANN = "ann.lee@contoso.com"
AGENT = "urn:ietf:params:scim:schemas:extension:FlexAgent:2.0:User"
LEVEL = {
    "custom_extensions": False,
    "attributes": {"skill_level": {"source": f"{AGENT}:skillLevel", "type": "int"}},
}


def status_of(sync: Harness) -> dict[str, Any]:
    """``scimbridge status`` of the harness's store, judged as its settings say."""
    settings = sync.settings
    return status_report(
        sync.store,
        thresholds=settings.readiness,
        sync_expected=settings.twilio is not None,
        static_token=settings.bearer_token is not None,
    )


def metric(sync: Harness, name: str) -> float:
    base = str(sync.scim.base_url).removesuffix("/scim/v2/").removesuffix("/scim/v2")
    for line in httpx.get(base + "/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


@pytest.fixture
def levels(fake: FakeFlexServer, migrated_url: str) -> Iterator[Harness]:
    with running(fake, migrated_url, flex=LEVEL) as harness:
        yield harness


def test_a_value_that_cannot_be_converted_keeps_the_last_good_one_until_fixed(
    levels: Harness,
) -> None:
    sync = levels
    user_id = sync.post_user(ANN, schemas=[CORE, AGENT], extra={AGENT: {"skillLevel": "3"}})
    sync.drain()
    assert sync.attributes(ANN)["skill_level"] == 3
    assert metric(sync, "scimbridge_sync_mapping_problems") == 0

    sync.outcomes.clear()
    sync.patch(
        user_id,
        {"op": "Replace", "path": f"{AGENT}:skillLevel", "value": "three"},
        {"op": "Replace", "path": "displayName", "value": "Ann Lee-Ruiz"},
    )
    sync.drain()
    attributes = sync.attributes(ANN)
    assert attributes["skill_level"] == 3, "the last good value stays"
    assert attributes["full_name"] == "Ann Lee-Ruiz", "the rest of the change is written"
    assert sync.outcomes == [("partial", user_id)], "not reported as plain 'updated'"
    report = status_of(sync)
    assert report["mapping_problems"] == [
        {
            "user_name": ANN,
            "problems": [
                "skill_level: 'three' is not a whole number; the worker keeps its last good value"
            ],
        }
    ]
    console = Console(record=True, width=200)
    print_status(report, console)
    printed = console.export_text()
    assert ANN in printed and "'three' is not a whole number" in printed
    assert metric(sync, "scimbridge_sync_mapping_problems") == 1
    sync.resync(user_id)
    assert sync.attributes(ANN)["skill_level"] == 3, "still kept on the next sync"
    assert metric(sync, "scimbridge_sync_mapping_problems") == 1, "shown until the source is fixed"

    sync.replace(user_id, f"{AGENT}:skillLevel", "4")
    sync.drain()
    assert sync.attributes(ANN)["skill_level"] == 4
    assert status_of(sync)["mapping_problems"] == []
    assert metric(sync, "scimbridge_sync_mapping_problems") == 0


def test_a_bad_value_on_a_new_worker_leaves_the_key_off_and_is_reported(levels: Harness) -> None:
    user_id = levels.post_user(ANN, schemas=[CORE, AGENT], extra={AGENT: {"skillLevel": "n/a"}})
    levels.drain()
    assert "skill_level" not in levels.attributes(ANN)
    assert levels.outcomes == [("partial", user_id)]
    assert [p["user_name"] for p in status_of(levels)["mapping_problems"]] == [ANN]


def test_a_deleted_user_leaves_no_mapping_problem_behind(levels: Harness) -> None:
    user_id = levels.post_user(ANN, schemas=[CORE, AGENT], extra={AGENT: {"skillLevel": "n/a"}})
    levels.drain()
    levels.delete(user_id)
    levels.drain()
    assert status_of(levels)["mapping_problems"] == []


SSO_KEYS = {
    "team_id": "T-7",
    "team_name": "London",
    "team_name_in_hierarchy": "UK,London,Sales",
    "department": "Sales",
    "manager": "Bea Ruiz",
    "image_url": "https://example.com/ann.png",
    "location": "London",
    "phone": "+441632960000",
}


def test_keys_sso_claims_set_are_written_from_custom_extension_attributes(
    sync: Harness,
) -> None:
    user_id = sync.post_user(ANN, schemas=[CORE, AGENT], extra={AGENT: SSO_KEYS})
    sync.drain()
    assert SSO_KEYS.items() <= sync.attributes(ANN).items()
    # A login carrying the same claims changes nothing; the directory's next change wins.
    sync.fake.state.sso_login(
        ANN, {"email": ANN, "full_name": "Ann Lee", "roles": "agent", "team_name": "London"}
    )
    sync.replace(user_id, f"{AGENT}:team_name", "Leeds")
    sync.drain()
    assert sync.attributes(ANN)["team_name"] == "Leeds"


def test_keys_sso_claims_set_are_written_from_configured_rules(
    fake: FakeFlexServer, migrated_url: str
) -> None:
    # A SCIM attribute name has no dots, so capacity claims are mapped with a rule.
    enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    flex = {
        "attributes": {
            "team_id": {"source": f"{enterprise}:department"},
            "channel.chat.capacity": {"source": f"{AGENT}:chatCapacity", "type": "int"},
            "channel.voice.availability": {"constant": True},
        }
    }
    with running(fake, migrated_url, flex=flex) as sync:
        extra = {enterprise: {"department": "Sales"}, AGENT: {"chatCapacity": "3"}}
        user_id = sync.post_user(ANN, schemas=[CORE, enterprise, AGENT], extra=extra)
        sync.drain()
        attributes = sync.attributes(ANN)
        assert attributes["team_id"] == "Sales"
        assert attributes["channel.chat.capacity"] == 3
        assert attributes["channel.voice.availability"] is True
        sync.replace(user_id, f"{AGENT}:chatCapacity", "5")
        sync.drain()
        assert sync.attributes(ANN)["channel.chat.capacity"] == 5


def test_keys_no_claim_can_set_are_never_written_and_check_config_says_why(
    sync: Harness, fake: FakeFlexServer, migrated_url: str
) -> None:
    routing = {"skills": ["sales"], "levels": {"sales": 3}}
    extension = {"routing": "vip", "team_sid": "WT1", "disabled_skills": "x", "site": "Leeds"}
    user_id = sync.post_user(ANN, schemas=[CORE, AGENT], extra={AGENT: extension})
    sync.drain()
    sync.set_worker(ANN, attributes={**sync.attributes(ANN), "routing": routing})
    sync.resync(user_id)
    attributes = sync.attributes(ANN)
    assert attributes["site"] == "Leeds" and attributes["routing"] == routing
    assert "team_sid" not in attributes and "disabled_skills" not in attributes

    report = check_configuration(sync.settings, ANN)
    assert report.valid and report.worker is not None
    explained = " ".join(row.origin for row in report.worker.rows)
    assert "the Flex skills UI writes disabled skills" in explained
    assert "the Flex Teams page writes team_sid" in explained
    refused = load_settings(
        env=twilio_env(fake, migrated_url),
        document={"flex": {"attributes": {"routing.skills": {"constant": "x"}}}},
    )
    problems = check_configuration(refused).problems
    assert len(problems) == 1
    assert problems[0].startswith(
        'flex.attributes."routing.skills": the target is not the directory'
    )
    assert "no SSO claim can set it" in problems[0]
