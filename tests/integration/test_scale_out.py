"""Scale-out: two ``scimbridge serve`` processes on one PostgreSQL, each with its sync worker.

SCIM load goes through both servers at once (creates, concurrent PATCHes of the same users,
concurrent membership changes of one group, renames, deletes); the sync workers of both
processes drain the one outbox into the fake Flex server of the test process. Afterwards no
write is lost, every live user has exactly one worker in its final state, and no user was ever
created twice.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from scimbridge.store.database import Database, create_db_engine
from scimbridge.store.outbox import Outbox
from scimbridge.store.tables import worker_links
from scimbridge.testing.fakeflex.server import FakeFlexServer
from tests.integration.sync_harness import CORE, PATCH, TOKEN, twilio_env
from tests.support import free_port

pytestmark = pytest.mark.postgres

REPO = Path(__file__).resolve().parents[2]
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
USERS = 200
ROUNDS = 2
SUPERVISORS = "Flex Supervisors"
CONFIG = f"""
[flex]
group_roles = {{ "{SUPERVISORS}" = ["supervisor"] }}

[sync]
poll_interval = 0.1
"""


class Server:
    """One ``python -m scimbridge serve`` subprocess; its log lines go to a file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.log = log
        with log.open("w") as sink:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "scimbridge", "serve", "--port", str(self.port)],
                env=env,
                cwd=REPO,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        self.scim = httpx.Client(
            base_url=f"http://127.0.0.1:{self.port}/scim/v2",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=30,
            limits=httpx.Limits(max_connections=8),
        )

    def wait_ready(self, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert self.popen.poll() is None, "serve exited:\n" + self.log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError("serve did not start:\n" + self.log.read_text())

    def stop(self) -> None:
        self.scim.close()
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)

    def sync_outcomes(self) -> list[tuple[str, str]]:
        """(outcome, user id) of every sync this process reported (JSON log lines)."""
        outcomes = []
        for line in self.log.read_text().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("event") == "sync" and "outcome" in entry:
                outcomes.append((entry["outcome"], entry["user_id"]))
        return outcomes


@pytest.fixture
def fake() -> Iterator[FakeFlexServer]:
    with FakeFlexServer() as server:
        server.state.set_options(enforce_if_match=True)
        yield server


@pytest.fixture
def servers(
    fake: FakeFlexServer, database_url: str, tmp_path: Path
) -> Iterator[tuple[Server, Server]]:
    """``scimbridge migrate``, then two ``serve`` processes; always killed afterwards."""
    config = tmp_path / "scimbridge.toml"
    config.write_text(CONFIG)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "SCIMBRIDGE_"))}
    env = {
        **clean,
        **twilio_env(fake, database_url),
        "SCIMBRIDGE_CONFIG": str(config),
        "SCIMBRIDGE_LOG_FORMAT": "json",
    }
    subprocess.run(
        [sys.executable, "-m", "scimbridge", "migrate"],
        env=env,
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=60,
    )
    started: list[Server] = []
    try:
        for name in ("a", "b"):
            started.append(Server(env, tmp_path / f"serve-{name}.log"))
        for server in started:
            server.wait_ready()
        yield started[0], started[1]
    finally:
        for server in started:
            server.stop()


def user_name(index: int) -> str:
    return (
        f"renamed{index:03d}@contoso.com" if 100 <= index < 110 else f"agent{index:03d}@contoso.com"
    )


def patch(server: Server, path: str, *operations: dict[str, Any]) -> httpx.Response:
    response = server.scim.patch(path, json={"schemas": [PATCH], "Operations": list(operations)})
    assert response.status_code in (200, 204), response.text
    return response


def version(response: httpx.Response) -> int:
    return int(response.headers["ETag"].removeprefix('W/"').removesuffix('"'))


def wait_for(condition: Callable[[], bool], seconds: float, describe: Callable[[], str]) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, describe()
        time.sleep(0.2)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_two_servers_on_one_database_lose_no_write_and_make_one_worker_per_user(
    fake: FakeFlexServer, servers: tuple[Server, Server], database_url: str
) -> None:
    a, b = servers
    pool = ThreadPoolExecutor(max_workers=8)

    def create(index: int) -> str:
        name = f"agent{index:03d}@contoso.com"
        body = {
            "schemas": [CORE],
            "userName": name,
            "displayName": f"Agent {index}",
            "active": True,
        }
        response = (a, b)[index % 2].scim.post("/Users", json=body)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    ids = list(pool.map(create, range(USERS)))
    group = a.scim.post(
        "/Groups",
        json={
            "schemas": [GROUP],
            "displayName": SUPERVISORS,
            "members": [{"value": ids[i]} for i in range(40)],
        },
    )
    assert group.status_code == 201, group.text
    group_path = f"/Groups/{group.json()['id']}"

    # Both servers PATCH the same users at once: a sets displayName, b sets title.
    def rounds(server: Server, index: int, attribute: str, prefix: str) -> list[int]:
        return [
            version(
                patch(
                    server,
                    f"/Users/{ids[index]}",
                    {"op": "replace", "path": attribute, "value": f"{prefix}{r} {index}"},
                )
            )
            for r in range(ROUNDS)
        ]

    def add_members(first: int) -> None:
        patch(
            b,
            group_path,
            {
                "op": "add",
                "path": "members",
                "value": [{"value": ids[first]}, {"value": ids[first + 1]}],
            },
        )

    def remove_member(index: int) -> None:
        patch(a, group_path, {"op": "remove", "path": f'members[value eq "{ids[index]}"]'})

    user_writes = {
        (index, side): pool.submit(rounds, server, index, attribute, side)
        for index in range(USERS)
        for server, attribute, side in ((a, "displayName", "A"), (b, "title", "B"))
    }
    member_writes = [pool.submit(add_members, first) for first in range(40, 80, 2)]
    member_writes += [pool.submit(remove_member, index) for index in range(20)]
    for future in member_writes:
        future.result()
    for index in range(USERS):
        versions_a, versions_b = user_writes[index, "A"].result(), user_writes[index, "B"].result()
        assert versions_a == sorted(versions_a) and versions_b == sorted(versions_b)
        assert sorted(versions_a + versions_b) == list(range(2, 2 + 2 * ROUNDS)), (
            f"user {index}: two PATCHes got one version (a lost update): {versions_a} {versions_b}"
        )
        final = (b, a)[index % 2].scim.get(f"/Users/{ids[index]}").json()
        assert final["displayName"] == f"A{ROUNDS - 1} {index}"
        assert final["title"] == f"B{ROUNDS - 1} {index}"
        assert final["meta"]["version"] == f'W/"{1 + 2 * ROUNDS}"'
    members = {m["value"] for m in a.scim.get(group_path).json()["members"]}
    assert members == {ids[i] for i in range(20, 80)}

    # Renames through one server while the other deletes.
    renames = [
        pool.submit(
            patch,
            b,
            f"/Users/{ids[i]}",
            {"op": "replace", "path": "userName", "value": user_name(i)},
        )
        for i in range(100, 110)
    ]
    deletes = [
        pool.submit(lambda i: (a, b)[i % 2].scim.delete(f"/Users/{ids[i]}"), i)
        for i in range(180, USERS)
    ]
    assert all(future.result().status_code in (200, 204) for future in renames + deletes)
    pool.shutdown()

    live = range(180)
    wanted = {user_name(i).casefold(): i for i in live}
    engine = create_db_engine(database_url)
    queue = Outbox(Database(engine))
    try:

        def converged() -> bool:
            workers = fake.state.workers()
            if queue.backlog() or {w.friendly_name.casefold() for w in workers} != set(wanted):
                return False
            for worker in workers:
                attributes = json.loads(worker.attributes)
                index = wanted[worker.friendly_name.casefold()]
                if attributes.get("full_name") != f"A{ROUNDS - 1} {index}":
                    return False
                if ("supervisor" in attributes.get("roles", [])) != (20 <= index < 80):
                    return False
            return True

        wait_for(
            converged,
            45,
            lambda: (
                f"not converged: backlog {queue.backlog()}, "
                f"{len(fake.state.workers())} workers, dead {queue.dead_letters()}"
            ),
        )
        assert queue.dead_letters() == []
        with engine.connect() as conn:
            rows = conn.execute(
                select(
                    worker_links.c.user_id, worker_links.c.worker_sid, worker_links.c.friendly_name
                )
            ).all()
    finally:
        engine.dispose()

    workers = {w.friendly_name: w.sid for w in fake.state.workers()}
    assert len(workers) == len(live), "exactly one worker per live user"
    assert sorted(row.user_id for row in rows) == sorted(ids[i] for i in live)
    assert {row.friendly_name: row.worker_sid for row in rows} == workers
    creates = Counter(
        r.form.get("FriendlyName") for r in fake.state.requests.all() if r.route == "workers.create"
    )
    assert creates and max(creates.values()) == 1, "a friendly_name was created twice"
    outcomes = a.sync_outcomes() + b.sync_outcomes()
    created = Counter(user_id for outcome, user_id in outcomes if outcome == "created")
    assert set(created) <= set(ids) and max(created.values()) == 1
    assert a.sync_outcomes() and b.sync_outcomes(), "both processes drained the outbox"
    assert "dead" not in {outcome for outcome, _ in outcomes}
