"""Every command reads the whole configuration before it opens anything: one run names every
problem of the variables, the database URL and every table ([sync], [scim], [flex], [auth]),
each with its TOML key path, brackets and all, and exits 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from scimbridge.cli.main import app

runner = CliRunner()

CONFIG = """\
[sync]
max_attempts = 0

[[scim.extensions]]
urn = "urn:example:not-an-extension"

[flex]
mode = "taskrouter2"

[flex.group_skills]
"[Queue] Spanish" = { skill = "spanish", level = 1001 }

[auth.throttle]
max_failures = 0
"""

EXPECTED = (
    "sync.max_attempts must be at least 1, got 0",
    "SCIMBRIDGE_DATABASE_URL starts with 'sqlte'",
    "scim.extensions[0].urn must start with urn:ietf:params:scim:schemas:extension:",
    "flex.mode: must be one of 'taskrouter', 'users_api', got 'taskrouter2'",
    'flex.group_skills."[Queue] Spanish".level: a level must be an integer from 0 to 1000',
    "auth.throttle.max_failures must be at least 1, got 0",
)


@pytest.mark.parametrize("command", [["check-config"], ["serve", "--port", "0"], ["resync"]])
def test_one_run_names_every_problem_of_every_table(tmp_path: Path, command: list[str]) -> None:
    config = tmp_path / "scimbridge.toml"
    config.write_text(CONFIG)
    env = {
        "SCIMBRIDGE_CONFIG": str(config),
        "SCIMBRIDGE_DATABASE_URL": f"sqlte:///{tmp_path}/scimbridge.db",
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "TWILIO_AUTH_TOKEN": "x" * 32,
    }
    result = runner.invoke(app, command, env=env)
    assert result.exit_code == 2, result.output
    output = result.output
    assert f"{len(EXPECTED)} problems:" in output, output
    for problem in EXPECTED:
        assert problem in output, (problem, output)
    lines = [line.strip() for line in output.splitlines()]
    assert all(any(line.startswith(p) for line in lines) for p in EXPECTED), "one a line"
    assert "Traceback" not in output
    assert not list(tmp_path.glob("*.db")), "nothing opened"
