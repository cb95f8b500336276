"""deploy/ outside Kubernetes: the container image recipe, the TLS proxy, the systemd unit, and
the promise that no file under deploy/ carries a real secret.

Tools that may be missing (``caddy``, ``systemd-analyze``) turn their checks into skips with the
reason; everything else is read statically, no container engine needed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from types import ModuleType

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from scimbridge.config.settings import load_settings
from tests.integration.deploy_files import (
    DEPLOY,
    ROOT,
    Stage,
    app_environment_names,
    containerfile_stages,
    env_file,
    exec_line,
    parse_command_line,
    systemd_unit,
)
from tests.support import free_port


def _load_module(path: Path) -> ModuleType:
    """A script under deploy/ as a module (it is not part of the package)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CONTAINERFILE = DEPLOY / "Containerfile"
LOCK = DEPLOY / "requirements.lock"
PYPROJECT = ROOT / "pyproject.toml"
HEALTHCHECK = _load_module(DEPLOY / "healthcheck.py")
UNIT = DEPLOY / "systemd" / "scimbridge.service"
# Setting names whose value is a secret: env-style names, or a bare "password:"-like key.
SECRET_KEY = re.compile(
    r"^(?:[A-Z0-9_]*(?:TOKEN|SECRET|PASSWORD|PASSWD|PRIVATE_KEY)[A-Z0-9_]*"
    r"|(?i:password|passwd|token|secret|api_?key))$"
)


def _final_stage() -> Stage:
    _, stages = containerfile_stages(CONTAINERFILE)
    return stages[-1]


# --- Containerfile ---------------------------------------------------------------------------


def test_image_is_multi_stage_on_a_slim_python_pinned_by_digest() -> None:
    global_args, stages = containerfile_stages(CONTAINERFILE)
    assert len(stages) >= 2, "build tools and wheels must stay out of the final image"
    for stage in stages:
        base = re.sub(r"\$\{(\w+)\}", lambda m: global_args[m.group(1)], stage.base.split()[0])
        # A tag moves; a digest names the same bytes on every rebuild.
        match = re.fullmatch(r"python:3\.(\d+)-slim(-\w+)?@sha256:[0-9a-f]{64}", base)
        assert match, f"base {base!r} is not a slim Python image pinned by digest"
        requires = tomllib.loads(PYPROJECT.read_text())["project"]["requires-python"]
        assert int(match.group(1)) >= int(requires.split(".")[1])
    text = CONTAINERFILE.read_text(encoding="utf-8")
    assert "imagetools inspect" in text, "say how to refresh the digest"


def _lock() -> dict[str, tuple[str, list[str]]]:
    """Name → (pinned version, hashes) of each requirement in deploy/requirements.lock."""
    text = re.sub(r"\\\n", " ", LOCK.read_text(encoding="utf-8"))
    pins: dict[str, tuple[str, list[str]]] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        requirement = Requirement(line.split(" --hash")[0].split(";")[0].strip())
        assert requirement.url is None, f"{line[:60]}: only index packages can be locked"
        (spec,) = requirement.specifier
        assert spec.operator == "==", f"{requirement.name} is not pinned"
        pins[canonicalize_name(requirement.name)] = (
            spec.version,
            re.findall(r"--hash=sha256:[0-9a-f]{64}", line),
        )
    return pins


def test_lock_pins_every_dependency_with_hashes() -> None:
    pins = _lock()
    project = tomllib.loads(PYPROJECT.read_text())
    wanted = [
        *project["project"]["dependencies"],
        *project["project"]["optional-dependencies"]["postgres"],
    ]
    wanted += project["build-system"]["requires"]
    for line in wanted:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is missing from deploy/requirements.lock"
        version, _ = pins[name]
        assert requirement.specifier.contains(version), f"the lock's {name} {version} breaks {line}"
    for name, (_, hashes) in pins.items():
        assert hashes, f"{name} has no hash"
    assert "psycopg-binary" in pins, "without psycopg's binary the image cannot reach PostgreSQL"
    assert "scimbridge" not in pins, "scimbridge itself comes from the source being built"


def test_image_installs_only_what_the_lock_file_pins() -> None:
    _, stages = containerfile_stages(CONTAINERFILE)
    runs = [run for stage in stages[:-1] for run in stage.values("RUN")]
    locked = [run for run in runs if "requirements.lock" in run]
    assert locked and all("--require-hashes" in run for run in locked)
    assert all("--only-binary=:all:" in run for run in locked), "an sdist builds unhashed code"
    own = [run for run in runs if re.search(r"pip install [^&]*\s\.(\s|$)", run)]
    assert own, "scimbridge itself is not installed"
    for run in own:
        # The project on top of the locked set: nothing more may come from an index.
        assert "--no-deps" in run and "--no-index" in run and "--no-build-isolation" in run
    copies = " ".join(stages[0].values("COPY"))
    assert "deploy/requirements.lock" in copies


def test_image_carries_oci_labels() -> None:
    labels = dict(
        re.findall(
            r'(org\.opencontainers\.image\.[a-z.]+)="([^"]*)"',
            " ".join(_final_stage().values("LABEL")),
        )
    )
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    assert labels["org.opencontainers.image.title"] == project["name"]
    assert labels["org.opencontainers.image.version"] == project["version"]
    assert labels["org.opencontainers.image.licenses"] == project["license"]["text"]
    assert labels["org.opencontainers.image.description"] == project["description"]
    for key in ("revision", "created", "base.name"):
        assert f"org.opencontainers.image.{key}" in labels


def test_image_build_copies_only_what_exists_and_is_not_ignored() -> None:
    ignore = (DEPLOY / "Containerfile.dockerignore").read_text(encoding="utf-8")
    allowed = {line[1:].rstrip("/") for line in ignore.splitlines() if line.startswith("!")}
    _, stages = containerfile_stages(CONTAINERFILE)
    for copy in stages[0].values("COPY"):
        for source in copy.split()[:-1]:
            assert (ROOT / source).exists(), f"COPY {source}: no such file in the repository"
            assert source.rstrip("/") in allowed, f"COPY {source} is excluded from the context"


def test_image_runs_as_a_numeric_non_root_user() -> None:
    (user,) = _final_stage().values("USER")[-1:]
    uid = user.split(":")[0]
    # Kubernetes' runAsNonRoot can only verify a numeric user.
    assert uid.isdigit() and int(uid) != 0


def test_image_healthcheck_probes_the_port_serve_was_given() -> None:
    (healthcheck,) = _final_stage().values("HEALTHCHECK")
    command = json.loads(healthcheck.split(" CMD ", 1)[1])
    assert command[0] == "python", "slim images have no curl"
    copies = [copy.split() for copy in _final_stage().values("COPY")]
    assert ["deploy/healthcheck.py", command[1]] in copies, "the script is not in the image"
    (cmd,) = _final_stage().values("CMD")
    assert (
        HEALTHCHECK.target(json.loads(cmd))
        == f"http://127.0.0.1:{_final_stage().values('EXPOSE')[0]}/healthz"
    )
    # The port follows whatever the container is told to run.
    assert (
        HEALTHCHECK.target(["scimbridge", "serve", "--port", "9000"])
        == "http://127.0.0.1:9000/healthz"
    )
    assert (
        HEALTHCHECK.target(["scimbridge", "serve", "--port=9001", "--host", "::"])
        == "http://127.0.0.1:9001/healthz"
    )
    assert (
        HEALTHCHECK.target(["scimbridge", "serve", "--host", "10.0.0.5"])
        == "http://10.0.0.5:8000/healthz"
    )
    assert HEALTHCHECK.target(["scimbridge", "migrate"]) is None


def _healthcheck(pid: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(DEPLOY / "healthcheck.py"), "--pid", str(pid)],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_healthcheck_script_follows_a_real_serve_on_another_port(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "SCIMBRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'health.db'}",
        "SCIMBRIDGE_BEARER_TOKEN": "healthcheck-token-1234",
        "SCIMBRIDGE_SYNC": "false",
    }
    with (tmp_path / "serve.log").open("w") as log:
        serve = subprocess.Popen(
            [sys.executable, "-m", "scimbridge", "serve", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while _healthcheck(serve.pid).returncode != 0:
            assert serve.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "serve never became healthy on its port"
            time.sleep(0.2)
        serve.send_signal(signal.SIGSTOP)  # alive but not answering: unhealthy
        try:
            stopped = _healthcheck(serve.pid)
        finally:
            serve.send_signal(signal.SIGCONT)
        assert stopped.returncode == 1 and f":{port}/healthz" in stopped.stderr
    finally:
        serve.terminate()
        serve.wait(timeout=15)
    assert _healthcheck(serve.pid).returncode == 1, "a process that is gone is not healthy"


def test_image_serves_on_the_exposed_port_by_default() -> None:
    (cmd,) = _final_stage().values("CMD")
    invocation = parse_command_line(json.loads(cmd))
    assert invocation.command == "serve"
    assert invocation.params["host"] == "0.0.0.0"
    assert str(invocation.params["port"]) in _final_stage().values("EXPOSE")


def test_image_bakes_in_no_secret_setting() -> None:
    _, stages = containerfile_stages(CONTAINERFILE)
    for stage in stages:
        for name, arg in stage.instructions:
            if name in ("ENV", "ARG"):
                for key in re.findall(r"(\w+)=", arg) or [arg.split()[0]]:
                    assert not SECRET_KEY.match(key), f"{name} {key}: secrets belong at run time"


# --- Caddyfile -------------------------------------------------------------------------------


def test_caddy_offers_tls_1_2_and_keeps_internal_endpoints_private() -> None:
    caddy = shutil.which("caddy")
    if caddy is None:
        pytest.skip("caddy is not installed (apt-get install caddy): Caddyfile not adapted")
    env = {"SCIMBRIDGE_DOMAIN": "scim.example.com", "ACME_EMAIL": "ops@example.com"}
    adapted = subprocess.run(
        [caddy, "adapt", "--config", str(DEPLOY / "Caddyfile"), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", **env},
    )
    assert adapted.returncode == 0, adapted.stderr
    config = json.loads(adapted.stdout)
    server = next(iter(config["apps"]["http"]["servers"].values()))
    policies = [p for p in server["tls_connection_policies"] if p]
    # Entra's provisioning client negotiates TLS 1.2 only.
    assert {p["protocol_min"] for p in policies} == {"tls1.2"}
    text = json.dumps(server["routes"])
    assert '"/scim/v2/*"' in text and '"host": ["scim.example.com"]' in text
    for private in ("/metrics", "/readyz"):
        assert private not in text, f"{private} would be public"
    # Query strings carry SCIM filters (user names, e-mail addresses): never in the access log.
    (access,) = [log for name, log in config["logging"]["logs"].items() if name != "default"]
    uri = access["encoder"]["fields"]["request>uri"]
    assert (
        uri["filter"] == "regexp"
        and re.sub(uri["regexp"], uri["value"], "/a?f=b") == "/a?[query removed]"
    )


# --- systemd ---------------------------------------------------------------------------------


def test_unit_migrates_then_serves_behind_a_local_proxy() -> None:
    unit = systemd_unit(UNIT)
    (pre,) = unit["ExecStartPre"]
    assert parse_command_line(exec_line(pre)).command == "migrate"
    (start,) = unit["ExecStart"]
    serve = parse_command_line(exec_line(start))
    assert serve.command == "serve"
    assert serve.params["host"] == "127.0.0.1", "serve trusts X-Forwarded-*: keep it local"
    assert unit["Restart"] == ["on-failure"]


def test_unit_is_hardened_and_writes_only_its_state_directory() -> None:
    unit = systemd_unit(UNIT)
    assert unit["ProtectSystem"] == ["strict"]
    assert unit["NoNewPrivileges"] == ["yes"]
    assert unit.get("DynamicUser") == ["yes"] or "User" in unit
    (state,) = unit["StateDirectory"]
    example = env_file(DEPLOY / "systemd" / "scimbridge.env.example")
    database = example["SCIMBRIDGE_DATABASE_URL"]
    assert database.startswith(f"sqlite:////var/lib/{state}/"), "SQLite outside the state dir"


def test_unit_env_example_holds_only_settings_the_app_reads(tmp_path: Path) -> None:
    example = env_file(DEPLOY / "systemd" / "scimbridge.env.example")
    assert set(example) <= app_environment_names()
    (environment_file,) = systemd_unit(UNIT)["EnvironmentFile"]
    assert Path(example["SCIMBRIDGE_CONFIG"]).parent == Path(environment_file).parent
    env = {
        **example,
        "SCIMBRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        "SCIMBRIDGE_CONFIG": str(DEPLOY / "scimbridge.toml"),
    }
    assert load_settings(env=env).twilio is None


def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    # verify also demands the binary exist: stand a stub in for the installed scimbridge.
    stub = tmp_path / "scimbridge"
    stub.write_text("#!/bin/sh\n")
    stub.chmod(0o755)
    unit = tmp_path / UNIT.name
    unit.write_text(UNIT.read_text().replace("/opt/scimbridge/bin/scimbridge", str(stub)))
    verify = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert verify.returncode == 0 and not verify.stderr.strip(), verify.stderr
    # Exposure 2.0 or lower is systemd's "OK" band (the scale runs to 10).
    security = subprocess.run(
        [analyze, "security", "--offline=yes", "--threshold=20", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert security.returncode == 0, security.stdout[-2000:]


# --- secrets ---------------------------------------------------------------------------------

PLACEHOLDER = re.compile(r"^(|\$\{[^}]*\}|REPLACE_WITH_[A-Z_]+|[A-Z_]+|<[^>]*>)$")
LEAK_PATTERNS = {
    "Twilio SID": re.compile(r"\b(AC|SK|WS|GO)[0-9a-fA-F]{32}\b"),
    "32+ hex digits (Twilio auth token shape)": re.compile(r"\b[0-9a-fA-F]{32,}\b"),
    "scimbridge token": re.compile(r"\bsb_[A-Za-z0-9_-]{20,}"),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
}
ASSIGNMENT = re.compile(r"^\s*-?\s*([A-Za-z_][A-Za-z0-9_]*)\s*[:=]\s*(.*?)\s*$")
URL_PASSWORD = re.compile(r"://[^:/\s@]+:([^@\s]+)@")


# Content digests (image pins, the lock file's hashes) are 64 hex digits too, and public.
DIGEST = re.compile(r"\bsha256:[0-9a-f]{64}\b")


def secret_leaks(text: str) -> list[str]:
    """Why ``text`` looks like it holds a real secret (empty when it does not)."""
    text = DIGEST.sub("sha256:DIGEST", text)
    found = [f"{kind}" for kind, pattern in LEAK_PATTERNS.items() if pattern.search(text)]
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        assignment = ASSIGNMENT.match(line)
        if assignment and SECRET_KEY.match(assignment.group(1)):
            value = assignment.group(2).strip("'\"")
            if not PLACEHOLDER.match(value):
                found.append(f"{assignment.group(1)} has a value")
        for password in URL_PASSWORD.findall(line):
            if not PLACEHOLDER.match(password):
                found.append("password in a URL")
    return found


def _deploy_files() -> list[Path]:
    files = [p for p in DEPLOY.rglob("*") if p.is_file()]
    if shutil.which("git") and (ROOT / ".git").exists():
        ignored = subprocess.run(
            ["git", "check-ignore", "--stdin"],
            input="\n".join(str(p) for p in files),
            capture_output=True,
            text=True,
            cwd=ROOT,
        ).stdout.split()
        files = [p for p in files if str(p) not in ignored]
    return sorted(files)


@pytest.mark.parametrize("path", _deploy_files(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_no_real_secret_is_committed_under_deploy(path: Path) -> None:
    assert secret_leaks(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    "leak",
    [
        "TWILIO_ACCOUNT_SID=AC" + secrets.token_hex(16),
        "TWILIO_AUTH_TOKEN=" + secrets.token_hex(16),
        "  TWILIO_API_SECRET: " + secrets.token_urlsafe(24),
        "SCIMBRIDGE_BEARER_TOKEN: sb_" + secrets.token_urlsafe(24),
        "url: postgresql://scimbridge:" + secrets.token_urlsafe(12) + "@db:5432/scimbridge",
        "-----BEGIN EC PRIVATE KEY-----",
    ],
    ids=["sid", "auth-token", "api-secret", "scim-token", "url-password", "pem"],
)
def test_secret_check_catches_real_looking_secrets(leak: str) -> None:
    assert secret_leaks(leak)


def test_secret_check_lets_content_digests_through() -> None:
    assert secret_leaks("FROM python:3.11-slim@sha256:" + secrets.token_hex(32)) == []
    assert secret_leaks("    --hash=sha256:" + secrets.token_hex(32)) == []
    assert secret_leaks("TWILIO_AUTH_TOKEN=" + secrets.token_hex(16) + " sha256:" + "0" * 64)


def test_filled_in_env_files_are_git_ignored() -> None:
    if not (shutil.which("git") and (ROOT / ".git").exists()):
        pytest.skip("not a git checkout")
    candidates = ["deploy/.env", "deploy/systemd/scimbridge.env"]
    ignored = subprocess.run(
        ["git", "check-ignore", *candidates], capture_output=True, text=True, cwd=ROOT
    ).stdout.split()
    assert ignored == candidates
