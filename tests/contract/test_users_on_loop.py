"""One user's calls on the event loop (``Directory.on_loop``: ``store.loop_users`` on PostgreSQL,
``store.inline_users`` on a SQLite file) keep the directory's promises: the same rows written as
``Directory`` writes, the same refusals, and no lost update under concurrent writers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from scim2_models import User
from sqlalchemy import text

from scimbridge.store.database import Database, migrate
from scimbridge.store.errors import (
    Conflict,
    NotFound,
    StoreUnavailable,
    VersionMismatch,
    WouldBlock,
)
from scimbridge.store.objects import Store
from scimbridge.store.on_loop import UsersOnLoop
from scimbridge.store.query.filters import parse_filter
from scimbridge.store.query.sort_keys import parse_sort_by
from tests.conftest import _fresh_postgres_database
from tests.contract.conftest import user


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def loop_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A migrated database whose directory makes user calls on the loop: a SQLite file (opened
    as ``serve`` opens it) or PostgreSQL."""
    urls = (
        iter([f"sqlite:///{tmp_path / 'scimbridge.db'}"])
        if request.param == "sqlite"
        else _fresh_postgres_database()
    )
    for url in urls:
        migrate(url)
        database = Database.open(url, inline=True)
        yield Store.of(database)
        database.dispose()


def on_loop(store: Store) -> UsersOnLoop:
    assert store.directory.on_loop is not None, "a SQLite file or PostgreSQL runs users on the loop"
    return store.directory.on_loop


def rows(store: Store, sql: str, **params: Any) -> list[dict[str, Any]]:
    with store.database.engine.connect() as conn:
        return [dict(r) for r in conn.execute(text(sql), params).mappings()]


def written(store: Store, user_id: str) -> tuple[Any, ...]:
    """What a write left for ``user_id``: its row, audit rows, outbox row (ids and times out)."""
    (row,) = rows(store, "SELECT * FROM users WHERE id = :id", id=user_id)
    audit = rows(
        store,
        "SELECT actor, action, resource_type, detail FROM audit_log WHERE resource_id = :id "
        "ORDER BY id",
        id=user_id,
    )
    queued = rows(
        store,
        "SELECT reason, generation, attempts, lease_owner, dead_at, last_error, "
        "next_attempt_at = updated_at AS due_now FROM outbox WHERE user_id = :id",
        id=user_id,
    )
    kept = {k: v for k, v in row.items() if k not in ("id", "created_at", "updated_at")}
    return kept, audit, queued


async def loop_write(
    users: UsersOnLoop,
    user_id: str,
    compute: Any,
    *,
    if_match: Any = None,
    **options: Any,
) -> Any:
    """An edit as ``scim.store_calls`` makes one: read, compute, write; again if it lost, or
    if a lock held elsewhere refused it (SQLite) before it wrote anything."""
    while True:
        try:
            edit = await users.edit(user_id, if_match=if_match)
            stored = await edit.write(compute(edit.current.document), **options)
        except WouldBlock:
            await asyncio.sleep(0.001)
            continue
        if stored is not None:
            return stored


def locked_write(store: Store, user_id: str, compute: Any, **options: Any) -> Any:
    with store.directory.editing_user(user_id) as edit:
        return edit.write(compute(edit.current.document), **options)


def test_a_create_and_a_patch_write_what_the_directory_writes(loop_store: Store) -> None:
    loop_users, directory = on_loop(loop_store), loop_store.directory
    doc = user("ann@contoso.com", displayName="Ann", emails=[{"value": "A@x.com", "primary": True}])
    other = dict(doc, userName="bob@contoso.com")

    def rename(d: dict[str, Any]) -> dict[str, Any]:
        return {**d, "displayName": "Renamed", "active": False}

    by_directory = directory.create_user(dict(other), actor="t")
    by_loop = asyncio.run(loop_users.create_user(dict(doc), actor="t"))
    assert by_loop.version == 1 and by_loop.created_at == by_loop.updated_at
    assert asyncio.run(loop_users.get_user(by_loop.id)) == directory.get_user(by_loop.id)
    assert by_loop == directory.get_user(by_loop.id), "what a create returns is what is stored"
    assert written(loop_store, by_loop.id)[1:] == written(loop_store, by_directory.id)[1:]

    # A dead letter is revived by either writer in the same way.
    with loop_store.database.engine.begin() as conn:
        conn.execute(text("UPDATE outbox SET dead_at = updated_at, attempts = 7, last_error = 'x'"))
    locked_write(loop_store, by_directory.id, rename, actor="t", action="patch", detail=["d"])
    patched = asyncio.run(
        loop_write(loop_users, by_loop.id, rename, actor="t", action="patch", detail=["d"])
    )
    assert patched.version == 2 and patched.document["displayName"] == "Renamed"
    mine, theirs = written(loop_store, by_loop.id), written(loop_store, by_directory.id)
    assert mine[1:] == theirs[1:]
    assert {**mine[0], "user_name": "", "user_name_key": "", "resource": None} == {
        **theirs[0],
        "user_name": "",
        "user_name_key": "",
        "resource": None,
    }
    assert mine[0]["display_name_key"] == "renamed" and mine[0]["active"] in (False, 0)
    assert mine[2][0]["generation"] == 2 and mine[2][0]["dead_at"] is None


def test_refusals_write_nothing(loop_store: Store) -> None:
    loop_users = on_loop(loop_store)
    ann = asyncio.run(loop_users.create_user(user("Ann@Contoso.com"), actor="t"))
    before = written(loop_store, ann.id)
    with pytest.raises(Conflict):
        asyncio.run(loop_users.create_user(user("ann@contoso.COM"), actor="t"))
    asyncio.run(loop_users.create_user(user("bob@contoso.com"), actor="t"))
    bob_id = rows(loop_store, "SELECT id FROM users WHERE user_name = 'bob@contoso.com'")[0]["id"]

    def take_ann(d: dict[str, Any]) -> dict[str, Any]:
        return {**d, "userName": "ANN@contoso.com"}

    with pytest.raises(Conflict):
        asyncio.run(loop_write(loop_users, bob_id, take_ann, actor="t", action="replace"))
    with pytest.raises(VersionMismatch):
        asyncio.run(loop_write(loop_users, ann.id, take_ann, if_match={7}, actor="t", action="p"))
    with pytest.raises(NotFound):
        asyncio.run(loop_users.get_user(str(uuid.uuid4())))
    with pytest.raises(NotFound):
        asyncio.run(loop_write(loop_users, str(uuid.uuid4()), dict, actor="t", action="patch"))

    def refuse(d: dict[str, Any]) -> dict[str, Any]:
        raise ValueError("bad patch")

    with pytest.raises(ValueError):
        asyncio.run(loop_write(loop_users, ann.id, refuse, actor="t", action="patch"))
    assert written(loop_store, ann.id) == before
    assert len(rows(loop_store, "SELECT id FROM users")) == 2


def test_an_unchanged_update_keeps_its_version_and_queues_nothing(loop_store: Store) -> None:
    calls: list[str] = []
    loop_users = on_loop(loop_store)
    loop_store.directory.on_enqueue = lambda: calls.append("queued")
    ann = asyncio.run(loop_users.create_user(user("ann@contoso.com"), actor="t"))
    assert calls == ["queued"]
    loop_store.outbox.complete(loop_store.outbox.claim("c", limit=10, lease_seconds=60)[0])
    same = asyncio.run(loop_write(loop_users, ann.id, lambda d: d, actor="t", action="patch"))
    assert same.version == 1 and loop_store.outbox.backlog() == 0 and calls == ["queued"]


def test_concurrent_updates_of_one_user_lose_nothing(loop_store: Store) -> None:
    loop_users, directory = on_loop(loop_store), loop_store.directory
    ann = asyncio.run(loop_users.create_user(user("ann@contoso.com", title="0"), actor="t"))

    def bump(d: dict[str, Any]) -> dict[str, Any]:
        return {**d, "title": str(int(d["title"]) + 1)}

    async def many() -> None:
        await asyncio.gather(
            *(loop_write(loop_users, ann.id, bump, actor="t", action="patch") for _ in range(12))
        )

    async def beside() -> None:
        # The directory's own writes (in threads) race the loop's.
        await asyncio.gather(
            many(),
            *(
                asyncio.to_thread(locked_write, loop_store, ann.id, bump, actor="t", action="patch")
                for _ in range(6)
            ),
        )

    asyncio.run(beside())
    stored = directory.get_user(ann.id)
    assert stored.document["title"] == "18" and stored.version == 19
    assert len(rows(loop_store, "SELECT id FROM audit_log WHERE action = 'patch'")) == 18


def test_a_user_name_lookup_pages_and_counts_as_the_directory_does(loop_store: Store) -> None:
    loop_users, directory = on_loop(loop_store), loop_store.directory
    ann = asyncio.run(loop_users.create_user(user("Ann@contoso.com"), actor="t"))
    lookup = directory.select_users(parse_filter('USERNAME eq "ann@CONTOSO.com"'), model=User)
    assert loop_users.serves(lookup)
    for offset, limit in [(0, 10), (0, 1), (0, 0), (1, 10), (5, 1)]:
        expected = directory.query_users(lookup, offset, limit)
        assert asyncio.run(loop_users.query_users(lookup, offset, limit)) == expected
    assert asyncio.run(loop_users.query_users(lookup, 0, 10))[1][0].id == ann.id
    assert asyncio.run(loop_users.user_by_name("nobody@contoso.com")) is None
    assert asyncio.run(loop_users.user_by_name("ann@CONTOSO.com")) == directory.get_user(ann.id)
    for other in [
        directory.select_users(parse_filter('userName eq "a" and active eq true'), model=User),
        directory.select_users(parse_filter('externalId eq "a"'), model=User),
        directory.select_users(parse_filter('userName eq "a"'), parse_sort_by("title"), model=User),
        directory.select_users(),
    ]:
        assert not loop_users.serves(other)


def test_a_database_that_cannot_be_reached_is_unavailable(
    loop_store: Store, tmp_path: Path
) -> None:
    if loop_store.database.is_postgres:
        url = loop_store.database.engine.url.set(port=1).render_as_string(hide_password=False)
    else:
        url = f"sqlite:///{tmp_path / 'no such directory' / 'scimbridge.db'}"
    unreachable = Database.open(url, inline=True)
    try:
        loop_users = on_loop(Store.of(unreachable))
        with pytest.raises(StoreUnavailable):
            asyncio.run(loop_users.get_user(str(uuid.uuid4())))
        with pytest.raises(StoreUnavailable):
            asyncio.run(loop_users.create_user(user("ann@contoso.com"), actor="t"))
    finally:
        unreachable.dispose()


def test_a_write_after_another_writer_changed_the_user_lands_nowhere(loop_store: Store) -> None:
    loop_users = on_loop(loop_store)
    ann = asyncio.run(loop_users.create_user(user("ann@contoso.com"), actor="t"))

    async def race() -> Any:
        stale = await loop_users.edit(ann.id)
        fresh = await loop_users.edit(ann.id)
        assert await fresh.write(
            {**fresh.current.document, "title": "first"}, actor="t", action="p"
        )
        return await stale.write(
            {**stale.current.document, "title": "second"}, actor="t", action="p"
        )

    assert asyncio.run(race()) is None
    stored = loop_store.directory.get_user(ann.id)
    assert stored.document["title"] == "first" and stored.version == 2
    assert len(rows(loop_store, "SELECT id FROM audit_log WHERE action = 'p'")) == 1
