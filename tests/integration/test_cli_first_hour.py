"""The first hour with the ``scimbridge`` command, run as a person runs it: a subprocess in a
directory of its own, real files, real ports. Which database, one-line mistakes, escaped output,
help and version, and the checks ``check-config`` makes of a mapping."""

from __future__ import annotations

import json
import re
import socket
import tomllib
from pathlib import Path

import pytest

from scimbridge.flex.mapping.config import parse_mapping
from scimbridge.flex.mapping.desired import desired_worker
from tests.integration.cli_process import run_cli
from tests.integration.sync_harness import CORE, TOKEN

README = Path(__file__).resolve().parents[2] / "README.md"
FLEX_AGENT = "urn:ietf:params:scim:schemas:extension:FlexAgent:2.0:User"


def _no_traceback(output: str) -> None:
    assert "Traceback" not in output and 'File "' not in output, output


@pytest.mark.parametrize(
    "command",
    [["status"], ["resync", "--dry-run"], ["check-config"], ["token", "list"]],
    ids=lambda c: " ".join(c),
)
def test_read_only_commands_refuse_a_database_that_does_not_exist(
    tmp_path: Path, command: list[str]
) -> None:
    env = {"TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "x" * 32}
    done = run_cli(command, env, cwd=tmp_path)
    database = tmp_path / "scimbridge.db"
    assert done.code != 0
    assert f"database: SQLite file {database}" in done.stderr
    assert f"there is no database at {database}" in done.stderr
    assert "SCIMBRIDGE_DATABASE_URL" in done.stderr  # says what to do
    assert not database.exists()  # and leaves nothing behind
    _no_traceback(done.output)


def test_writing_commands_say_they_created_the_database(tmp_path: Path) -> None:
    database = tmp_path / "scimbridge.db"
    created = run_cli(["token", "create", "--name", "entra"], {}, cwd=tmp_path)
    assert created.code == 0, created.output
    assert f"database: SQLite file {database}" in created.stderr
    assert f"created a new database at {database}" in created.stderr
    assert database.exists()
    again = run_cli(["status", "--json"], {}, cwd=tmp_path)
    assert again.code == 0, again.output
    assert [line for line in again.stderr.splitlines() if line.startswith("database:")] == [
        f"database: SQLite file {database}"
    ]
    assert "created" not in again.stderr
    assert [t["name"] for t in json.loads(again.stdout)["tokens"]] == ["entra"]
    other = tmp_path / "other.db"
    migrated = run_cli(["migrate"], {"SCIMBRIDGE_DATABASE_URL": f"sqlite:///{other}"})
    assert migrated.code == 0, migrated.output
    assert f"created a new database at {other}" in migrated.stderr


def _shadowed_psycopg(tmp_path: Path) -> str:
    """A directory whose ``psycopg`` cannot be imported, as on a machine without the driver."""
    shadow = tmp_path / "no-psycopg"
    shadow.mkdir()
    (shadow / "psycopg.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'psycopg'\", name='psycopg')\n"
    )
    return str(shadow)


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing-directory", r"the directory \S+/nowhere of SCIMBRIDGE_DATABASE_URL"),
        ("no-driver", r"pip install 'scimbridge\[postgres\]'"),
        ("url-typo", r"SCIMBRIDGE_DATABASE_URL starts with 'sqlte'"),
        ("url-garbage", r"SCIMBRIDGE_DATABASE_URL is not a URL"),
        ("log-level", r"SCIMBRIDGE_LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR"),
    ],
)
def test_mistakes_are_one_sentence_and_an_exit_code(
    tmp_path: Path, case: str, expected: str
) -> None:
    env = {
        "missing-directory": {"SCIMBRIDGE_DATABASE_URL": f"sqlite:///{tmp_path}/nowhere/x.db"},
        "no-driver": {
            "SCIMBRIDGE_DATABASE_URL": "postgresql://scim:secret-pw@127.0.0.1:1/scim",
            "PYTHONPATH": _shadowed_psycopg(tmp_path),
        },
        "url-typo": {"SCIMBRIDGE_DATABASE_URL": "sqlte:///scimbridge.db"},
        "url-garbage": {"SCIMBRIDGE_DATABASE_URL": "scimbridge.db"},
        "log-level": {"SCIMBRIDGE_LOG_LEVEL": "verbose"},
    }[case]
    for command in (["serve", "--port", "0"], ["status"]):
        done = run_cli(command, env, cwd=tmp_path)
        assert done.code == 2, done.output
        assert re.search(expected, done.stderr.replace("\n", " ")), done.stderr
        assert len(done.stderr.strip().splitlines()) <= 2, done.stderr  # database line + error
        assert "secret-pw" not in done.output
        _no_traceback(done.output)
    assert not (tmp_path / "scimbridge.db").exists()


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    env = {
        "SCIMBRIDGE_DATABASE_URL": "postgresql://scim@127.0.0.1:1/scim",
        "PYTHONPATH": _shadowed_psycopg(tmp_path),
    }
    done = run_cli(["--debug", "status"], env, cwd=tmp_path)
    assert done.code != 0
    assert "Traceback" in done.stderr and "ModuleNotFoundError" in done.stderr


def test_a_port_in_use_fails_before_any_token_is_printed(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_cli(["serve", "--port", str(port)], {}, cwd=tmp_path)
    assert done.code == 2, done.output
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in done.stderr
    assert "shown only this once" not in done.output
    assert not (tmp_path / "scimbridge.db").exists()  # nothing was created either
    _no_traceback(done.output)


def test_a_port_out_of_range_is_a_usage_error(tmp_path: Path) -> None:
    done = run_cli(["serve", "--port", "99999"], {}, cwd=tmp_path)
    assert done.code == 2
    assert "Invalid value for '--port'" in done.stderr and "65535" in done.stderr
    _no_traceback(done.output)


def test_configuration_strings_keep_their_brackets(tmp_path: Path) -> None:
    config = tmp_path / "scimbridge.toml"
    config.write_text("[sync]\nmax_atempts = 3\n")
    env = {"SCIMBRIDGE_CONFIG": str(config)}
    done = run_cli(["status"], env, cwd=tmp_path)
    assert done.code == 2
    assert "configuration error: unknown [sync] keys: max_atempts" in done.stderr
    config.write_text("[scim]\nextensions = 5\n")
    done = run_cli(["check-config"], env, cwd=tmp_path)
    assert "[[scim.extensions]] must be an array of tables" in done.stderr


def test_check_config_shows_expressions_and_names_as_they_are(tmp_path: Path) -> None:
    database = tmp_path / "scimbridge.db"
    config = tmp_path / "scimbridge.toml"
    config.write_text(
        "[flex.attributes.location]\n"
        'expression = \'Coalesce([addresses[type eq "work"].locality], "remote")\'\n'
    )
    env = {"SCIMBRIDGE_CONFIG": str(config), "SCIMBRIDGE_BEARER_TOKEN": TOKEN}
    assert run_cli(["migrate"], env, cwd=tmp_path).code == 0
    from scimbridge.store.database import Database, create_db_engine
    from scimbridge.store.directory import Directory

    engine = create_db_engine(f"sqlite:///{database}")
    user = {"schemas": [CORE], "userName": "bob@contoso.com", "displayName": "Bob [contractor] Ray"}
    Directory(Database(engine)).create_user(user, actor="test")
    engine.dispose()
    done = run_cli(["check-config", "--user", "bob@contoso.com"], env, cwd=tmp_path)
    assert done.code == 0, done.output
    assert "'Bob [contractor] Ray'" in done.stdout
    assert 'Coalesce([addresses[type eq "work"].locality], "remote")' in done.stdout


def test_check_config_refuses_a_source_that_names_no_scim_attribute(tmp_path: Path) -> None:
    config = tmp_path / "scimbridge.toml"
    config.write_text('[flex.attributes.first_name]\nsource = "first_name"\n')
    env = {"SCIMBRIDGE_CONFIG": str(config)}
    assert run_cli(["migrate"], env, cwd=tmp_path).code == 0
    done = run_cli(["check-config"], env, cwd=tmp_path)
    assert done.code == 1
    stderr = done.stderr.replace("\n", " ")
    assert "flex.attributes.first_name.source: 'first_name' names no SCIM attribute" in stderr
    assert "userName" in stderr and "name.givenName" in stderr and "given_name" in stderr
    for known in ("name.givenName", "given_name"):  # a SCIM path, an OIDC claim name
        config.write_text(f'[flex.attributes.first_name]\nsource = "{known}"\n')
        assert run_cli(["check-config"], env, cwd=tmp_path).code == 0


def test_help_is_for_users_with_flags_shown_as_flags() -> None:
    top = run_cli(["--help"], {})
    assert top.code == 0
    assert "Does not" not in top.stdout and "Does:" not in top.stdout
    assert "--version" in top.stdout and "--install-completion" in top.stdout
    resync = run_cli(["resync", "--help"], {}).stdout
    assert re.search(r"--dry-run\s+Report the drift", resync), resync
    assert "<bool>" not in resync
    serve = run_cli(["serve", "--help"], {}).stdout
    assert "--sync-threads" in serve and "--fake-flex-port" in serve
    assert "--workers" not in serve
    version = run_cli(["--version"], {})
    assert version.code == 0 and re.fullmatch(r"scimbridge \d+\.\d+\.\d+\n", version.stdout)


def _readme_flex_example() -> dict[str, object]:
    blocks = re.findall(r"```toml\n(.*?)```", README.read_text(), flags=re.DOTALL)
    flex = [tomllib.loads(block) for block in blocks if block.startswith("[flex]")]
    assert len(flex) == 1
    return flex[0]["flex"]  # type: ignore[no-any-return]


def test_the_readme_mapping_example_writes_each_attribute_once() -> None:
    mapping = parse_mapping(_readme_flex_example())
    user = {
        "schemas": [CORE, FLEX_AGENT],
        "userName": "ann.lee@contoso.com",
        FLEX_AGENT: {"skillLevel": 4, "site": "Leeds"},
    }
    attributes = desired_worker(user, [], mapping).attributes
    folded = [key.casefold().replace("_", "") for key in attributes]
    assert len(folded) == len(set(folded)), sorted(attributes)
    assert attributes["skillLevel"] == 4 and attributes["site"] == "Leeds"
