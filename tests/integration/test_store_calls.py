"""User calls on SQLite run on the event loop, and a lock held elsewhere never stalls it.

A writer outside the service (another process, ``scimbridge resync``, a backup) holds SQLite's
write lock: a PATCH waits for it in a thread and lands once the lock is released, while reads and
health checks keep answering at once.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine

from scimbridge.app import create_app
from scimbridge.config.settings import load_settings
from scimbridge.runtime import build_runtime
from scimbridge.store.checkpoint import WalCheckpointer
from scimbridge.store.database import Database, create_db_engine, create_inline_engine, migrate
from scimbridge.store.directory import Directory
from scimbridge.store.errors import WouldBlock
from tests.support import serving

TOKEN = "store-calls-token-0123456789"
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
HOLD_SECONDS = 1.0


@pytest.fixture
def sqlite_file(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'scimbridge.db'}"
    migrate(url)
    return url


@pytest.fixture
def http(sqlite_file: str) -> Iterator[httpx.Client]:
    settings = load_settings(
        env={"SCIMBRIDGE_DATABASE_URL": sqlite_file, "SCIMBRIDGE_BEARER_TOKEN": TOKEN}
    )
    runtime = build_runtime(settings, engine=create_db_engine(sqlite_file, lock_timeout=10))
    with (
        serving(create_app(runtime)) as base,
        httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
        ) as client,
    ):
        yield client
    runtime.store.database.dispose()


def hold_write_lock(path: str, seconds: float, held: threading.Event) -> None:
    """Take SQLite's write lock from a connection of our own, as another process would."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    held.set()
    time.sleep(seconds)
    conn.execute("COMMIT")
    conn.close()


def test_a_patch_waits_out_a_foreign_lock_while_reads_answer_at_once(
    http: httpx.Client, sqlite_file: str
) -> None:
    created = http.post("/scim/v2/Users", json={"schemas": [CORE], "userName": "agent@contoso.com"})
    assert created.status_code == 201, created.text
    user = created.json()["id"]
    held = threading.Event()
    holder = threading.Thread(
        target=hold_write_lock, args=(sqlite_file.removeprefix("sqlite:///"), HOLD_SECONDS, held)
    )
    holder.start()
    assert held.wait(5)
    patched: list[httpx.Response] = []
    started = time.monotonic()
    patcher = threading.Thread(
        target=lambda: patched.append(
            http.patch(
                f"/scim/v2/Users/{user}",
                json={
                    "schemas": [PATCH],
                    "Operations": [{"op": "Replace", "path": "displayName", "value": "Later"}],
                },
            )
        )
    )
    patcher.start()
    time.sleep(0.2)
    # While the PATCH waits for the lock, the loop still serves: no read waits for it.
    for _ in range(3):
        before = time.monotonic()
        assert http.get("/healthz").status_code == 200
        read = http.get(f"/scim/v2/Users/{user}")
        assert read.status_code == 200
        assert time.monotonic() - before < HOLD_SECONDS / 2
    assert patcher.is_alive(), "the PATCH cannot have landed while the lock is held"
    patcher.join(15)
    holder.join(15)
    assert patched and patched[0].status_code == 200, patched[0].text if patched else "no answer"
    assert time.monotonic() - started >= HOLD_SECONDS * 0.8
    assert http.get(f"/scim/v2/Users/{user}").json()["displayName"] == "Later"


def test_a_call_that_cannot_wait_writes_nothing_and_says_so(sqlite_file: str) -> None:
    engine = create_db_engine(sqlite_file)
    repository = Directory(Database(engine, create_inline_engine(engine)))
    assert repository.offers_calls_without_waiting
    repository.query_users(repository.select_users(), 0, 1)  # the file is in WAL mode from here on
    document = {"schemas": [CORE], "userName": "first@contoso.com"}
    held = threading.Event()
    holder = threading.Thread(
        target=hold_write_lock, args=(sqlite_file.removeprefix("sqlite:///"), 0.5, held)
    )
    holder.start()
    assert held.wait(5)
    with pytest.raises(WouldBlock), repository.without_waiting():
        repository.create_user(document, actor="test")
    # Reads never wait for a writer (WAL): this one runs without waiting even now.
    with repository.without_waiting():
        assert repository.query_users(repository.select_users(), 0, 10)[0] == 0
    holder.join(5)
    with repository.without_waiting():
        stored = repository.create_user(document, actor="test")
    assert repository.get_user(stored.id).document["userName"] == "first@contoso.com"
    assert repository.query_users(repository.select_users(), 0, 10)[0] == 1
    engine.dispose()


def test_a_user_call_on_the_loop_that_meets_a_foreign_lock_writes_nothing(
    sqlite_file: str,
) -> None:
    database = Database.open(sqlite_file, inline=True)
    directory = Directory(database)
    on_loop = directory.on_loop
    assert on_loop is not None, "a SQLite file serves one user's calls on the loop"
    ann = asyncio.run(on_loop.create_user({"schemas": [CORE], "userName": "ann@x.com"}, actor="t"))
    held = threading.Event()
    holder = threading.Thread(
        target=hold_write_lock, args=(sqlite_file.removeprefix("sqlite:///"), 0.5, held)
    )
    holder.start()
    assert held.wait(5)
    with pytest.raises(WouldBlock):
        asyncio.run(on_loop.create_user({"schemas": [CORE], "userName": "bob@x.com"}, actor="t"))
    edit = asyncio.run(on_loop.edit(ann.id))  # reads never wait for a writer (WAL)
    with pytest.raises(WouldBlock):
        asyncio.run(edit.write({**edit.current.document, "title": "x"}, actor="t", action="p"))
    holder.join(5)
    assert directory.query_users(directory.select_users(), 0, 10)[0] == 1
    assert directory.get_user(ann.id) == ann, "nothing of the refused write landed"
    assert asyncio.run(edit.write({**ann.document, "title": "x"}, actor="t", action="p"))
    assert directory.get_user(ann.id).version == 2
    database.dispose()


def test_a_post_waits_out_a_foreign_lock_and_lands(http: httpx.Client, sqlite_file: str) -> None:
    held = threading.Event()
    holder = threading.Thread(
        target=hold_write_lock, args=(sqlite_file.removeprefix("sqlite:///"), HOLD_SECONDS, held)
    )
    holder.start()
    assert held.wait(5)
    started = time.monotonic()
    created = http.post("/scim/v2/Users", json={"schemas": [CORE], "userName": "late@contoso.com"})
    assert created.status_code == 201, created.text
    assert time.monotonic() - started >= HOLD_SECONDS * 0.5, "it cannot land while locked"
    holder.join(15)
    found = http.get("/scim/v2/Users", params={"filter": 'userName eq "late@contoso.com"'})
    assert found.json()["totalResults"] == 1


def test_postgres_and_in_memory_sqlite_never_run_on_the_loop(
    migrated_url: str,
) -> None:
    engine = create_db_engine(migrated_url)
    inline = create_inline_engine(engine)
    assert (inline is not None) == (engine.dialect.name == "sqlite")
    memory = create_engine("sqlite://")
    assert create_inline_engine(memory) is None
    assert not Directory(Database(memory)).offers_calls_without_waiting
    assert Directory(Database(memory)).on_loop is None
    with pytest.raises(WouldBlock), Directory(Database(memory)).without_waiting():
        pass
    engine.dispose()
    memory.dispose()


def test_commits_on_the_event_loop_reach_the_database_file_from_a_thread_of_their_own(
    http: httpx.Client, sqlite_file: str, tmp_path: Path
) -> None:
    """The loop's connection never checkpoints (a checkpoint syncs the file, which can take tens
    of milliseconds on a slow disk); the checkpointer thread copies its commits into the
    database file within a couple of seconds, so a copy of that file alone holds them."""
    path = sqlite_file.removeprefix("sqlite:///")
    names = [f"agent{n}@contoso.com" for n in range(40)]
    for name in names:
        created = http.post("/scim/v2/Users", json={"schemas": [CORE], "userName": name})
        assert created.status_code == 201, created.text

    def users_in_file_alone() -> int:
        copy = tmp_path / "copy.db"
        copy.write_bytes(Path(path).read_bytes())
        try:
            conn = sqlite3.connect(copy)
            try:
                return int(conn.execute("SELECT count(*) FROM users").fetchone()[0])
            finally:
                conn.close()
        except sqlite3.DatabaseError:  # copied in the middle of a checkpoint: look again
            return -1
        finally:
            copy.unlink()

    deadline = time.monotonic() + 10
    while users_in_file_alone() != len(names):
        assert time.monotonic() < deadline, "commits never reached the database file"
        time.sleep(0.1)


def test_the_loops_own_connection_leaves_checkpoints_to_the_checkpointer(sqlite_file: str) -> None:
    engine = create_db_engine(sqlite_file)
    inline = create_inline_engine(engine)
    assert inline is not None
    with inline.connect() as conn, engine.connect() as pooled:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
        assert pooled.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
    pool = Database(engine, inline).inline_pool
    assert pool is not None
    loops_own = pool.connection()
    assert loops_own.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    assert loops_own.execute("PRAGMA busy_timeout").fetchone()[0] == 0
    assert loops_own.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    pool.close()
    inline.dispose()
    engine.dispose()


def test_the_checkpointer_outlives_a_pool_with_no_connection_free(sqlite_file: str) -> None:
    """Every pooled connection busy (a burst of requests) skips a checkpoint; the thread stays,
    and checkpoints again once a connection is free."""
    engine = create_db_engine(sqlite_file, pool_size=1, max_overflow=0, pool_timeout=0.05)
    checkpointer = Database(engine, create_inline_engine(engine)).checkpointer(interval=0.02)
    assert checkpointer is not None
    outside = OutsideWriter(sqlite_file)
    with engine.connect():
        checkpointer.start()
        outside.commit()
        time.sleep(0.5)
        skipped = checkpointer.checkpoints
    deadline = time.monotonic() + 10
    while checkpointer.checkpoints == skipped:
        assert time.monotonic() < deadline, "the checkpointer stopped when the pool was full"
        outside.commit()
        time.sleep(0.05)
    checkpointer.stop()
    engine.dispose()


class OutsideWriter:
    """Commits to the file from a connection that never checkpoints, as the loop's; while it is
    open, SQLite keeps the WAL (the last connection to close checkpoints and removes it)."""

    def __init__(self, sqlite_file: str) -> None:
        self.conn = sqlite3.connect(sqlite_file.removeprefix("sqlite:///"), isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")  # as scimbridge's first connection sets it
        self.conn.execute("PRAGMA wal_autocheckpoint=0")

    def commit(self) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO service_state (name, value, updated_at) "
            "VALUES ('test', ?, '2026-01-01 00:00:00.000000')",
            (str(time.monotonic()),),
        )


def test_checkpoints_wait_for_a_pause_in_the_writes_or_a_deadline(sqlite_file: str) -> None:
    """A checkpoint syncs the file and slows every commit in flight: none is made while commits
    keep coming, until ``max_delay`` has passed; once they pause, one follows at once."""
    engine = create_db_engine(sqlite_file)
    outside = OutsideWriter(sqlite_file)
    outside.commit()
    checkpointer = WalCheckpointer(engine, interval=0.1, max_delay=60, idle_every=60)
    checkpointer.start()
    steady_until = time.monotonic() + 1.5
    while time.monotonic() < steady_until:
        outside.commit()
        time.sleep(0.01)
    assert checkpointer.checkpoints == 0, "a checkpoint was made while the writes went on"
    deadline = time.monotonic() + 10
    while checkpointer.checkpoints == 0:
        assert time.monotonic() < deadline, "no checkpoint after the writes paused"
        time.sleep(0.05)
    checkpointer.stop()
    hurried = WalCheckpointer(engine, interval=0.1, max_delay=0.5, idle_every=60)
    hurried.start()
    steady_until = time.monotonic() + 3
    while time.monotonic() < steady_until and hurried.checkpoints == 0:
        outside.commit()
        time.sleep(0.01)
    assert hurried.checkpoints > 0, "writes that never pause kept the WAL past max_delay"
    hurried.stop()
    engine.dispose()
