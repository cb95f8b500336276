"""``scimbridge worker`` and ``scimbridge serve`` killed with SIGKILL in the middle of a sync.

The process runs for real (a subprocess, its own database connections and Twilio client) against
the fake Flex server, whose worker creates take long enough that one is in flight when the kill
comes; the fake still applies it, as Twilio would. After a restart every user must converge to
exactly one worker (the one created before the crash is adopted, never duplicated), the leases the
dead process held must expire so nothing stays stuck, and nothing is dead-lettered.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from scimbridge.app import create_app
from scimbridge.config.settings import load_settings
from scimbridge.runtime import build_runtime
from scimbridge.store.database import Database, create_db_engine
from scimbridge.store.outbox import Outbox
from scimbridge.store.tables import outbox as outbox_table
from scimbridge.testing.fakeflex.faults import Fault, FaultKind
from scimbridge.testing.fakeflex.server import FakeFlexServer
from tests.integration.sync_harness import CORE, TOKEN, twilio_env, wait_for
from tests.support import free_port, serving

USERS = [f"agent{n}@contoso.com" for n in range(5)]
# Short leases, so the dead process's claims come back within a second.
SYNC_TOML = """
[sync]
lease_seconds = 1.0
poll_interval = 0.1
backoff_base = 0.05
backoff_cap = 0.2
"""


@pytest.fixture
def fake() -> Iterator[FakeFlexServer]:
    with FakeFlexServer() as server:
        yield server


def start(command: str, env: dict[str, str], *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "scimbridge", command, *extra],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.wait(10)


def creates_seen(fake: FakeFlexServer) -> int:
    return sum(1 for r in fake.state.requests.all() if r.route == "workers.create")


def environment(fake: FakeFlexServer, url: str, tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "scimbridge.toml"
    config.write_text(SYNC_TOML, encoding="utf-8")
    return {
        **twilio_env(fake, url),
        "SCIMBRIDGE_CONFIG": str(config),
        "SCIMBRIDGE_LOG_LEVEL": "WARNING",
    }


def post_users(base: str) -> list[str]:
    with httpx.Client(
        base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
    ) as http:
        ids = []
        for name in USERS:
            response = http.post(
                "/scim/v2/Users", json={"schemas": [CORE], "userName": name, "active": True}
            )
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
        return ids


def leased_rows(url: str) -> int:
    """Outbox rows some process holds a lease on (a dead one's stay until they expire)."""
    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            return int(
                conn.scalar(
                    select(func.count())
                    .select_from(outbox_table)
                    .where(outbox_table.c.lease_owner.is_not(None))
                )
                or 0
            )
    finally:
        engine.dispose()


def assert_converged_once(fake: FakeFlexServer, url: str) -> None:
    engine = create_db_engine(url)
    queue = Outbox(Database(engine))
    try:
        wait_for(lambda: queue.backlog() == 0, 60, "the outbox to drain after the restart")
        assert queue.dead_letters() == []
    finally:
        engine.dispose()
    names = sorted(worker.friendly_name for worker in fake.state.workers())
    assert names == sorted(USERS), "every user has exactly one worker"


def test_worker_killed_mid_sync_converges_every_user_once(
    fake: FakeFlexServer, sqlite_url: str, tmp_path: Path
) -> None:
    env = environment(fake, sqlite_url, tmp_path)
    scim_only = load_settings(
        env={"SCIMBRIDGE_DATABASE_URL": sqlite_url, "SCIMBRIDGE_BEARER_TOKEN": TOKEN}
    )
    with serving(create_app(build_runtime(scim_only))) as base:
        post_users(base)
    # Every create is slow: the kill lands while one is in flight (the fake still applies it).
    slow = fake.faults.add(Fault(FaultKind.DELAY, route="workers.create", delay=1.5, times=None))
    first = start("worker", env)
    try:
        wait_for(lambda: creates_seen(fake) >= 1, 30, "a worker create in flight")
        kill(first)
    finally:
        kill(first)
    assert leased_rows(sqlite_url) >= 1, "the killed process held no lease: nothing was in flight"
    in_flight = creates_seen(fake)
    wait_for(lambda: len(fake.state.workers()) >= in_flight, 10, "the in-flight create to land")
    fake.faults.remove(slow)
    second = start("worker", env)
    try:
        assert_converged_once(fake, sqlite_url)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(10)
    assert second.returncode == 0, second.stderr.read().decode() if second.stderr else ""


def test_serve_killed_mid_sync_and_restarted_converges_every_user_once(
    fake: FakeFlexServer, sqlite_url: str, tmp_path: Path
) -> None:
    env = {**environment(fake, sqlite_url, tmp_path), "SCIMBRIDGE_BEARER_TOKEN": TOKEN}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    fake.faults.add(Fault(FaultKind.DELAY, route="workers.create", delay=1.5, times=None))
    first = start("serve", env, "--port", str(port))
    try:
        wait_for(lambda: _answers(base), 30, "serve to listen")
        post_users(base)
        wait_for(lambda: creates_seen(fake) >= 1, 30, "a worker create in flight")
    finally:
        kill(first)
    fake.faults.clear()
    second = start("serve", env, "--port", str(port))
    try:
        wait_for(lambda: _answers(base), 30, "serve to listen again")
        assert_converged_once(fake, sqlite_url)
        # The restarted process serves SCIM too: every user is still there.
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
            assert http.get("/scim/v2/Users").json()["totalResults"] == len(USERS)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(15)


def _answers(base: str) -> bool:
    try:
        return httpx.get(base + "/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
