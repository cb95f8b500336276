"""What ``status`` and ``/readyz`` say about the sync is what the running system does: judged from
the heartbeats in the database, which a cleanly stopped server removes and which age out. Two
``serve`` started at once on a fresh SQLite file both come up (migrations are safe to run twice)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from scimbridge.config.settings import ReadinessThresholds
from scimbridge.ops.health import readiness
from scimbridge.store.database import Database, at_head, create_db_engine
from scimbridge.store.objects import Store
from scimbridge.store.service_state import ServiceState
from tests.integration.cli_process import Process, run_cli
from tests.integration.sync_harness import TOKEN, wait_for
from tests.support import free_port


def _readyz(port: int) -> dict[str, object]:
    return httpx.get(f"http://127.0.0.1:{port}/readyz").json()  # type: ignore[no-any-return]


def _sync_check(port: int) -> dict[str, object]:
    return _readyz(port)["checks"]["sync_worker"]  # type: ignore[index, no-any-return]


def _status(env: dict[str, str]) -> dict[str, object]:
    done = run_cli(["status", "--json"], env)
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_two_servers_on_a_fresh_file_then_one_stops(tmp_path: Path) -> None:
    database = tmp_path / "fresh.db"
    env = {"SCIMBRIDGE_DATABASE_URL": f"sqlite:///{database}", "SCIMBRIDGE_BEARER_TOKEN": TOKEN}
    ports = [free_port(), free_port()]
    servers = [
        Process(["serve", "--fake-flex", "--port", str(p), "--fake-flex-port", "0"], env)
        for p in ports
    ]
    try:
        for server, port in zip(servers, ports, strict=True):
            server.wait_line(rf"Uvicorn running on http://127\.0\.0\.1:{port}")
        engine = create_db_engine(f"sqlite:///{database}")
        assert at_head(engine)
        engine.dispose()
        wait_for(lambda: _sync_check(ports[0]).get("workers") == 2, what="two sync workers")

        # status runs without the server's settings (no Twilio, no --fake-flex) and still
        # reports the sync the servers run.
        report = _status(env)
        assert report["sync"]["enabled"] is True  # type: ignore[index]
        assert report["sync"]["workers"] == 2  # type: ignore[index]
        assert report["checks"]["sync_worker"]["ok"] is True  # type: ignore[index]

        servers[1].stop()
        assert _sync_check(ports[0])["workers"] == 1  # the stopped one is not counted
        assert _readyz(ports[0])["status"] == "ready"
    finally:
        for server in servers:
            server.stop()
    for server in servers:
        assert "already exists" not in server.output() and "Traceback" not in server.output()
    report = _status(env)
    assert report["checks"]["sync_worker"] == {"ok": True, "detail": "sync is off"}  # type: ignore[index]
    assert report["sync"]["enabled"] is False  # type: ignore[index]
    assert run_cli(["status"], env).stdout.count("sync: off (no sync worker has reported)") == 1


def test_silent_workers_are_reported_then_forgotten(migrated_url: str) -> None:
    engine = create_db_engine(migrated_url)
    state = ServiceState(Database(engine))
    store = Store.of(Database(engine))
    now = datetime.now(UTC)
    thresholds = ReadinessThresholds(heartbeat_seconds=60)
    state.heartbeat("crashed-a-minute-ago", now - timedelta(seconds=90))
    state.heartbeat("gone-for-an-hour", now - timedelta(hours=1))
    report = readiness(store, sync_expected=False, thresholds=thresholds, now=now)
    # The one that went silent recently is a stalled sync, even with no Twilio settings here.
    assert report.checks["sync_worker"] == {
        "ok": False,
        "last_heartbeat_age_seconds": 90.0,
        "workers": 0,
        "silent_workers": 1,
    }
    state.heartbeat("alive", now)
    report = readiness(store, sync_expected=False, thresholds=thresholds, now=now)
    assert report.checks["sync_worker"]["ok"] is True
    assert report.checks["sync_worker"]["workers"] == 1
    later = now + timedelta(minutes=20)  # every heartbeat is now past the retention window
    report = readiness(store, sync_expected=False, thresholds=thresholds, now=later)
    assert report.checks["sync_worker"] == {"ok": True, "detail": "sync is off"}
    assert state.prune_heartbeats(now - timedelta(minutes=10)) == 1
    assert set(state.heartbeats()) == {"crashed-a-minute-ago", "alive"}
    state.forget_heartbeat("alive")
    assert set(state.heartbeats()) == {"crashed-a-minute-ago"}
    engine.dispose()


def test_concurrent_migrations_on_a_fresh_database(database_url: str) -> None:
    env = {"SCIMBRIDGE_DATABASE_URL": database_url}
    migrations = [Process(["migrate"], env) for _ in range(3)]
    codes = [m.popen.wait(timeout=180) for m in migrations]
    outputs = [m.output() for m in migrations]
    assert codes == [0, 0, 0], outputs
    engine = create_db_engine(database_url)
    assert at_head(engine)
    engine.dispose()
