"""One user's calls on a SQLite file, made on the event loop's thread with prepared statements.

Does: read a user by id, read the page of a ``userName eq`` lookup, create a user, and edit one
(:class:`~scimbridge.store.on_loop.UsersOnLoop`), straight on ``sqlite3`` with statements that
the driver prepares once per connection and keeps in its cache, keeping every promise of
:class:`~scimbridge.store.directory.Directory` for these calls (the same rows written in the same
formats, the same refusals). A write is one ``BEGIN IMMEDIATE`` … ``COMMIT`` with no wait: the
user, its audit row and its outbox row together. An edit reads the user without a lock; the
write lands only if the version is still the one read, else nothing is written and the caller
reads again. A call that meets a lock held elsewhere (another process, the sync worker, a write
of this process running in a thread) raises ``WouldBlock`` before writing anything.
Does not: compute documents (the caller does, then calls down), serve groups, deletes or other
lists (the directory does), wait for a lock, or serve PostgreSQL (``store.loop_users`` does).

These calls cost a few statements of a local file, well under a millisecond: less than SQLAlchemy
Core's execution around the same statements, and less than the hand-off to a worker thread.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import threading
import uuid
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import Any

import orjson

from scimbridge.store.clock import utcnow
from scimbridge.store.errors import (
    Conflict,
    NotFound,
    StoreUnavailable,
    VersionMismatch,
    WouldBlock,
)
from scimbridge.store.limits import USER_COLUMN_LENGTHS, checked
from scimbridge.store.listing import Selection
from scimbridge.store.on_loop import (
    AUDIT_COLUMNS,
    OUTBOX_COLUMNS,
    READ_COLUMNS,
    REVIVE,
    USER_COLUMNS,
    lookup_key,
    page_total,
    serves,
)
from scimbridge.store.resources import StoredResource, comparison_key, user_columns
from scimbridge.store.sqlite_connections import InlinePool

_READ = f"SELECT {READ_COLUMNS} FROM users"
_BY_ID = f"{_READ} WHERE id = ?"
_BY_NAME_KEY = f"{_READ} WHERE user_name_key = ? ORDER BY created_at, id LIMIT ? OFFSET ?"
_COUNT_BY_NAME_KEY = "SELECT count(*) FROM users WHERE user_name_key = ?"
_INSERT_USER = (
    f"INSERT INTO users (id, {', '.join(USER_COLUMNS)}, version, created_at, updated_at) "
    f"VALUES (:id, {', '.join(f':{name}' for name in USER_COLUMNS)}, 1, :now, :now)"
)


@functools.lru_cache(maxsize=256)
def _update_user(changed: tuple[str, ...]) -> str:
    """The UPDATE of a user that sets the ``changed`` columns: SQLite rewrites the index entries
    of every indexed column a statement assigns, changed or not, which costs more than the rest
    of a PATCH's statements."""
    return (
        f"UPDATE users SET {''.join(f'{name} = :{name}, ' for name in changed)}"
        "version = :version, updated_at = :now WHERE id = :id AND version = :read_version"
    )


_AUDIT = (
    f"INSERT INTO audit_log ({AUDIT_COLUMNS}) VALUES (:now, :actor, :action, 'User', :id, :detail)"
)
_QUEUE = f"INSERT INTO outbox ({OUTBOX_COLUMNS}) VALUES (:id, :reason, 1, 0, :now, :now, :now)"
_REQUEUE = f"{_QUEUE} {REVIVE}"
# SQLite's primary result codes for "another connection holds the lock".
_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6

Row = tuple[Any, ...]


def _timestamp(value: datetime) -> str:
    """A UTC time as SQLAlchemy's SQLite ``DateTime`` stores it (naive, microseconds)."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def _json(value: Any) -> str:
    """A document as SQLAlchemy's SQLite ``JSON`` stores it (text)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # an integer beyond 64 bits, which orjson refuses and JSON allows
        return json.dumps(value)


def _stored(row: Row) -> StoredResource:
    return StoredResource(row[0], orjson.loads(row[1]), row[2], _time(row[3]), _time(row[4]))


def _lock_refusal(exc: sqlite3.OperationalError) -> bool:
    return getattr(exc, "sqlite_errorcode", 0) & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)


def _failure(exc: sqlite3.OperationalError) -> Exception:
    """A busy database is no refusal (``WouldBlock``: the caller runs the call where it may
    wait); any other failure of the file is ``StoreUnavailable``."""
    return WouldBlock() if _lock_refusal(exc) else StoreUnavailable(type(exc).__name__)


class InlineUsers:
    """User reads and writes on one SQLite file, for coroutines (see the module).

    ``writer`` is the lock this process's other writers of the file hold (``store.transactions``):
    a write of this object takes it without waiting, or raises ``WouldBlock``.
    """

    def __init__(
        self,
        pool: InlinePool,
        writer: threading.Lock,
        *,
        on_enqueue: Callable[[], None] | None = None,
    ) -> None:
        self.pool = pool
        self.writer = writer
        # Called after a commit that queued a sync (the in-process worker wakes up early).
        self.on_enqueue = on_enqueue

    def _enqueued(self) -> None:
        if self.on_enqueue is not None:
            self.on_enqueue()

    def _one(self, sql: str, params: tuple[Any, ...]) -> Row | None:
        try:
            row: Row | None = self.pool.connection().execute(sql, params).fetchone()
        except sqlite3.OperationalError as exc:
            raise _failure(exc) from exc
        return row

    def _write(self, statements: list[tuple[str, dict[str, Any]]]) -> bool:
        """Run ``statements`` in one transaction taken without waiting; False (nothing written)
        when the first one changed no row."""
        if not self.writer.acquire(blocking=False):
            raise WouldBlock()
        try:
            conn = self.pool.connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise _failure(exc) from exc
            try:
                for index, (sql, params) in enumerate(statements):
                    if conn.execute(sql, params).rowcount == 0 and index == 0:
                        conn.execute("ROLLBACK")
                        return False
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.IntegrityError as exc:
            raise Conflict("userName") from exc
        except sqlite3.OperationalError as exc:
            # Past BEGIN IMMEDIATE no other connection can hold us up: the file failed.
            raise StoreUnavailable(type(exc).__name__) from exc
        finally:
            self.writer.release()
        return True

    async def get_user(self, user_id: str) -> StoredResource:
        row = self._one(_BY_ID, (user_id,))
        if row is None:
            raise NotFound("User", user_id)
        return _stored(row)

    async def user_by_name(self, user_name: str) -> StoredResource | None:
        """As :meth:`Directory.user_by_name`: the user whose ``userName`` compares equal."""
        row = self._one(_BY_NAME_KEY, (comparison_key(user_name), 1, 0))
        return _stored(row) if row is not None else None

    serves = staticmethod(serves)

    async def query_users(
        self, selection: Selection, offset: int, limit: int
    ) -> tuple[int, list[StoredResource]]:
        """As :meth:`Directory.query_users`, for a selection this object :meth:`serves`."""
        key = lookup_key(selection)
        try:
            conn = self.pool.connection()
            rows: list[Row] = []
            if limit > 0:
                rows = conn.execute(_BY_NAME_KEY, (key, limit, offset)).fetchall()
            total = page_total(len(rows), offset, limit)
            if total is None:
                total = int(conn.execute(_COUNT_BY_NAME_KEY, (key,)).fetchone()[0])
        except sqlite3.OperationalError as exc:
            raise _failure(exc) from exc
        return total, [_stored(r) for r in rows]

    async def create_user(self, document: dict[str, Any], *, actor: str) -> StoredResource:
        columns = checked(user_columns(document), USER_COLUMN_LENGTHS)
        now = utcnow()
        user_id = str(uuid.uuid4())
        values = {
            **columns,
            "id": user_id,
            "now": _timestamp(now),
            "actor": actor,
            "action": "create",
            "reason": "created",
            "detail": "null",
            "resource": _json(document),
        }
        self._write([(_INSERT_USER, values), (_AUDIT, values), (_QUEUE, values)])
        self._enqueued()
        return StoredResource(user_id, document, 1, now, now)

    async def edit(
        self, user_id: str, *, if_match: Collection[int] | None = None
    ) -> InlineUserEdit:
        """The user ``user_id`` as stored now, for one write (see :class:`InlineUserEdit`).

        :raises NotFound: no such user.
        :raises VersionMismatch: ``if_match`` without the current version.
        """
        current = await self.get_user(user_id)
        if if_match is not None and current.version not in if_match:
            raise VersionMismatch()
        return InlineUserEdit(self, current)


class InlineUserEdit:
    """One user as read by :meth:`InlineUsers.edit`: ``current``, and :meth:`write` for the
    document its caller computed from it. No lock is held in between: the write lands only if
    the user is still as read."""

    def __init__(self, users: InlineUsers, current: StoredResource) -> None:
        self._users = users
        self.current = current

    async def write(
        self, document: dict[str, Any], *, actor: str, action: str, detail: Any = None
    ) -> StoredResource | None:
        """See :class:`~scimbridge.store.on_loop.UserEditOnLoop`."""
        current = self.current
        if document == current.document:
            return current
        columns = checked(user_columns(document), USER_COLUMN_LENGTHS)
        before = user_columns(current.document)
        changed = (*(name for name, value in before.items() if columns[name] != value), "resource")
        now = utcnow()
        values = {
            **columns,
            "id": current.id,
            "read_version": current.version,
            "version": current.version + 1,
            "now": _timestamp(now),
            "actor": actor,
            "action": action,
            "reason": "updated",
            "detail": _json(detail),
            "resource": _json(document),
        }
        users = self._users
        statements = [(_update_user(changed), values), (_AUDIT, values), (_REQUEUE, values)]
        if not users._write(statements):
            return None
        users._enqueued()
        self.current = StoredResource(
            current.id, document, current.version + 1, current.created_at, now
        )
        return self.current
