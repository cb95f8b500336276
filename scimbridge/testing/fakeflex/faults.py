"""Fault injection plan of the fake Flex server.

Does: hold fault rules chosen per route name (glob) and HTTP method and counted per matching call
(let ``after`` calls through, then hit the next ``times`` calls), added latency (global and per
route), and the per-second counters behind the ``X-Rate-Limit-*`` headers and the 3 requests/second
TargetWorkersExpression limit; and in-process hooks, callables run just before a matching request is
served (a test changes a worker between a client's read and its write, as a supervisor would). All
methods take the shared state lock; hooks run outside it.

Does not: touch the network. The HTTP layer asks :meth:`FaultPlan.take` which fault, if any, hits a
request and carries it out.

Route names: ``workspace.fetch``, ``activities.list``, ``activity.fetch``, ``workers.list``,
``workers.create``, ``worker.fetch``, ``worker.update``, ``worker.delete``, ``reservations.list``,
``reservation.fetch``, ``reservation.update``, ``configuration.fetch``,
``flex_user.fetch``, ``flex_user.update``, ``users.provision``, ``users.deprovision``,
``users.list``, ``users.fetch`` (``unknown`` for anything else).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum


class FaultKind(StrEnum):
    """What an injected fault does to the request it hits."""

    RATE_LIMIT = "rate_limit"  # 429/20429, never processed
    UNAVAILABLE = "unavailable"  # 503/20503, never processed
    SERVER_ERROR = "server_error"  # 500/20500, never processed
    SERVER_ERROR_AFTER_COMMIT = "server_error_after_commit"  # processed, then 500/20500
    DROP_CONNECTION = "drop_connection"  # socket closed without a response, never processed
    DROP_CONNECTION_AFTER_COMMIT = "drop_connection_after_commit"  # processed, then dropped
    PRECONDITION_FAILED = "precondition_failed"  # 412, never processed
    DELAY = "delay"  # wait ``delay`` seconds, then processed normally (client timeouts)
    # A task reserves the worker in the path just before the request is processed (pending,
    # timing out after ``delay`` seconds; 0: never), then the request goes on normally.
    RESERVE = "reserve"


@dataclass(frozen=True)
class Fault:
    """One fault rule.

    ``route`` is an fnmatch glob over route names (``"worker.*"``, ``"*"``); ``method`` limits it to
    one HTTP method. The rule lets ``after`` matching calls through and then hits ``times`` calls
    (``None``: every later call). ``retry_after`` (seconds) adds ``Retry-After`` to 429/503;
    ``concurrent_requests`` sets ``Twilio-Concurrent-Requests`` on 429; ``code`` overrides the
    Twilio error code (e.g. 45780 for Flex); ``delay`` is the wait of a ``DELAY`` fault and the
    reservation timeout of a ``RESERVE`` fault.
    """

    kind: FaultKind
    route: str = "*"
    method: str | None = None
    times: int | None = 1
    after: int = 0
    retry_after: float | None = None
    concurrent_requests: int | None = None
    code: int | None = None
    delay: float = 0.0

    @classmethod
    def from_json(cls, body: Mapping[str, object]) -> Fault:
        """Build from the control endpoint's JSON; unknown keys or bad values raise ValueError."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(body) - known
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        fields = dict(body)
        fields["kind"] = FaultKind(str(fields.get("kind")))
        try:
            fault = cls(**fields)  # type: ignore[arg-type]
        except TypeError as exc:
            raise ValueError(str(exc)) from None
        fault.validate()
        return fault

    def validate(self) -> None:
        """Raise ValueError unless every field has a usable type and range."""
        ints = (self.after, self.times if self.times is not None else 0)
        if any(not isinstance(n, int) or isinstance(n, bool) or n < 0 for n in ints):
            raise ValueError("after and times must be non-negative integers")
        numbers = (self.delay, self.retry_after or 0, self.concurrent_requests or 0, self.code or 0)
        if any(not isinstance(n, int | float) or isinstance(n, bool) or n < 0 for n in numbers):
            raise ValueError("delay, retry_after, concurrent_requests and code must be >= 0")
        if not isinstance(self.route, str) or not isinstance(self.method, str | None):
            raise ValueError("route must be a glob string and method a string or null")

    def matches(self, route: str, method: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return fnmatch.fnmatchcase(route, self.route)

    def as_dict(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


@dataclass
class _Rule:
    fault: Fault
    seen: int = 0
    fired: int = 0

    def eligible(self) -> bool:
        within = self.fault.times is None or self.fired < self.fault.times
        return self.seen > self.fault.after and within


class FaultPlan:
    """Fault rules, latency and rate counters; share the state's lock."""

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self._rules: dict[int, _Rule] = {}
        self._next_id = 1
        self._latency: dict[str, float] = {}
        self._windows: dict[str, tuple[int, int]] = {}
        self._expression_calls: list[float] = []
        self._in_flight = 0
        self._hooks: dict[int, tuple[Fault, Callable[[], None], list[int]]] = {}

    def add(self, fault: Fault) -> int:
        """Register a rule; returns its id (for :meth:`remove`)."""
        fault.validate()
        with self._lock:
            rule_id = self._next_id
            self._next_id += 1
            self._rules[rule_id] = _Rule(fault)
            return rule_id

    def remove(self, rule_id: int) -> None:
        with self._lock:
            self._rules.pop(rule_id, None)

    def clear(self) -> None:
        """Drop every fault rule, hook and all latency."""
        with self._lock:
            self._rules.clear()
            self._hooks.clear()
            self._latency.clear()

    def add_hook(
        self,
        route: str,
        action: Callable[[], None],
        *,
        method: str | None = None,
        after: int = 0,
        times: int | None = 1,
    ) -> int:
        """Run ``action`` before serving matching requests (``route`` glob, ``method``), letting
        ``after`` through first and then ``times`` of them; returns an id for :meth:`remove_hook`.
        In-process only: there is no control endpoint for it."""
        selector = Fault(FaultKind.DELAY, route=route, method=method, times=times, after=after)
        selector.validate()
        with self._lock:
            hook_id = self._next_id
            self._next_id += 1
            self._hooks[hook_id] = (selector, action, [0, 0])
            return hook_id

    def remove_hook(self, hook_id: int) -> None:
        with self._lock:
            self._hooks.pop(hook_id, None)

    def run_hooks(self, route: str, method: str) -> None:
        """Count this request against every hook and run the ones that fire, in order added."""
        due: list[Callable[[], None]] = []
        with self._lock:
            for selector, action, counts in self._hooks.values():
                if not selector.matches(route, method):
                    continue
                counts[0] += 1
                within = selector.times is None or counts[1] < selector.times
                if counts[0] > selector.after and within:
                    counts[1] += 1
                    due.append(action)
        for action in due:
            action()

    def rules(self) -> list[dict[str, object]]:
        """Rules with their counters: ``id``, fault fields, ``seen``, ``fired``."""
        with self._lock:
            return [
                {"id": rule_id, **rule.fault.as_dict(), "seen": rule.seen, "fired": rule.fired}
                for rule_id, rule in self._rules.items()
            ]

    def take(self, route: str, method: str) -> Fault | None:
        """Count this call against every matching rule; return the first rule that now fires."""
        with self._lock:
            chosen: _Rule | None = None
            for rule in self._rules.values():
                if not rule.fault.matches(route, method):
                    continue
                rule.seen += 1
                if chosen is None and rule.eligible():
                    chosen = rule
            if chosen is None:
                return None
            chosen.fired += 1
            return chosen.fault

    def set_latency(self, seconds: float, route: str = "*") -> None:
        """Add ``seconds`` before every request whose route matches the glob (0 removes it)."""
        if seconds < 0:
            raise ValueError("latency must be non-negative")
        with self._lock:
            if seconds == 0:
                self._latency.pop(route, None)
            else:
                self._latency[route] = seconds

    def latency(self) -> dict[str, float]:
        with self._lock:
            return dict(self._latency)

    def latency_for(self, route: str) -> float:
        """Sum of the latency entries whose glob matches the route."""
        with self._lock:
            return sum(s for glob, s in self._latency.items() if fnmatch.fnmatchcase(route, glob))

    def begin_request(self) -> int:
        """Count an API request as in flight; returns how many are now in flight."""
        with self._lock:
            self._in_flight += 1
            return self._in_flight

    def end_request(self) -> None:
        with self._lock:
            self._in_flight -= 1

    @property
    def in_flight(self) -> int:
        """API requests being served right now (including ones whose client gave up)."""
        with self._lock:
            return self._in_flight

    def count_rate(self, bucket: str, limit: int) -> int:
        """Count one request in this second's window of ``bucket``; return the remaining budget."""
        second = int(time.monotonic())
        with self._lock:
            window, used = self._windows.get(bucket, (second, 0))
            if window != second:
                window, used = second, 0
            used += 1
            self._windows[bucket] = (window, used)
            return limit - used

    def allow_expression_query(self, per_second: float) -> bool:
        """Sliding one-second window for TargetWorkersExpression lists (3/s on the live API)."""
        now = time.monotonic()
        with self._lock:
            self._expression_calls = [t for t in self._expression_calls if now - t < 1.0]
            if len(self._expression_calls) >= per_second:
                return False
            self._expression_calls.append(now)
            return True
