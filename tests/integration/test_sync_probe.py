"""The If-Match probe under concurrency: several drainer threads of one process probe once.

Runs on SQLite only: the behaviour is the reconciler's, not the database's.
"""

from __future__ import annotations

from scimbridge.flex.sync.writes import PROBE_ETAG
from scimbridge.testing.fakeflex.server import FakeFlexServer
from tests.integration.sync_harness import in_background, running


def test_threads_creating_workers_at_once_send_one_if_match_probe(sqlite_url: str) -> None:
    with FakeFlexServer() as fake:
        fake.state.set_options(enforce_if_match=True)
        # A slow update keeps the first probe in flight while the other threads finish creates.
        fake.state.faults.set_latency(0.1, "worker.update")
        with running(fake, sqlite_url, sync={"batch_size": 1}) as sync:
            names = [f"agent{n}@contoso.com" for n in range(8)]
            for name in names:
                sync.post_user(name, name.split("@")[0])
            worker = sync.sync_worker(threads=4)
            with in_background(worker):
                sync.wait_drained(30)
            assert sync.store.outbox.backlog() == 0
            assert sorted(w.friendly_name for w in sync.workers()) == names
            probes = [r for r in fake.state.requests.all() if r.if_match == PROBE_ETAG]
            assert len(probes) == 1
            # Its answer holds for every thread: an owned change is one conditional update.
            sync.calls()
            for user_id in {user_id for _, user_id in sync.outcomes}:
                sync.replace(user_id, "displayName", "Renamed")
            worker.drain_once()
            assert [route for route, _ in sync.calls()] == ["worker.update"] * len(names)
