"""The outbox drainer: lease due users, converge each one, finish, retry or dead-letter the claim.

Does: run ``threads`` loops that claim due outbox rows under a lease (``FOR UPDATE SKIP LOCKED``
on PostgreSQL), hand each user to :class:`~scimbridge.flex.sync.reconciler.Reconciler`, and then
complete the claim (a newer change keeps the row due) or hand its failure to
``flex.sync.retries`` (rescheduled with exponential backoff and full jitter, or dead-lettered
with a human reason); write a ``worker:<owner>`` heartbeat every loop (removed on a clean stop;
long-stale ones of other workers removed at start) and ``last_successful_sync`` after each
success; report each outcome to a log line and ``on_outcome``.
Does not: decide what a worker should look like (``flex.sync.reconciler``), judge a failure
(``flex.sync.failures`` and ``flex.sync.retries``) or talk to Twilio itself.

Which failures end as dead letters: a *transient* one (429, 5xx, timeouts, refused or dropped
connections, the database gone) is retried with backoff capped at ``backoff_cap`` for as long as
it lasts, never dead-lettered (nor is a user waiting for its friendly_name to be freed); a
*permanent* refusal (a 4xx that sending again cannot change, a user that cannot be mapped) is
dead-lettered at once; anything else (a worker with pending reservations, a conflict that keeps
recurring, an unexpected error) after ``max_attempts``. When the database fails during a claimed
batch, the loop stops the batch, keeps its leases, and carries on with the same claims once the
database answers again. After a run of transient failures, the first success makes every change
waiting on its backoff due at once, so an outage ends without waiting out each change's backoff.

Several drainers, in one process or many, may share one outbox: the lease gives each user to one
of them at a time, and TaskRouter's unique friendly_name keeps even an expired lease from
producing a second worker. A failure never loses a change: the row stays until a sync succeeds
or is dead-lettered with its reason (``outbox.revive_dead`` or a newer change brings it back).
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from scimbridge.config.settings import SyncSettings
from scimbridge.flex.sync.failures import classify, is_database_error
from scimbridge.flex.sync.reconciler import Reconciler
from scimbridge.flex.sync.retries import Retries
from scimbridge.flex.twilio.errors import FlexApiError, Unauthorized
from scimbridge.store.errors import DATABASE_FAILURES
from scimbridge.store.objects import Store
from scimbridge.store.outbox import Claim

log = logging.getLogger("scimbridge.sync")

OutcomeHook = Callable[[str, str, float], None]
STOP_TIMEOUT = 1.0
# What processing one claim came to.
SETTLED, FAILED, DATABASE_DOWN = "settled", "failed", "database down"


CREDENTIALS_CHECK_SECONDS = 300.0


def default_owner() -> str:
    """``host:pid:random``, short enough to leave room for a thread suffix in a 64-char lease."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


DATABASE_WAIT_CAP = 5.0


class SyncWorker:
    """A :class:`~scimbridge.app.BackgroundService` draining the outbox into TaskRouter.

    ``start()`` spawns the threads; ``stop()`` returns within about a second (a convergence in
    flight finishes in its daemon thread, or its lease simply expires); ``drain_once()`` processes
    everything due now, synchronously, for tests and one-shot runs; ``notify()`` wakes the loops
    early (call it after enqueueing). ``on_outcome(outcome, user_id, seconds)`` sees every
    outcome: created, updated, unchanged, renamed, disabled, enabled, deleted, retry, dead.
    ``reconciler`` converges each user, and its TaskRouter client checks the credentials.
    """

    def __init__(
        self,
        sync: SyncSettings,
        store: Store,
        reconciler: Reconciler,
        *,
        heartbeat_retention_seconds: float,
        owner: str | None = None,
        threads: int = 1,
        on_outcome: OutcomeHook | None = None,
        jitter: Callable[[], float] = random.random,
        wake: threading.Event | None = None,
    ) -> None:
        if threads < 1:
            raise ValueError("threads must be at least 1")
        self.sync = sync
        self.retention_seconds = heartbeat_retention_seconds
        self.outbox = store.outbox
        self.state = store.state
        self.owner = (owner or default_owner())[:56]
        self.threads = threads
        self.on_outcome = on_outcome
        self.reconciler = reconciler
        self.retries = Retries(sync, store.outbox, store.links, self._report, jitter)
        self._stop = threading.Event()
        # Shared with whoever enqueues (the directory's ``on_enqueue``), so a change wakes the
        # drainer at once rather than at the next poll.
        self._wake = wake or threading.Event()
        self._threads: list[threading.Thread] = []
        self._beat_lock = threading.Lock()
        self._last_beat = -float("inf")
        self._last_verified = -float("inf")

    def __repr__(self) -> str:
        return f"SyncWorker(owner={self.owner!r}, threads={self.threads})"

    # -- BackgroundService ---------------------------------------------------------------------

    def start(self) -> None:
        if self._threads:
            return
        self._stop.clear()
        self._prune_heartbeats()
        for index in range(self.threads):
            lease_owner = f"{self.owner}/{index}"
            thread = threading.Thread(
                target=self._run, args=(lease_owner,), name=f"sync-{index}", daemon=True
            )
            self._threads.append(thread)
            thread.start()
        log.info("sync worker %s started with %d thread(s)", self.owner, self.threads)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        deadline = time.monotonic() + STOP_TIMEOUT
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads = []
        try:
            self.state.forget_heartbeat(self.owner)
        except DATABASE_FAILURES as exc:
            log.warning("sync heartbeat not removed: %s", type(exc).__name__)
        log.info("sync worker %s stopped", self.owner)

    def notify(self) -> None:
        """Something was enqueued: look at the outbox now rather than at the next poll."""
        self._wake.set()

    def drain_once(self) -> int:
        """Converge every user due now, and again any whose change arrived meanwhile; a user
        whose sync failed is not tried twice in one call. Returns how many claims were
        processed."""
        lease_owner = f"{self.owner}/once"
        self._heartbeat()
        processed = 0
        failed: set[str] = set()
        while True:
            batch = self._claim(lease_owner)
            fresh = [claim for claim in batch if claim.user_id not in failed]
            self._release([claim for claim in batch if claim.user_id in failed])
            if not fresh:
                return processed
            for claim in fresh:
                if self._process(claim, wait_for_database=False) != SETTLED:
                    failed.add(claim.user_id)
                processed += 1

    # -- the loop ------------------------------------------------------------------------------

    def _run(self, lease_owner: str) -> None:
        while not self._stop.is_set():
            batch: list[Claim] = []
            try:
                self._heartbeat()
                self._maybe_verify_credentials()
                batch = self._claim(lease_owner)
                self._work_through(batch)
            except Exception:
                # Keep draining: whatever broke, the rows stay in the outbox.
                log.exception("sync loop error")
                batch = []
            if not batch and self._wake.wait(self.sync.poll_interval):
                self._wake.clear()

    def _work_through(self, batch: list[Claim]) -> None:
        """Process the claims in order. When the database fails, stop there and keep every
        claim (failing each within milliseconds would only strand them under their leases);
        carry on with the same claim once the database answers."""
        index = 0
        while index < len(batch):
            if self._stop.is_set():
                self._release(batch[index:])
                return
            if self._process(batch[index], wait_for_database=True) == DATABASE_DOWN:
                self._wait_for_database()
                continue
            index += 1

    def _wait_for_database(self) -> None:
        """Return once the database answers (or the worker stops); the waits double up to
        :data:`DATABASE_WAIT_CAP` seconds."""
        delay = 0.05
        while not self._stop.is_set():
            try:
                self.state.ping()
            except DATABASE_FAILURES:
                self._stop.wait(delay)
                delay = min(delay * 2, DATABASE_WAIT_CAP)
            else:
                log.info("database answers again; the sync carries on with its claims")
                return

    def _heartbeat(self) -> None:
        """``worker:<owner>`` = now, at most once per poll interval whatever the thread count."""
        with self._beat_lock:
            due = time.monotonic() - self._last_beat >= self.sync.poll_interval
            if due:
                self._last_beat = time.monotonic()
        if not due:
            return
        try:
            self.state.heartbeat(self.owner, datetime.now(UTC))
        except DATABASE_FAILURES as exc:
            log.warning("sync heartbeat not written: %s", type(exc).__name__)

    def _prune_heartbeats(self) -> None:
        """Remove heartbeats of workers gone for longer than readiness remembers them."""
        cutoff = datetime.now(UTC) - timedelta(seconds=self.retention_seconds)
        try:
            self.state.prune_heartbeats(cutoff)
        except DATABASE_FAILURES as exc:
            log.warning("old sync heartbeats not removed: %s", type(exc).__name__)

    def _maybe_verify_credentials(self) -> None:
        """Every few minutes, in the background loop only (``drain_once`` costs no extra call)."""
        with self._beat_lock:
            due = time.monotonic() - self._last_verified >= CREDENTIALS_CHECK_SECONDS
            if due:
                self._last_verified = time.monotonic()
        if due:
            self._verify_credentials()

    def _verify_credentials(self) -> None:
        """Record whether Twilio accepts the credentials, for ``/readyz`` and ``status``."""
        try:
            self.reconciler.taskrouter.verify_credentials()
            verdict = "ok"
        except Unauthorized:
            verdict = "Twilio refused the credentials (401)"
            log.error("Twilio refused the credentials; every sync will fail until they are fixed")
        except FlexApiError as exc:
            log.warning("credentials not verified this time: %s", type(exc).__name__)
            return
        try:
            self.state.record_credential_check(verdict, datetime.now(UTC))
        except DATABASE_FAILURES as exc:
            log.warning("credential check not recorded: %s", type(exc).__name__)

    def _claim(self, lease_owner: str) -> list[Claim]:
        try:
            return self.outbox.claim(
                lease_owner,
                limit=self.sync.batch_size,
                lease_seconds=self.sync.lease_seconds,
            )
        except DATABASE_FAILURES as exc:
            log.warning("outbox not readable: %s", type(exc).__name__)
            self._stop.wait(self.sync.poll_interval)
            return []

    def _release(self, claims: list[Claim]) -> None:
        for claim in claims:
            # On failure the lease simply expires.
            with contextlib.suppress(*DATABASE_FAILURES):
                self.outbox.release(claim)

    def _process(self, claim: Claim, *, wait_for_database: bool) -> str:
        """Converge the claimed user and settle the claim: :data:`SETTLED`, :data:`FAILED`, or
        :data:`DATABASE_DOWN` (with ``wait_for_database``: the claim was left as it is, for the
        caller to process again once the database answers)."""
        if claim.lease_expires_at <= datetime.now(UTC):
            return SETTLED  # we came too late: another drainer may hold it now
        started = time.monotonic()
        try:
            result = self.reconciler.converge(claim.user_id)
        except Exception as exc:
            if wait_for_database and is_database_error(exc):
                log.warning(
                    "sync of user %s paused: %s", claim.user_id, classify(exc)[1],
                    extra={"event": "sync", "outcome": "paused", "user_id": claim.user_id},
                )  # fmt: skip
                return DATABASE_DOWN
            self.retries.fail(claim, exc, started)
            return FAILED
        self._complete(claim, wait_for_database=wait_for_database)
        self.retries.note_success()
        self._report(
            result.outcome,
            claim.user_id,
            started,
            logging.INFO,
            f"sync {result.outcome}: user {claim.user_id} worker {result.worker_sid or '-'} "
            f"({result.friendly_name or '-'})",
        )
        return SETTLED

    def _complete(self, claim: Claim, *, wait_for_database: bool) -> None:
        """Finish the claim and record the success; with ``wait_for_database`` a database
        failure is waited out once (else the row would sit under its lease)."""
        for last_try in (not wait_for_database, True):
            try:
                self.outbox.complete(claim)
                self.state.record_success(datetime.now(UTC))
                return
            except DATABASE_FAILURES as exc:
                # The worker converged; the row stays and the next pass finds nothing to do.
                log.warning("sync of user %s not recorded: %s", claim.user_id, type(exc).__name__)
                if last_try:
                    return
                self._wait_for_database()

    def _report(self, outcome: str, user_id: str, started: float, level: int, line: str) -> None:
        seconds = time.monotonic() - started
        log.log(level, line, extra={"event": "sync", "outcome": outcome, "user_id": user_id})
        if self.on_outcome is not None:
            try:
                self.on_outcome(outcome, user_id, seconds)
            except Exception:
                log.exception("on_outcome hook failed")
