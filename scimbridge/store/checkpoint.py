"""Checkpoints of a SQLite write-ahead log, made on a thread of their own.

Does: copy committed pages from the WAL back into the database file every ``interval`` seconds
(``PRAGMA wal_checkpoint(PASSIVE)``: whatever no reader still needs, never waiting for anyone),
so the connection that serves SCIM calls on the event loop can leave checkpoints off. A checkpoint
writes and syncs the database file; on a slow disk that is tens of milliseconds, which on the
event loop would hold up every request in flight.
Does not: run for PostgreSQL or an in-memory database (``runtime.build_runtime`` starts it only
beside an inline SQLite engine), or stop other processes on the same file (``scimbridge worker``,
``resync``) from checkpointing as SQLite normally does.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

log = logging.getLogger("scimbridge.store")


class WalCheckpointer:
    """A background service: checkpoint ``engine``'s SQLite file every ``interval`` seconds."""

    def __init__(self, engine: Engine, interval: float = 0.2) -> None:
        self.engine = engine
        self.interval = interval
        self.checkpoints = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.checkpoint()

    def checkpoint(self) -> None:
        """One passive checkpoint now; a database that cannot be reached, or a pool with no
        connection free, is tried next time."""
        try:
            # The raw connection: a checkpoint must not run inside the transaction that
            # SQLAlchemy would begin around a statement.
            raw = self.engine.raw_connection()
            try:
                cursor = raw.cursor()
                cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
                cursor.fetchall()
                cursor.close()
            finally:
                raw.close()
            self.checkpoints += 1
        except (OperationalError, PoolTimeout, sqlite3.Error) as exc:
            log.warning("WAL checkpoint skipped: %s", type(exc).__name__)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.checkpoint()
