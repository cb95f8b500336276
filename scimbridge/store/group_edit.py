"""One group locked for one write: what ``Directory.editing_group`` hands its caller.

Does: hold the group as stored (``current``) inside the directory's write transaction, read its
members there, and store the document and membership change the caller computed from it (the
membership applied through ``store.memberships``, members re-synced on a rename when the Flex
mapping reads groups, indexed columns checked against ``store.limits``, the row updated, the
audit row appended), all committed or rolled back together when the caller's block ends.
Does not: compute documents or membership changes (the caller does, then calls down), open or
commit the transaction (``store.directory`` does), or wake the sync (the directory does after
the commit).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, update

from scimbridge.store import memberships
from scimbridge.store.limits import GROUP_COLUMN_LENGTHS, checked
from scimbridge.store.resources import MembershipChange, StoredResource, group_columns
from scimbridge.store.tables import groups

_UPDATE_GROUP = update(groups).where(groups.c.id == bindparam("by_id"))


class GroupEdit:
    """One locked group inside :meth:`Directory.editing_group`: ``current`` as stored,
    :meth:`members` as they stand, and :meth:`write` for its new document and membership."""

    def __init__(
        self, conn: Connection, current: StoredResource, now: datetime, *, sync_groups: bool
    ) -> None:
        self._conn = conn
        self.current = current
        self._now = now
        self._sync_groups = sync_groups
        # Whether a write of this edit may have queued a sync (the directory wakes it after
        # the commit).
        self.queued = False

    def members(self) -> list[tuple[str, str]]:
        """(user id, display) of the group's members in this transaction (after any write),
        by userName; display as sent, else the member's userName."""
        return memberships.members_of(self._conn, [self.current.id])[self.current.id]

    def write(
        self,
        document: dict[str, Any],
        membership: MembershipChange,
        *,
        actor: str,
        action: str,
        detail: Any = None,
    ) -> StoredResource:
        """Apply ``membership``, store ``document`` and audit it, in the edit's transaction.

        A document equal to ``current.document`` whose membership change changed nobody keeps
        its version and queues nothing. With ``sync_groups``, the users whose membership
        changed are queued, and on a rename every member.

        :raises UnknownMembers: a member to add or keep is no stored user.
        :raises TooLong: a value longer than its indexed column.
        """
        current, now = self.current, self._now
        touched = memberships.apply_membership(
            self._conn, current.id, membership, now, sync_groups=self._sync_groups
        )
        if document == current.document and not touched:
            return current
        columns = checked(group_columns(document), GROUP_COLUMN_LENGTHS)
        if self._sync_groups and str(current.document["displayName"]) != columns["display_name"]:
            # Workers read group names ([flex.group_roles], [groups]): every member's worker
            # may change, so each is re-synced, in this same transaction.
            memberships.enqueue_members(self._conn, current.id, touched, now)
        version = current.version + 1
        self._conn.execute(
            _UPDATE_GROUP,
            {
                "by_id": current.id,
                "resource": document,
                "version": version,
                "updated_at": now,
                **columns,
            },
        )
        memberships.audit(self._conn, actor, action, "Group", current.id, detail, now)
        self.queued = self.queued or self._sync_groups
        self.current = StoredResource(current.id, document, version, current.created_at, now)
        return self.current
