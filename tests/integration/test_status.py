"""``scimbridge status``: the report and the exit code cron or a probe relies on."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from scimbridge.cli.main import app
from scimbridge.store.database import Database, create_db_engine
from scimbridge.store.directory import Directory
from scimbridge.store.enqueue import enqueue
from scimbridge.store.outbox import Outbox

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"

runner = CliRunner()


def run_status(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["status", *args], env=env)
    return result.exit_code, result.stdout


def test_healthy_store_exits_zero_and_reports_json(sqlite_url: str) -> None:
    code, out = run_status({"SCIMBRIDGE_DATABASE_URL": sqlite_url}, "--json")
    assert code == 0, out
    report = json.loads(out)
    assert report["healthy"] is True
    assert report["sync"]["backlog"] == 0
    assert report["dead_letters"] == []


def test_the_static_token_is_named_never_shown(migrated_url: str) -> None:
    secret = "a-static-token-[bold]-0123456789"
    env = {"SCIMBRIDGE_DATABASE_URL": migrated_url, "SCIMBRIDGE_BEARER_TOKEN": secret}
    code, out = run_status(env)
    assert code == 0, out
    assert "live tokens: none (+ static token)" in out
    assert secret not in out
    code, out = run_status({"SCIMBRIDGE_DATABASE_URL": migrated_url}, "--json")
    assert json.loads(out)["static_token"] is False


def test_unmigrated_database_exits_nonzero(tmp_path: Path) -> None:
    (tmp_path / "empty.db").touch()  # an empty file; a missing one is refused
    code, out = run_status({"SCIMBRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"})
    assert code == 1
    assert "scimbridge migrate" in out


def test_dead_letters_over_threshold_are_listed_with_reasons(
    migrated_url: str, tmp_path: Path
) -> None:
    engine = create_db_engine(migrated_url)
    queue = Outbox(Database(engine))
    with engine.begin() as conn:
        enqueue(conn, "user-1", "created")
    claim = queue.claim("test", limit=1, lease_seconds=30)[0]
    queue.dead_letter(claim, "friendly_name is 72 characters; TaskRouter allows 64")
    engine.dispose()
    config = tmp_path / "scimbridge.toml"
    config.write_text("[ops]\nmax_dead_letters = 0\n")
    env = {"SCIMBRIDGE_DATABASE_URL": migrated_url, "SCIMBRIDGE_CONFIG": str(config)}
    code, out = run_status(env, "--json")
    assert code == 1
    report = json.loads(out)
    assert report["checks"]["dead_letters"] == {"ok": False, "value": 1}
    assert report["dead_letters"][0]["user_id"] == "user-1"
    assert "72 characters" in report["dead_letters"][0]["reason"]
    code, table = run_status(env)
    assert code == 1 and "user-1" in table and "resync" in table


def test_a_dead_letter_shows_by_user_name_with_its_reason_intact(migrated_url: str) -> None:
    engine = create_db_engine(migrated_url)
    queue = Outbox(Database(engine))
    user = Directory(Database(engine)).create_user(
        {"schemas": [CORE], "userName": "ann.lee@contoso.com"}, actor="test"
    )
    claim = queue.claim("test", limit=1, lease_seconds=30)[0]
    reason = "[flex.attributes.skill_level] type = int: 'three' is not a number"
    queue.dead_letter(claim, reason)
    engine.dispose()
    env = {"SCIMBRIDGE_DATABASE_URL": migrated_url, "COLUMNS": "250"}
    code, out = run_status(env, "--json")
    assert code == 1, "one dead letter is unhealthy by default"
    (letter,) = json.loads(out)["dead_letters"]
    assert (letter["user_id"], letter["user_name"]) == (user.id, "ann.lee@contoso.com")
    code, table = run_status(env)
    assert code == 1
    assert "ann.lee@contoso.com" in table and user.id not in table
    assert "[flex.attributes.skill_level]" in table
