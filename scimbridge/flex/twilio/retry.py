"""Whether and when to send a failed Twilio request again.

Does: compute the wait before the next attempt of a request that failed with a retryable
:class:`~scimbridge.flex.twilio.errors.FlexApiError` (exponential backoff with full jitter,
honouring ``Retry-After``), and say when to give up.
Does not: classify failures (:mod:`.errors`), send requests (:mod:`.transport`), or retry a
non-idempotent request on its own.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from scimbridge.flex.twilio.errors import FlexApiError


@dataclass(frozen=True)
class RetryPolicy:
    """When to send a failed request again.

    Only :attr:`FlexApiError.retryable` errors are retried, at most ``max_attempts`` attempts in
    all. The wait before attempt *n+1* is full jitter, ``uniform(0, min(cap, base * 2**(n-1)))``;
    when the server sent ``Retry-After``, the wait is that value plus up to ``base`` of jitter (so
    never shorter than the header), and a ``Retry-After`` above ``max_retry_after`` is not waited
    for in-process: the error is raised so the caller can reschedule. ``random``, ``sleep`` and
    ``now`` (wall clock, for HTTP-date ``Retry-After``) are injectable for tests.
    """

    max_attempts: int = 5
    base: float = 0.5
    cap: float = 30.0
    max_retry_after: float = 60.0
    random: Callable[[], float] = field(default=random.random, repr=False, compare=False)
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)
    now: Callable[[], float] = field(default=time.time, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base <= 0 or self.cap <= 0:
            raise ValueError("base and cap must be positive")

    def backoff(self, attempt: int) -> float:
        """Full-jitter wait after failed attempt number ``attempt`` (1-based)."""
        ceiling = min(self.cap, self.base * 2.0 ** (attempt - 1))
        return self.random() * ceiling

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """The wait after failed attempt ``attempt``, given the server's ``Retry-After``."""
        if retry_after is not None:
            return retry_after + self.random() * min(self.base, self.cap)
        return self.backoff(attempt)

    def next_delay(self, error: FlexApiError, attempt: int) -> float | None:
        """The wait before retrying after ``error`` on attempt ``attempt``; None to give up."""
        if not error.retryable or attempt >= self.max_attempts:
            return None
        if error.retry_after is not None and error.retry_after > self.max_retry_after:
            return None
        return self.delay(attempt, error.retry_after)
