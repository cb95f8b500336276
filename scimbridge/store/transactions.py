"""How the store reaches the database: read connections, write transactions, no-wait calls.

Does: open a write transaction that holds the row locks a read-then-write needs (``BEGIN
IMMEDIATE`` on SQLite, behind one in-process writer lock; ``SELECT … FOR UPDATE`` on
PostgreSQL through :meth:`Transactions.lock`), a read connection that costs no BEGIN/ROLLBACK
on PostgreSQL, and calls that refuse to wait for a lock (``without_waiting``); translate a lock
or connection failure into ``StoreUnavailable`` or ``WouldBlock``; for the sync's own tables, a
write transaction that takes SQLite's lock up front and an insert-or-update on either engine.
Does not: know what is read or written (``store.directory``, ``store.links`` … do).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, Table, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError

from scimbridge.store.database import Database
from scimbridge.store.errors import NotFound, StoreUnavailable, WouldBlock
from scimbridge.store.tables import groups, users

# Past busy_timeout a locked SQLite write is refused; waiting for the in-process lock is the same.
_WRITE_LOCK_SECONDS = 30.0
# SQLite's primary result codes for "another connection holds the lock".
_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6

# Statements of the hot paths, built once: building and cache-keying them per call costs more
# than running them.
BY_ID = {
    table.name: select(table).where(table.c.id == bindparam("by_id")) for table in (users, groups)
}
_BY_ID_FOR_UPDATE = {name: query.with_for_update() for name, query in BY_ID.items()}


def _lock_refusal(exc: OperationalError) -> bool:
    code = getattr(exc.orig, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)


class Transactions:
    """Connections to one database for the directory. One instance per process; thread-safe."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.engine = database.engine
        self.is_postgres = database.is_postgres
        # SQLite has one writer: writers of this process queue here, in order, instead of in
        # SQLite's busy handler, which sleeps and retries (long tails under concurrent writes).
        self.sqlite_writer = None if self.is_postgres else threading.Lock()
        # Connections that never wait for a lock (``database.create_inline_engine``), and which
        # threads are inside ``without_waiting`` right now.
        self._inline_engine = database.inline_engine
        self._calls = threading.local()
        # A read on PostgreSQL is its statements alone: under READ COMMITTED each statement sees
        # its own snapshot whether or not a transaction wraps them, so BEGIN and ROLLBACK would
        # be two round trips that change nothing.
        self._read_options: dict[str, Any] = (
            {"isolation_level": "AUTOCOMMIT"} if self.is_postgres else {}
        )
        self._write_options: dict[str, Any] = (
            {} if self.is_postgres else {"sqlite_begin": "IMMEDIATE"}
        )

    @property
    def offers_calls_without_waiting(self) -> bool:
        """Whether ``without_waiting`` can run calls on the caller's thread (a SQLite file)."""
        return self._inline_engine is not None

    @contextmanager
    def without_waiting(self) -> Iterator[None]:
        """Make this thread's calls refuse to wait for a lock: they raise ``WouldBlock`` instead,
        before anything is written, so the caller can run them again where waiting is harmless.

        Only until the first commit: from then on a refusal would hide a change already made, so
        the rest of the call waits as usual.
        """
        if self._inline_engine is None:
            raise WouldBlock()
        self._calls.no_wait = True
        try:
            yield
        finally:
            self._calls.no_wait = False

    def _no_wait(self) -> bool:
        return bool(getattr(self._calls, "no_wait", False))

    def _refused(self, exc: OperationalError, no_wait: bool) -> Exception:
        if no_wait and _lock_refusal(exc):
            return WouldBlock()
        # Locked past busy_timeout, or the server is gone: the transaction rolled back.
        return StoreUnavailable(type(exc.orig).__name__ if exc.orig else "database error")

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A transaction that commits when the block ends and rolls back when it raises."""
        no_wait = self._no_wait()
        writer = self.sqlite_writer
        if writer is not None:
            taken = (
                writer.acquire(blocking=False)
                if no_wait
                else writer.acquire(timeout=_WRITE_LOCK_SECONDS)
            )
            if not taken:
                raise WouldBlock() if no_wait else StoreUnavailable("the database stayed locked")
        engine = self._inline_engine if no_wait and self._inline_engine else self.engine
        try:
            with engine.connect().execution_options(**self._write_options) as conn, conn.begin():
                yield conn
            if no_wait:
                self._calls.no_wait = False
        except OperationalError as exc:
            raise self._refused(exc, no_wait) from exc
        finally:
            if writer is not None:
                writer.release()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reads only."""
        no_wait = self._no_wait()
        engine = self._inline_engine if no_wait and self._inline_engine else self.engine
        try:
            with engine.connect().execution_options(**self._read_options) as conn:
                yield conn
        except OperationalError as exc:
            raise self._refused(exc, no_wait) from exc

    def lock(self, conn: Connection, table: Table, resource_id: str) -> Mapping[Any, Any]:
        """The row ``resource_id`` of ``table``, locked until the transaction ends.

        :raises NotFound: no such row.
        """
        query = (_BY_ID_FOR_UPDATE if self.is_postgres else BY_ID)[table.name]
        row = conn.execute(query, {"by_id": resource_id}).mappings().first()
        if row is None:
            raise NotFound("User" if table.name == "users" else "Group", resource_id)
        return row


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction on ``engine``; SQLite's write lock taken up front, so a read-then-write
    never fails on lock upgrade."""
    options = {} if engine.dialect.name == "postgresql" else {"sqlite_begin": "IMMEDIATE"}
    with engine.connect().execution_options(**options) as conn, conn.begin():
        yield conn


def upsert_statement(engine: Engine, table: Table, key: str, values: dict[str, Any]) -> Any:
    """Insert ``values`` into ``table``, or update the row whose ``key`` they name."""
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(**values)
    changed = {name: value for name, value in values.items() if name != key}
    return statement.on_conflict_do_update(index_elements=[key], set_=changed)
