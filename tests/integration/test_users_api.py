"""Flex Users API v4 client against the fake Flex server over real HTTP."""

from __future__ import annotations

import traceback
from typing import Any

import pytest

from scimbridge.flex.twilio.errors import Unauthorized
from scimbridge.flex.twilio.ratelimit import RateLimiter
from scimbridge.flex.twilio.retry import RetryPolicy
from scimbridge.flex.twilio.transport import TwilioCalls
from scimbridge.flex.twilio.users_api import FlexUsers
from scimbridge.testing.fakeflex.faults import Fault, FaultKind
from scimbridge.testing.fakeflex.server import FakeFlexServer
from tests.integration.sync_harness import twilio_settings


def users_for(
    fake: FakeFlexServer, waits: list[float] | None = None, **overrides: Any
) -> FlexUsers:
    sink = waits if waits is not None else []
    calls = TwilioCalls(
        twilio_settings(fake, **overrides),
        limiter=RateLimiter(1000.0, burst=10),
        retry=RetryPolicy(base=0.01, random=lambda: 1.0, sleep=sink.append),
    )
    return FlexUsers(calls)


def provision_ada(users: FlexUsers) -> Any:
    return users.provision(
        "ada@example.com",
        "ada@example.com",
        "Ada Lovelace",
        ["agent"],
        {"channel.voice.capacity": 2, "department": "R&D"},
    )


def test_provision_find_deprovision_round_trip(fake: FakeFlexServer) -> None:
    users = users_for(fake)

    provisioned = provision_ada(users)
    found = users.find_by_username("ADA@example.com")

    assert provisioned.flex_user_sid.startswith("FU")
    worker = fake.state.get_worker(str(provisioned.worker_sid))
    assert worker.friendly_name == "ada@example.com"
    assert found is not None
    assert found.flex_user_sid == provisioned.flex_user_sid
    assert found.worker_sid == provisioned.worker_sid
    assert (found.email, found.full_name, found.roles) == (
        "ada@example.com",
        "Ada Lovelace",
        ("agent",),
    )
    assert not found.deactivated

    assert users.deprovision(provisioned.flex_user_sid) is True

    gone = users.find_by_username("ada@example.com")
    assert gone is not None and gone.deactivated and gone.worker_sid is None
    assert [w.sid for w in fake.state.workers()] == []


def test_provision_sends_json(fake: FakeFlexServer) -> None:
    provision_ada(users_for(fake))

    request = fake.state.requests.all("users.provision")[0]
    assert request.headers["content-type"] == "application/json"
    assert request.json_body == {
        "username": "ada@example.com",
        "email": "ada@example.com",
        "full_name": "Ada Lovelace",
        "roles": ["agent"],
        "worker": {"attributes": {"channel.voice.capacity": 2, "department": "R&D"}},
    }


def test_provision_is_idempotent(fake: FakeFlexServer) -> None:
    users = users_for(fake)

    first, second = provision_ada(users), provision_ada(users)

    assert first == second
    assert len(fake.state.workers()) == 1


def test_unknown_users(fake: FakeFlexServer) -> None:
    users = users_for(fake)

    assert users.find_by_username("nobody@example.com") is None
    assert users.deprovision("FU" + "0" * 32) is False


def test_provision_is_retried_through_a_503(fake: FakeFlexServer) -> None:
    waits: list[float] = []
    fake.state.faults.add(Fault(FaultKind.UNAVAILABLE, route="users.provision", retry_after=3))

    provisioned = provision_ada(users_for(fake, waits))

    assert provisioned.worker_sid is not None
    assert len(waits) == 1 and waits[0] >= 3.0
    assert len(fake.state.requests.all("users.provision")) == 2


def test_instance_is_discovered_from_flex_configuration(fake: FakeFlexServer) -> None:
    users = users_for(fake, flex_instance_sid=None)

    assert users.instance_sid == fake.flex_instance_sid
    assert users.find_by_username("ada@example.com") is None
    assert len(fake.state.requests.all("configuration.fetch")) == 1


def test_wrong_credentials_never_show_the_secret(fake: FakeFlexServer) -> None:
    secret = "wrong-" + fake.auth_token[::-1]
    users = users_for(fake, auth_token=secret)

    with pytest.raises(Unauthorized) as caught:
        provision_ada(users)

    assert caught.value.status == 401
    assert secret not in str(caught.value) and secret not in repr(caught.value)
    assert secret not in "".join(traceback.format_exception(caught.value))
    assert secret not in repr(users)
