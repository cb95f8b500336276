"""deploy/ outside Kubernetes: the container image recipe, the TLS proxy, the systemd unit, and
the promise that no file under deploy/ carries a real secret.

Tools that may be missing (``caddy``, ``systemd-analyze``) turn their checks into skips with the
reason; everything else is read statically, no container engine needed.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from scimbridge.config import load_settings
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

CONTAINERFILE = DEPLOY / "Containerfile"
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


def test_image_is_multi_stage_on_a_supported_slim_python() -> None:
    global_args, stages = containerfile_stages(CONTAINERFILE)
    assert len(stages) >= 2, "build tools and wheels must stay out of the final image"
    base = re.sub(r"\$\{(\w+)\}", lambda m: global_args[m.group(1)], stages[-1].base)
    match = re.fullmatch(r"python:3\.(\d+)-slim(-\w+)?", base)
    assert match, f"final base {base!r} is not a slim Python image"
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert int(match.group(1)) >= int(requires.split(".")[1])


def test_image_installs_the_postgres_extra_from_its_own_wheels() -> None:
    _, stages = containerfile_stages(CONTAINERFILE)
    runs = " ".join(run for stage in stages[:-1] for run in stage.values("RUN"))
    assert "[postgres]" in runs, "without psycopg the image cannot reach PostgreSQL"
    assert "--no-index" in runs, "the install could fetch a same-named package from the index"


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


def test_image_healthcheck_probes_liveness_without_curl() -> None:
    (healthcheck,) = _final_stage().values("HEALTHCHECK")
    command = json.loads(healthcheck.split(" CMD ", 1)[1])
    assert command[0] == "python" and "urllib" in command[-1]
    assert "/healthz" in command[-1]
    port = re.search(r"127\.0\.0\.1:(\d+)/", command[-1])
    assert port and port.group(1) in _final_stage().values("EXPOSE")


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


def secret_leaks(text: str) -> list[str]:
    """Why ``text`` looks like it holds a real secret (empty when it does not)."""
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


def test_filled_in_env_files_are_git_ignored() -> None:
    if not (shutil.which("git") and (ROOT / ".git").exists()):
        pytest.skip("not a git checkout")
    candidates = ["deploy/.env", "deploy/systemd/scimbridge.env"]
    ignored = subprocess.run(
        ["git", "check-ignore", *candidates], capture_output=True, text=True, cwd=ROOT
    ).stdout.split()
    assert ignored == candidates
