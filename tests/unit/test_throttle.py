"""The failed-authentication throttle: allowance, cooldown, sliding window, bounded memory."""

from __future__ import annotations

import pytest

from scimbridge.scim.auth_config import ThrottleConfig
from scimbridge.scim.throttle import FailureThrottle, client_key


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def throttle(clock: Clock, **options: float) -> FailureThrottle:
    values = {"max_failures": 3, "window_seconds": 60, "cooldown_seconds": 30, **options}
    return FailureThrottle(
        int(values["max_failures"]),
        values["window_seconds"],
        values["cooldown_seconds"],
        int(values.get("max_clients", 10_000)),
        clock=clock,
    )


def test_the_allowance_is_used_up_then_the_address_waits_out_the_cooldown() -> None:
    clock = Clock()
    limit = throttle(clock)
    assert [limit.record_failure("198.51.100.7") for _ in range(3)] == [False, False, True]
    assert limit.retry_after("198.51.100.7") == 30
    clock.now += 29.2
    assert limit.retry_after("198.51.100.7") == 1
    clock.now += 1
    assert limit.retry_after("198.51.100.7") is None
    # After the cooldown the address starts again with its full allowance.
    assert limit.record_failure("198.51.100.7") is False


def test_another_address_is_not_affected() -> None:
    limit = throttle(Clock())
    for _ in range(3):
        limit.record_failure("198.51.100.7")
    assert limit.retry_after("198.51.100.8") is None


def test_failures_spread_wider_than_the_window_never_block() -> None:
    clock = Clock()
    limit = throttle(clock)
    for _ in range(20):
        assert limit.record_failure("198.51.100.7") is False
        clock.now += 31
    assert limit.retry_after("198.51.100.7") is None


def test_asking_while_cooling_down_does_not_extend_the_cooldown() -> None:
    clock = Clock()
    limit = throttle(clock)
    for _ in range(3):
        limit.record_failure("198.51.100.7")
    for _ in range(10):
        clock.now += 3
        limit.retry_after("198.51.100.7")
    clock.now += 0.5
    assert limit.retry_after("198.51.100.7") is None


def test_memory_is_bounded_by_max_clients() -> None:
    limit = throttle(Clock(), max_clients=100)
    for i in range(1000):
        limit.record_failure(f"10.0.{i // 256}.{i % 256}")
    assert limit.tracked() == 100


def test_an_address_with_nothing_recent_is_forgotten() -> None:
    clock = Clock()
    limit = throttle(clock)
    limit.record_failure("198.51.100.7")
    clock.now += 61
    assert limit.retry_after("198.51.100.7") is None
    assert limit.tracked() == 0


def test_disabled_in_config_means_no_throttle() -> None:
    assert FailureThrottle.from_config(ThrottleConfig(enabled=False)) is None
    made = FailureThrottle.from_config(ThrottleConfig())
    assert made is not None and made.max_failures == 20 and made.cooldown == 60


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
        (None, "unknown"),
        ("testclient", "testclient"),
    ],
)
def test_client_key_groups_an_ipv6_host_by_its_64(host: str | None, key: str) -> None:
    assert client_key(host) == key
