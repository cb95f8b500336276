"""A process-wide cap on the rate of Twilio requests: one token bucket shared by every call.

Does: hand out permits to any number of threads, in arrival order, sleeping the caller until
its permit is due, so that at most ``rate`` requests reach Twilio in any one-second window
(after an initial ``burst``), even when the way from a permit to Twilio takes longer for one
request than for the next (see :data:`DELAY_SPREAD`). Every HTTP attempt to Twilio takes one
permit: first tries, retries, lookups and each page of a list.
Does not: know about Twilio, retry anything, or coordinate with other processes.

Several processes share one Twilio account's limit by splitting it: each replica runs with
``max_rps = account_rps / replicas`` (see :meth:`RateLimiter.for_replicas`). The account limit
is enforced by Twilio on concurrent requests (HTTP 429, code 20429), so the split only has to be
conservative, not exact; a replica that still meets a 429 backs off through the retry policy.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

# How much longer the way from a permit to Twilio (thread wake-up, the client, the network) may
# take for one request than for a later one without a one-second window at Twilio seeing more
# than ``rate`` requests. Permits exactly 1/rate apart put the first and the (rate+1)-th of a
# run exactly one second apart: the least delay on the first puts both into one second. So
# permits are (1 + DELAY_SPREAD)/rate apart: the cap costs 4 % of its rate, and holds in every
# sliding second while the delays vary by less than 40 ms (a thread's wake-up and the client's
# work vary by a few; a larger spread would slow a cap-bound initial sync for nothing).
DELAY_SPREAD = 0.04


class RateLimiter:
    """A thread-safe token bucket.

    At most ``rate`` requests in any second where they arrive, holding at most ``burst`` unused
    permits: permits come at ``rate / (1 + spread)`` per second (``spread``: see
    :data:`DELAY_SPREAD`; 0 spaces them exactly 1/rate apart). A caller that finds the bucket
    empty reserves the next permit and sleeps until it is due, so waiting callers are served in
    the order they arrived and none spins. ``clock`` (monotonic seconds) and ``sleep`` are
    injectable so tests can drive time by hand.
    """

    def __init__(
        self,
        rate: float,
        burst: float = 1.0,
        *,
        spread: float = DELAY_SPREAD,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        if spread < 0:
            raise ValueError("spread must not be negative")
        self.rate = float(rate)
        self.burst = float(burst)
        self.pace = self.rate / (1.0 + spread)  # permits per second
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = self.burst
        self._updated = clock()

    @classmethod
    def for_replicas(cls, account_rps: float, replicas: int, burst: float = 1.0) -> RateLimiter:
        """The per-process share of an account-wide rate: ``account_rps / replicas``."""
        if replicas < 1:
            raise ValueError("replicas must be at least 1")
        return cls(account_rps / replicas, burst)

    def reserve(self) -> float:
        """Take one permit now and return how many seconds the caller must wait before using it."""
        with self._lock:
            now = self._clock()
            elapsed = max(0.0, now - self._updated)
            self._updated = now
            self._tokens = min(self.burst, self._tokens + elapsed * self.pace)
            # Tokens may go negative: a negative balance is the queue of reservations not yet due.
            self._tokens -= 1.0
            return 0.0 if self._tokens >= 0 else -self._tokens / self.pace

    def acquire(self) -> float:
        """Block until one permit is due; return the seconds spent waiting."""
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)
        return wait

    def __repr__(self) -> str:
        return f"RateLimiter(rate={self.rate:g}/s, burst={self.burst:g}, pace={self.pace:g}/s)"
