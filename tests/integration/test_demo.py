"""The demo a person runs first: ``serve --fake-flex``, a user POSTed with curl, the synced worker
on the fake's page in a real browser (Debian's headless ``chromium``), then ``resync`` and
``status`` from another shell pointed at the same fake with ``fake-flex --print-env``."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from scimbridge.config.settings import load_settings
from tests.integration.cli_process import Process, run_cli
from tests.integration.sync_harness import CORE, wait_for
from tests.support import free_port

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BOB = "bob.ray@contoso.com"
BOB_NAME = "Bob [contractor] <b>Ray</b>"
PRODUCT_TWILIO_VARIABLES = {
    "SCIMBRIDGE_TWILIO_BASE_URL",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "SCIMBRIDGE_TWILIO_WORKSPACE_SID",
    "SCIMBRIDGE_FLEX_INSTANCE_SID",
}
# Anything not for 127.0.0.1 goes to a proxy that is not there: a call to the real Twilio fails.
NOWHERE = {
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "HTTP_PROXY": "http://127.0.0.1:9",
    "NO_PROXY": "127.0.0.1",
}


def _exports(text: str) -> dict[str, str]:
    """The variables ``eval "$(…)"`` would set, read by a real shell."""
    script = text + "\nenv -0\n"
    out = subprocess.run(
        ["sh", "-c", script], env={}, capture_output=True, text=True, check=True
    ).stdout
    pairs = (item.split("=", 1) for item in out.split("\0") if "=" in item)
    return {k: v for k, v in pairs if k.startswith(("TWILIO_", "SCIMBRIDGE_"))}


def _chromium(*args: str, profile: Path) -> str:
    assert CHROMIUM is not None
    done = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",  # CI runs as root
            "--disable-gpu",
            f"--user-data-dir={profile}",
            "--window-size=1200,800",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_serve_fake_flex_shows_a_posted_user_on_its_page(tmp_path: Path) -> None:
    port, fake_port = free_port(), free_port()
    env = {"SCIMBRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}"}
    serve = Process(
        ["serve", "--fake-flex", "--port", str(port), "--fake-flex-port", str(fake_port)], env
    )
    try:
        page = serve.wait_line(r"See the synced workers at (http://\S+)").group(1)
        assert page == f"http://127.0.0.1:{fake_port}/"
        serve.wait_line(rf"Uvicorn running on http://127\.0\.0\.1:{port}")
        token = _first_token(serve.output())
        response = httpx.post(
            f"http://127.0.0.1:{port}/scim/v2/Users",
            json={"schemas": [CORE], "userName": BOB, "displayName": BOB_NAME},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 201, response.text
        wait_for(lambda: BOB in httpx.get(page).text, what="the worker on the page")

        dom = _chromium("--dump-dom", page, profile=tmp_path / "profile")
        assert BOB in dom
        assert "Bob [contractor] &lt;b&gt;Ray&lt;/b&gt;" in dom  # escaped, brackets kept
        assert "<b>Ray</b>" not in dom
        assert "Available" in dom or "Offline" in dom  # the activity is shown
        screenshot = tmp_path / "page.png"
        _chromium(f"--screenshot={screenshot}", page, profile=tmp_path / "profile")
        assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert screenshot.stat().st_size > 5000

        # From another shell: the printed exports point resync at this fake, and nowhere else.
        printed = run_cli(["fake-flex", "--print-env", "--port", str(fake_port)], {})
        assert printed.code == 0, printed.output
        exports = _exports(printed.stdout)
        assert set(exports) == PRODUCT_TWILIO_VARIABLES
        assert _exports(_export_block(serve.output())) == exports  # serve printed the same
        resync = run_cli(["resync", "--dry-run"], {**env, **exports, **NOWHERE})
        assert resync.code == 0, resync.output
        assert re.search(r"unchanged\s+\S\s+1", resync.stdout), resync.stdout
        recorded = httpx.get(f"http://127.0.0.1:{fake_port}/__fake__/requests").json()
        assert any(r["route"] == "workers.list" for r in recorded["requests"])
    finally:
        serve.stop()


def _first_token(output: str) -> str:
    match = re.search(r"shown only this once:\s+(\S+)", output)
    assert match, output
    return match.group(1)


def _export_block(output: str) -> str:
    return "\n".join(line for line in output.splitlines() if line.startswith("export "))


def test_fake_flex_prints_exactly_the_variables_the_product_reads(tmp_path: Path) -> None:
    port = free_port()
    fake = Process(["fake-flex", "--port", str(port)], {})
    try:
        fake.wait_line(r"^export SCIMBRIDGE_FLEX_INSTANCE_SID=GO")
        wait_for(lambda: _answers(f"http://127.0.0.1:{port}/__fake__/health"))
        pasted = _exports(_export_block(fake.output()))
        assert set(pasted) == PRODUCT_TWILIO_VARIABLES
        printed = run_cli(["fake-flex", "--print-env", "--port", str(port)], {})
        assert _exports(printed.stdout) == pasted
        twilio = load_settings(env=pasted).twilio
        assert twilio is not None
        info = httpx.get(f"http://127.0.0.1:{port}/__fake__/info").json()
        assert (twilio.base_url, twilio.workspace_sid, twilio.flex_instance_sid) == (
            f"http://127.0.0.1:{port}",
            info["workspace_sid"],
            info["flex_instance_sid"],
        )
        database = f"sqlite:///{tmp_path / 'resync.db'}"
        assert run_cli(["migrate"], {"SCIMBRIDGE_DATABASE_URL": database}).code == 0
        env = {**pasted, **NOWHERE, "SCIMBRIDGE_DATABASE_URL": database}
        resync = run_cli(["resync", "--dry-run"], env)
        assert resync.code == 0, resync.output
        assert "dry run: nothing was changed" in resync.stdout
        recorded = httpx.get(f"http://127.0.0.1:{port}/__fake__/requests").json()["requests"]
        assert any(r["route"] == "workers.list" for r in recorded)
    finally:
        fake.stop()


def test_print_env_without_a_fake_says_how_to_start_one() -> None:
    port = free_port()
    done = run_cli(["fake-flex", "--print-env", "--port", str(port)], {})
    assert done.code == 2
    assert f"no fake Flex answers at http://127.0.0.1:{port}" in done.stderr
    assert "export" not in done.stdout


def _answers(url: str) -> bool:
    try:
        return httpx.get(url).status_code == 200
    except httpx.HTTPError:
        return False


def test_the_page_escapes_what_workers_hold(tmp_path: Path) -> None:
    from scimbridge.testing.fakeflex.server import FakeFlexServer

    with FakeFlexServer() as fake:
        fake.client().taskrouter.v1.workspaces(fake.workspace_sid).workers.create(
            friendly_name="<script>alert(1)</script>",
            attributes=json.dumps({"note": "</pre><img src=x onerror=alert(2)>"}),
        )
        body = httpx.get(fake.page_url).text
    assert "<script>alert" not in body and "<img" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_export_lines_survive_a_shell() -> None:
    from scimbridge.testing.fakeflex.server import export_lines

    awkward = {"TWILIO_AUTH_TOKEN": "a b'$c \\ `d`", "SCIMBRIDGE_TWILIO_BASE_URL": "http://x:1"}
    assert _exports(export_lines(awkward)) == awkward
