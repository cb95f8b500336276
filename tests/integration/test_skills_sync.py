"""Skills from Entra groups, end to end: group changes over SCIM HTTP → outbox → sync → the real
``twilio`` client → the fake Flex, on SQLite and PostgreSQL.

Supervisors' edits are made behind the sync's back through the fake's state; call counts come from
the fake's request recording.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from scimbridge.cli.main import app
from scimbridge.testing.fakeflex.server import FakeFlexServer
from tests.integration.sync_harness import CORE, Harness, running, twilio_env

GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ANN = "ann.lee@contoso.com"
SKILLS = {
    "Queue - Spanish": {"skill": "spanish", "level": 5},
    "Queue - Billing": "billing",
    "Spanish Experts": {"skill": "spanish", "level": 9},
}
SUPERVISOR = {"routing": {"skills": ["sales"], "levels": {"sales": 3}}}
runner = CliRunner()


@pytest.fixture
def skills(fake: FakeFlexServer, migrated_url: str) -> Iterator[Harness]:
    """scimbridge managing the skills of ``SKILLS``, If-Match enforced by the fake."""
    fake.state.set_options(enforce_if_match=True)
    with running(fake, migrated_url, flex={"group_skills": SKILLS}) as harness:
        yield harness


def post_group(sync: Harness, name: str, *members: str) -> str:
    body = {"schemas": [GROUP], "displayName": name, "members": [{"value": m} for m in members]}
    response = sync.scim.post("/Groups", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def patch_group(sync: Harness, group_id: str, *operations: dict[str, Any]) -> None:
    body = {"schemas": [PATCH], "Operations": list(operations)}
    response = sync.scim.patch(f"/Groups/{group_id}", json=body)
    assert response.status_code in (200, 204), response.text


def put_group(sync: Harness, group_id: str, name: str, *members: str) -> None:
    body = {"schemas": [GROUP], "displayName": name, "members": [{"value": m} for m in members]}
    response = sync.scim.put(f"/Groups/{group_id}", json=body)
    assert response.status_code == 200, response.text


def agent(sync: Harness, user_name: str = ANN, routing: dict[str, Any] | None = None) -> str:
    """A synced user whose worker a supervisor gave ``routing`` (default: sales, level 3)."""
    user_id = sync.post_user(user_name)
    sync.settle()
    worker = sync.attributes(user_name)
    sync.set_worker(user_name, attributes={**worker, **(routing or SUPERVISOR)})
    sync.resync(user_id)  # the sync has seen the supervisor's edit: its snapshot is current
    sync.calls()
    return user_id


def routing(sync: Harness, user_name: str = ANN) -> Any:
    return sync.attributes(user_name).get("routing")


Grant = Callable[[Harness, str, str], str]
Revoke = Callable[[Harness, str, str], None]


def grant_by_post(sync: Harness, name: str, user_id: str) -> str:
    return post_group(sync, name, user_id)


def grant_by_add(sync: Harness, name: str, user_id: str) -> str:
    group_id = post_group(sync, name)
    value = [{"$ref": None, "value": user_id}]
    patch_group(sync, group_id, {"op": "Add", "path": "members", "value": value})
    return group_id


def grant_by_replace(sync: Harness, name: str, user_id: str) -> str:
    group_id = post_group(sync, name)
    patch_group(sync, group_id, {"op": "replace", "path": "members", "value": [{"value": user_id}]})
    return group_id


def grant_by_put(sync: Harness, name: str, user_id: str) -> str:
    group_id = post_group(sync, name)
    put_group(sync, group_id, name, user_id)
    return group_id


def revoke_with_value(sync: Harness, group_id: str, user_id: str) -> None:
    operation = {"op": "Remove", "path": "members", "value": [{"value": user_id}]}
    patch_group(sync, group_id, operation)


def revoke_by_filter(sync: Harness, group_id: str, user_id: str) -> None:
    patch_group(sync, group_id, {"op": "remove", "path": f'members[value eq "{user_id}"]'})


def revoke_all(sync: Harness, group_id: str, _user_id: str) -> None:
    patch_group(sync, group_id, {"op": "Remove", "path": "members"})


def revoke_by_replace(sync: Harness, group_id: str, _user_id: str) -> None:
    patch_group(sync, group_id, {"op": "Replace", "path": "members", "value": []})


def revoke_by_put(sync: Harness, group_id: str, _user_id: str) -> None:
    put_group(sync, group_id, "Queue - Spanish")


@pytest.mark.parametrize(
    ("grant", "revoke"),
    [
        (grant_by_post, revoke_with_value),
        (grant_by_add, revoke_by_filter),
        (grant_by_replace, revoke_all),
        (grant_by_put, revoke_by_replace),
        (grant_by_add, revoke_by_put),
    ],
)
def test_membership_grants_and_removes_the_skill_and_level_keeping_the_supervisors(
    skills: Harness, grant: Grant, revoke: Revoke
) -> None:
    user_id = agent(skills)
    group_id = grant(skills, "queue - spanish", user_id)  # group names match in any case
    skills.settle()
    assert routing(skills) == {"skills": ["sales", "spanish"], "levels": {"sales": 3, "spanish": 5}}
    assert [route for route, _ in skills.calls()] == ["worker.update"], "one conditional write"
    revoke(skills, group_id, user_id)
    skills.settle()
    assert routing(skills) == SUPERVISOR["routing"]
    assert [route for route, _ in skills.calls()] == ["worker.update"]


def test_a_supervisors_own_skill_and_level_survive_every_sync(skills: Harness) -> None:
    user_id = agent(skills)
    spanish = post_group(skills, "Queue - Spanish", user_id)
    skills.settle()
    # A supervisor adds a skill and changes a level in Flex; Entra changes the user and a group.
    current = skills.attributes(ANN)
    current["routing"]["skills"].append("vip")
    current["routing"]["levels"].update({"vip": 2, "sales": 4})
    skills.set_worker(ANN, attributes=current)
    skills.replace(user_id, "displayName", "Ann B. Lee")
    post_group(skills, "Queue - Billing", user_id)
    skills.settle()
    assert routing(skills) == {
        "skills": ["sales", "spanish", "vip", "billing"],
        "levels": {"sales": 4, "spanish": 5, "vip": 2},
    }
    assert skills.attributes(ANN)["full_name"] == "Ann B. Lee"
    patch_group(skills, spanish, {"op": "Remove", "path": "members", "value": [{"value": user_id}]})
    skills.settle()
    assert routing(skills) == {
        "skills": ["sales", "vip", "billing"],
        "levels": {"sales": 4, "vip": 2},
    }


def test_the_highest_level_wins_and_the_next_highest_takes_over(skills: Harness) -> None:
    user_id = agent(skills)
    post_group(skills, "Queue - Spanish", user_id)
    experts = post_group(skills, "Spanish Experts", user_id)
    skills.settle()
    assert routing(skills)["levels"]["spanish"] == 9
    revoke_with_value(skills, experts, user_id)
    skills.settle()
    assert routing(skills)["levels"]["spanish"] == 5


def test_a_disabled_managed_skill_stays_disabled_and_goes_when_no_longer_granted(
    skills: Harness,
) -> None:
    user_id = agent(skills)
    spanish = post_group(skills, "Queue - Spanish", user_id)
    skills.settle()
    # The supervisor turns Spanish off for this agent, as Flex's skills UI does.
    current = skills.attributes(ANN)
    current["routing"] = {"skills": ["sales"], "levels": {"sales": 3}}
    current["disabled_skills"] = {"skills": ["spanish"], "levels": {"spanish": 5}}
    skills.set_worker(ANN, attributes=current)
    post_group(skills, "Queue - Billing", user_id)
    skills.settle()
    assert routing(skills) == {"skills": ["sales", "billing"], "levels": {"sales": 3}}
    assert skills.attributes(ANN)["disabled_skills"] == current["disabled_skills"]
    revoke_by_filter(skills, spanish, user_id)
    skills.settle()
    assert skills.attributes(ANN)["disabled_skills"] == {"skills": [], "levels": {}}
    assert routing(skills) == {"skills": ["sales", "billing"], "levels": {"sales": 3}}


def test_group_rename_resyncs_the_members(skills: Harness) -> None:
    ann = agent(skills)
    bob = agent(skills, "bob@contoso.com")
    group_id = post_group(skills, "Queue - Spanish", ann, bob)
    skills.settle()
    assert "spanish" in routing(skills)["skills"]
    patch_group(skills, group_id, {"op": "Replace", "path": "displayName", "value": "Old Spanish"})
    skills.settle()
    for name in (ANN, "bob@contoso.com"):
        assert routing(skills, name) == SUPERVISOR["routing"], "renamed away: no longer granted"
    patch_group(skills, group_id, {"op": "Replace", "value": {"displayName": "Queue - Spanish"}})
    skills.settle()
    for name in (ANN, "bob@contoso.com"):
        assert "spanish" in routing(skills, name)["skills"], "renamed back: granted again"


def test_group_delete_resyncs_the_members(skills: Harness) -> None:
    ann = agent(skills)
    bob = agent(skills, "bob@contoso.com")
    group_id = post_group(skills, "Queue - Spanish", ann, bob)
    skills.settle()
    assert "spanish" in routing(skills, "bob@contoso.com")["skills"]
    assert skills.scim.delete(f"/Groups/{group_id}").status_code == 204
    skills.settle()
    for name in (ANN, "bob@contoso.com"):
        assert routing(skills, name) == SUPERVISOR["routing"]


def test_a_412_during_a_concurrent_supervisor_edit_loses_neither_edit(skills: Harness) -> None:
    user_id = agent(skills)
    post_group(skills, "Queue - Spanish", user_id)
    skills.settle()
    skills.calls()
    record = skills.worker_named(ANN)

    def supervisor_edits() -> None:
        # Between our read of the worker and our write: a new skill and a new level in Flex.
        attributes = json.loads(skills.fake.state.get_worker(record.sid).attributes)
        attributes["routing"]["skills"].append("vip")
        attributes["routing"]["levels"]["vip"] = 2
        skills.fake.state.update_worker(record.sid, attributes=json.dumps(attributes))

    skills.fake.faults.add_hook("worker.update", supervisor_edits, method="POST")
    post_group(skills, "Queue - Billing", user_id)
    skills.settle()
    routes = [route for route, _ in skills.calls()]
    assert routes == ["worker.update", "worker.fetch", "worker.update"], "412, re-read, re-merge"
    assert routing(skills) == {
        "skills": ["sales", "spanish", "vip", "billing"],
        "levels": {"sales": 3, "spanish": 5, "vip": 2},
    }


def test_a_membership_change_writes_only_the_workers_whose_skills_changed(
    skills: Harness,
) -> None:
    names = [f"agent{n}@contoso.com" for n in range(6)]
    ids = [agent(skills, name) for name in names]
    post_group(skills, "Spanish Experts", *ids)
    queue = post_group(skills, "Queue - Spanish", *ids[:3])
    skills.settle()
    skills.calls()
    # The three lose a level-5 grant but keep the level-9 one: nothing to write.
    assert skills.scim.delete(f"/Groups/{queue}").status_code == 204
    skills.settle()
    assert [route for route, _ in skills.calls()] == ["worker.fetch"] * 3
    # Two gain billing: one conditional write each, no read.
    billing = post_group(skills, "Queue - Billing")
    value = [{"value": user_id} for user_id in ids[4:]]
    patch_group(skills, billing, {"op": "Add", "path": "members", "value": value})
    skills.settle()
    calls = skills.calls()
    assert [route for route, _ in calls] == ["worker.update"] * 2
    assert all(etag for _, etag in calls)
    assert all("billing" in routing(skills, name)["skills"] for name in names[4:])


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scimbridge.toml"
    path.write_text(text, encoding="utf-8")
    return path


def toml_value(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)


def cli_env(sync: Harness, tmp_path: Path, table: dict[str, Any]) -> dict[str, str]:
    """The environment of a ``scimbridge`` command whose TOML file holds ``table`` as
    ``[flex.group_skills]``; call again to rewrite the file."""
    lines = "\n".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in table.items())
    config = write_config(tmp_path, f"[flex.group_skills]\n{lines}\n")
    env = twilio_env(sync.fake, sync.settings.database_url)
    return {**env, "SCIMBRIDGE_CONFIG": str(config)}


def test_a_bad_table_is_refused_by_check_config_and_resync(
    fake: FakeFlexServer, migrated_url: str, tmp_path: Path
) -> None:
    config = write_config(
        tmp_path,
        '[flex.group_skills]\n"[Queue] - Spanish" = { skill = "spanish", level = 1001 }\n'
        '"Queue - Billing" = { skill = 7 }\n',
    )
    env = {**twilio_env(fake, migrated_url), "SCIMBRIDGE_CONFIG": str(config)}
    for command in (["check-config"], ["resync", "--dry-run"]):
        result = runner.invoke(app, command, env=env)
        assert result.exit_code != 0, result.output
        output = " ".join(result.output.split())
        assert 'flex.group_skills."[Queue] - Spanish".level' in output, "brackets survive"
        assert 'flex.group_skills."Queue - Billing".skill' in output, output
        assert "Traceback" not in result.output
    assert "[flex] has 2 problem(s)" in " ".join(result.output.split())


@pytest.fixture
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI prints its tables 250 columns wide, so a row stays on one line."""
    monkeypatch.setattr("scimbridge.cli.context.console", Console(width=250))


@pytest.mark.usefixtures("wide")
def test_check_config_shows_each_skill_and_the_group_it_came_from(
    skills: Harness, tmp_path: Path
) -> None:
    user_id = agent(skills)
    post_group(skills, "[Queue] - Spanish", user_id)
    post_group(skills, "Spanish Experts", user_id)
    env = cli_env(
        skills, tmp_path, {**SKILLS, "[Queue] - Spanish": {"skill": "spanish", "level": 5}}
    )
    result = runner.invoke(app, ["check-config", "--user", ANN], env=env)
    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if "skill spanish" in line)
    assert "group 'Spanish Experts' (level 9)" in row
    assert "group '[Queue] - Spanish' (level 5)" in row, "brackets survive rich markup"
    assert "highest level wins" in row
    billing = next(line for line in result.stdout.splitlines() if "skill billing" in line)
    assert "not granted" in billing


@pytest.mark.usefixtures("wide")
def test_dry_run_reports_skill_drift_in_its_own_column_and_remove_skill_cleans_up(
    skills: Harness, tmp_path: Path
) -> None:
    ann = agent(skills)
    post_group(skills, "Queue - Spanish", ann)
    post_group(skills, "Queue - Billing", ann)
    skills.settle()
    skills.set_worker(ANN, attributes={**skills.attributes(ANN), "routing": SUPERVISOR["routing"]})
    env = cli_env(skills, tmp_path, SKILLS)
    dry = runner.invoke(app, ["resync", "--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output
    header = next(line for line in dry.stdout.splitlines() if "what differs" in line)
    assert "skills" in header
    row = next(line for line in dry.stdout.splitlines() if ANN in line)
    assert "+spanish" in row and "+billing" in row and "spanish level none→5" in row
    assert routing(skills) == SUPERVISOR["routing"], "a dry run writes nothing"
    assert runner.invoke(app, ["resync"], env=env).exit_code == 0
    assert routing(skills)["skills"] == ["sales", "billing", "spanish"]
    # The admin drops billing from the table: it stays on workers until asked to remove it.
    cli_env(skills, tmp_path, {k: v for k, v in SKILLS.items() if k != "Queue - Billing"})
    assert runner.invoke(app, ["resync"], env=env).exit_code == 0
    assert "billing" in routing(skills)["skills"]
    still = runner.invoke(app, ["resync", "--remove-skill", "spanish"], env=env)
    assert still.exit_code == 2 and "still managed" in still.output
    removed = runner.invoke(app, ["resync", "--remove-skill", "billing"], env=env)
    assert removed.exit_code == 0, removed.output
    assert routing(skills) == {"skills": ["sales", "spanish"], "levels": {"sales": 3, "spanish": 5}}


def test_the_skills_attribute_adds_to_the_groups_and_follows_entra(
    fake: FakeFlexServer, migrated_url: str
) -> None:
    urn = "urn:ietf:params:scim:schemas:extension:FlexAgent:2.0:User"
    flex = {
        "group_skills": SKILLS,
        "attribute_skills": {"source": f"{urn}:skills", "manage": ["french"]},
    }
    fake.state.set_options(enforce_if_match=True)
    with running(fake, migrated_url, flex=flex) as sync:
        user_id = sync.post_user(
            ANN, schemas=[CORE, urn], extra={urn: {"skills": "spanish:7, french, cobol:2"}}
        )
        post_group(sync, "Queue - Spanish", user_id)
        sync.settle()
        attributes = sync.attributes(ANN)
        assert "skills" not in attributes, "the source is not copied as a worker key"
        assert attributes["routing"] == {
            "skills": ["french", "spanish"],
            "levels": {"spanish": 7},
        }, "the union; the highest level wins; an unmanaged skill is not written"
        sync.replace(user_id, f"{urn}:skills", "billing:2")
        sync.settle()
        assert sync.attributes(ANN)["routing"] == {
            "skills": ["spanish", "billing"],
            "levels": {"spanish": 5, "billing": 2},
        }
