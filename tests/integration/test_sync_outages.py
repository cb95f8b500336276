"""Nothing lost, nothing duplicated: the sync through a timed outage and a mix of faults at once.

Two background drainers (as two replicas would run) work the outbox while Entra keeps changing
users and the fake Flex server is down for a while (every call 503 for a fixed time), throttles
(429 storms), applies creates but answers 500 or drops the connection, and answers some calls
slower than the client's timeout. When the faults stop, every user must have exactly one worker
holding its newest attributes, no create may have been applied twice, and nothing is dead.
(Single faults, one at a time, are in ``test_sync_faults``.) And an outage far longer than
``max_attempts`` x the backoff, with creates, changes, disables and a delete made during it: no
dead letter, ``status``, ``/readyz`` and the metric name the outage while it lasts, and every
change lands on its own once Flex answers again.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from scimbridge.cli.main import app
from scimbridge.flex.mapping.config import parse_mapping
from scimbridge.flex.sync.drainer import SyncWorker
from scimbridge.flex.sync.reconciler import Reconciler
from scimbridge.flex.twilio.ratelimit import RateLimiter
from scimbridge.flex.twilio.retry import RetryPolicy
from scimbridge.flex.twilio.taskrouter import TaskRouter
from scimbridge.flex.twilio.transport import TwilioCalls, real_http_client
from scimbridge.store.tables import outbox as outbox_table
from scimbridge.testing.fakeflex.faults import Fault, FaultKind
from scimbridge.testing.fakeflex.server import FakeFlexServer
from tests.integration.sync_harness import (
    Harness,
    in_background,
    no_sleep,
    running,
    twilio_env,
    wait_for,
)

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
    calls = TwilioCalls(
        sync.settings.twilio,
        limiter=RateLimiter(1000.0, burst=100),
        retry=RetryPolicy(max_attempts=2, base=0.001, cap=0.002, sleep=no_sleep),
        http_client=real_http_client(timeout=http_timeout),
    )
    store = sync.store
    reconciler = Reconciler(
        store.directory,
        store.links,
        store.outbox,
        TaskRouter(calls),
        parse_mapping(sync.settings.flex),
    )
    return SyncWorker(
        sync.settings.sync,
        store,
        reconciler,
        heartbeat_retention_seconds=sync.settings.readiness.heartbeat_retention_seconds,
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
    assert sync.store.outbox.backlog() == 0, "a change was lost in the outbox"
    assert sync.store.outbox.dead_letters() == []
    assert sorted(w.friendly_name for w in sync.workers()) == USERS, "one worker per user"
    for n, name in enumerate(USERS):
        expected = f"Agent {n} (final)" if n % 2 == 0 else f"Agent {n} (moved)"
        assert sync.attributes(name)["full_name"] == expected, name
    assert {"retry"} <= {outcome for outcome, _ in sync.outcomes}


# max_attempts x the backoff is well under a second; the outage lasts far longer than that.
SHORT_PATIENCE = {"max_attempts": 3, "backoff_base": 0.02, "backoff_cap": 0.1, "lease_seconds": 5}


def status(sync: Harness, config: Path) -> tuple[int, str]:
    """``scimbridge status`` run as an operator would, against the harness's database."""
    env = twilio_env(sync.fake, sync.settings.database_url, SCIMBRIDGE_CONFIG=str(config))
    result = CliRunner().invoke(app, ["status"], env=env)
    return result.exit_code, result.stdout


def max_attempts_seen(sync: Harness) -> int:
    with sync.engine.connect() as conn:
        return int(conn.scalar(select(func.max(outbox_table.c.attempts))) or 0)


def test_an_outage_longer_than_max_attempts_converges_alone_and_shows_while_it_lasts(
    migrated_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "scimbridge.toml"
    config.write_text("[ops]\nstalled_sync_seconds = 1\n")
    with (
        FakeFlexServer() as fake,
        running(fake, migrated_url, sync=SHORT_PATIENCE, ops={"stalled_sync_seconds": 1}) as sync,
        in_background(sync.sync_worker(), sync.sync_worker()),
    ):
        ids = [sync.post_user(name) for name in USERS[:6]]
        sync.wait_drained()
        for name in USERS[2:4]:
            sync.set_worker(name, activity="Available")
        assert status(sync, config)[0] == 0
        outage = fake.faults.add(Fault(FaultKind.UNAVAILABLE, route="*", times=None))
        sync.replace(ids[0], "displayName", "Agent 0 (moved)")
        sync.replace(ids[1], "displayName", "Agent 1 (moved)")
        sync.replace(ids[2], "active", False)  # leavers, disabled while Flex is down
        sync.replace(ids[3], "active", False)
        sync.delete(ids[4])
        new = [sync.post_user(name) for name in USERS[6:8]]
        wait_for(lambda: max_attempts_seen(sync) > 3 * SHORT_PATIENCE["max_attempts"])
        wait_for(lambda: "Twilio unreachable for" in status(sync, config)[1], 20, "the outage")
        code, shown = status(sync, config)
        assert code == 1, shown
        assert "7 changes waiting" in shown, shown
        ready = httpx.get(sync.base_url + "/readyz", timeout=10)
        assert ready.status_code == 503
        progress = ready.json()["checks"]["sync_progress"]
        assert progress["ok"] is False and progress["error"].startswith("Twilio unreachable for")
        metrics = httpx.get(sync.base_url + "/metrics", timeout=10).text
        stalled = re.search(r"^scimbridge_sync_stalled_seconds (\S+)$", metrics, re.M)
        assert stalled is not None and float(stalled.group(1)) > 1
        assert sync.store.outbox.dead_letters() == []
        fake.faults.remove(outage)
        sync.wait_drained()
        assert sync.store.outbox.dead_letters() == []
        names = sorted(w.friendly_name for w in sync.workers())
        assert names == sorted(n for n in USERS[:8] if n != USERS[4]), "one worker per user"
        assert sync.attributes(USERS[0])["full_name"] == "Agent 0 (moved)"
        assert sync.attributes(USERS[1])["full_name"] == "Agent 1 (moved)"
        assert [sync.activity(n) for n in USERS[2:4]] == ["Offline", "Offline"]
        assert len(new) == 2
        wait_for(lambda: status(sync, config)[0] == 0, 20, "status to be healthy again")
