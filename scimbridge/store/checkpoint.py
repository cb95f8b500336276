"""Checkpoints of a SQLite write-ahead log, made on a thread of their own, when writes pause.

Does: copy committed pages from the WAL back into the database file (``PRAGMA
wal_checkpoint(PASSIVE)``: whatever no reader still needs, never waiting for anyone), so the
connection that serves SCIM calls on the event loop can leave checkpoints off. A checkpoint
writes and syncs the database file, and while the disk syncs, the commits on the event loop
wait for it too (the file system's journal is one for both files): tens of milliseconds for
every request in flight. So the thread looks at the WAL every ``interval`` seconds and
checkpoints once it has grown and then stopped growing (a pause in the writes, which Entra's
provisioning cycles always leave), or at the latest ``max_delay`` seconds after it began to
grow under writes that never pause; and every ``idle_every`` seconds whatever it saw.
Does not: run for PostgreSQL or an in-memory database (``runtime.build_runtime`` starts it only
beside an inline SQLite engine), or stop other processes on the same file (``scimbridge worker``,
``resync``) from checkpointing as SQLite normally does.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

log = logging.getLogger("scimbridge.store")


class WalCheckpointer:
    """A background service: checkpoint ``engine``'s SQLite file when its writes pause (see the
    module)."""

    def __init__(
        self,
        engine: Engine,
        interval: float = 0.05,
        *,
        max_delay: float = 5.0,
        idle_every: float = 10.0,
    ) -> None:
        self.engine = engine
        self.interval = interval
        self.max_delay = max_delay
        self.idle_every = idle_every
        self.checkpoints = 0
        database = engine.url.database or ""
        self._wal = Path(f"{database}-wal")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _wal_state(self) -> tuple[int, int] | None:
        """What changes whenever a commit appends to the WAL: its modification time and size."""
        try:
            stat = self._wal.stat()
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size

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
        seen = checkpointed = self._wal_state()
        grew_at: float | None = None  # when the WAL first changed since the last checkpoint
        last = time.monotonic()
        while not self._stop.wait(self.interval):
            now, state = time.monotonic(), self._wal_state()
            if state != checkpointed and grew_at is None:
                grew_at = now
            paused = state == seen
            seen = state
            due = grew_at is not None and (paused or now - grew_at >= self.max_delay)
            if due or now - last >= self.idle_every:
                self.checkpoint()
                checkpointed, grew_at, last = state, None, now
