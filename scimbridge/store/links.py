"""What the sync remembers: worker links, and the sync's shared facts in ``service_state``.

Does: read and write ``worker_links`` rows (user → worker SID, friendly_name, Flex user SID, hash
of the owned attributes last written, the worker snapshot ``etag``/``attributes``/``owned_keys``,
activity state, last sync time, last error, mapping problems); hand a worker over from the link
of a deleted user to a new one; list the users whose last sync left mapping problems; write the
sync's heartbeats (and remove them on a clean stop or once long stale) and
``last_successful_sync`` into ``service_state``.
Does not: decide what a worker should look like or call Twilio (``flex.sync`` does), or touch
users, groups or the outbox.

A worker SID belongs to at most one link. :func:`upsert` takes a SID over from the link of a user
that no longer exists (a deleted user whose worker was kept offline, re-created under a new id),
and refuses with :class:`WorkerLinkConflict` when a live user's link holds it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, RowMapping, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from scimbridge.store.tables import service_state, users, worker_links

ENABLED = "enabled"
DISABLED = "disabled"
RETIRED = "retired"
LAST_SUCCESSFUL_SYNC = "last_successful_sync"
HEARTBEAT_PREFIX = "worker:"
# "ok" when Twilio last accepted the credentials, else the reason it refused them.
TWILIO_VERIFIED = "twilio_verified"


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


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


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
        last_synced_at=_utc(row["last_synced_at"]),
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


@contextmanager
def _write(engine: Engine) -> Iterator[Connection]:
    # SQLite: take the write lock up front, so a read-then-write never fails on lock upgrade.
    options = {} if engine.dialect.name == "postgresql" else {"sqlite_begin": "IMMEDIATE"}
    with engine.connect().execution_options(**options) as conn, conn.begin():
        yield conn


def _upsert(engine: Engine, table: Any, key: str, values: dict[str, Any]) -> Any:
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(**values)
    changed = {name: value for name, value in values.items() if name != key}
    return statement.on_conflict_do_update(index_elements=[key], set_=changed)


def get(engine: Engine, user_id: str) -> WorkerLink | None:
    with engine.connect() as conn:
        row = conn.execute(select(worker_links).where(worker_links.c.user_id == user_id))
        found = row.mappings().first()
    return _link(found) if found is not None else None


def get_by_worker(engine: Engine, worker_sid: str) -> WorkerLink | None:
    with engine.connect() as conn:
        row = conn.execute(select(worker_links).where(worker_links.c.worker_sid == worker_sid))
        found = row.mappings().first()
    return _link(found) if found is not None else None


def list_links(engine: Engine) -> list[WorkerLink]:
    """Every link, ordered by user id."""
    with engine.connect() as conn:
        rows = conn.execute(select(worker_links).order_by(worker_links.c.user_id)).mappings()
        return [_link(row) for row in rows]


def upsert(engine: Engine, link: WorkerLink) -> None:
    """Store ``link`` whole (insert or replace). Raises :class:`WorkerLinkConflict` when its
    worker SID is linked to another user who still exists; a deleted user's link gives it up."""
    with _write(engine) as conn:
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
        conn.execute(_upsert(engine, worker_links, "user_id", values))


def mapping_problems(engine: Engine) -> list[tuple[str, tuple[str, ...]]]:
    """(userName, problems) of every stored user whose last sync left mapping problems."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(users.c.user_name, worker_links.c.problems)
            .join(users, users.c.id == worker_links.c.user_id)
            .where(worker_links.c.problems.is_not(None))
            .order_by(users.c.user_name)
        ).all()
    found = [(str(name), _texts(problems)) for name, problems in rows]
    return [(name, problems) for name, problems in found if problems]


def record_error(engine: Engine, user_id: str, error: str) -> None:
    """Remember why the last sync of ``user_id`` failed (creates a bare link if none exists)."""
    with _write(engine) as conn:
        done = conn.execute(
            update(worker_links).where(worker_links.c.user_id == user_id).values(last_error=error)
        ).rowcount
        if not done:
            conn.execute(
                _upsert(
                    engine,
                    worker_links,
                    "user_id",
                    {"user_id": user_id, "last_error": error, "owned_keys": []},
                )
            )


def delete_link(engine: Engine, user_id: str) -> bool:
    """Forget the link of ``user_id``; True if there was one."""
    with _write(engine) as conn:
        gone = conn.execute(delete(worker_links).where(worker_links.c.user_id == user_id))
        return bool(gone.rowcount)


# -- service_state: facts every process can read -------------------------------------------------


def write_state(engine: Engine, name: str, value: str | None, now: datetime) -> None:
    with _write(engine) as conn:
        conn.execute(
            _upsert(
                engine, service_state, "name", {"name": name, "value": value, "updated_at": now}
            )
        )


def read_state(engine: Engine, name: str) -> tuple[str | None, datetime] | None:
    """(value, updated_at) of the fact ``name``, or None if it was never written."""
    with engine.connect() as conn:
        row = conn.execute(
            select(service_state.c.value, service_state.c.updated_at).where(
                service_state.c.name == name
            )
        ).first()
    if row is None:
        return None
    return row[0], _utc(row[1]) or row[1]


def heartbeat(engine: Engine, owner: str, now: datetime) -> None:
    """``worker:<owner>`` = now: this sync worker was alive at ``now``."""
    write_state(engine, HEARTBEAT_PREFIX + owner, now.isoformat(), now)


def record_success(engine: Engine, now: datetime) -> None:
    """``last_successful_sync`` = now (ISO 8601)."""
    write_state(engine, LAST_SUCCESSFUL_SYNC, now.isoformat(), now)


def forget_heartbeat(engine: Engine, owner: str) -> None:
    """Remove ``worker:<owner>``: that sync worker stopped cleanly and is not to be waited for."""
    with _write(engine) as conn:
        conn.execute(delete(service_state).where(service_state.c.name == HEARTBEAT_PREFIX + owner))


def prune_heartbeats(engine: Engine, older_than: datetime) -> int:
    """Remove heartbeats last written before ``older_than`` (workers long gone); how many."""
    with _write(engine) as conn:
        result = conn.execute(
            delete(service_state).where(
                service_state.c.name.startswith(HEARTBEAT_PREFIX),
                service_state.c.updated_at < older_than,
            )
        )
    return int(result.rowcount or 0)


def heartbeats(engine: Engine) -> dict[str, datetime]:
    """When each sync worker last beat, by owner."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(service_state.c.name, service_state.c.updated_at).where(
                service_state.c.name.startswith(HEARTBEAT_PREFIX)
            )
        ).all()
    return {name.removeprefix(HEARTBEAT_PREFIX): _utc(at) or at for name, at in rows}
