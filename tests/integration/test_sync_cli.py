"""How the sync is wired: ``serve`` (in-process worker, ``--fake-flex``), ``scimbridge worker``,
``scimbridge fake-flex``, and ``check-config``. The commands run as real subprocesses."""

from __future__ import annotations

import itertools
import logging
import signal
from pathlib import Path

import httpx
import pytest

from scimbridge.config.errors import ConfigError
from scimbridge.config.settings import load_settings
from scimbridge.config_check import ConfigReport, check_configuration
from scimbridge.flex.sync.drainer import SyncWorker
from scimbridge.runtime import FakeFlexService, build_runtime
from scimbridge.store.database import Database, create_db_engine
from scimbridge.store.directory import Directory
from scimbridge.testing.fakeflex.server import FakeFlexServer
from tests.integration.cli_process import Process
from tests.integration.sync_harness import CORE, TOKEN, twilio_env, wait_for
from tests.support import free_port

ANN = "ann.lee@contoso.com"
ANN_DOCUMENT = {
    "schemas": [CORE],
    "userName": ANN,
    "displayName": "Ann Lee",
    "emails": [{"value": ANN, "type": "work"}],
}


def test_no_twilio_settings_means_no_sync(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = load_settings(env={"SCIMBRIDGE_DATABASE_URL": sqlite_url})
    engine = create_db_engine(sqlite_url)
    with caplog.at_level(logging.WARNING):
        runtime = build_runtime(settings, engine=engine)
    assert runtime.drainer is None and runtime.fake_flex is None
    assert not [s for s in runtime.services if isinstance(s, SyncWorker | FakeFlexService)]
    assert "sync is off" in caplog.text
    engine.dispose()


def test_contradictory_settings_are_refused(fake: FakeFlexServer, sqlite_url: str) -> None:
    engine = create_db_engine(sqlite_url)
    both = load_settings(env=twilio_env(fake, sqlite_url, SCIMBRIDGE_FAKE_FLEX="true"))
    with pytest.raises(ConfigError, match="choose one"):
        build_runtime(both, engine=engine)
    users_api = load_settings(
        env=twilio_env(fake, sqlite_url), document={"flex": {"mode": "users_api"}}
    )
    with pytest.raises(ConfigError, match="SCIMBRIDGE_FLEX_INSTANCE_SID"):
        build_runtime(users_api, engine=engine)
    engine.dispose()


def test_fake_flex_services_warn_loudly_and_sync_into_the_fake(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = load_settings(
        env={"SCIMBRIDGE_DATABASE_URL": sqlite_url, "SCIMBRIDGE_FAKE_FLEX": "1"}
    )
    engine = create_db_engine(sqlite_url)
    services = build_runtime(settings, engine=engine).services
    sync = [s for s in services if isinstance(s, SyncWorker | FakeFlexService)]
    assert [type(s) for s in sync] == [FakeFlexService, SyncWorker]
    fake_service = sync[0]
    assert isinstance(fake_service, FakeFlexService)
    with caplog.at_level(logging.WARNING):
        for service in services:
            service.start()
    try:
        assert "fake, in-memory Flex" in caplog.text and "NOT to Twilio" in caplog.text
        Directory(Database(engine)).create_user(dict(ANN_DOCUMENT), actor="test")
        wait_for(lambda: fake_service.server.state.worker_named(ANN) is not None)
    finally:
        for service in reversed(services):
            service.stop()
        engine.dispose()


def test_serve_with_fake_flex_syncs_users_posted_over_http(tmp_path: Path) -> None:
    port = free_port()
    env = {
        "SCIMBRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
        "SCIMBRIDGE_BEARER_TOKEN": TOKEN,
    }
    serve = Process(
        ["serve", "--fake-flex", "--port", str(port), "--fake-flex-port", str(free_port())], env
    )
    try:
        fake_url = serve.wait_line(r"fake, in-memory Flex at (http://\S+), NOT to Twilio").group(1)
        wait_for(lambda: _healthy(f"http://127.0.0.1:{port}/healthz", {"status": "ok"}))
        response = httpx.post(
            f"http://127.0.0.1:{port}/scim/v2/Users",
            json=ANN_DOCUMENT,
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert response.status_code == 201, response.text

        def synced() -> bool:
            workers = httpx.get(f"{fake_url}/__fake__/workers").json()["workers"]
            return [w["friendly_name"] for w in workers] == [ANN]

        wait_for(synced)
    finally:
        assert serve.stop() in (0, -signal.SIGTERM)  # uvicorn re-raises the signal it handled


def test_worker_command_drains_alone_and_stops_on_sigterm(
    fake: FakeFlexServer, sqlite_url: str
) -> None:
    engine = create_db_engine(sqlite_url)
    Directory(Database(engine)).create_user(dict(ANN_DOCUMENT), actor="test")
    engine.dispose()
    worker = Process(["worker"], twilio_env(fake, sqlite_url))
    try:
        wait_for(lambda: fake.state.worker_named(ANN) is not None)
    finally:
        assert worker.stop() == 0


def test_worker_command_without_twilio_settings_exits_with_an_error(sqlite_url: str) -> None:
    worker = Process(["worker"], {"SCIMBRIDGE_DATABASE_URL": sqlite_url})
    assert worker.popen.wait(timeout=30) == 2


def test_fake_flex_command_serves_the_fake(fake: FakeFlexServer) -> None:
    port = free_port()
    process = Process(["fake-flex", "--port", str(port)], {})
    try:
        process.wait_line(r"TWILIO_ACCOUNT_SID=AC")
        wait_for(lambda: _healthy(f"http://127.0.0.1:{port}/__fake__/health", {"ok": True}))
    finally:
        process.stop()


def _healthy(url: str, expected: object) -> bool:
    try:
        return bool(httpx.get(url).json() == expected)
    except httpx.HTTPError:
        return False


def test_check_config_validates_mapping_account_and_explains_a_user(
    fake: FakeFlexServer, sqlite_url: str
) -> None:
    good = load_settings(env=twilio_env(fake, sqlite_url))
    assert check_configuration(good) == ConfigReport()
    engine = create_db_engine(sqlite_url)
    Directory(Database(engine)).create_user(dict(ANN_DOCUMENT), actor="test")
    engine.dispose()
    explained = check_configuration(good, ANN)
    assert explained.valid and explained.worker is not None
    assert "client:ann_2Elee_40contoso_2Ecom" in [row.value for row in explained.worker.rows]
    assert check_configuration(good, "nobody@contoso.com").problems == (
        "no stored user has userName 'nobody@contoso.com'",
    )
    bad_mapping = load_settings(
        env=twilio_env(fake, sqlite_url), document={"flex": {"on_delete": "vanish"}}
    )
    assert any("flex.on_delete" in p for p in check_configuration(bad_mapping).problems)
    no_activity = load_settings(
        env=twilio_env(fake, sqlite_url), document={"flex": {"unavailable_activity": "Lunch"}}
    )
    assert any("unavailable_activity" in p for p in check_configuration(no_activity).problems)
    wrong = load_settings(env=twilio_env(fake, sqlite_url, TWILIO_AUTH_TOKEN="0" * 32))
    problems = check_configuration(wrong).problems
    assert len(problems) == 1 and "401" in problems[0] and "0" * 32 not in problems[0]


def test_check_config_calls_twilio_at_the_configured_cap(
    fake: FakeFlexServer, sqlite_url: str
) -> None:
    settings = load_settings(env=twilio_env(fake, sqlite_url, SCIMBRIDGE_TWILIO_MAX_RPS="2"))
    fake.state.requests.clear()
    assert check_configuration(settings).valid
    moments = sorted(r.at for r in fake.state.requests.all())
    assert len(moments) >= 2
    gaps = [later - earlier for earlier, later in itertools.pairwise(moments)]
    assert min(gaps) >= 0.4, "check-config sent faster than SCIMBRIDGE_TWILIO_MAX_RPS=2"


def test_check_config_prints_bracketed_names_as_they_are(
    fake: FakeFlexServer, sqlite_url: str
) -> None:
    from typer.testing import CliRunner

    from scimbridge.cli.main import app
    from scimbridge.store.database import migrate

    migrate(sqlite_url)
    env = {**twilio_env(fake, sqlite_url), "COLUMNS": "200"}
    result = CliRunner().invoke(app, ["check-config", "--user", "x[flex.attributes.a]"], env=env)
    assert result.exit_code == 1
    assert "'x[flex.attributes.a]'" in result.output
