"""Group memberships and the audit trail, written inside the directory's transactions.

Does: check that members exist, apply a :class:`~scimbridge.store.resources.MembershipChange`
and tell whose membership actually changed, queue those users (and, on a rename, every member)
for a sync when the Flex mapping reads groups, read members and a user's groups, and append an
audit row.
Does not: open transactions or lock the group (``store.directory`` does), or read documents.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from scimbridge.store.enqueue import enqueue
from scimbridge.store.errors import UnknownMembers
from scimbridge.store.resources import MembershipChange
from scimbridge.store.tables import audit_log, group_members, groups, users

_INSERT_AUDIT = insert(audit_log)
_CHUNK = 500


def audit(
    conn: Connection, actor: str, action: str, kind: str, rid: str, detail: Any, now: datetime
) -> None:
    """Append who did what to which resource; ``detail`` names paths, never values."""
    conn.execute(
        _INSERT_AUDIT,
        {
            "at": now,
            "actor": actor,
            "action": action,
            "resource_type": kind,
            "resource_id": rid,
            "detail": detail,
        },
    )


def _check_members(conn: Connection, member_ids: Collection[str]) -> None:
    wanted = set(member_ids)
    if not wanted:
        return
    found: set[str] = set()
    ids = sorted(wanted)
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        found.update(conn.scalars(select(users.c.id).where(users.c.id.in_(chunk))))
    missing = sorted(wanted - found)
    if missing:
        raise UnknownMembers(missing)


def _insert_members(
    conn: Connection, group_id: str, user_ids: set[str], change: MembershipChange
) -> None:
    conn.execute(
        insert(group_members),
        [{"group_id": group_id, "user_id": u, "display": change.displays.get(u)} for u in user_ids],
    )


def member_ids(conn: Connection, group_id: str) -> set[str]:
    return set(
        conn.scalars(select(group_members.c.user_id).where(group_members.c.group_id == group_id))
    )


def apply_membership(
    conn: Connection,
    group_id: str,
    change: MembershipChange,
    now: datetime,
    *,
    sync_groups: bool,
) -> set[str]:
    """Apply ``change``; return the user ids whose membership actually changed.

    :raises UnknownMembers: a member to add or keep is no stored user (nothing is written).
    """
    touched: set[str] = set()
    _check_members(conn, (change.replace or frozenset()) | change.add)
    if change.replace is not None:
        current = member_ids(conn, group_id)
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
            _insert_members(conn, group_id, set(new), change)
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
            _insert_members(conn, group_id, set(new), change)
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
    if sync_groups:
        for user_id in sorted(touched):
            enqueue(conn, user_id, "membership", now=now)
    return touched


def enqueue_members(
    conn: Connection, group_id: str, already: Collection[str], now: datetime
) -> None:
    """Queue every member of ``group_id`` not in ``already`` (queued by this change)."""
    for user_id in sorted(member_ids(conn, group_id) - set(already)):
        enqueue(conn, user_id, "group", now=now)


def members_of(conn: Connection, group_ids: Collection[str]) -> dict[str, list[tuple[str, str]]]:
    """(user id, display) of each group's members; display as sent, else userName."""
    result: dict[str, list[tuple[str, str]]] = {gid: [] for gid in group_ids}
    if not group_ids:
        return result
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


def groups_of(conn: Connection, user_id: str) -> list[tuple[str, str]]:
    """(group id, display name) of the groups ``user_id`` belongs to, by name."""
    rows = conn.execute(
        select(groups.c.id, groups.c.display_name)
        .join(group_members, group_members.c.group_id == groups.c.id)
        .where(group_members.c.user_id == user_id)
        .order_by(groups.c.display_name)
    ).all()
    return [(r[0], r[1]) for r in rows]
