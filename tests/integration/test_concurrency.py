"""Many clients at once, on SQLite and PostgreSQL: no lost update, no duplicate, all synced.

Sixteen threads, each with its own HTTP connection, release together on a barrier and hit one
resource. The row lock (``BEGIN IMMEDIATE`` / ``SELECT … FOR UPDATE``) must serialize them so the
final state holds every change, each change bumps the version once, queues its sync in the same
transaction, and the sync worker (running meanwhile) ends with the worker holding all of them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx
from sqlalchemy import func, select

from scimbridge.store.tables import audit_log, users
from scimbridge.store.tables import outbox as outbox_table
from tests.integration.sync_harness import CORE, PATCH, TOKEN, Harness, in_background

CLIENTS = 16
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
T = TypeVar("T")


def together(
    sync: Harness, work: Callable[[httpx.Client, int], T], clients: int = CLIENTS
) -> list[T]:
    """Run ``work(client, n)`` for n in 0..clients-1 at the same moment, each on its own client."""
    barrier = threading.Barrier(clients)
    base = str(sync.scim.base_url)

    def one(n: int) -> T:
        with httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60
        ) as client:
            barrier.wait(timeout=30)
            return work(client, n)

    with ThreadPoolExecutor(clients) as pool:
        return list(pool.map(one, range(clients)))


def patch_body(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH], "Operations": list(operations)}


def outbox_generation(sync: Harness, user_id: str) -> int | None:
    with sync.engine.connect() as conn:
        return conn.scalar(
            select(outbox_table.c.generation).where(outbox_table.c.user_id == user_id)
        )


def audit_count(sync: Harness, resource_id: str, action: str) -> int:
    with sync.engine.connect() as conn:
        return int(
            conn.scalar(
                select(func.count())
                .select_from(audit_log)
                .where(audit_log.c.resource_id == resource_id, audit_log.c.action == action)
            )
            or 0
        )


def test_sixteen_concurrent_patches_lose_no_update(sync: Harness) -> None:
    user_id = sync.post_user("ann.lee@contoso.com")

    def add_mine(client: httpx.Client, n: int) -> int:
        response = client.patch(
            f"/Users/{user_id}",
            json=patch_body(
                {"op": "add", "path": "roles", "value": [{"value": f"wfo.team{n}"}]},
                {
                    "op": "add",
                    "path": "emails",
                    "value": [{"type": f"x{n}", "value": f"x{n}@contoso.com"}],
                },
            ),
        )
        assert response.status_code == 200, response.text
        return response.status_code

    together(sync, add_mine)
    user = sync.scim.get(f"/Users/{user_id}").json()
    assert {role["value"] for role in user["roles"]} == {f"wfo.team{n}" for n in range(CLIENTS)}
    types = {email["type"] for email in user["emails"]}
    assert types == {"work", *(f"x{n}" for n in range(CLIENTS))}
    assert user["meta"]["version"] == f'W/"{1 + CLIENTS}"'
    assert audit_count(sync, user_id, "patch") == CLIENTS
    # Every change queued its sync in its own transaction, all coalesced into one row.
    assert outbox_generation(sync, user_id) == 1 + CLIENTS
    sync.settle()
    roles = sync.attributes("ann.lee@contoso.com")["roles"]
    assert sorted(roles) == sorted(f"wfo.team{n}" for n in range(CLIENTS))


def test_if_match_retries_count_to_sixteen_exactly(sync: Harness) -> None:
    user_id = sync.post_user("counter@contoso.com", title="0")

    def increment(client: httpx.Client, n: int) -> int:
        for attempt in range(500):
            current = client.get(f"/Users/{user_id}")
            value = int(current.json()["title"])
            response = client.patch(
                f"/Users/{user_id}",
                json=patch_body({"op": "replace", "path": "title", "value": str(value + 1)}),
                headers={"If-Match": current.headers["etag"]},
            )
            if response.status_code == 200:
                return attempt
            assert response.status_code == 412, response.text
            assert response.json()["status"] == "412"
        raise AssertionError("no increment got through in 500 attempts")

    retries = together(sync, increment)
    user = sync.scim.get(f"/Users/{user_id}").json()
    assert user["title"] == str(CLIENTS)
    assert user["meta"]["version"] == f'W/"{1 + CLIENTS}"'
    assert sum(retries) > 0, "the clients never raced; the test proved nothing"


def test_concurrent_membership_changes_leave_the_exact_membership(sync: Harness) -> None:
    ids = [sync.post_user(f"member{n:02d}@contoso.com") for n in range(CLIENTS)]
    leavers, joiners = ids[: CLIENTS // 2], ids[CLIENTS // 2 :]
    created = sync.scim.post(
        "/Groups",
        json={
            "schemas": [GROUP],
            "displayName": "Tier 1",
            "members": [{"value": u} for u in leavers],
        },
    )
    assert created.status_code == 201, created.text
    group_id = created.json()["id"]

    def change(client: httpx.Client, n: int) -> int:
        user_id = ids[n]
        operation = (
            {"op": "remove", "path": f'members[value eq "{user_id}"]'}
            if user_id in leavers
            else {"op": "add", "path": "members", "value": [{"value": user_id}]}
        )
        response = client.patch(f"/Groups/{group_id}", json=patch_body(operation))
        assert response.status_code == 204, response.text
        return response.status_code

    together(sync, change)
    group = sync.scim.get(f"/Groups/{group_id}").json()
    assert sorted(m["value"] for m in group.get("members", [])) == sorted(joiners)
    assert group["meta"]["version"] == f'W/"{1 + CLIENTS}"'
    assert audit_count(sync, group_id, "patch") == CLIENTS


def test_concurrent_creates_of_one_user_name_give_one_201_and_409s(sync: Harness) -> None:
    spellings = ["Dup.User@Contoso.com", "dup.user@contoso.com", "DUP.USER@CONTOSO.COM"]

    def create(client: httpx.Client, n: int) -> httpx.Response:
        return client.post(
            "/Users",
            json={"schemas": [CORE], "userName": spellings[n % len(spellings)], "active": True},
        )

    answers = together(sync, create)
    statuses = sorted(response.status_code for response in answers)
    assert statuses == [201] + [409] * (CLIENTS - 1)
    for response in answers:
        if response.status_code == 409:
            assert response.json()["scimType"] == "uniqueness"
            assert response.headers["content-type"].startswith("application/scim+json")
    with sync.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(users)) == 1
        assert conn.scalar(select(func.count()).select_from(outbox_table)) == 1
    sync.settle()
    assert len(sync.workers()) == 1


def test_patches_while_the_worker_drains_end_synced(sync: Harness) -> None:
    """The worker runs during the storm: whatever it synced midway, the newest state wins."""
    user_names = [f"agent{n:02d}@contoso.com" for n in range(4)]
    user_ids = [sync.post_user(name) for name in user_names]
    with in_background(sync.sync_worker(threads=2), sync.sync_worker(threads=1)):

        def add_mine(client: httpx.Client, n: int) -> int:
            user_id = user_ids[n % len(user_ids)]
            for step in range(3):
                response = client.patch(
                    f"/Users/{user_id}",
                    json=patch_body(
                        {"op": "add", "path": "roles", "value": [{"value": f"wfo.t{n}s{step}"}]}
                    ),
                )
                assert response.status_code == 200, response.text
            return 0

        together(sync, add_mine)
        sync.wait_drained()
    assert sync.store.outbox.backlog() == 0
    assert sorted(w.friendly_name for w in sync.workers()) == user_names
    for index, name in enumerate(user_names):
        expected = {
            f"wfo.t{n}s{step}"
            for n in range(CLIENTS)
            if n % len(user_ids) == index
            for step in range(3)
        }
        assert set(sync.attributes(name)["roles"]) == expected, name
    creates = [r for r in sync.fake.state.requests.all() if r.route == "workers.create"]
    assert len(creates) == len(user_names)
