"""What the store's cheaper PostgreSQL paths still promise.

A pooled connection is pinged only when its socket has something to read, and one whose backend
was terminated is still replaced before a request uses it. Enqueueing is one statement on
PostgreSQL and keeps one row per user, revived the same way on both engines, also when two
transactions enqueue the same user at once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.engine import make_url

from scimbridge.store.clock import utcnow
from scimbridge.store.database import Database, create_db_engine, migrate
from scimbridge.store.directory import Directory
from scimbridge.store.enqueue import enqueue
from scimbridge.store.outbox import Outbox
from scimbridge.store.tables import outbox as outbox_table
from tests.conftest import _fresh_postgres_database, terminate_backends

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    for url in _fresh_postgres_database():
        migrate(url)
        yield url


def _rows(engine: Engine, user_id: str) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(outbox_table).where(outbox_table.c.user_id == user_id)))


def test_enqueue_revives_a_pending_leased_or_dead_row_in_place(migrated_url: str) -> None:
    engine = create_db_engine(migrated_url)
    queue = Outbox(Database(engine))
    try:
        with engine.begin() as conn:
            enqueue(conn, "u1", "created", new_user=True)
        with engine.begin() as conn:
            enqueue(conn, "u1", "updated")
        (row,) = _rows(engine, "u1")
        assert (row.reason, row.generation, row.attempts) == ("updated", 2, 0)

        (claim,) = queue.claim("worker-a", limit=10, lease_seconds=60)
        with engine.begin() as conn:
            enqueue(conn, "u1", "membership")
        (row,) = _rows(engine, "u1")
        # The lease stays with its owner; finishing it keeps the row, due again.
        assert (row.generation, row.attempts, row.lease_owner) == (3, 0, "worker-a")
        assert queue.complete(claim) is False
        assert len(_rows(engine, "u1")) == 1

        (claim,) = queue.claim("worker-a", limit=10, lease_seconds=60)
        assert queue.dead_letter(claim, "boom") is True
        later = utcnow() + timedelta(seconds=5)
        with engine.begin() as conn:
            enqueue(conn, "u1", "updated", now=later)
        (row,) = _rows(engine, "u1")
        assert row.dead_at is None and row.last_error is None
        assert (row.reason, row.generation, row.attempts) == ("updated", 4, 0)
        assert row.next_attempt_at.replace(tzinfo=later.tzinfo) == later
        assert row.updated_at.replace(tzinfo=later.tzinfo) == later
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_postgres_concurrent_enqueues_of_one_user_coalesce(postgres_url: str) -> None:
    """The second transaction waits for the first's row and bumps it instead of failing."""
    engine = create_db_engine(postgres_url, lock_timeout=10)
    errors: list[BaseException] = []
    try:
        first = engine.connect()
        first.begin()
        enqueue(first, "u2", "updated")

        def second() -> None:
            try:
                with engine.begin() as conn:
                    enqueue(conn, "u2", "membership")
            except BaseException as exc:  # reported below
                errors.append(exc)

        thread = threading.Thread(target=second)
        thread.start()
        thread.join(0.5)
        assert thread.is_alive(), "the second enqueue did not wait for the first"
        first.commit()
        first.close()
        thread.join(30)
        assert not errors, errors
        (row,) = _rows(engine, "u2")
        assert (row.reason, row.generation) == ("membership", 2)
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_postgres_checkout_pings_only_a_connection_the_server_closed(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = create_db_engine(postgres_url)
    pings: list[Any] = []
    real_ping = engine.dialect.do_ping

    def counting_ping(dbapi_conn: Any) -> bool:
        pings.append(dbapi_conn)
        return real_ping(dbapi_conn)

    monkeypatch.setattr(engine.dialect, "do_ping", counting_ping)
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    repository = Directory(Database(engine))
    try:
        for _ in range(5):
            repository.query_users(repository.select_users(), 0, 10)
        assert not pings, "a healthy pooled connection was pinged"

        for round_ in range(3):
            # Wait until they are gone: their sockets then say so, and only they get pinged.
            assert terminate_backends(admin, make_url(postgres_url).database or "", wait=True)
            created = repository.create_user(
                {"schemas": [CORE], "userName": f"after{round_}@contoso.com"}, actor="test"
            )
            assert repository.get_user(created.id).document["userName"] == (
                f"after{round_}@contoso.com"
            )
        assert pings, "a terminated connection was not checked"
        # Nothing pinged since: the replacements are healthy.
        count = len(pings)
        repository.query_users(repository.select_users(), 0, 10)
        assert len(pings) == count
    finally:
        admin.dispose()
        engine.dispose()


@pytest.mark.postgres
def test_postgres_reads_leave_no_transaction_open_and_writes_still_roll_back(
    postgres_url: str,
) -> None:
    engine = create_db_engine(postgres_url)
    repository = Directory(Database(engine))
    try:
        user = repository.create_user({"schemas": [CORE], "userName": "r@contoso.com"}, actor="t")
        repository.query_users(repository.select_users(), 0, 10)
        repository.get_user(user.id)

        def refuse(document: dict[str, Any]) -> dict[str, Any]:
            raise RuntimeError("refused")

        with pytest.raises(RuntimeError):
            repository.update_user(user.id, refuse, actor="t", action="patch")
        assert repository.get_user(user.id).version == 1
        with engine.connect() as conn:
            idle_in_transaction = conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND state LIKE 'idle in transaction%'"
                )
            )
        assert idle_in_transaction == 0
    finally:
        engine.dispose()
