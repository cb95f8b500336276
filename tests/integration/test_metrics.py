"""What ``/metrics`` exposes, scraped from a real ``scimbridge serve`` process: one process, and
prometheus_client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from scimbridge import __version__
from scimbridge.app import create_app
from scimbridge.config.settings import load_settings
from scimbridge.runtime import build_runtime
from tests.support import free_port, serving

TOKEN = "metrics-static-token-5d1e"
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
REPO = Path(__file__).resolve().parents[2]


class Served:
    """``python -m scimbridge serve`` on a fresh SQLite file, stopped by its PID."""

    def __init__(self, tmp_path: Path, extra_env: dict[str, str]) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / "serve.log"
        inherited = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
        env = {
            **inherited,
            "SCIMBRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'metrics.db'}",
            "SCIMBRIDGE_BEARER_TOKEN": TOKEN,
            "SCIMBRIDGE_SYNC": "false",
            **extra_env,
        }
        with self.log.open("w") as sink:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "scimbridge", "serve", "--port", str(self.port)],
                env=env,
                cwd=tmp_path,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while True:
            assert self.popen.poll() is None, "serve exited:\n" + self.log.read_text()
            try:
                if httpx.get(self.base + "/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "serve did not start:\n" + self.log.read_text()
            time.sleep(0.1)

    def stop(self) -> None:
        self.popen.terminate()
        try:
            self.popen.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=15)

    def create_user(self) -> None:
        response = httpx.post(
            self.base + "/scim/v2/Users",
            json={"schemas": [CORE], "userName": f"m{uuid.uuid4().hex[:8]}"},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert response.status_code == 201, response.text

    def scrape(self) -> dict[str, list[tuple[dict[str, str], float]]]:
        """Sample name → (labels, value) of each sample in one scrape."""
        response = httpx.get(self.base + "/metrics")
        assert response.status_code == 200
        samples: dict[str, list[tuple[dict[str, str], float]]] = {}
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                samples.setdefault(sample.name, []).append((sample.labels, sample.value))
        return samples


@pytest.fixture
def served(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Served]:
    extra: dict[str, str] = getattr(request, "param", {})
    if "PROMETHEUS_MULTIPROC_DIR" in extra:
        directory = tmp_path / "prometheus"
        directory.mkdir()
        extra = {"PROMETHEUS_MULTIPROC_DIR": str(directory)}
    server = Served(tmp_path, extra)
    try:
        yield server
    finally:
        server.stop()


def test_one_process_exports_build_info_and_process_metrics_without_created(
    served: Served,
) -> None:
    served.create_user()
    samples = served.scrape()
    assert not [name for name in samples if name.endswith("_created")]
    [(labels, value)] = samples["scimbridge_build_info"]
    assert value == 1 and labels["version"] == __version__
    assert labels["python"] == ".".join(map(str, sys.version_info[:3]))
    assert samples["python_info"][0][1] == 1
    assert samples["process_resident_memory_bytes"][0][1] > 0
    # The serving process, not the test: it started after this test did.
    assert samples["process_start_time_seconds"][0][1] > time.time() - 600
    assert "python_gc_collections_total" in samples
    created = [
        value
        for labels, value in samples["scimbridge_scim_requests_total"]
        if labels == {"method": "POST", "resource": "Users", "status": "201"}
    ]
    assert created == [1.0]
    checks = {labels["check"]: value for labels, value in samples["scimbridge_readiness_check"]}
    assert checks == {
        "database": 1.0,
        "migrations": 1.0,
        "backlog": 1.0,
        "dead_letters": 1.0,
        "sync_worker": 1.0,
    }


def test_readiness_metric_names_the_failing_check(tmp_path: Path) -> None:
    # A database at no schema revision: /readyz answers 503, and the metric says why.
    url = f"sqlite:///{tmp_path / 'never-migrated.db'}"
    settings = load_settings(env={"SCIMBRIDGE_DATABASE_URL": url, "SCIMBRIDGE_BEARER_TOKEN": TOKEN})
    with serving(create_app(build_runtime(settings))) as base:
        assert httpx.get(base + "/readyz").status_code == 503
        text = httpx.get(base + "/metrics").text
    assert 'scimbridge_readiness_check{check="database"} 1.0' in text
    assert 'scimbridge_readiness_check{check="migrations"} 0.0' in text


@pytest.mark.parametrize("served", [{"PROMETHEUS_MULTIPROC_DIR": ""}], indirect=True)
def test_multiprocess_mode_aggregates_counters_and_keeps_build_info(
    served: Served, tmp_path: Path
) -> None:
    served.create_user()
    served.create_user()
    samples = served.scrape()
    assert list((tmp_path / "prometheus").glob("*.db")), "counters are kept in the shared directory"
    assert not [name for name in samples if name.endswith("_created")]
    assert samples["scimbridge_build_info"][0][0]["version"] == __version__
    assert "python_info" in samples
    assert "scimbridge_sync_backlog" in samples
    assert {labels["check"] for labels, _ in samples["scimbridge_readiness_check"]} >= {"database"}
    # Per-process figures would describe whichever process answered: left out.
    assert not [name for name in samples if name.startswith(("process_", "python_gc_"))]
    created = [
        value
        for labels, value in samples["scimbridge_scim_requests_total"]
        if labels == {"method": "POST", "resource": "Users", "status": "201"}
    ]
    assert created == [2.0]
