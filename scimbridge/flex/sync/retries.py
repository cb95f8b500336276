"""A claim whose convergence failed: rescheduled with backoff, or dead-lettered with its reason.

Does: judge the failure (``flex.sync.failures``) and settle its outbox row: a *transient* one
(429, 5xx, timeouts, refused or dropped connections, the database gone) and a user waiting for
its friendly_name are rescheduled with exponential backoff and full jitter, capped at
``backoff_cap`` and never below ``Retry-After``, for as long as they last; a *permanent* refusal is
dead-lettered at once; anything else (a worker with pending reservations, a conflict that keeps
recurring, an unexpected error) after ``max_attempts``. Record the reason in the worker link, and
count transient failures in a row, so that the first success after an outage makes every change
waiting on its backoff due at once.
Does not: claim, converge or complete anything (``flex.sync.drainer`` does) or decide which
failures are transient (``flex.sync.failures`` does).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from scimbridge.config.settings import SyncSettings
from scimbridge.flex.sync.failures import classify, is_transient
from scimbridge.flex.sync.name_conflicts import WaitingForName
from scimbridge.flex.twilio.errors import FlexApiError, WorkerBusy
from scimbridge.store.errors import DATABASE_FAILURES, StoreError
from scimbridge.store.links import WorkerLinks
from scimbridge.store.outbox import Claim, Outbox

log = logging.getLogger("scimbridge.sync")

# After this many transient failures in a row, the next success ends an outage.
OUTAGE_FAILURES = 3

# ``report(outcome, user_id, started, level, line)``: the drainer's log line and outcome hook.
ReportHook = Callable[[str, str, float, int, str], None]


class Retries:
    """Settles failed claims for one drainer. Thread-safe. ``jitter`` draws from [0, 1)."""

    def __init__(
        self,
        sync: SyncSettings,
        outbox: Outbox,
        links: WorkerLinks,
        report: ReportHook,
        jitter: Callable[[], float],
    ) -> None:
        self.sync = sync
        self.outbox = outbox
        self.links = links
        self._report = report
        self._jitter = jitter
        self._lock = threading.Lock()
        self._transient_streak = 0

    def note_success(self) -> None:
        """The first success after a run of transient failures ends an outage: every change
        waiting on its backoff is due now."""
        with self._lock:
            ended = self._transient_streak >= OUTAGE_FAILURES
            self._transient_streak = 0
        if ended:
            try:
                woken = self.outbox.retry_waiting_now()
            except DATABASE_FAILURES as exc:
                log.warning("waiting changes not woken: %s", type(exc).__name__)
                return
            log.info("sync succeeds again; %d waiting change(s) are due now", woken)

    def fail(self, claim: Claim, error: Exception, started: float) -> None:
        """Reschedule or dead-letter ``claim``, whose convergence raised ``error``."""
        permanent, reason = classify(error)
        transient = is_transient(error)
        expected = (FlexApiError, StoreError, WaitingForName, *DATABASE_FAILURES)
        if not permanent and not isinstance(error, expected):
            log.exception("sync of user %s failed unexpectedly", claim.user_id)
        with self._lock:
            self._transient_streak = self._transient_streak + 1 if transient else 0
        outcome, level = "retry", logging.WARNING
        # A user waiting for a friendly_name is never dead-lettered: the wait ends on its own.
        waiting = isinstance(error, WaitingForName)
        try:
            if permanent or (
                not (transient or waiting) and claim.attempts >= self.sync.max_attempts
            ):
                if self.outbox.dead_letter(claim, reason):
                    outcome, level = "dead", logging.ERROR
                    line = f"sync dead-lettered after {claim.attempts} attempt(s)"
                else:
                    line = "sync retry now (a newer change arrived)"
            else:
                retry_after = error.retry_after if isinstance(error, FlexApiError) else None
                if isinstance(error, WorkerBusy):
                    # No jitter: give the reservations the whole backoff to time out.
                    retry_after = self.backoff_ceiling(claim.attempts)
                delay = self.backoff(claim.attempts, retry_after)
                self.outbox.reschedule(claim, reason, datetime.now(UTC) + timedelta(seconds=delay))
                line = f"sync retry in {delay:.1f}s (attempt {claim.attempts})"
        except DATABASE_FAILURES as exc:
            line = f"sync retry when the lease expires (outbox: {type(exc).__name__})"
        with contextlib.suppress(*DATABASE_FAILURES):  # the outbox row keeps the error too
            self.links.record_error(claim.user_id, reason)
        self._report(
            outcome, claim.user_id, started, level, f"{line}: user {claim.user_id}: {reason}"
        )

    def backoff_ceiling(self, attempts: int) -> float:
        """``min(cap, base * 2**(attempts-1))``: the longest wait after attempt ``attempts``."""
        return min(self.sync.backoff_cap, self.sync.backoff_base * 2.0 ** max(0, attempts - 1))

    def backoff(self, attempts: int, retry_after: float | None = None) -> float:
        """Full jitter: uniform(0, min(cap, base * 2**(attempts-1))), never below Retry-After."""
        delay = self._jitter() * self.backoff_ceiling(attempts)
        return max(delay, retry_after or 0.0)
