"""The database locked, gone or refusing connections during SCIM requests: 503 + Retry-After,
nothing half-written, and service again once the database is back.

SQLite: another connection holds the write lock longer than the busy timeout. PostgreSQL: another
transaction holds the row lock past ``lock_timeout``; the database stops accepting connections
while the app's backends are terminated; the app points at a port where nothing listens.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, create_engine, text

from scimbridge.app import create_app
from scimbridge.config.settings import load_settings
from scimbridge.runtime import build_runtime
from scimbridge.store.database import Database, create_db_engine, migrate
from scimbridge.store.tokens import Tokens
from tests.conftest import _fresh_postgres_database, terminate_backends
from tests.hostile.contract import Snapshot
from tests.support import free_port, serving

TOKEN = "database-faults-token-0123456789"
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
LOCK_TIMEOUT = 0.3
# What ``create_db_engine`` gives a SQLite engine.
POOL_SIZE, POOL_OVERFLOW = 8, 8


@dataclass
class Served:
    http: httpx.Client
    engine: Engine
    user_id: str
    group_id: str


@contextmanager
def served(
    url: str, *, lock_timeout: float = LOCK_TIMEOUT, **engine_options: Any
) -> Iterator[Served]:
    settings = load_settings(env={"SCIMBRIDGE_DATABASE_URL": url, "SCIMBRIDGE_BEARER_TOKEN": TOKEN})
    engine = create_db_engine(url, lock_timeout=lock_timeout, **engine_options)
    try:
        app = create_app(build_runtime(settings, engine=engine))
        with (
            serving(app) as base,
            httpx.Client(
                base_url=base + "/scim/v2",
                headers={"Authorization": f"Bearer {TOKEN}"},
                timeout=30,
            ) as http,
        ):
            user = http.post("/Users", json={"schemas": [CORE], "userName": "seed@contoso.com"})
            assert user.status_code == 201, user.text
            group = http.post(
                "/Groups",
                json={
                    "schemas": [GROUP],
                    "displayName": "Seed",
                    "members": [{"value": user.json()["id"]}],
                },
            )
            assert group.status_code == 201, group.text
            yield Served(http, engine, user.json()["id"], group.json()["id"])
    finally:
        engine.dispose()


def writes(s: Served) -> list[tuple[str, str, dict[str, Any] | None]]:
    """One of each SCIM write, as Entra sends them."""
    n = uuid.uuid4().hex[:6]
    return [
        ("POST", "/Users", {"schemas": [CORE], "userName": f"new{n}@contoso.com"}),
        (
            "PUT",
            f"/Users/{s.user_id}",
            {"schemas": [CORE], "userName": "seed@contoso.com", "title": n},
        ),
        (
            "PATCH",
            f"/Users/{s.user_id}",
            {
                "schemas": [PATCH],
                "Operations": [{"op": "replace", "path": "displayName", "value": n}],
            },
        ),
        ("POST", "/Groups", {"schemas": [GROUP], "displayName": f"G{n}"}),
        (
            "PATCH",
            f"/Groups/{s.group_id}",
            {"schemas": [PATCH], "Operations": [{"op": "remove", "path": "members"}]},
        ),
        ("DELETE", f"/Users/{s.user_id}", None),
    ]


def assert_unavailable(response: httpx.Response) -> None:
    """A clean refusal: 503, a SCIM Error body, and when to come back."""
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/scim+json")
    assert int(response.headers["retry-after"]) > 0
    error = response.json()
    assert error["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert error["status"] == "503"


def send(s: Served, method: str, path: str, body: dict[str, Any] | None) -> httpx.Response:
    return s.http.request(method, path, json=body)


# -- SQLite ---------------------------------------------------------------------------------------


@contextmanager
def sqlite_write_lock(url: str) -> Iterator[None]:
    """Another process's view: a connection holding SQLite's write lock until the block ends."""
    holder = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        yield
        holder.execute("ROLLBACK")
    finally:
        holder.close()


def test_sqlite_locked_past_the_busy_timeout_is_503_and_nothing_half_written(
    sqlite_url: str,
) -> None:
    with served(sqlite_url) as s:
        before = Snapshot.take(s.engine)
        pending = writes(s)
        with sqlite_write_lock(sqlite_url):
            for method, path, body in pending:
                started = time.monotonic()
                assert_unavailable(send(s, method, path, body))
                assert time.monotonic() - started < 10, "the busy timeout was not applied"
            # Readers are not blocked in WAL mode: Entra's GETs still answer.
            assert s.http.get(f"/Users/{s.user_id}").status_code == 200
        assert Snapshot.take(s.engine) == before
        # The lock is gone: the very same requests now go through.
        for method, path, body in pending:
            response = send(s, method, path, body)
            assert response.status_code in (200, 201, 204), (method, path, response.text)


def test_sqlite_lock_released_within_the_busy_timeout_only_delays(sqlite_url: str) -> None:
    with served(sqlite_url, lock_timeout=10) as s:
        answers: list[httpx.Response] = []
        writer = threading.Thread(
            target=lambda: answers.append(
                s.http.post("/Users", json={"schemas": [CORE], "userName": "late@contoso.com"})
            )
        )
        with sqlite_write_lock(sqlite_url):
            writer.start()
            time.sleep(0.5)
            assert not answers, "the write did not wait for the lock"
        writer.join(30)
        assert answers and answers[0].status_code == 201, answers


def test_every_pooled_connection_busy_is_503_not_500(sqlite_url: str) -> None:
    """Past the pool's wait the request is refused with Retry-After, and served once one frees.

    Calls on one user run on the event loop's own connection (SQLite), so they are still served.
    """
    with served(sqlite_url, pool_timeout=0.2) as s:
        before = Snapshot.take(s.engine)
        held = [s.engine.connect() for _ in range(POOL_SIZE + POOL_OVERFLOW)]
        try:
            for method, path, body in writes(s)[3:5]:
                assert_unavailable(send(s, method, path, body))
            assert_unavailable(s.http.get("/Users"))
        finally:
            for conn in held:
                conn.close()
        assert Snapshot.take(s.engine) == before
        assert s.http.get("/Users").status_code == 200
        held = [s.engine.connect() for _ in range(POOL_SIZE + POOL_OVERFLOW)]
        try:
            method, path, body = writes(s)[2]
            assert send(s, method, path, body).status_code == 200
        finally:
            for conn in held:
                conn.close()


# -- PostgreSQL -----------------------------------------------------------------------------------


@pytest.fixture
def postgres_url() -> Iterator[str]:
    for url in _fresh_postgres_database():
        migrate(url)
        yield url


@pytest.mark.postgres
def test_postgres_row_locked_past_lock_timeout_is_503_then_recovers(postgres_url: str) -> None:
    with served(postgres_url) as s:
        other = create_engine(postgres_url)
        try:
            before = Snapshot.take(s.engine)
            with other.connect() as conn, conn.begin():
                conn.execute(
                    text("SELECT id FROM users WHERE id = :id FOR UPDATE"), {"id": s.user_id}
                )
                conn.execute(
                    text("SELECT id FROM groups WHERE id = :id FOR UPDATE"), {"id": s.group_id}
                )
                for method, path, body in writes(s)[1:]:
                    if method == "POST":
                        continue
                    assert_unavailable(send(s, method, path, body))
            assert Snapshot.take(s.engine) == before
            patched = s.http.patch(
                f"/Users/{s.user_id}",
                json={
                    "schemas": [PATCH],
                    "Operations": [{"op": "replace", "path": "title", "value": "x"}],
                },
            )
            assert patched.status_code == 200, patched.text
        finally:
            other.dispose()


@pytest.mark.postgres
def test_postgres_refusing_connections_is_503_then_recovers(postgres_url: str) -> None:
    database = postgres_url.rsplit("/", 1)[1]
    admin = create_engine(
        postgres_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT"
    )
    try:
        with served(postgres_url) as s:
            _, stored_token = Tokens(Database(s.engine)).create_token("entra")
            before = Snapshot.take(s.engine)
            with admin.connect() as conn:
                conn.execute(text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false'))
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": database},
                )
            try:
                for method, path, body in writes(s):
                    assert_unavailable(send(s, method, path, body))
                assert_unavailable(s.http.get("/Users"))
                assert_unavailable(s.http.get(f"/Users/{s.user_id}"))
                # A stored (not static) token needs the database too: still a clean 503.
                stored = s.http.get("/Users", headers={"Authorization": f"Bearer {stored_token}"})
                assert_unavailable(stored)
            finally:
                with admin.connect() as conn:
                    conn.execute(text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true'))
            assert Snapshot.take(s.engine) == before
            for method, path, body in writes(s):
                response = send(s, method, path, body)
                assert response.status_code in (200, 201, 204), (method, path, response.text)
    finally:
        admin.dispose()


@pytest.mark.postgres
def test_postgres_backends_terminated_between_requests_are_replaced(postgres_url: str) -> None:
    database = postgres_url.rsplit("/", 1)[1]
    admin = create_engine(
        postgres_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT"
    )
    try:
        with served(postgres_url) as s:
            for round_ in range(3):
                # Gone before the next request, as after a restart between requests (without the
                # wait a backend may still be on its way out when the request arrives).
                killed = terminate_backends(admin, database, wait=True)
                assert killed, "the app held no connection to terminate"
                response = s.http.patch(
                    f"/Users/{s.user_id}",
                    json={
                        "schemas": [PATCH],
                        "Operations": [{"op": "replace", "path": "title", "value": str(round_)}],
                    },
                )
                assert response.status_code == 200, response.text
                assert s.http.get(f"/Users/{s.user_id}").json()["title"] == str(round_)
    finally:
        admin.dispose()


def test_nothing_listening_on_the_database_port_is_503() -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/scimbridge"
    settings = load_settings(env={"SCIMBRIDGE_DATABASE_URL": url, "SCIMBRIDGE_BEARER_TOKEN": TOKEN})
    engine = create_db_engine(url)
    try:
        app = create_app(build_runtime(settings, engine=engine))
        with serving(app) as base, httpx.Client(base_url=base + "/scim/v2", timeout=30) as http:
            for token in (TOKEN, "a-stored-token-the-database-would-know"):
                headers = {"Authorization": f"Bearer {token}"}
                for method, path, body in [
                    ("GET", "/Users", None),
                    ("GET", "/Users/x", None),
                    ("POST", "/Users", {"schemas": [CORE], "userName": "a@contoso.com"}),
                    (
                        "PATCH",
                        "/Groups/x",
                        {"schemas": [PATCH], "Operations": [{"op": "remove", "path": "members"}]},
                    ),
                ]:
                    assert_unavailable(http.request(method, path, json=body, headers=headers))
    finally:
        engine.dispose()
