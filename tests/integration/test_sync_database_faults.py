"""PostgreSQL restarting under a sync worker in the middle of a claimed batch: the batch stops,
its claims are kept (not failed one by one within milliseconds), and the sync carries on with
them as soon as the database answers, long before their 60 s leases would have expired."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from scimbridge.store.database import migrate
from scimbridge.testing.fakeflex.server import FakeFlexServer
from tests.conftest import _fresh_postgres_database, terminate_backends
from tests.integration.sync_harness import in_background, running, wait_for

USERS = [f"agent{n:02d}@contoso.com" for n in range(20)]


@pytest.fixture
def postgres_url() -> Iterator[str]:
    for url in _fresh_postgres_database():
        migrate(url)
        yield url


@pytest.mark.postgres
def test_a_postgres_restart_mid_batch_keeps_the_claims_and_carries_on(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    database = postgres_url.rsplit("/", 1)[1]
    admin = create_engine(
        postgres_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT"
    )
    sync_settings = {"batch_size": 20, "lease_seconds": 60}
    try:
        with (
            FakeFlexServer() as fake,
            running(fake, postgres_url, sync=sync_settings) as sync,
            caplog.at_level(logging.INFO, logger="scimbridge.sync"),
        ):
            for name in USERS:
                sync.post_user(name)
            fake.faults.set_latency(0.05)  # a batch of 20 takes a couple of seconds
            with in_background(sync.sync_worker()):
                wait_for(lambda: len(fake.state.workers()) >= 3, 30, "the batch to start")
                with admin.connect() as conn:
                    conn.execute(text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false'))
                terminate_backends(admin, database, wait=True)
                time.sleep(0.5)
                with admin.connect() as conn:
                    conn.execute(text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true'))
                restarted = time.monotonic()
                # Well within the 60 s lease: the claims were not left to expire.
                sync.wait_drained(seconds=30)
                assert time.monotonic() - restarted < 30
            assert sync.store.outbox.dead_letters() == []
            assert sorted(w.friendly_name for w in fake.state.workers()) == USERS
            outcomes = [outcome for outcome, _ in sync.outcomes]
            assert outcomes.count("created") == len(USERS)
            assert "retry" not in outcomes, "a claim was failed instead of kept"
            # The outage was met, in the middle of a user's sync (paused, the claim kept) or just
            # after its worker write (not recorded, then waited out): which one is timing.
            assert "paused" in caplog.text or "not recorded" in caplog.text
    finally:
        admin.dispose()
