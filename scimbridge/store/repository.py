"""The only place that writes users, groups, memberships and audit rows.

Does: store SCIM documents with their indexed columns, bump versions, enforce uniqueness through
the database, apply membership changes, append audit rows, and queue the sync in the same
transaction as the change. Reads and writes run under a row lock (``SELECT … FOR UPDATE`` on
PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), so concurrent PATCHes never lose an update.
Does not: parse SCIM payloads (``scim.documents``), know HTTP, or call Twilio.

A *document* is a resource as stored: the wire form without ``id``, ``meta`` and (for groups)
``members``.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar
from unicodedata import normalize

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError

from scimbridge.store import outbox
from scimbridge.store.errors import (
    Conflict,
    NotFound,
    StoreUnavailable,
    UnknownMembers,
    VersionMismatch,
    WouldBlock,
)
from scimbridge.store.tables import audit_log, group_members, groups, users

T = TypeVar("T")
_MAX_OFFSET = 2**62
ENTERPRISE_URN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
# Statements of the hot paths, built once: building and cache-keying them per call costs more
# than running them. Updates set the columns their parameters name.
_BY_ID = {table: select(table).where(table.c.id == bindparam("by_id")) for table in (users, groups)}
_BY_ID_FOR_UPDATE = {table: query.with_for_update() for table, query in _BY_ID.items()}
_UPDATE_BY_ID = {
    table: update(table).where(table.c.id == bindparam("by_id")) for table in (users, groups)
}
_INSERT = {table: insert(table) for table in (users, groups, audit_log)}
# Past busy_timeout a locked SQLite write is refused; waiting for the in-process lock is the same.
_WRITE_LOCK_SECONDS = 30.0
# SQLite's primary result codes for "another connection holds the lock".
_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6


def _lock_refusal(exc: OperationalError) -> bool:
    code = getattr(exc.orig, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)


def comparison_key(value: str) -> str:
    """NFC + lowercase: the form case-insensitive attributes are compared and kept unique in."""
    return normalize("NFC", normalize("NFC", value).lower())


@dataclass(frozen=True)
class StoredResource:
    id: str
    document: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class MembershipChange:
    """Member ids to add and remove, applied after ``replace`` (None: membership kept)."""

    add: frozenset[str] = frozenset()
    remove: frozenset[str] = frozenset()
    replace: frozenset[str] | None = None
    # Member display names the client sent, by member id (kept as sent, returned on GET).
    displays: Mapping[str, str] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.add and not self.remove and self.replace is None


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _stored(row: Mapping[Any, Any]) -> StoredResource:
    return StoredResource(
        id=row["id"],
        document=dict(row["resource"]),
        version=row["version"],
        created_at=_utc(row["created_at"]),
        updated_at=_utc(row["updated_at"]),
    )


def _work_email(document: Mapping[str, Any]) -> str | None:
    emails = [e for e in document.get("emails") or [] if isinstance(e, dict) and e.get("value")]
    for pick in (
        lambda e: e.get("type") == "work",
        lambda e: e.get("primary") is True,
        lambda e: True,
    ):
        for email in emails:
            if pick(email):
                return str(email["value"])
    return None


def user_columns(document: Mapping[str, Any]) -> dict[str, Any]:
    """The indexed columns of a user document."""
    user_name = str(document["userName"])
    display_name = document.get("displayName")
    email = _work_email(document)
    return {
        "user_name": user_name,
        "user_name_key": comparison_key(user_name),
        "external_id": document.get("externalId"),
        "display_name": display_name,
        "display_name_key": comparison_key(display_name) if display_name else None,
        "email_key": comparison_key(email) if email else None,
        "active": document.get("active", True) is not False,
    }


def group_columns(document: Mapping[str, Any]) -> dict[str, Any]:
    display_name = str(document["displayName"])
    return {
        "display_name": display_name,
        "display_name_key": comparison_key(display_name),
        "external_id": document.get("externalId"),
    }


class Repository:
    """Reads and writes SCIM resources. One instance per process; thread-safe."""

    def __init__(
        self,
        engine: Engine,
        *,
        sync_groups: bool = False,
        inline_engine: Engine | None = None,
        on_enqueue: Callable[[], None] | None = None,
    ) -> None:
        self.engine = engine
        self.is_postgres = engine.dialect.name == "postgresql"
        # SQLite has one writer: writers of this process queue here, in order, instead of in
        # SQLite's busy handler, which sleeps and retries (long tails under concurrent writes).
        self._sqlite_writer = None if self.is_postgres else threading.Lock()
        # Connections that never wait for a lock (``database.create_inline_engine``), and which
        # threads are inside ``without_waiting`` right now.
        self._inline_engine = inline_engine
        self._calls = threading.local()
        # A read on PostgreSQL is its statements alone: under READ COMMITTED each statement sees
        # its own snapshot whether or not a transaction wraps them, so BEGIN and ROLLBACK would
        # be two round trips that change nothing.
        self._read_options: dict[str, Any] = (
            {"isolation_level": "AUTOCOMMIT"} if self.is_postgres else {}
        )
        # When the Flex mapping reads groups, membership changes queue their members too.
        self.sync_groups = sync_groups
        # Called after a commit that queued a sync (the in-process worker wakes up early).
        self.on_enqueue = on_enqueue

    def _enqueued(self) -> None:
        if self.on_enqueue is not None:
            self.on_enqueue()

    # -- transactions ------------------------------------------------------------------------

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
    def _write(self) -> Iterator[Connection]:
        no_wait = self._no_wait()
        writer = self._sqlite_writer
        if writer is not None:
            taken = (
                writer.acquire(blocking=False)
                if no_wait
                else writer.acquire(timeout=_WRITE_LOCK_SECONDS)
            )
            if not taken:
                raise WouldBlock() if no_wait else StoreUnavailable("the database stayed locked")
        engine = self._inline_engine if no_wait and self._inline_engine else self.engine
        options = {} if self.is_postgres else {"sqlite_begin": "IMMEDIATE"}
        try:
            with engine.connect().execution_options(**options) as conn, conn.begin():
                yield conn
            if no_wait:
                self._calls.no_wait = False
        except OperationalError as exc:
            raise self._refused(exc, no_wait) from exc
        finally:
            if writer is not None:
                writer.release()

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        no_wait = self._no_wait()
        engine = self._inline_engine if no_wait and self._inline_engine else self.engine
        try:
            with engine.connect().execution_options(**self._read_options) as conn:
                yield conn
        except OperationalError as exc:
            raise self._refused(exc, no_wait) from exc

    def _lock(self, conn: Connection, table: Any, resource_id: str) -> Mapping[Any, Any]:
        query = (_BY_ID_FOR_UPDATE if self.is_postgres else _BY_ID)[table]
        row = conn.execute(query, {"by_id": resource_id}).mappings().first()
        if row is None:
            raise NotFound("User" if table is users else "Group", resource_id)
        return row

    @staticmethod
    def _audit(
        conn: Connection, actor: str, action: str, kind: str, rid: str, detail: Any, now: datetime
    ) -> None:
        conn.execute(
            _INSERT[audit_log],
            {
                "at": now,
                "actor": actor,
                "action": action,
                "resource_type": kind,
                "resource_id": rid,
                "detail": detail,
            },
        )

    # -- users ---------------------------------------------------------------------------------

    def create_user(self, document: dict[str, Any], *, actor: str) -> StoredResource:
        now = outbox.utcnow()
        user_id = str(uuid.uuid4())
        try:
            with self._write() as conn:
                conn.execute(
                    _INSERT[users],
                    {
                        "id": user_id,
                        "resource": document,
                        "version": 1,
                        "created_at": now,
                        "updated_at": now,
                        **user_columns(document),
                    },
                )
                self._audit(conn, actor, "create", "User", user_id, None, now)
                outbox.enqueue(conn, user_id, "created", now=now, new_user=True)
        except IntegrityError as exc:
            raise Conflict("userName") from exc
        self._enqueued()
        return StoredResource(user_id, document, 1, now, now)

    def get_user(self, user_id: str) -> StoredResource:
        with self._read() as conn:
            row = conn.execute(_BY_ID[users], {"by_id": user_id}).mappings().first()
        if row is None:
            raise NotFound("User", user_id)
        return _stored(row)

    def update_user(
        self,
        user_id: str,
        change: Callable[[dict[str, Any]], dict[str, Any]],
        *,
        actor: str,
        action: str,
        detail: Any = None,
        if_match: Collection[int] | None = None,
    ) -> StoredResource:
        """Lock the user, compute its new document with ``change``, and store it.

        ``change`` receives a copy of the current document and may raise to refuse; nothing is
        written then. An unchanged document keeps its version and queues nothing.
        """
        now = outbox.utcnow()
        try:
            with self._write() as conn:
                row = self._lock(conn, users, user_id)
                if if_match is not None and row["version"] not in if_match:
                    raise VersionMismatch()
                current = dict(row["resource"])
                document = change(dict(current))
                if document == current:
                    return _stored(row)
                version = row["version"] + 1
                conn.execute(
                    _UPDATE_BY_ID[users],
                    {
                        "by_id": user_id,
                        "resource": document,
                        "version": version,
                        "updated_at": now,
                        **user_columns(document),
                    },
                )
                self._audit(conn, actor, action, "User", user_id, detail, now)
                outbox.enqueue(conn, user_id, "updated", now=now)
        except IntegrityError as exc:
            raise Conflict("userName") from exc
        self._enqueued()
        return StoredResource(user_id, document, version, _utc(row["created_at"]), now)

    def delete_user(
        self, user_id: str, *, actor: str, if_match: Collection[int] | None = None
    ) -> None:
        now = outbox.utcnow()
        with self._write() as conn:
            row = self._lock(conn, users, user_id)
            if if_match is not None and row["version"] not in if_match:
                raise VersionMismatch()
            conn.execute(delete(group_members).where(group_members.c.user_id == user_id))
            conn.execute(delete(users).where(users.c.id == user_id))
            self._audit(conn, actor, "delete", "User", user_id, None, now)
            outbox.enqueue(conn, user_id, "deleted", now=now)
        self._enqueued()

    def query_users(
        self, where: ColumnElement[bool] | None, order_by: Any, offset: int, limit: int
    ) -> tuple[int, list[StoredResource]]:
        return self._query(users, where, order_by, offset, limit)

    def user_groups(self, user_id: str) -> list[tuple[str, str]]:
        """(group id, display name) of the groups ``user_id`` belongs to."""
        with self._read() as conn:
            rows = conn.execute(
                select(groups.c.id, groups.c.display_name)
                .join(group_members, group_members.c.group_id == groups.c.id)
                .where(group_members.c.user_id == user_id)
                .order_by(groups.c.display_name)
            ).all()
        return [(r[0], r[1]) for r in rows]

    # -- groups --------------------------------------------------------------------------------

    def _check_members(self, conn: Connection, member_ids: Collection[str]) -> None:
        wanted = set(member_ids)
        if not wanted:
            return
        found: set[str] = set()
        ids = sorted(wanted)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            found.update(conn.scalars(select(users.c.id).where(users.c.id.in_(chunk))))
        missing = sorted(wanted - found)
        if missing:
            raise UnknownMembers(missing)

    def _apply_membership(
        self, conn: Connection, group_id: str, change: MembershipChange, now: datetime
    ) -> set[str]:
        """Apply ``change``; return the user ids whose membership actually changed."""
        touched: set[str] = set()
        self._check_members(conn, (change.replace or frozenset()) | change.add)
        current: set[str] | None = None
        if change.replace is not None:
            current = set(
                conn.scalars(
                    select(group_members.c.user_id).where(group_members.c.group_id == group_id)
                )
            )
            dropped = current - change.replace
            if dropped:
                conn.execute(
                    delete(group_members).where(
                        group_members.c.group_id == group_id,
                        group_members.c.user_id.in_(dropped),
                    )
                )
            touched |= dropped
            new = change.replace - current
            if new:
                conn.execute(
                    insert(group_members),
                    [
                        {"group_id": group_id, "user_id": u, "display": change.displays.get(u)}
                        for u in new
                    ],
                )
            touched |= new
        removals = change.remove - change.add
        if removals:
            result = conn.execute(
                delete(group_members).where(
                    group_members.c.group_id == group_id, group_members.c.user_id.in_(removals)
                )
            )
            if result.rowcount:
                touched |= removals
        if change.add:
            present = set(
                conn.scalars(
                    select(group_members.c.user_id).where(
                        group_members.c.group_id == group_id,
                        group_members.c.user_id.in_(change.add),
                    )
                )
            )
            new = change.add - present
            if new:
                conn.execute(
                    insert(group_members),
                    [
                        {"group_id": group_id, "user_id": u, "display": change.displays.get(u)}
                        for u in new
                    ],
                )
                touched |= new
        renamed = {
            user_id: display
            for user_id, display in change.displays.items()
            if user_id in (change.add | (change.replace or frozenset()))
        }
        for user_id, display in renamed.items():
            result = conn.execute(
                update(group_members)
                .where(
                    group_members.c.group_id == group_id,
                    group_members.c.user_id == user_id,
                    group_members.c.display.is_distinct_from(display),
                )
                .values(display=display)
            )
            if result.rowcount:
                touched.add(user_id)
        if self.sync_groups:
            for user_id in sorted(touched):
                outbox.enqueue(conn, user_id, "membership", now=now)
        return touched

    @staticmethod
    def _enqueue_members(
        conn: Connection, group_id: str, already: Collection[str], now: datetime
    ) -> None:
        """Queue every member of ``group_id`` not in ``already`` (queued by this change)."""
        members = conn.scalars(
            select(group_members.c.user_id).where(group_members.c.group_id == group_id)
        )
        for user_id in sorted(set(members) - set(already)):
            outbox.enqueue(conn, user_id, "group", now=now)

    def create_group(
        self, document: dict[str, Any], membership: MembershipChange, *, actor: str
    ) -> StoredResource:
        now = outbox.utcnow()
        group_id = str(uuid.uuid4())
        try:
            with self._write() as conn:
                conn.execute(
                    _INSERT[groups],
                    {
                        "id": group_id,
                        "resource": document,
                        "version": 1,
                        "created_at": now,
                        "updated_at": now,
                        **group_columns(document),
                    },
                )
                touched = self._apply_membership(conn, group_id, membership, now)
                self._audit(conn, actor, "create", "Group", group_id, None, now)
        except IntegrityError as exc:
            raise Conflict("displayName") from exc
        if self.sync_groups and touched:
            self._enqueued()
        return StoredResource(group_id, document, 1, now, now)

    def get_group(self, group_id: str) -> StoredResource:
        with self._read() as conn:
            row = conn.execute(_BY_ID[groups], {"by_id": group_id}).mappings().first()
        if row is None:
            raise NotFound("Group", group_id)
        return _stored(row)

    def update_group(
        self,
        group_id: str,
        change: Callable[[dict[str, Any]], tuple[dict[str, Any], MembershipChange]],
        *,
        actor: str,
        action: str,
        detail: Any = None,
        if_match: Collection[int] | None = None,
    ) -> StoredResource:
        now = outbox.utcnow()
        try:
            with self._write() as conn:
                row = self._lock(conn, groups, group_id)
                if if_match is not None and row["version"] not in if_match:
                    raise VersionMismatch()
                current = dict(row["resource"])
                document, membership = change(dict(current))
                touched = self._apply_membership(conn, group_id, membership, now)
                if document == current and not touched:
                    return _stored(row)
                if self.sync_groups and row["display_name"] != str(document["displayName"]):
                    # Workers read group names ([flex.group_roles], [groups]): every member's
                    # worker may change, so each is re-synced, in this same transaction.
                    self._enqueue_members(conn, group_id, touched, now)
                version = row["version"] + 1
                conn.execute(
                    _UPDATE_BY_ID[groups],
                    {
                        "by_id": group_id,
                        "resource": document,
                        "version": version,
                        "updated_at": now,
                        **group_columns(document),
                    },
                )
                self._audit(conn, actor, action, "Group", group_id, detail, now)
        except IntegrityError as exc:
            raise Conflict("displayName") from exc
        if self.sync_groups:
            self._enqueued()
        return StoredResource(group_id, document, version, _utc(row["created_at"]), now)

    def delete_group(
        self, group_id: str, *, actor: str, if_match: Collection[int] | None = None
    ) -> None:
        now = outbox.utcnow()
        with self._write() as conn:
            row = self._lock(conn, groups, group_id)
            if if_match is not None and row["version"] not in if_match:
                raise VersionMismatch()
            members = list(
                conn.scalars(
                    select(group_members.c.user_id).where(group_members.c.group_id == group_id)
                )
            )
            conn.execute(delete(group_members).where(group_members.c.group_id == group_id))
            conn.execute(delete(groups).where(groups.c.id == group_id))
            self._audit(conn, actor, "delete", "Group", group_id, None, now)
            if self.sync_groups:
                for user_id in sorted(members):
                    outbox.enqueue(conn, user_id, "group", now=now)
        if self.sync_groups and members:
            self._enqueued()

    def group_members(self, group_ids: Collection[str]) -> dict[str, list[tuple[str, str]]]:
        """(user id, display) of each group's members; display as sent, else userName."""
        result: dict[str, list[tuple[str, str]]] = {gid: [] for gid in group_ids}
        if not group_ids:
            return result
        with self._read() as conn:
            rows = conn.execute(
                select(
                    group_members.c.group_id,
                    users.c.id,
                    func.coalesce(group_members.c.display, users.c.user_name),
                )
                .join(users, users.c.id == group_members.c.user_id)
                .where(group_members.c.group_id.in_(list(group_ids)))
                .order_by(group_members.c.group_id, users.c.user_name)
            ).all()
        for group_id, user_id, user_name in rows:
            result[group_id].append((user_id, user_name))
        return result

    def query_groups(
        self, where: ColumnElement[bool] | None, order_by: Any, offset: int, limit: int
    ) -> tuple[int, list[StoredResource]]:
        return self._query(groups, where, order_by, offset, limit)

    # -- shared --------------------------------------------------------------------------------

    def _query(
        self, table: Any, where: ColumnElement[bool] | None, order_by: Any, offset: int, limit: int
    ) -> tuple[int, list[StoredResource]]:
        count = select(func.count()).select_from(table)
        rows_query = select(table)
        if where is not None:
            count = count.where(where)
            rows_query = rows_query.where(where)
        ordering = [order_by] if order_by is not None else []
        rows_query = rows_query.order_by(*ordering, table.c.created_at, table.c.id)
        with self._read() as conn:
            rows: Sequence[Mapping[Any, Any]] = []
            # OFFSET is a signed 64-bit integer on both engines; no row lies past it anyway.
            if limit > 0 and offset < _MAX_OFFSET:
                rows = conn.execute(rows_query.offset(offset).limit(limit)).mappings().all()
                if len(rows) < limit and (rows or offset == 0):
                    # The page holds the last match, so the total needs no count(*) (a full
                    # scan on an unindexed filter).
                    return offset + len(rows), [_stored(r) for r in rows]
            total = int(conn.scalar(count) or 0)
        return total, [_stored(r) for r in rows]

    def ping(self) -> None:
        with self._read() as conn:
            conn.execute(select(1))
