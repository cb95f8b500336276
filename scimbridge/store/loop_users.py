"""One user's calls on PostgreSQL, made on the event loop: a read in one round trip, a write in two.

Does: read a user by id, read the page of a ``userName eq`` lookup, create a user, and edit one,
with psycopg's async connections (``store.loop_pool``) and statements prepared once per
connection, keeping every promise of :class:`~scimbridge.store.directory.Directory` for these
calls (the same rows written, the same refusals). A create is one statement: the user, its audit
row and its outbox row inserted together. An edit reads the user (one round trip); its caller
computes the new document and writes it with one statement that updates the row only if its
version is still the one read, appends the audit row and queues the sync (a second round trip).
If another writer changed the user in between, nothing is written and the caller reads it again
(``LoopUserEdit.write`` says so), so concurrent PATCHes never lose an update, and no row lock is
held while the caller computes.
Does not: compute documents (the caller does, then calls down), serve groups, deletes or other
lists (the directory does, in a worker thread), or run off the event loop.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from scimbridge.store.clock import utcnow
from scimbridge.store.errors import Conflict, NotFound, StoreUnavailable, VersionMismatch
from scimbridge.store.limits import USER_COLUMN_LENGTHS, checked
from scimbridge.store.listing import Selection
from scimbridge.store.loop_pool import LoopPool
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
from scimbridge.store.resources import StoredResource, comparison_key, user_columns, utc

_READ = f"SELECT {READ_COLUMNS} FROM users"
_BY_ID = f"{_READ} WHERE id = %s"
_BY_NAME_KEY = f"{_READ} WHERE user_name_key = %s ORDER BY created_at, id LIMIT %s OFFSET %s"
_COUNT_BY_NAME_KEY = "SELECT count(*) FROM users WHERE user_name_key = %s"
_NAMES = ", ".join(USER_COLUMNS)
_VALUES = ", ".join(f"%({name})s" for name in USER_COLUMNS)
_SETS = ", ".join(f"{name} = %({name})s" for name in USER_COLUMNS)
_CREATE = (
    f"WITH created AS (INSERT INTO users (id, {_NAMES}, version, created_at, updated_at) "
    f"VALUES (%(id)s, {_VALUES}, 1, %(now)s, %(now)s)), "
    f"audited AS (INSERT INTO audit_log ({AUDIT_COLUMNS}) "
    "VALUES (%(now)s, %(actor)s, 'create', 'User', %(id)s, %(detail)s)) "
    f"INSERT INTO outbox ({OUTBOX_COLUMNS}) "
    "VALUES (%(id)s, 'created', 1, 0, %(now)s, %(now)s, %(now)s)"
)
# The audit and outbox rows are made from the updated row: none when the version moved on.
_UPDATE = (
    f"WITH changed AS (UPDATE users SET {_SETS}, version = %(version)s, updated_at = %(now)s "
    "WHERE id = %(id)s AND version = %(read_version)s RETURNING id), "
    f"audited AS (INSERT INTO audit_log ({AUDIT_COLUMNS}) "
    "SELECT %(now)s, %(actor)s, %(action)s, 'User', id, %(detail)s FROM changed) "
    f"INSERT INTO outbox ({OUTBOX_COLUMNS}) "
    "SELECT id, 'updated', 1, 0, %(now)s, %(now)s, %(now)s FROM changed "
    f"{REVIVE}"
)

Row = tuple[Any, ...]


def _stored(row: Row) -> StoredResource:
    return StoredResource(row[0], dict(row[1]), row[2], utc(row[3]), utc(row[4]))


def _unavailable(exc: psycopg.OperationalError) -> StoreUnavailable:
    # Locked past lock_timeout, or the server is gone: the statement did not commit.
    return StoreUnavailable(type(exc).__name__)


class LoopUsers:
    """User reads and writes for coroutines on one PostgreSQL database (see the module)."""

    def __init__(
        self,
        pool: LoopPool,
        *,
        on_enqueue: Callable[[], None] | None = None,
        prepare: bool = True,
    ) -> None:
        self.pool = pool
        # Server-side prepared statements, parsed and planned once per connection (False: each
        # statement parsed every time, as a benchmark compares).
        self.prepare = prepare
        # Called after a commit that queued a sync (the in-process worker wakes up early).
        self.on_enqueue = on_enqueue

    def _enqueued(self) -> None:
        if self.on_enqueue is not None:
            self.on_enqueue()

    async def get_user(self, user_id: str) -> StoredResource:
        try:
            async with self.pool.connection() as conn:
                cursor = await conn.execute(_BY_ID, (user_id,), prepare=self.prepare)
                row = await cursor.fetchone()
        except psycopg.OperationalError as exc:
            raise _unavailable(exc) from exc
        if row is None:
            raise NotFound("User", user_id)
        return _stored(row)

    async def user_by_name(self, user_name: str) -> StoredResource | None:
        """As :meth:`Directory.user_by_name`: the user whose ``userName`` compares equal."""
        try:
            async with self.pool.connection() as conn:
                cursor = await conn.execute(
                    _BY_NAME_KEY, (comparison_key(user_name), 1, 0), prepare=self.prepare
                )
                row = await cursor.fetchone()
        except psycopg.OperationalError as exc:
            raise _unavailable(exc) from exc
        return _stored(row) if row is not None else None

    serves = staticmethod(serves)

    async def query_users(
        self, selection: Selection, offset: int, limit: int
    ) -> tuple[int, list[StoredResource]]:
        """As :meth:`Directory.query_users`, for a selection this object :meth:`serves`."""
        key = lookup_key(selection)
        try:
            async with self.pool.connection() as conn:
                rows: list[Row] = []
                if limit > 0:
                    cursor = await conn.execute(
                        _BY_NAME_KEY, (key, limit, offset), prepare=self.prepare
                    )
                    rows = await cursor.fetchall()
                total = page_total(len(rows), offset, limit)
                if total is None:
                    cursor = await conn.execute(_COUNT_BY_NAME_KEY, (key,), prepare=self.prepare)
                    counted = await cursor.fetchone()
                    total = int(counted[0]) if counted else 0
        except psycopg.OperationalError as exc:
            raise _unavailable(exc) from exc
        return total, [_stored(r) for r in rows]

    async def create_user(self, document: dict[str, Any], *, actor: str) -> StoredResource:
        columns = checked(user_columns(document), USER_COLUMN_LENGTHS)
        now = utcnow()
        user_id = str(uuid.uuid4())
        values = {
            "id": user_id,
            "now": now,
            "actor": actor,
            "detail": Jsonb(None),
            **columns,
            "resource": Jsonb(document),
        }
        try:
            async with self.pool.connection() as conn:
                await conn.execute(_CREATE, values, prepare=self.prepare)
        except psycopg.errors.UniqueViolation as exc:
            raise Conflict("userName") from exc
        except psycopg.OperationalError as exc:
            raise _unavailable(exc) from exc
        self._enqueued()
        return StoredResource(user_id, document, 1, now, now)

    async def edit(self, user_id: str, *, if_match: Collection[int] | None = None) -> LoopUserEdit:
        """The user ``user_id`` as stored now, for one write (see :class:`LoopUserEdit`).

        :raises NotFound: no such user.
        :raises VersionMismatch: ``if_match`` without the current version.
        """
        current = await self.get_user(user_id)
        if if_match is not None and current.version not in if_match:
            raise VersionMismatch()
        return LoopUserEdit(self, current)


class LoopUserEdit:
    """One user as read by :meth:`LoopUsers.edit`: ``current``, and :meth:`write` for the
    document its caller computed from it. No lock is held in between: the write lands only if
    the user is still as read."""

    def __init__(self, users: LoopUsers, current: StoredResource) -> None:
        self._users = users
        self.current = current

    async def write(
        self, document: dict[str, Any], *, actor: str, action: str, detail: Any = None
    ) -> StoredResource | None:
        """Store ``document``, audit it and queue the user's sync, in one statement; None when
        the user changed since it was read (nothing written: read it again and recompute).

        A document equal to ``current.document`` writes and queues nothing. A value longer than
        its indexed column raises ``TooLong``; a taken ``userName``, ``Conflict``.
        """
        current = self.current
        if document == current.document:
            return current
        columns = checked(user_columns(document), USER_COLUMN_LENGTHS)
        now = utcnow()
        values = {
            "id": current.id,
            "read_version": current.version,
            "version": current.version + 1,
            "now": now,
            "actor": actor,
            "action": action,
            "detail": Jsonb(detail),
            **columns,
            "resource": Jsonb(document),
        }
        users = self._users
        try:
            async with users.pool.connection() as conn:
                cursor = await conn.execute(_UPDATE, values, prepare=users.prepare)
                written = bool(cursor.rowcount)
        except psycopg.errors.UniqueViolation as exc:
            raise Conflict("userName") from exc
        except psycopg.OperationalError as exc:
            raise _unavailable(exc) from exc
        if not written:
            return None
        users._enqueued()
        self.current = StoredResource(
            current.id, document, current.version + 1, current.created_at, now
        )
        return self.current
