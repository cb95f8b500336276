"""Health, readiness, metrics and logs, through real HTTP."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import httpx
import pytest

from scimbridge.app import create_app
from scimbridge.config.settings import load_settings
from scimbridge.ops.logging import configure_logging
from scimbridge.runtime import build_runtime
from scimbridge.store.database import migrate
from tests.support import serving

TOKEN = "ops-static-token-7f3a9c"
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"


def test_readyz_reports_each_component_and_turns_503(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ops.db'}"
    migrate(url)
    settings = load_settings(env={"SCIMBRIDGE_DATABASE_URL": url, "SCIMBRIDGE_BEARER_TOKEN": TOKEN})
    with serving(create_app(build_runtime(settings))) as base:
        ready = httpx.get(base + "/readyz")
        assert ready.status_code == 200
        checks = ready.json()["checks"]
        assert checks["database"]["ok"] and checks["migrations"]["ok"]
        assert checks["backlog"]["value"] == 0
        assert checks["sync_worker"]["detail"] == "sync is off"
    stale = f"sqlite:///{tmp_path / 'never-migrated.db'}"
    settings = load_settings(
        env={"SCIMBRIDGE_DATABASE_URL": stale, "SCIMBRIDGE_BEARER_TOKEN": TOKEN}
    )
    with serving(create_app(build_runtime(settings))) as base:
        assert httpx.get(base + "/healthz").status_code == 200
        not_ready = httpx.get(base + "/readyz")
        assert not_ready.status_code == 503
        assert not_ready.json()["checks"]["migrations"]["ok"] is False


def test_metrics_count_requests_and_backlog(sqlite_url: str) -> None:
    settings = load_settings(
        env={"SCIMBRIDGE_DATABASE_URL": sqlite_url, "SCIMBRIDGE_BEARER_TOKEN": TOKEN}
    )
    with serving(create_app(build_runtime(settings))) as base:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        created = httpx.post(
            base + "/scim/v2/Users",
            json={"schemas": [CORE], "userName": f"m{uuid.uuid4().hex[:6]}"},
            headers=headers,
        )
        assert created.status_code == 201
        httpx.get(base + "/scim/v2/Users/missing", headers=headers)
        text = httpx.get(base + "/metrics").text
    assert 'scimbridge_scim_requests_total{method="POST",resource="Users",status="201"} 1.0' in text
    assert 'scimbridge_scim_requests_total{method="GET",resource="Users",status="404"} 1.0' in text
    assert "scimbridge_scim_request_duration_seconds_bucket" in text
    # The created user waits for a sync (sync is off here), so the backlog shows it.
    assert "scimbridge_sync_backlog 1.0" in text
    assert "scimbridge_sync_dead_letters 0.0" in text


def test_metrics_token_protects_metrics(sqlite_url: str) -> None:
    settings = load_settings(
        env={
            "SCIMBRIDGE_DATABASE_URL": sqlite_url,
            "SCIMBRIDGE_BEARER_TOKEN": TOKEN,
            "SCIMBRIDGE_METRICS_TOKEN": "metrics-secret-123",
        }
    )
    with serving(create_app(build_runtime(settings))) as base:
        assert httpx.get(base + "/metrics").status_code == 401
        assert (
            httpx.get(base + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code
            == 401
        )
        ok = httpx.get(base + "/metrics", headers={"Authorization": "Bearer metrics-secret-123"})
        assert ok.status_code == 200


@pytest.mark.parametrize("fmt", ["plain", "json"])
def test_secrets_never_reach_logs_errors_or_metrics(
    sqlite_url: str, fmt: str, capfd: pytest.CaptureFixture[str]
) -> None:
    twilio_secret = "twilio-auth-token-" + uuid.uuid4().hex
    env = {
        "SCIMBRIDGE_DATABASE_URL": sqlite_url,
        "SCIMBRIDGE_BEARER_TOKEN": TOKEN,
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "TWILIO_AUTH_TOKEN": twilio_secret,
        "SCIMBRIDGE_SYNC": "false",
        "SCIMBRIDGE_LOG_FORMAT": fmt,
    }
    settings = load_settings(env=env)
    configure_logging(settings.log_format, "DEBUG", settings.secrets())
    bodies: list[str] = []
    try:
        with serving(create_app(build_runtime(settings))) as base:
            for token in (TOKEN, TOKEN + "x", twilio_secret):
                headers = {"Authorization": f"Bearer {token}", "X-Request-Id": "req-1"}
                response = httpx.post(
                    base + "/scim/v2/Users",
                    json={"schemas": [CORE], "userName": token},
                    headers=headers,
                )
                bodies.append(response.text)
                bodies.append(httpx.get(base + "/scim/v2/Nope", headers=headers).text)
            logging.getLogger("scimbridge.test").info("token in a message: Bearer %s", TOKEN)
            bodies.append(httpx.get(base + "/metrics").text)
            bodies.append(httpx.get(base + "/readyz").text)
    finally:
        logging.getLogger().setLevel(logging.WARNING)
    captured = capfd.readouterr()
    logs = captured.out + captured.err
    assert "req-1" in logs  # the request lines were written
    for secret in (TOKEN, twilio_secret):
        assert secret not in logs
        for body in bodies[-2:]:
            assert secret not in body


def test_scim_scoped_readiness_ignores_the_sync(sqlite_url: str) -> None:
    # Twilio configured but no worker has ever reported: not ready overall, ready for SCIM.
    settings = load_settings(
        env={
            "SCIMBRIDGE_DATABASE_URL": sqlite_url,
            "SCIMBRIDGE_BEARER_TOKEN": TOKEN,
            "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
            "TWILIO_AUTH_TOKEN": "unused-here",
            "SCIMBRIDGE_SYNC": "false",
        }
    )
    with serving(create_app(build_runtime(settings))) as base:
        full = httpx.get(base + "/readyz")
        assert full.status_code == 503
        assert full.json()["checks"]["sync_worker"]["ok"] is False
        scoped = httpx.get(base + "/readyz", params={"scope": "scim"})
        assert scoped.status_code == 200
        assert scoped.json()["checks"]["sync_worker"]["ok"] is False
