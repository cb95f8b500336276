"""Connections to PostgreSQL for calls made on the event loop: psycopg's async connections, pooled.

Does: lend a coroutine one of at most ``size`` open connections (autocommit, the options the
engine's own connections get, such as ``lock_timeout``), opening one when none is idle; check an
idle connection on checkout without a round trip (one whose backend was terminated has the
server's last word waiting on its socket: it is dropped and a new one opened, so a request gets a
working connection instead of an error); drop a connection that broke or was given back inside a
transaction; refuse with ``StoreUnavailable`` when every connection stays busy for ``timeout``
seconds; and keep each connection to the event loop it was opened on (a second loop in the
process, such as another server's, gets connections of its own).
Does not: run statements (``store.loop_users`` does), translate driver errors, or serve calls
made off the event loop (the engine's pool does).
"""

from __future__ import annotations

import asyncio
import select
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

from psycopg import AsyncConnection
from psycopg.pq import TransactionStatus
from psycopg.rows import TupleRow, tuple_row

from scimbridge.store.errors import StoreUnavailable

Connection = AsyncConnection[TupleRow]


class _Slots:
    """The connections of one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, size: int) -> None:
        self.loop = loop
        self.idle: list[Connection] = []
        self.free = asyncio.Semaphore(size)

    def close_idle(self) -> None:
        # Without awaiting: the loop may be gone. Closing the socket is all a backend needs.
        while self.idle:
            self.idle.pop().pgconn.finish()


class LoopPool:
    """Up to ``size`` connections per event loop, made with ``connect_kwargs`` (``psycopg``
    keyword arguments, ``conninfo`` among them). Thread-safe; each loop has its own connections
    (those of a loop that has closed are closed when another loop first uses the pool)."""

    def __init__(self, connect_kwargs: dict[str, Any], *, size: int, timeout: float) -> None:
        self._connect_kwargs = connect_kwargs
        self._size = size
        self._timeout = timeout
        self._by_loop: dict[asyncio.AbstractEventLoop, _Slots] = {}
        self._lock = threading.Lock()

    def _current(self) -> _Slots:
        loop = asyncio.get_running_loop()
        slots = self._by_loop.get(loop)
        if slots is None:
            with self._lock:
                for gone in [other for other in self._by_loop if other.is_closed()]:
                    self._by_loop.pop(gone).close_idle()
                slots = self._by_loop.setdefault(loop, _Slots(loop, self._size))
        return slots

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """A connection for the block, in autocommit mode; given back (or dropped) after it.

        :raises StoreUnavailable: every connection stayed busy for ``timeout`` seconds.
        :raises psycopg.OperationalError: no connection could be opened.
        """
        slots = self._current()
        if slots.free.locked():
            try:
                await asyncio.wait_for(slots.free.acquire(), self._timeout)
            except TimeoutError:
                raise StoreUnavailable("every database connection stayed busy") from None
        else:
            await slots.free.acquire()
        conn: Connection | None = None
        try:
            conn = await self._checkout(slots)
            yield conn
        finally:
            if conn is not None:
                self._give_back(slots, conn)
            slots.free.release()

    async def _checkout(self, slots: _Slots) -> Connection:
        while slots.idle:
            conn = slots.idle.pop()
            if _still_open(conn):
                return conn
            conn.pgconn.finish()
        return await AsyncConnection.connect(
            autocommit=True, row_factory=tuple_row, **self._connect_kwargs
        )

    @staticmethod
    def _give_back(slots: _Slots, conn: Connection) -> None:
        if conn.closed or conn.broken:
            return
        if conn.info.transaction_status != TransactionStatus.IDLE:
            # Cut off mid-statement (a cancelled request) or left in a transaction: its state is
            # unknown, so it is not lent again.
            conn.pgconn.finish()
            return
        slots.idle.append(conn)

    def close(self) -> None:
        """Close the idle connections of every loop (those lent out close when given back)."""
        with self._lock:
            everyone, self._by_loop = self._by_loop, {}
        for slots in everyone.values():
            slots.close_idle()


def _still_open(conn: Connection) -> bool:
    """Whether an idle connection can be lent: not closed, and nothing from the server waiting
    (an idle backend only speaks to say it is going away)."""
    if conn.closed or conn.broken:
        return False
    poller = select.poll()  # not select.select: a descriptor may be numbered past 1024
    with suppress(OSError, ValueError):
        poller.register(conn.fileno(), select.POLLIN)
        return not poller.poll(0)
    return False
