"""``store.loop_pool.LoopPool``: bounded, self-healing, one set of connections per event loop
(PostgreSQL)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from scimbridge.store.errors import StoreUnavailable
from scimbridge.store.loop_pool import LoopPool
from tests.conftest import _fresh_postgres_database, terminate_backends

pytestmark = pytest.mark.postgres


@pytest.fixture
def url() -> Iterator[str]:
    yield from _fresh_postgres_database()


def pool(url: str, size: int = 2, timeout: float = 5.0) -> LoopPool:
    parsed = make_url(url)
    connect: dict[str, Any] = {
        "host": parsed.host,
        "port": parsed.port,
        "user": parsed.username,
        "dbname": parsed.database,
        "options": "-c lock_timeout=1234",
    }
    if parsed.password:
        connect["password"] = parsed.password
    return LoopPool(connect, size=size, timeout=timeout)


async def backend(lent: LoopPool) -> int:
    async with lent.connection() as conn:
        row = await (await conn.execute("SELECT pg_backend_pid()")).fetchone()
        assert row is not None
        return int(row[0])


def test_connections_are_reused_with_the_engine_options_and_bounded(url: str) -> None:
    lent = pool(url, size=2, timeout=0.3)

    async def scenario() -> None:
        async with lent.connection() as conn:
            setting = await (await conn.execute("SHOW lock_timeout")).fetchone()
            assert setting == ("1234ms",)
            assert conn.autocommit
        first = await backend(lent)
        assert await backend(lent) == first, "an idle connection is lent again"
        release = asyncio.Event()

        async def hold() -> None:
            async with lent.connection():
                await release.wait()

        holders = [asyncio.create_task(hold()) for _ in range(2)]
        await asyncio.sleep(0.05)
        with pytest.raises(StoreUnavailable):
            await backend(lent)
        release.set()
        await asyncio.gather(*holders)
        await backend(lent)

    asyncio.run(scenario())
    lent.close()


def test_a_terminated_backend_is_replaced_on_checkout(url: str) -> None:
    lent = pool(url)
    admin = create_engine(url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    database = make_url(url).database
    try:

        async def scenario() -> None:
            first = await backend(lent)
            assert terminate_backends(admin, str(database), wait=True) == 1
            await asyncio.sleep(0.1)
            assert await backend(lent) != first

        asyncio.run(scenario())
    finally:
        admin.dispose()
        lent.close()


def test_a_connection_given_back_inside_a_transaction_is_not_lent_again(url: str) -> None:
    lent = pool(url)

    async def scenario() -> None:
        async with lent.connection() as conn:
            first = (await (await conn.execute("SELECT pg_backend_pid()")).fetchone() or [0])[0]
            await conn.execute("BEGIN")
        assert await backend(lent) != first

    asyncio.run(scenario())
    lent.close()


def test_each_event_loop_has_its_own_connections_and_a_closed_loop_s_are_closed(url: str) -> None:
    lent = pool(url)
    engine = create_engine(url)
    try:
        first = asyncio.run(backend(lent))
        second = asyncio.run(backend(lent))  # a new loop: the first loop's connection is closed
        assert second != first
        deadline = time.monotonic() + 10
        while True:  # the backend goes once it reads the end of its socket
            with engine.connect() as conn:
                query = text("SELECT pid FROM pg_stat_activity WHERE pid = :p")
                if conn.execute(query, {"p": first}).first() is None:
                    break
            assert time.monotonic() < deadline, "the closed loop's connection stayed open"
            time.sleep(0.05)
    finally:
        engine.dispose()
        lent.close()
