"""Throttling of failed authentication, per client address, in this process.

Does: count failed authentications per client address in a sliding window; after
``max_failures`` of them within ``window_seconds`` mark that address as cooling down for
``cooldown_seconds``. Callers check the credential first and consult this only for a failed
attempt (answering 429 with ``Retry-After`` instead of 401), so a valid credential is never
refused. Successes are not counted and do not reset anything; failures during the cooldown are
not counted either (the cooldown never grows). Memory is bounded: at most ``max_clients`` addresses
are tracked (least recently seen dropped first), each with at most ``max_failures`` timestamps.
IPv6 clients are counted per /64, since one host commonly owns a whole /64.
Does not: share counts between processes (N replicas let an address try N times as often; the
bound still holds per replica), look at tokens, or find the real client behind a proxy: that is
the ASGI server's job (``serve --forwarded-allow-ips`` naming the proxy; by default only
loopback is trusted; trusting every peer, ``*``, lets any caller choose its own address).
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from scimbridge.scim.auth_config import ThrottleConfig


def client_key(host: str | None) -> str:
    """The throttling key for a peer address: the IPv4 address, or the IPv6 /64 network."""
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


@dataclass
class _Client:
    failures: deque[float] = field(default_factory=deque)
    blocked_until: float = 0.0


class FailureThrottle:
    """Per-address failed-authentication counter with a cooldown. Thread-safe."""

    def __init__(
        self,
        max_failures: int = 20,
        window_seconds: float = 60.0,
        cooldown_seconds: float = 60.0,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window = window_seconds
        self.cooldown = cooldown_seconds
        self.max_clients = max_clients
        self._clock = clock
        self._clients: OrderedDict[str, _Client] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: ThrottleConfig) -> FailureThrottle | None:
        if not config.enabled:
            return None
        return cls(
            config.max_failures,
            config.window_seconds,
            config.cooldown_seconds,
            config.max_clients,
        )

    def retry_after(self, key: str) -> int | None:
        """Whole seconds ``key`` must wait before it may try again, or None if it may now."""
        now = self._clock()
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                return None
            if client.blocked_until > now:
                self._clients.move_to_end(key)
                return max(1, math.ceil(client.blocked_until - now))
            self._forget_old(client, now)
            if not client.failures:
                del self._clients[key]
            return None

    def record_failure(self, key: str) -> bool:
        """Count one failure for ``key``; True if it has just used up its allowance."""
        now = self._clock()
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = self._clients[key] = _Client()
                while len(self._clients) > self.max_clients:
                    self._clients.popitem(last=False)
            else:
                self._clients.move_to_end(key)
            self._forget_old(client, now)
            client.failures.append(now)
            if len(client.failures) < self.max_failures:
                return False
            client.failures.clear()
            client.blocked_until = now + self.cooldown
            return True

    def tracked(self) -> int:
        """How many addresses are remembered now (for tests and metrics)."""
        with self._lock:
            return len(self._clients)

    def _forget_old(self, client: _Client, now: float) -> None:
        horizon = now - self.window
        while client.failures and client.failures[0] <= horizon:
            client.failures.popleft()
