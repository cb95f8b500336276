"""SQLite connections: the settings every one of them gets, and the event loop's own.

Does: set up a ``sqlite3`` connection as scimbridge relies on (WAL journal, ``synchronous=NORMAL``,
foreign keys on, a busy timeout, optionally no automatic checkpoint; transactions begun by the
caller, never by the driver), and keep one connection per calling thread for the calls made
right on the event loop (:class:`InlinePool`): no busy wait, so a lock held elsewhere fails at
once instead of stalling the loop, and no automatic checkpoint on commit (a
``store.checkpoint.WalCheckpointer`` does it on a thread of its own).
Does not: run statements (``store.inline_users`` does), decide where a call runs
(``scim.store_calls``), or serve PostgreSQL (``store.loop_pool``).
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any


def configure(dbapi_conn: Any, busy_ms: int, *, autocheckpoint: bool = True) -> None:
    """Give a fresh SQLite connection scimbridge's settings."""
    # The caller issues BEGIN itself (IMMEDIATE for writes, see store.transactions).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    # WAL is a property of the file; switching takes the write lock, asking does not.
    if cur.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={busy_ms}")
    if not autocheckpoint:
        cur.execute("PRAGMA wal_autocheckpoint=0")
    cur.close()


class InlinePool:
    """One no-wait connection per thread to one SQLite file, opened with ``connect_args``
    (``sqlite3.connect``'s, as SQLAlchemy's dialect makes them from the URL). Thread-safe;
    ``close`` closes every thread's connection, and the next call opens a new one."""

    def __init__(self, connect_args: tuple[Any, ...], connect_kwargs: dict[str, Any]) -> None:
        self._args = connect_args
        self._kwargs = {**connect_kwargs, "timeout": 0, "check_same_thread": False}
        self._local = threading.local()
        self._open: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._generation = 0

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (in autocommit: the caller begins and ends transactions)."""
        local = self._local
        conn: sqlite3.Connection | None = getattr(local, "conn", None)
        if conn is not None and local.generation == self._generation:
            return conn
        conn = sqlite3.connect(*self._args, **self._kwargs)
        configure(conn, 0, autocheckpoint=False)
        with self._lock:
            self._open.append(conn)
            local.conn, local.generation = conn, self._generation
        return conn

    def close(self) -> None:
        with self._lock:
            self._generation += 1
            opened, self._open = self._open, []
        for conn in opened:
            conn.close()
