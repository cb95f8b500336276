"""The directory: users, groups, memberships and audit rows; every write of them goes through it.

Does: store SCIM documents with their indexed columns, bump versions, enforce uniqueness through
the database, apply membership changes (``store.memberships``), append audit rows, queue the sync
in the same transaction as the change, hand out one user or group locked for its caller's write
(``store.user_edit``, ``store.group_edit``, inside the directory's transaction), and answer list
requests from a parsed SCIM filter and ``sortBy`` (``store.listing``, with the SQL from
``store.query``). Reads and writes run under a row lock (``store.transactions``), so concurrent
PATCHes never lose an update.
Does not: parse SCIM payloads or compute documents (``scim.documents`` does, for the routes
that call down through the edits), know HTTP, or call Twilio.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from scim2_models import Resource
from scim2_models.path import AttrPath, FilterNode
from sqlalchemy import Connection, Table, bindparam, delete, insert, select
from sqlalchemy.exc import IntegrityError

from scimbridge.store import listing, memberships
from scimbridge.store.clock import utcnow
from scimbridge.store.database import Database
from scimbridge.store.enqueue import enqueue
from scimbridge.store.errors import Conflict, NotFound, VersionMismatch
from scimbridge.store.group_edit import GroupEdit
from scimbridge.store.inline_users import InlineUsers
from scimbridge.store.limits import GROUP_COLUMN_LENGTHS, USER_COLUMN_LENGTHS, checked
from scimbridge.store.listing import Selection
from scimbridge.store.resources import (
    MembershipChange,
    StoredResource,
    comparison_key,
    group_columns,
    stored,
    user_columns,
)
from scimbridge.store.tables import group_members, groups, users
from scimbridge.store.transactions import BY_ID, Transactions
from scimbridge.store.user_edit import UserEdit

if TYPE_CHECKING:
    from scimbridge.store.on_loop import UsersOnLoop

# Statements of the hot paths, built once: building and cache-keying them per call costs more
# than running them.
_INSERT = {table.name: insert(table) for table in (users, groups)}
_BY_NAME_KEY = select(users).where(users.c.user_name_key == bindparam("key"))


class Directory:
    """Users and groups, with their memberships and audit trail. One instance per process;
    thread-safe.

    Contract:

    - ``create_*`` fill ``id`` (a new UUID), ``version`` (1) and both times; the document is
      stored as given. ``meta`` is never stored: callers render it from the ``StoredResource``.
    - ``get_*``, ``update_user``, ``editing_*`` and ``delete_*`` raise ``NotFound`` for an id
      that is not stored.
    - A taken ``userName`` (users) or ``displayName`` (groups), compared by
      :func:`~scimbridge.store.resources.comparison_key`, raises ``Conflict``; nothing is written.
    - ``if_match`` (versions) that does not hold the current version raises ``VersionMismatch``;
      nothing is written.
    - A group change naming a member that is no stored user raises ``UnknownMembers``.
    - A database that stays locked or cannot be reached raises ``StoreUnavailable``; inside
      :meth:`without_waiting`, a lock held elsewhere raises ``WouldBlock`` instead. Either way
      nothing was written.
    - ``editing_user`` and ``editing_group`` hold one user or group locked while the caller
      computes the new document (and a group's membership change) and writes it
      (``UserEdit.write``, ``GroupEdit.write``): the caller calls down, the store never calls
      back. Whatever the caller's block raises writes nothing.
    - A value longer than its indexed column (``store.limits``) raises ``TooLong``; nothing is
      written.
    - An update whose document (and membership) comes out unchanged keeps its version and
      queues nothing. Every user write queues that user for a sync in its own transaction;
      membership changes and group renames queue the members only when ``sync_groups``.
    - After a commit that queued a sync, ``on_enqueue`` is called (the in-process sync wakes).
    - ``query_*`` return ``(total, page)``: the page in the selection's order, then by creation
      time and id; ``total`` counts every match.
    """

    def __init__(
        self,
        database: Database,
        *,
        sync_groups: bool = False,
        on_enqueue: Callable[[], None] | None = None,
    ) -> None:
        self.database = database
        self._db = Transactions(database)
        # When the Flex mapping reads groups, membership changes queue their members too.
        self.sync_groups = sync_groups
        # Called after a commit that queued a sync (the in-process worker wakes up early).
        self.on_enqueue = on_enqueue
        # One user's calls made right on the event loop, with the same contract
        # (``store.on_loop``): PostgreSQL's async connections (``store.loop_users``), or a SQLite
        # file's no-wait connection (``store.inline_users``); None where the database offers
        # neither.
        self.on_loop: UsersOnLoop | None = None
        if database.loop_pool is not None:
            from scimbridge.store.loop_users import LoopUsers  # psycopg: PostgreSQL only

            self.on_loop = LoopUsers(database.loop_pool, on_enqueue=self._enqueued)
        elif database.inline_pool is not None and self._db.sqlite_writer is not None:
            self.on_loop = InlineUsers(
                database.inline_pool, self._db.sqlite_writer, on_enqueue=self._enqueued
            )

    def _enqueued(self) -> None:
        if self.on_enqueue is not None:
            self.on_enqueue()

    @property
    def offers_calls_without_waiting(self) -> bool:
        """Whether :meth:`without_waiting` can run calls on the caller's thread (a SQLite file)."""
        return self._db.offers_calls_without_waiting

    @contextmanager
    def without_waiting(self) -> Iterator[None]:
        """Make this thread's calls raise ``WouldBlock`` instead of waiting for a lock (raised
        at once where the database offers none), until their first commit."""
        with self._db.without_waiting():
            yield

    # -- users ---------------------------------------------------------------------------------

    def create_user(self, document: dict[str, Any], *, actor: str) -> StoredResource:
        columns = checked(user_columns(document), USER_COLUMN_LENGTHS)
        now = utcnow()
        user_id = str(uuid.uuid4())
        try:
            with self._db.write() as conn:
                conn.execute(
                    _INSERT["users"],
                    {
                        "id": user_id,
                        "resource": document,
                        "version": 1,
                        "created_at": now,
                        "updated_at": now,
                        **columns,
                    },
                )
                memberships.audit(conn, actor, "create", "User", user_id, None, now)
                enqueue(conn, user_id, "created", now=now, new_user=True)
        except IntegrityError as exc:
            raise Conflict("userName") from exc
        self._enqueued()
        return StoredResource(user_id, document, 1, now, now)

    def get_user(self, user_id: str) -> StoredResource:
        return self._get(users, "User", user_id)

    def user_by_name(self, user_name: str) -> StoredResource | None:
        """The user whose ``userName`` compares equal to ``user_name``, if any."""
        with self._db.read() as conn:
            row = conn.execute(_BY_NAME_KEY, {"key": comparison_key(user_name)}).mappings().first()
        return stored(row) if row is not None else None

    def users_after(self, after_id: str, limit: int) -> list[StoredResource]:
        """Up to ``limit`` users whose id sorts after ``after_id``, by id: a walk of every user
        that a change during it cannot make skip or repeat anyone it keeps."""
        query = select(users).where(users.c.id > after_id).order_by(users.c.id).limit(limit)
        with self._db.read() as conn:
            return [stored(row) for row in conn.execute(query).mappings()]

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
        """:meth:`editing_user` for callers that hold the change as a function (tools, tests):
        ``change`` receives a copy of the current document and may raise to refuse."""
        with self.editing_user(user_id, if_match=if_match) as edit:
            document = change(dict(edit.current.document))
            return edit.write(document, actor=actor, action=action, detail=detail)

    @contextmanager
    def editing_user(
        self, user_id: str, *, if_match: Collection[int] | None = None
    ) -> Iterator[UserEdit]:
        """The user ``user_id``, locked for one write until the block ends.

        The caller reads ``edit.current``, computes the new document itself, and stores it with
        ``edit.write``; the block's end commits. Whatever the block raises writes nothing.
        ``if_match`` without the current version raises ``VersionMismatch``.
        """
        edit: UserEdit | None = None
        try:
            with self._db.write() as conn:
                row = self._locked(conn, users, user_id, if_match)
                edit = UserEdit(conn, stored(row), utcnow())
                yield edit
        except IntegrityError as exc:
            raise Conflict("userName") from exc
        if edit is not None and edit.queued:
            self._enqueued()

    def delete_user(
        self, user_id: str, *, actor: str, if_match: Collection[int] | None = None
    ) -> None:
        now = utcnow()
        with self._db.write() as conn:
            self._locked(conn, users, user_id, if_match)
            conn.execute(delete(group_members).where(group_members.c.user_id == user_id))
            conn.execute(delete(users).where(users.c.id == user_id))
            memberships.audit(conn, actor, "delete", "User", user_id, None, now)
            enqueue(conn, user_id, "deleted", now=now)
        self._enqueued()

    def user_groups(self, user_id: str) -> list[tuple[str, str]]:
        """(group id, display name) of the groups ``user_id`` belongs to, by name."""
        with self._db.read() as conn:
            return memberships.groups_of(conn, user_id)

    # -- groups --------------------------------------------------------------------------------

    def create_group(
        self, document: dict[str, Any], membership: MembershipChange, *, actor: str
    ) -> StoredResource:
        columns = checked(group_columns(document), GROUP_COLUMN_LENGTHS)
        now = utcnow()
        group_id = str(uuid.uuid4())
        try:
            with self._db.write() as conn:
                conn.execute(
                    _INSERT["groups"],
                    {
                        "id": group_id,
                        "resource": document,
                        "version": 1,
                        "created_at": now,
                        "updated_at": now,
                        **columns,
                    },
                )
                touched = memberships.apply_membership(
                    conn, group_id, membership, now, sync_groups=self.sync_groups
                )
                memberships.audit(conn, actor, "create", "Group", group_id, None, now)
        except IntegrityError as exc:
            raise Conflict("displayName") from exc
        if self.sync_groups and touched:
            self._enqueued()
        return StoredResource(group_id, document, 1, now, now)

    def get_group(self, group_id: str) -> StoredResource:
        return self._get(groups, "Group", group_id)

    @contextmanager
    def editing_group(
        self, group_id: str, *, if_match: Collection[int] | None = None
    ) -> Iterator[GroupEdit]:
        """The group ``group_id``, locked for one write until the block ends (see
        :meth:`editing_user`): ``edit.write`` takes the new document and membership change."""
        edit: GroupEdit | None = None
        try:
            with self._db.write() as conn:
                row = self._locked(conn, groups, group_id, if_match)
                edit = GroupEdit(conn, stored(row), utcnow(), sync_groups=self.sync_groups)
                yield edit
        except IntegrityError as exc:
            raise Conflict("displayName") from exc
        if edit is not None and edit.queued:
            self._enqueued()

    def delete_group(
        self, group_id: str, *, actor: str, if_match: Collection[int] | None = None
    ) -> None:
        now = utcnow()
        with self._db.write() as conn:
            self._locked(conn, groups, group_id, if_match)
            members = memberships.member_ids(conn, group_id)
            conn.execute(delete(group_members).where(group_members.c.group_id == group_id))
            conn.execute(delete(groups).where(groups.c.id == group_id))
            memberships.audit(conn, actor, "delete", "Group", group_id, None, now)
            if self.sync_groups:
                for user_id in sorted(members):
                    enqueue(conn, user_id, "group", now=now)
        if self.sync_groups and members:
            self._enqueued()

    def group_members(self, group_ids: Collection[str]) -> dict[str, list[tuple[str, str]]]:
        """(user id, display) of each group's members, by userName; display as sent, else
        the member's userName. Every id asked for is a key (an unknown group has none)."""
        if not group_ids:
            return {}
        with self._db.read() as conn:
            return memberships.members_of(conn, group_ids)

    def list_groups(self) -> list[StoredResource]:
        """Every group, in creation order."""
        return self.query_groups(self.select_groups(), 0, 1 << 30)[1]

    # -- queries -------------------------------------------------------------------------------

    def select_users(
        self,
        filter: FilterNode | None = None,
        sort_by: AttrPath | None = None,
        *,
        model: type[Resource[Any]] | None = None,
        descending: bool = False,
    ) -> Selection:
        """The users ``filter`` matches, ordered by ``sort_by`` (those without it last), the
        names bound to ``model`` (needed when either is given).

        :raises InvalidFilterException: a filter that ``model`` cannot answer.
        :raises InvalidValueException: a ``sort_by`` that names no orderable attribute.
        """
        return listing.selection(self.database, users, filter, sort_by, model, descending)

    def select_groups(
        self,
        filter: FilterNode | None = None,
        sort_by: AttrPath | None = None,
        *,
        model: type[Resource[Any]] | None = None,
        descending: bool = False,
    ) -> Selection:
        """The groups ``filter`` matches (see :meth:`select_users`)."""
        return listing.selection(self.database, groups, filter, sort_by, model, descending)

    def query_users(
        self, selection: Selection, offset: int, limit: int
    ) -> tuple[int, list[StoredResource]]:
        with self._db.read() as conn:
            return listing.page(conn, selection, offset, limit)

    def query_groups(
        self, selection: Selection, offset: int, limit: int
    ) -> tuple[int, list[StoredResource]]:
        with self._db.read() as conn:
            return listing.page(conn, selection, offset, limit)

    # -- shared --------------------------------------------------------------------------------

    def _locked(
        self, conn: Connection, table: Table, resource_id: str, if_match: Collection[int] | None
    ) -> Mapping[Any, Any]:
        """The row ``resource_id``, locked until the transaction ends (``NotFound`` if there is
        none; ``VersionMismatch`` if ``if_match`` lacks its version)."""
        row = self._db.lock(conn, table, resource_id)
        if if_match is not None and row["version"] not in if_match:
            raise VersionMismatch()
        return row

    def _get(self, table: Table, kind: str, resource_id: str) -> StoredResource:
        with self._db.read() as conn:
            row = conn.execute(BY_ID[table.name], {"by_id": resource_id}).mappings().first()
        if row is None:
            raise NotFound(kind, resource_id)
        return stored(row)
