"""One user locked for one write: what ``Directory.editing_user`` hands its caller.

Does: hold the user as stored (``current``) inside the directory's write transaction, and store
the document the caller computed from it (indexed columns computed once and checked against
``store.limits``, the row updated, the audit row appended, the user queued for a sync), all
committed or rolled back together when the caller's block ends.
Does not: compute documents (the caller does, then calls down), open or commit the transaction
(``store.directory`` does), or wake the sync (the directory does after the commit).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, update

from scimbridge.store import memberships
from scimbridge.store.enqueue import enqueue
from scimbridge.store.limits import USER_COLUMN_LENGTHS, checked
from scimbridge.store.resources import StoredResource, user_columns
from scimbridge.store.tables import users

_UPDATE_USER = update(users).where(users.c.id == bindparam("by_id"))


class UserEdit:
    """One locked user inside :meth:`Directory.editing_user`: ``current`` as stored, and
    :meth:`write` for its new document."""

    def __init__(self, conn: Connection, current: StoredResource, now: datetime) -> None:
        self._conn = conn
        self.current = current
        self._now = now
        self.queued = False

    def write(
        self, document: dict[str, Any], *, actor: str, action: str, detail: Any = None
    ) -> StoredResource:
        """Store ``document``, audit it and queue the user's sync, in the edit's transaction.

        A document equal to ``current.document`` writes and queues nothing. The indexed
        columns are computed once, here; one longer than its column raises ``TooLong``.
        """
        current = self.current
        if document == current.document:
            return current
        version = current.version + 1
        self._conn.execute(
            _UPDATE_USER,
            {
                "by_id": current.id,
                "resource": document,
                "version": version,
                "updated_at": self._now,
                **checked(user_columns(document), USER_COLUMN_LENGTHS),
            },
        )
        memberships.audit(self._conn, actor, action, "User", current.id, detail, self._now)
        enqueue(self._conn, current.id, "updated", now=self._now)
        self.queued = True
        self.current = StoredResource(current.id, document, version, current.created_at, self._now)
        return self.current
