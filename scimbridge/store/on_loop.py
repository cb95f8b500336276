"""One user's calls made right on the event loop: what both engines offer, and what they share.

Does: state the calls ``Directory.on_loop`` offers (:class:`UsersOnLoop`: read a user, look one
up by ``userName``, create one, and edit one as :class:`UserEditOnLoop`), which
``store.loop_users`` (PostgreSQL, psycopg's async connections) and ``store.inline_users`` (a
SQLite file, its no-wait connection) both keep; tell a selection that is Entra's ``userName eq``
lookup (:func:`name_key`); and hold the pieces of SQL both engines' statements are made of.
Does not: run statements, or decide where a call runs (``scim.store_calls`` does).

The promise of an edit on the loop: ``edit`` reads the user and holds no lock; its caller
computes the new document and calls ``write``, which lands only if the user is still the version
read, and otherwise writes nothing and returns None (read it again and recompute). So
concurrent PATCHes never lose an update and no lock is held while the caller computes.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Protocol

from sqlalchemy import BinaryExpression, BindParameter
from sqlalchemy.sql import operators

from scimbridge.store.listing import Selection
from scimbridge.store.resources import StoredResource
from scimbridge.store.tables import users

# The columns a user write sets besides id, version and times (``resources.user_columns``).
USER_COLUMNS = (
    "user_name",
    "user_name_key",
    "external_id",
    "display_name",
    "display_name_key",
    "email_key",
    "active",
    "resource",
)
READ_COLUMNS = "id, resource, version, created_at, updated_at"
AUDIT_COLUMNS = "at, actor, action, resource_type, resource_id, detail"
OUTBOX_COLUMNS = "user_id, reason, generation, attempts, next_attempt_at, created_at, updated_at"
# What ``store.enqueue`` does to a user's outbox row that is already there (pending, leased or
# dead), as the conflict branch of its insert: revived, due now, attempts reset, generation
# bumped. Both engines read it the same way.
REVIVE = (
    "ON CONFLICT (user_id) DO UPDATE SET reason = excluded.reason, "
    "generation = outbox.generation + 1, attempts = 0, "
    "next_attempt_at = excluded.next_attempt_at, dead_at = NULL, last_error = NULL, "
    "updated_at = excluded.updated_at"
)


def name_key(selection: Selection) -> str | None:
    """The ``user_name_key`` a selection is made of when it is ``userName eq "…"`` alone, with no
    ``sortBy``: Entra's lookup before every create."""
    where = selection.where
    if selection.table is not users or selection.order is not None:
        return None
    if not isinstance(where, BinaryExpression) or where.operator is not operators.eq:
        return None
    if where.left is not users.c.user_name_key or not isinstance(where.right, BindParameter):
        return None
    value = where.right.value
    return value if isinstance(value, str) else None


def serves(selection: Selection) -> bool:
    """Whether a ``query_users`` on the loop answers ``selection`` (``userName eq "…"`` alone)."""
    return name_key(selection) is not None


def lookup_key(selection: Selection) -> str:
    """The ``user_name_key`` of a selection the loop :func:`serves`."""
    key = name_key(selection)
    if key is None:
        raise ValueError("only a userName eq lookup is answered on the event loop")
    return key


def page_total(rows: int, offset: int, limit: int) -> int | None:
    """The number of matches a page of ``rows`` rows read at ``offset`` already tells (a short
    page that is not past the end), else None: only a count can tell."""
    if limit > 0 and rows < limit and (rows or offset == 0):
        return offset + rows
    return None


class UserEditOnLoop(Protocol):
    """One user as read for one write (see the module)."""

    @property
    def current(self) -> StoredResource: ...

    async def write(
        self, document: dict[str, Any], *, actor: str, action: str, detail: Any = None
    ) -> StoredResource | None:
        """Store ``document``, audit it and queue the user's sync, all or nothing; None when the
        user changed since it was read. A document equal to ``current.document`` writes and
        queues nothing. ``TooLong`` and ``Conflict`` as :class:`Directory` raises them."""
        ...


class UsersOnLoop(Protocol):
    """One user's calls on the event loop, keeping :class:`Directory`'s promises for them.

    A call may raise ``WouldBlock`` (a SQLite lock held elsewhere) before writing anything: the
    caller makes it again in a thread, through the directory.
    """

    async def get_user(self, user_id: str) -> StoredResource: ...

    async def user_by_name(self, user_name: str) -> StoredResource | None: ...

    def serves(self, selection: Selection) -> bool:
        """Whether :meth:`query_users` answers ``selection`` (``userName eq "…"`` alone)."""
        ...

    async def query_users(
        self, selection: Selection, offset: int, limit: int
    ) -> tuple[int, list[StoredResource]]: ...

    async def create_user(self, document: dict[str, Any], *, actor: str) -> StoredResource: ...

    async def edit(
        self, user_id: str, *, if_match: Collection[int] | None = None
    ) -> UserEditOnLoop: ...
