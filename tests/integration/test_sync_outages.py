"""Nothing lost, nothing duplicated: the sync through a timed outage and a mix of faults at once.

Two background drainers (as two replicas would run) work the outbox while Entra keeps changing
users and the fake Flex server is down for a while (every call 503 for a fixed time), throttles
(429 storms), applies creates but answers 500 or drops the connection, and answers some calls
slower than the client's timeout. When the faults stop, every user must have exactly one worker
holding its newest attributes, no create may have been applied twice, and nothing is dead.
(Single faults, one at a time, are in ``test_sync_faults``.)
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from scimbridge.flex.mapping import parse_mapping
from scimbridge.flex.ratelimit import RateLimiter
from scimbridge.flex.retry import RetryPolicy
from scimbridge.flex.taskrouter import TaskRouter
from scimbridge.flex.worker import SyncWorker
from scimbridge.store import outbox
from scimbridge.testing.fakeflex import FakeFlexServer
from scimbridge.testing.fakeflex_faults import Fault, FaultKind
from tests.integration.sync_harness import Harness, in_background, no_sleep, running

USERS = [f"agent{n:02d}@contoso.com" for n in range(10)]
# Enough attempts to outlast the outage; short backoff so the test does not wait on it.
PATIENT_SYNC = {"max_attempts": 200, "backoff_base": 0.02, "backoff_cap": 0.1, "lease_seconds": 5}


@pytest.fixture
def sync(migrated_url: str) -> Iterator[Harness]:
    with FakeFlexServer() as fake, running(fake, migrated_url, sync=PATIENT_SYNC) as harness:
        yield harness


def drainer(sync: Harness, *, http_timeout: float) -> SyncWorker:
    """A background drainer whose Twilio calls give up after ``http_timeout`` seconds."""
    assert sync.settings.twilio is not None
    taskrouter = TaskRouter(
        sync.settings.twilio,
        limiter=RateLimiter(1000.0, burst=100),
        retry=RetryPolicy(max_attempts=2, base=0.001, cap=0.002, sleep=no_sleep),
        http_timeout=http_timeout,
    )
    return SyncWorker(
        sync.settings,
        sync.engine,
        sync.repository,
        taskrouter,
        parse_mapping(sync.settings.flex),
        threads=2,
        on_outcome=lambda outcome, user_id, _s: sync.outcomes.append((outcome, user_id)),
    )


def test_outage_and_mixed_faults_lose_nothing_and_duplicate_nothing(sync: Harness) -> None:
    faults = sync.fake.faults
    faults.add(Fault(FaultKind.SERVER_ERROR_AFTER_COMMIT, route="workers.create", times=2))
    faults.add(
        Fault(FaultKind.DROP_CONNECTION_AFTER_COMMIT, route="workers.create", after=2, times=2)
    )
    faults.add(Fault(FaultKind.DELAY, route="workers.create", after=4, times=2, delay=0.8))
    faults.add(Fault(FaultKind.DROP_CONNECTION_AFTER_COMMIT, route="worker.update", times=3))
    faults.add(Fault(FaultKind.RATE_LIMIT, route="*", after=10, times=25, retry_after=0.05))
    with in_background(drainer(sync, http_timeout=0.4), drainer(sync, http_timeout=0.4)):
        ids = [sync.post_user(name) for name in USERS]
        # Flex goes down for a fixed time while Entra keeps changing people.
        outage = faults.add(Fault(FaultKind.UNAVAILABLE, route="*", times=None))
        back = threading.Timer(1.5, faults.remove, args=(outage,))
        back.start()
        for n, user_id in enumerate(ids):
            sync.replace(user_id, "displayName", f"Agent {n} (moved)")
        back.join()
        for n, user_id in enumerate(ids[::2]):
            sync.replace(user_id, "displayName", f"Agent {2 * n} (final)")
        sync.wait_drained()
    assert outbox.backlog(sync.engine) == 0, "a change was lost in the outbox"
    assert outbox.dead_letters(sync.engine) == []
    assert sorted(w.friendly_name for w in sync.workers()) == USERS, "one worker per user"
    for n, name in enumerate(USERS):
        expected = f"Agent {n} (final)" if n % 2 == 0 else f"Agent {n} (moved)"
        assert sync.attributes(name)["full_name"] == expected, name
    assert {"retry"} <= {outcome for outcome, _ in sync.outcomes}
