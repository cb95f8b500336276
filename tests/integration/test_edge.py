"""The network and authentication edge of a running ``scimbridge serve`` with its default flags.

Each test talks real HTTP (or a raw socket) to a ``serve`` subprocess on 127.0.0.1, started with
no token, so it also hands out its first token: stdout is a pipe, so the token goes to a 0600
file. Covers: a valid token admitted after a stranger's failures, X-Forwarded-For from an
untrusted peer, the header size and header read bounds, control characters in the log, a
malformed ETag, the SQLite file modes, the first-start token file, ``/metrics`` beyond loopback
and the ``[auth.entra_jwt]`` configuration error.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support import free_port

REPO = Path(__file__).resolve().parents[2]
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"


@dataclass
class Served:
    """A ``serve`` subprocess: its base URL, working directory, and captured output."""

    popen: subprocess.Popen[bytes]
    base: str
    port: int
    folder: Path

    @property
    def stdout(self) -> str:
        return (self.folder / "stdout.txt").read_text(errors="replace")

    @property
    def log(self) -> str:
        return (self.folder / "stderr.txt").read_text(errors="replace")

    @property
    def token(self) -> str:
        return (self.folder / "scimbridge-token.txt").read_text().strip()


def start_serve(folder: Path, *args: str, env: dict[str, str] | None = None) -> Served:
    """``scimbridge serve`` in ``folder`` (its SQLite file and token file land there), umask 022."""
    port = free_port()
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SCIMBRIDGE_", "TWILIO_", "FORWARDED_"))
    }
    environment.update({"SCIMBRIDGE_DATABASE_URL": f"sqlite:///{folder / 'scimbridge.db'}"})
    environment.update(env or {})
    with (folder / "stdout.txt").open("wb") as out, (folder / "stderr.txt").open("wb") as err:
        popen = subprocess.Popen(
            [sys.executable, "-m", "scimbridge", "serve", "--port", str(port), *args],
            cwd=folder,
            env=environment,
            stdout=out,
            stderr=err,
            umask=0o022,
        )
    served = Served(popen, f"http://127.0.0.1:{port}", port, folder)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert popen.poll() is None, f"serve exited:\n{served.stdout}\n{served.log}"
        try:
            if httpx.get(served.base + "/healthz", timeout=5).status_code == 200:
                return served
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    stop(served)
    raise AssertionError(f"serve did not start:\n{served.log}")


def stop(served: Served) -> None:
    served.popen.terminate()
    try:
        served.popen.wait(timeout=20)
    except subprocess.TimeoutExpired:
        served.popen.kill()
        served.popen.wait(timeout=10)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("edge")
    running = start_serve(folder)
    try:
        yield running
    finally:
        stop(running)


def scim(served: Served, token: str, source: str = "127.0.0.1") -> httpx.Client:
    return httpx.Client(
        base_url=served.base + "/scim/v2",
        headers={"Authorization": f"Bearer {token}"},
        transport=httpx.HTTPTransport(local_address=source),
        timeout=30,
    )


def test_the_first_token_goes_to_a_private_file_and_never_to_the_log(served: Served) -> None:
    path = served.folder / "scimbridge-token.txt"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = served.token
    assert token.startswith("sb_")
    with scim(served, token) as client:
        assert client.get("/Users").status_code == 200
    assert token not in served.stdout and token not in served.log
    assert str(path) in served.log


def test_a_valid_token_gets_in_after_forty_bad_ones_from_its_address(served: Served) -> None:
    with scim(served, "sb_guessed-by-a-stranger-000000000000") as stranger:
        answers = [stranger.get("/Users").status_code for _ in range(40)]
    assert answers[:20] == [401] * 20
    assert set(answers[20:]) == {429}
    with scim(served, served.token) as entra:
        assert entra.get("/Users").status_code == 200


def test_x_forwarded_for_from_an_unnamed_peer_does_not_dodge_the_throttle(served: Served) -> None:
    with scim(served, "wrong-token", source="127.0.0.2") as stranger:
        answers = [
            stranger.get("/Users", headers={"X-Forwarded-For": f"203.0.113.{n}"}).status_code
            for n in range(40)
        ]
    assert answers[:20] == [401] * 20
    assert set(answers[20:]) == {429}


def raw_exchange(port: int, request: bytes, *, wait: float = 30) -> tuple[bytes, float]:
    """Send ``request`` (stopping early if the server closes) and return what came back, and
    how many seconds after sending it the connection was closed."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        with contextlib.suppress(OSError):  # refused mid-way: the answer is still readable
            sock.sendall(request)
        sent = time.monotonic()
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
        return received, time.monotonic() - sent


def test_a_one_mebibyte_header_is_refused(served: Served) -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n"
    received, _ = raw_exchange(served.port, request)
    assert received.startswith(b"HTTP/1.1 431"), received[:100]


def test_a_stalled_header_is_closed_within_a_minute(served: Served) -> None:
    received, elapsed = raw_exchange(
        served.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ", wait=90
    )
    assert elapsed < 60
    assert received == b"" or received.startswith(b"HTTP/1.1 408"), received[:100]


def test_a_newline_in_the_path_is_escaped_in_the_log(served: Served) -> None:
    forged = "/Users/x%0Aforged%20INFO%20scimbridge.access%20DELETE"
    with scim(served, served.token) as client:
        assert client.get(forged).status_code == 404
    time.sleep(0.2)
    lines = served.log.splitlines()
    assert not [line for line in lines if line.startswith("forged")]
    assert [line for line in lines if "/scim/v2/Users/x\\x0aforged INFO" in line]


def test_a_non_ascii_digit_in_an_etag_is_no_server_error(served: Served) -> None:
    with scim(served, served.token) as client:
        created = client.post("/Users", json={"schemas": [CORE], "userName": "etag@contoso.com"})
        assert created.status_code == 201
        url = f"/Users/{created.json()['id']}"
        tag = 'W/"²"'.encode()
        assert client.get(url, headers={"If-None-Match": tag}).status_code == 200
        replace = {"schemas": [CORE], "userName": "etag@contoso.com", "displayName": "E"}
        assert client.put(url, json=replace, headers={"If-Match": tag}).status_code == 412
        long_tag = b'W/"' + b"9" * 5000 + b'"'
        assert client.delete(url, headers={"If-Match": long_tag}).status_code == 412
        assert client.get(url).status_code == 200


def test_the_database_and_its_wal_and_shm_are_owner_only(served: Served) -> None:
    with scim(served, served.token) as client:
        client.post("/Users", json={"schemas": [CORE], "userName": "mode@contoso.com"})
    for name in ("scimbridge.db", "scimbridge.db-wal", "scimbridge.db-shm"):
        mode = stat.S_IMODE((served.folder / name).stat().st_mode)
        assert mode == 0o600, f"{name} is {oct(mode)}"


def test_metrics_beyond_loopback_need_the_token_unless_opted_out(tmp_path: Path) -> None:
    locked = start_serve(tmp_path, "--host", "0.0.0.0")
    try:
        refused = httpx.get(locked.base + "/metrics")
        assert refused.status_code == 401
        assert "SCIMBRIDGE_METRICS_TOKEN" in refused.text
    finally:
        stop(locked)
    metrics = f"http://127.0.0.1:{free_port()}"
    port = metrics.rsplit(":", 1)[1]
    env = {"SCIMBRIDGE_METRICS_PUBLIC": "true"}
    opened = start_serve(tmp_path, "--host", "0.0.0.0", "--metrics-port", port, env=env)
    try:
        assert httpx.get(metrics + "/metrics").status_code == 200
        assert httpx.get(opened.base + "/metrics").status_code == 404
        with scim(opened, opened.token) as client:
            assert client.get("/Users").status_code == 200
        assert httpx.get(metrics + "/scim/v2/Users").status_code == 404
    finally:
        stop(opened)


def test_entra_jwt_without_app_ids_is_refused_with_the_reason(tmp_path: Path) -> None:
    config = tmp_path / "scimbridge.toml"
    config.write_text('[auth.entra_jwt]\ntenant_id = "72f988bf-86f1-41af-91ab-2d7cd011db47"\n')
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SCIMBRIDGE_")}
    environment.update(
        {
            "SCIMBRIDGE_CONFIG": str(config),
            "SCIMBRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'scimbridge.db'}",
        }
    )
    done = subprocess.run(
        [sys.executable, "-m", "scimbridge", "serve", "--port", str(free_port())],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "auth.entra_jwt.app_ids" in done.stderr
    assert "any app in the tenant" in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr


# -- the other bounds, with short limits so the test need not wait for the defaults ------------


@pytest.fixture
def tight(sqlite_url: str) -> Iterator[int]:
    """An app served with a 1 s body deadline and 2 connections served (4 open) at most."""
    from scimbridge.app import create_app
    from scimbridge.config.settings import load_settings
    from scimbridge.runtime import build_runtime
    from scimbridge.server import ServerLimits
    from scimbridge.store.database import migrate
    from tests.support import serving

    migrate(sqlite_url)
    env = {"SCIMBRIDGE_DATABASE_URL": sqlite_url, "SCIMBRIDGE_BEARER_TOKEN": "tight-token-123"}
    settings = load_settings(env=env)
    limits = ServerLimits(header_timeout=30.0, body_timeout=1.0, limit_concurrency=2)
    with serving(create_app(build_runtime(settings)), limits=limits) as base:
        yield int(base.rsplit(":", 1)[1])


def test_a_stalled_body_is_closed_with_408(tight: int, caplog: pytest.LogCaptureFixture) -> None:
    request = (
        b"POST /scim/v2/Users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tight-token-123\r\n"
        b"Content-Type: application/scim+json\r\nContent-Length: 100\r\n\r\n{"
    )
    received, elapsed = raw_exchange(tight, request, wait=30)
    assert elapsed < 15
    assert received.startswith(b"HTTP/1.1 408"), received[:100]
    time.sleep(0.5)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], (
        "a stalled client is no error"
    )


def test_connections_beyond_the_limit_are_refused_not_held(tight: int) -> None:
    held = [socket.create_connection(("127.0.0.1", tight), timeout=10) for _ in range(4)]
    try:
        received, elapsed = raw_exchange(tight, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert received.startswith(b"HTTP/1.1 503"), received[:100]
        assert elapsed < 5
    finally:
        for sock in held:
            sock.close()
