"""The sync outbox: who needs looking at, leased to one worker at a time.

Does: queue users for a sync outside a directory write (``store.enqueue`` queues them inside
one), lease due rows to a worker (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL; SQLite's single writer gives the same exclusion), finish, reschedule or dead-letter
a claim, and report backlog and dead letters.
Does not: decide what a user's worker should look like or call Twilio (``flex.sync`` does).

A claim remembers the row's ``generation``. Finishing deletes the row only if no change arrived
meanwhile; otherwise the row stays, due at once, so the newest state is always synced.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    RowMapping,
    Update,
    and_,
    delete,
    func,
    or_,
    select,
    update,
)

from scimbridge.store.clock import utcnow
from scimbridge.store.database import Database
from scimbridge.store.enqueue import enqueue
from scimbridge.store.tables import outbox, users, worker_links

# How the sync starts the stored reason of a transient failure, so that ``status`` and ``/readyz``
# can name an outage by its cause ("Twilio unreachable for 4 min, 37 changes waiting").
TWILIO_UNREACHABLE = "Twilio unreachable"
TWILIO_THROTTLING = "Twilio throttling"
DATABASE_UNAVAILABLE = "database unavailable"
OUTAGE_CAUSES = (TWILIO_UNREACHABLE, TWILIO_THROTTLING, DATABASE_UNAVAILABLE)


@dataclass(frozen=True)
class Claim:
    """A leased outbox row: the worker owns ``user_id`` until ``lease_expires_at``."""

    id: int
    user_id: str
    reason: str
    generation: int
    attempts: int
    owner: str
    lease_expires_at: datetime


@dataclass(frozen=True)
class DeadLetter:
    """A parked row. ``user_name``: the stored user's userName, else (a deleted user) the
    worker's last known friendly_name, else None."""

    user_id: str
    reason: str
    attempts: int
    last_error: str | None
    dead_at: datetime
    user_name: str | None = None


_Row = TypeVar("_Row", Claim, DeadLetter)


def _from_row(kind: type[_Row], row: RowMapping, **given: Any) -> _Row:
    """A ``kind`` of the outbox ``row``: each field not ``given`` is the row's column of that
    name."""
    return kind(**{f.name: given[f.name] if f.name in given else row[f.name] for f in fields(kind)})


def _owned(c: Claim) -> ColumnElement[bool]:
    return and_(outbox.c.id == c.id, outbox.c.lease_owner == c.owner)


def _give_back(c: Claim, **values: Any) -> Update:
    """The update that ends the lease of ``c`` (if its owner still holds it), setting ``values``."""
    return update(outbox).where(_owned(c)).values(lease_owner=None, lease_expires_at=None, **values)


class Outbox:
    """The sync outbox of one database. Thread-safe; one per process is enough.

    Contract:

    - A user is queued by the directory's own writes (``store.enqueue``), in the transaction of
      the change, or by :meth:`enqueue_many`; one row per user, later changes coalesce into it.
    - :meth:`claim` leases up to ``limit`` due rows (not dead, due, lease free or expired) to one
      owner; two owners never hold the same row. Each claim counts an attempt.
    - :meth:`complete` deletes the row and returns True, unless a change arrived during the
      claim: then the row stays, due now, its attempts reset, and it returns False.
    - :meth:`dead_letter` parks the row (True), unless a change arrived during the claim: then
      the row is released due now with its error (False). A newer change or
      :meth:`revive_dead` brings a dead row back.
    - :meth:`reschedule` and :meth:`release` give a claim back (later, with its error; or now,
      its attempt uncounted). A claim whose lease another owner took meanwhile changes nothing.
    - Counts and ages read the database as it is now; times are aware, UTC.
    - Database failures surface as SQLAlchemy errors (``store.errors.DATABASE_FAILURES``).
    """

    def __init__(self, database: Database) -> None:
        self.database = database
        self._engine = database.engine

    def enqueue_many(self, user_ids: list[str], reason: str) -> None:
        with self._engine.begin() as conn:
            for user_id in user_ids:
                enqueue(conn, user_id, reason)

    def claim(
        self, owner: str, *, limit: int, lease_seconds: float, now: datetime | None = None
    ) -> list[Claim]:
        """Lease up to ``limit`` due rows to ``owner``. Expired leases are due again."""
        now = now or utcnow()
        expires = now + timedelta(seconds=lease_seconds)
        due = and_(
            outbox.c.dead_at.is_(None),
            outbox.c.next_attempt_at <= now,
            or_(outbox.c.lease_expires_at.is_(None), outbox.c.lease_expires_at < now),
        )
        query = select(outbox.c.id).where(due).order_by(outbox.c.next_attempt_at).limit(limit)
        if self._engine.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
            options = {}
        else:
            options = {"sqlite_begin": "IMMEDIATE"}
        with self._engine.connect().execution_options(**options) as conn, conn.begin():
            ids = list(conn.scalars(query))
            if not ids:
                return []
            conn.execute(
                update(outbox)
                .where(outbox.c.id.in_(ids))
                .values(lease_owner=owner, lease_expires_at=expires, attempts=outbox.c.attempts + 1)
            )
            rows = conn.execute(select(outbox).where(outbox.c.id.in_(ids))).mappings().all()
        # The lease as this call set it (SQLite hands datetimes back without their zone).
        return [_from_row(Claim, row, owner=owner, lease_expires_at=expires) for row in rows]

    def complete(self, c: Claim) -> bool:
        """Finish a claim. Returns False when a newer change arrived (the row stays, due now)."""
        with self._engine.begin() as conn:
            gone = conn.execute(
                delete(outbox).where(_owned(c), outbox.c.generation == c.generation)
            ).rowcount
            if gone:
                return True
            conn.execute(_give_back(c, attempts=0))
        return False

    def reschedule(self, c: Claim, error: str, next_attempt_at: datetime) -> None:
        """Give the row back with its error, due again at ``next_attempt_at``."""
        with self._engine.begin() as conn:
            conn.execute(
                _give_back(
                    c, last_error=error, next_attempt_at=next_attempt_at, updated_at=utcnow()
                )
            )

    def dead_letter(self, c: Claim, error: str) -> bool:
        """Park the row with its reason; ``resync`` or a newer change revives it.

        Returns False when a newer change arrived during the claim: that change may cure the
        problem, so the row is not parked but released, due now, with its error.
        """
        now = utcnow()
        with self._engine.begin() as conn:
            parked = conn.execute(
                _give_back(c, last_error=error, dead_at=now, updated_at=now).where(
                    outbox.c.generation == c.generation
                )
            ).rowcount
            if parked:
                return True
            conn.execute(_give_back(c, last_error=error, next_attempt_at=now, updated_at=now))
        return False

    def release(self, c: Claim) -> None:
        """Give an unprocessed claim back untouched: due now, its attempt not counted."""
        with self._engine.begin() as conn:
            conn.execute(
                _give_back(
                    c,
                    attempts=func.max(outbox.c.attempts - 1, 0)
                    if self._engine.dialect.name == "sqlite"
                    else func.greatest(outbox.c.attempts - 1, 0),
                )
            )

    def backlog(self) -> int:
        with self._engine.connect() as conn:
            count = conn.scalar(
                select(func.count()).select_from(outbox).where(outbox.c.dead_at.is_(None))
            )
        return int(count or 0)

    def oldest_pending_age(self, now: datetime | None = None) -> float | None:
        now = now or utcnow()
        with self._engine.connect() as conn:
            oldest = conn.scalar(
                select(func.min(outbox.c.created_at)).where(outbox.c.dead_at.is_(None))
            )
        if oldest is None:
            return None
        if oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=UTC)
        return max(0.0, float((now - oldest).total_seconds()))

    def dead_letters(self) -> list[DeadLetter]:
        query = (
            select(outbox, users.c.user_name, worker_links.c.friendly_name)
            .select_from(
                outbox.outerjoin(users, users.c.id == outbox.c.user_id).outerjoin(
                    worker_links, worker_links.c.user_id == outbox.c.user_id
                )
            )
            .where(outbox.c.dead_at.is_not(None))
            .order_by(outbox.c.dead_at)
        )
        with self._engine.connect() as conn:
            rows = conn.execute(query).mappings()
            return [
                _from_row(DeadLetter, row, user_name=row["user_name"] or row["friendly_name"])
                for row in rows
            ]

    def dead_count(self) -> int:
        with self._engine.connect() as conn:
            count = conn.scalar(
                select(func.count()).select_from(outbox).where(outbox.c.dead_at.is_not(None))
            )
        return int(count or 0)

    def latest_error(self) -> str | None:
        """The error of the most recently failed change still waiting (not dead), if any."""
        with self._engine.connect() as conn:
            return conn.scalar(
                select(outbox.c.last_error)
                .where(outbox.c.dead_at.is_(None), outbox.c.last_error.is_not(None))
                .order_by(outbox.c.updated_at.desc())
                .limit(1)
            )

    def retry_waiting_now(self, now: datetime | None = None) -> int:
        """Make every change waiting on its backoff (not dead, not leased) due now."""
        now = now or utcnow()
        with self._engine.begin() as conn:
            return int(
                conn.execute(
                    update(outbox)
                    .where(
                        outbox.c.dead_at.is_(None),
                        outbox.c.next_attempt_at > now,
                        or_(outbox.c.lease_expires_at.is_(None), outbox.c.lease_expires_at < now),
                    )
                    .values(next_attempt_at=now)
                ).rowcount
            )

    def revive_dead(self, user_ids: list[str] | None = None) -> int:
        """Make dead-lettered rows due again (all, or those of ``user_ids``)."""
        now = utcnow()
        query = update(outbox).where(outbox.c.dead_at.is_not(None))
        if user_ids is not None:
            query = query.where(outbox.c.user_id.in_(user_ids))
        with self._engine.begin() as conn:
            return int(
                conn.execute(
                    query.values(
                        dead_at=None,
                        attempts=0,
                        next_attempt_at=now,
                        generation=outbox.c.generation + 1,
                        updated_at=now,
                    )
                ).rowcount
            )

    def is_pending(self, user_id: str) -> bool:
        """Whether a row of ``user_id`` waits to be synced (due, leased or backing off; not
        dead)."""
        with self._engine.connect() as conn:
            found = conn.scalar(
                select(outbox.c.id).where(outbox.c.user_id == user_id, outbox.c.dead_at.is_(None))
            )
        return found is not None

    def retry_now_when_error_starts(self, prefix: str) -> int:
        """Make the rows backing off with an error starting ``prefix`` due now (not leased or dead
        ones); returns how many."""
        now = utcnow()
        with self._engine.begin() as conn:
            return int(
                conn.execute(
                    update(outbox)
                    .where(
                        outbox.c.dead_at.is_(None),
                        outbox.c.lease_owner.is_(None),
                        outbox.c.next_attempt_at > now,
                        outbox.c.last_error.startswith(prefix, autoescape=True),
                    )
                    .values(next_attempt_at=now)
                ).rowcount
            )
