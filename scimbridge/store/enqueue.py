"""Queueing a user for a sync, inside the transaction of the change that concerns it.

Does: add or revive the user's one outbox row in the caller's transaction (one row per user,
later changes coalesce into it: due now, attempts reset, generation bumped), in one statement on
PostgreSQL.
Does not: open transactions (``store.directory`` does), or lease, finish or count rows
(``store.outbox.Outbox`` does).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, bindparam, insert, update
from sqlalchemy.dialects import postgresql

from scimbridge.store.clock import utcnow
from scimbridge.store.tables import outbox


def enqueue(
    conn: Connection,
    user_id: str,
    reason: str,
    *,
    now: datetime | None = None,
    new_user: bool = False,
) -> None:
    """Queue ``user_id`` for a sync, inside the caller's transaction.

    An existing row (pending, leased or dead) is revived: due now, attempts reset, generation
    bumped. ``new_user`` (an id created in this transaction) skips looking for one.
    """
    now = now or utcnow()
    row = {
        "user_id": user_id,
        "reason": reason,
        "generation": 1,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "updated_at": now,
    }
    if new_user:
        conn.execute(_INSERT, row)
    elif conn.dialect.name == "postgresql":
        # One statement (one round trip) whether or not a row is there; and a concurrent enqueue
        # of the same user (a group's membership change beside a PATCH of the user) waits for
        # the other's row instead of failing on the unique user_id.
        conn.execute(_UPSERT, row)
    elif not _revived(conn, user_id, reason, now):
        conn.execute(_INSERT, row)


def _revived(conn: Connection, user_id: str, reason: str, now: datetime) -> bool:
    revived = conn.execute(
        _REVIVE,
        {
            "by_user_id": user_id,
            "reason": reason,
            "attempts": 0,
            "next_attempt_at": now,
            "dead_at": None,
            "last_error": None,
            "updated_at": now,
        },
    )
    return bool(revived.rowcount)


# Built once: enqueue runs in every SCIM write; building statements cost more than running them.
_REVIVE = (
    update(outbox)
    .where(outbox.c.user_id == bindparam("by_user_id"))
    .values(generation=outbox.c.generation + 1)
)
_INSERT = insert(outbox)
_proposed = postgresql.insert(outbox)
# What _REVIVE does to an existing row, as the conflict branch of an INSERT (PostgreSQL).
_UPSERT = _proposed.on_conflict_do_update(
    index_elements=[outbox.c.user_id],
    set_={
        "reason": _proposed.excluded.reason,
        "generation": outbox.c.generation + 1,
        "attempts": 0,
        "next_attempt_at": _proposed.excluded.next_attempt_at,
        "dead_at": None,
        "last_error": None,
        "updated_at": _proposed.excluded.updated_at,
    },
)
