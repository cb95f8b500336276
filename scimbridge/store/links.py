"""What the sync remembers of each user's worker: the worker links.

Does: read and write ``worker_links`` rows (user → worker SID, friendly_name, Flex user SID, hash
of the owned attributes last written, the worker snapshot ``etag``/``attributes``/``owned_keys``,
activity state, last sync time, last error, mapping problems); hand a worker over from the link
of a deleted user to a new one; list the users whose last sync left mapping problems.
Does not: decide what a worker should look like or call Twilio (``flex.sync`` does), touch
users, groups or the outbox, or keep the sync's shared facts (``store.service_state`` does).

A worker SID belongs to at most one link. :meth:`WorkerLinks.upsert` takes a SID over from the
link of a user that no longer exists (a deleted user whose worker was kept offline, re-created
under a new id), and refuses with :class:`WorkerLinkConflict` when a live user's link holds it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, delete, select, update

from scimbridge.store.database import Database
from scimbridge.store.resources import utc
from scimbridge.store.tables import users, worker_links
from scimbridge.store.transactions import upsert_statement, write_transaction

ENABLED = "enabled"
DISABLED = "disabled"
RETIRED = "retired"


class WorkerLinkConflict(Exception):
    """The worker is already linked to another user who still exists."""

    def __init__(self, worker_sid: str, user_id: str) -> None:
        super().__init__(f"worker {worker_sid} is already linked to user {user_id}")
        self.worker_sid = worker_sid
        self.user_id = user_id


@dataclass(frozen=True)
class WorkerLink:
    """One user's worker as the sync last left it.

    ``activity_state`` is ``enabled`` (the agent owns the activity), ``disabled`` (the sync moved
    the worker to the unavailable activity) or ``retired`` (the user is gone, the worker was kept
    offline). ``etag`` and ``attributes`` describe the worker at the sync's last read or write;
    ``owned_keys`` are the attribute keys the sync wrote then; ``problems`` the mapping problems of
    that sync (values it could not produce). A link with a ``friendly_name`` and no
    ``worker_sid`` records an intended create whose outcome is not known yet.
    """

    user_id: str
    friendly_name: str | None = None
    worker_sid: str | None = None
    flex_user_sid: str | None = None
    attributes_hash: str | None = None
    activity_state: str | None = None
    etag: str | None = None
    attributes: Mapping[str, Any] | None = None
    owned_keys: tuple[str, ...] = ()
    last_synced_at: datetime | None = None
    last_error: str | None = None
    problems: tuple[str, ...] = ()

    def replace(self, **changes: Any) -> WorkerLink:
        return dataclasses.replace(self, **changes)


def _link(row: RowMapping) -> WorkerLink:
    return WorkerLink(
        user_id=row["user_id"],
        friendly_name=row["friendly_name"],
        worker_sid=row["worker_sid"],
        flex_user_sid=row["flex_user_sid"],
        attributes_hash=row["attributes_hash"],
        activity_state=row["activity_state"],
        etag=row["etag"],
        attributes=dict(row["attributes"]) if isinstance(row["attributes"], dict) else None,
        owned_keys=_texts(row["owned_keys"]),
        last_synced_at=utc(row["last_synced_at"]) if row["last_synced_at"] else None,
        last_error=row["last_error"],
        problems=_texts(row["problems"]),
    )


def _texts(value: Any) -> tuple[str, ...]:
    return tuple(str(item) for item in value) if isinstance(value, list) else ()


def _columns(link: WorkerLink) -> dict[str, Any]:
    return {
        "friendly_name": link.friendly_name,
        "worker_sid": link.worker_sid,
        "flex_user_sid": link.flex_user_sid,
        "attributes_hash": link.attributes_hash,
        "activity_state": link.activity_state,
        "etag": link.etag,
        "attributes": dict(link.attributes) if link.attributes is not None else None,
        "owned_keys": sorted(link.owned_keys),
        "last_synced_at": link.last_synced_at,
        "last_error": link.last_error,
        "problems": list(link.problems) or None,
    }


class WorkerLinks:
    """What the sync remembers of each user's worker, in one database. Thread-safe.

    Contract:

    - :meth:`get` and :meth:`get_by_worker` return the link, or None when there is none;
      :meth:`list_links` every link and :meth:`links_after` a page of them, by user id.
    - :meth:`upsert` stores a link whole (insert or replace). A worker SID belongs to at most
      one link: one held by the link of a user that no longer exists is taken over; one held
      by a live user's link raises :class:`WorkerLinkConflict`, and nothing is written.
    - :meth:`record_error` keeps the error on the link, creating a bare link if there is none.
    - :meth:`delete_link` returns whether there was a link to forget.
    - :meth:`mapping_problems` lists (userName, problems) of stored users only, by userName.
    - Times come back aware (UTC). Database failures surface as SQLAlchemy errors
      (``store.errors.DATABASE_FAILURES``).
    """

    def __init__(self, database: Database) -> None:
        self.database = database
        self._engine = database.engine

    def get(self, user_id: str) -> WorkerLink | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(worker_links).where(worker_links.c.user_id == user_id))
            found = row.mappings().first()
        return _link(found) if found is not None else None

    def get_by_worker(self, worker_sid: str) -> WorkerLink | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(worker_links).where(worker_links.c.worker_sid == worker_sid))
            found = row.mappings().first()
        return _link(found) if found is not None else None

    def list_links(self) -> list[WorkerLink]:
        """Every link, ordered by user id."""
        with self._engine.connect() as conn:
            rows = conn.execute(select(worker_links).order_by(worker_links.c.user_id)).mappings()
            return [_link(row) for row in rows]

    def links_after(self, after_user_id: str, limit: int) -> list[WorkerLink]:
        """Up to ``limit`` links whose user id sorts after ``after_user_id``, by user id: a walk
        of every link a page at a time (keyset: a change during it skips or repeats nobody)."""
        query = (
            select(worker_links)
            .where(worker_links.c.user_id > after_user_id)
            .order_by(worker_links.c.user_id)
            .limit(limit)
        )
        with self._engine.connect() as conn:
            return [_link(row) for row in conn.execute(query).mappings()]

    def upsert(self, link: WorkerLink) -> None:
        """Store ``link`` whole (insert or replace). Raises :class:`WorkerLinkConflict` when its
        worker SID is linked to another user who still exists; a deleted user's link gives it up."""
        with write_transaction(self._engine) as conn:
            if link.worker_sid is not None:
                holder = conn.scalar(
                    select(worker_links.c.user_id).where(
                        worker_links.c.worker_sid == link.worker_sid,
                        worker_links.c.user_id != link.user_id,
                    )
                )
                if holder is not None:
                    if conn.scalar(select(users.c.id).where(users.c.id == holder)) is not None:
                        raise WorkerLinkConflict(link.worker_sid, holder)
                    conn.execute(delete(worker_links).where(worker_links.c.user_id == holder))
            values = {"user_id": link.user_id, **_columns(link)}
            conn.execute(upsert_statement(self._engine, worker_links, "user_id", values))

    def mapping_problems(self) -> list[tuple[str, tuple[str, ...]]]:
        """(userName, problems) of every stored user whose last sync left mapping problems."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(users.c.user_name, worker_links.c.problems)
                .join(users, users.c.id == worker_links.c.user_id)
                .where(worker_links.c.problems.is_not(None))
                .order_by(users.c.user_name)
            ).all()
        found = [(str(name), _texts(problems)) for name, problems in rows]
        return [(name, problems) for name, problems in found if problems]

    def record_error(self, user_id: str, error: str) -> None:
        """Remember why the last sync of ``user_id`` failed (creates a bare link if none exists)."""
        with write_transaction(self._engine) as conn:
            done = conn.execute(
                update(worker_links)
                .where(worker_links.c.user_id == user_id)
                .values(last_error=error)
            ).rowcount
            if not done:
                conn.execute(
                    upsert_statement(
                        self._engine,
                        worker_links,
                        "user_id",
                        {"user_id": user_id, "last_error": error, "owned_keys": []},
                    )
                )

    def delete_link(self, user_id: str) -> bool:
        """Forget the link of ``user_id``; True if there was one."""
        with write_transaction(self._engine) as conn:
            gone = conn.execute(delete(worker_links).where(worker_links.c.user_id == user_id))
            return bool(gone.rowcount)
