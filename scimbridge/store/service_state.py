"""The sync's shared facts, kept in ``service_state`` for every process to read.

Does: write and read named facts (the sync workers' heartbeats, the last successful sync,
Twilio's last verdict on the credentials), remove heartbeats on a clean stop or once long
stale, and check that the database answers.
Does not: decide when a worker is stalled or a credential stale (``ops.health`` does), or call
Twilio.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, text

from scimbridge.store.database import Database
from scimbridge.store.resources import utc
from scimbridge.store.tables import service_state
from scimbridge.store.transactions import upsert_statement, write_transaction

LAST_SUCCESSFUL_SYNC = "last_successful_sync"
HEARTBEAT_PREFIX = "worker:"
# "ok" when Twilio last accepted the credentials, else the reason it refused them.
TWILIO_VERIFIED = "twilio_verified"
_PING = text("SELECT 1")


class ServiceState:
    """The facts every process of the service shares, in ``service_state``. Thread-safe.

    Contract:

    - :meth:`read` returns (value, written at), or None for a fact never written.
    - :meth:`heartbeat` marks a sync worker alive now; :meth:`heartbeats` returns when each last
      beat, by owner; :meth:`forget_heartbeat` removes one (a clean stop);
      :meth:`prune_heartbeats` removes those older than a time and says how many.
    - :meth:`record_success` and :meth:`record_credential_check` keep the last successful sync
      and Twilio's last verdict on the credentials (``"ok"`` or why they were refused);
      :meth:`last_success` and :meth:`credential_check` read them back.
    - :meth:`ping` costs one round trip and raises if the database cannot be reached.
    - Times come back aware (UTC). Database failures surface as SQLAlchemy errors
      (``store.errors.DATABASE_FAILURES``).
    """

    def __init__(self, database: Database) -> None:
        self.database = database
        self._engine = database.engine

    def write(self, name: str, value: str | None, now: datetime) -> None:
        with write_transaction(self._engine) as conn:
            conn.execute(
                upsert_statement(
                    self._engine,
                    service_state,
                    "name",
                    {"name": name, "value": value, "updated_at": now},
                )
            )

    def read(self, name: str) -> tuple[str | None, datetime] | None:
        """(value, updated_at) of the fact ``name``, or None if it was never written."""
        with self._engine.connect() as conn:
            row = conn.execute(
                select(service_state.c.value, service_state.c.updated_at).where(
                    service_state.c.name == name
                )
            ).first()
        if row is None:
            return None
        return row[0], utc(row[1])

    def heartbeat(self, owner: str, now: datetime) -> None:
        """``worker:<owner>`` = now: this sync worker was alive at ``now``."""
        self.write(HEARTBEAT_PREFIX + owner, now.isoformat(), now)

    def record_success(self, now: datetime) -> None:
        """``last_successful_sync`` = now (ISO 8601)."""
        self.write(LAST_SUCCESSFUL_SYNC, now.isoformat(), now)

    def forget_heartbeat(self, owner: str) -> None:
        """Remove ``worker:<owner>``: that sync worker stopped cleanly, nobody waits for it."""
        with write_transaction(self._engine) as conn:
            conn.execute(
                delete(service_state).where(service_state.c.name == HEARTBEAT_PREFIX + owner)
            )

    def prune_heartbeats(self, older_than: datetime) -> int:
        """Remove heartbeats last written before ``older_than`` (workers long gone); how many."""
        with write_transaction(self._engine) as conn:
            result = conn.execute(
                delete(service_state).where(
                    service_state.c.name.startswith(HEARTBEAT_PREFIX),
                    service_state.c.updated_at < older_than,
                )
            )
        return int(result.rowcount or 0)

    def heartbeats(self) -> dict[str, datetime]:
        """When each sync worker last beat, by owner."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(service_state.c.name, service_state.c.updated_at).where(
                    service_state.c.name.startswith(HEARTBEAT_PREFIX)
                )
            ).all()
        return {name.removeprefix(HEARTBEAT_PREFIX): utc(at) for name, at in rows}

    def last_success(self) -> tuple[str | None, datetime] | None:
        """The last successful sync (ISO 8601 value, written at), if any."""
        return self.read(LAST_SUCCESSFUL_SYNC)

    def record_credential_check(self, verdict: str, now: datetime) -> None:
        """Twilio's verdict on the credentials at ``now``: ``"ok"``, else why it refused them."""
        self.write(TWILIO_VERIFIED, verdict, now)

    def credential_check(self) -> tuple[str | None, datetime] | None:
        """The last verdict on the credentials (verdict, checked at), if any."""
        return self.read(TWILIO_VERIFIED)

    def ping(self) -> None:
        """One round trip; raises when the database cannot be reached."""
        with self._engine.connect() as conn:
            conn.execute(_PING)
