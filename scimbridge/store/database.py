"""The database: its engines, its migrations, and whether its schema is new enough.

Does: build the SQLAlchemy engine for a URL (SQLite in WAL mode with foreign keys on, its file
created owner-only, 0600, whatever the umask; PostgreSQL through psycopg), run alembic
migrations, and tell whether the schema is at head; :class:`Database` owns the engines every
store object (``Directory``, ``Outbox``, ``WorkerLinks``, ``Tokens``, ``ServiceState``) runs on.
Does not: define tables (``store.tables``) or write rows (the store objects do).
"""

from __future__ import annotations

import os
import select
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.pool import NullPool, SingletonThreadPool

from scimbridge.store.checkpoint import WalCheckpointer
from scimbridge.store.sqlite_connections import InlinePool
from scimbridge.store.sqlite_connections import configure as configure_sqlite

if TYPE_CHECKING:
    from scimbridge.store.loop_pool import LoopPool

# How ``create_db_engine`` opened each PostgreSQL engine's connections, for the event loop's own
# connections to the same database (``Database.loop_pool``): psycopg's connect arguments, the
# engine's pool size and timeout.
_LOOP_CONNECT: weakref.WeakKeyDictionary[Engine, tuple[dict[str, Any], int, float]] = (
    weakref.WeakKeyDictionary()
)


class Database:
    """One database, as every store object reaches it.

    Holds the pooled engine and, for a SQLite file, the inline engine whose calls never wait for
    a lock (:func:`create_inline_engine`). Built once by the composition root and handed to each
    store object; nothing outside ``scimbridge.store`` and the composition root sees an engine.
    ``dispose`` closes every pooled connection; the object can be used again afterwards (the
    pools reconnect), as SQLAlchemy's engines can.
    """

    def __init__(self, engine: Engine, inline_engine: Engine | None = None) -> None:
        self.engine = engine
        self.inline_engine = inline_engine
        self.is_postgres = engine.dialect.name == "postgresql"
        self.dialect_name = engine.dialect.name
        # PostgreSQL, engine from ``create_db_engine``: connections for calls made on the event
        # loop (``store.loop_users``), so that they need no worker thread.
        self.loop_pool: LoopPool | None = None
        if engine in _LOOP_CONNECT:
            from scimbridge.store.loop_pool import LoopPool  # psycopg: PostgreSQL only

            connect, size, timeout = _LOOP_CONNECT[engine]
            self.loop_pool = LoopPool(connect, size=size, timeout=timeout)
        # A SQLite file with an inline engine: the event loop's own connections to it, for one
        # user's calls made with prepared statements (``store.inline_users``).
        self.inline_pool: InlinePool | None = None
        if inline_engine is not None:
            args, kwargs = inline_engine.dialect.create_connect_args(inline_engine.url)
            self.inline_pool = InlinePool(tuple(args), dict(kwargs))

    @classmethod
    def open(cls, url: str, *, inline: bool = False, **engine_options: Any) -> Database:
        """The database at ``url`` (see :func:`create_db_engine` for ``engine_options``);
        with ``inline``, also the inline engine where the database has one (a SQLite file)."""
        engine = create_db_engine(url, **engine_options)
        return cls(engine, create_inline_engine(engine) if inline else None)

    @property
    def url(self) -> str:
        """The URL, password hidden: for messages."""
        return self.engine.url.render_as_string(hide_password=True)

    def at_head(self) -> bool:
        """See :func:`at_head`."""
        return at_head(self.engine)

    def checkpointer(self, interval: float = 0.05) -> WalCheckpointer | None:
        """The WAL checkpointer the inline engine needs (it never checkpoints), else None."""
        return WalCheckpointer(self.engine, interval) if self.inline_engine is not None else None

    def dispose(self) -> None:
        self.engine.dispose()
        if self.inline_engine is not None:
            self.inline_engine.dispose()
        if self.inline_pool is not None:
            self.inline_pool.close()
        if self.loop_pool is not None:
            self.loop_pool.close()


def _migrations_dir() -> Path:
    """The alembic scripts: beside the package in a checkout, inside it once installed."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent.parent / "migrations", here.parent / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise RuntimeError("the alembic migrations directory is missing from this installation")


MIGRATIONS_DIR = _migrations_dir()


def normalize_url(url: str) -> str:
    """Use psycopg 3 for a bare ``postgresql://`` URL."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def create_private_sqlite_file(url: str) -> None:
    """Create the SQLite file ``url`` names, mode 0600, if it does not exist yet.

    It holds personal data, token hashes and the audit log. SQLite gives the ``-wal`` and
    ``-shm`` files it creates beside it the database file's own mode, so they are 0600 too. An
    existing file keeps the mode its owner gave it; a URI filename or in-memory database is left
    to SQLite.
    """
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return
    if database.startswith("file:") or "memory" in str(parsed.query.get("mode", "")):
        return
    try:
        fd = os.open(database, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except OSError:
        return  # it exists, or SQLite will report why it cannot be opened
    try:
        os.fchmod(fd, 0o600)  # the umask may have taken the owner's bits away as well
    finally:
        os.close(fd)


def create_db_engine(url: str, *, lock_timeout: float = 30.0, **kwargs: Any) -> Engine:
    """Return an engine for ``url`` with the settings scimbridge relies on.

    ``lock_timeout`` (seconds) bounds how long a statement waits for a lock another connection
    holds (SQLite's busy timeout, PostgreSQL's ``lock_timeout``); past it the statement fails
    with an ``OperationalError``, which the directory reports as ``StoreUnavailable``.
    Bound parameters are left out of error messages: they carry user names, e-mail addresses
    and token hashes, and an error message ends up in a log. A PostgreSQL engine (psycopg, the
    default pool) also tells :class:`Database` how to open the event loop's own connections
    (as many as the engine's pool holds at most, with the same options).
    """
    url = normalize_url(url)
    lock_ms = max(1, int(lock_timeout * 1000))
    if url.startswith("sqlite"):
        return _sqlite_engine(url, lock_ms, **{"pool_size": 8, "max_overflow": 8, **kwargs})
    # About 20 connections per process: up to 10 for one user's calls on the event loop (the
    # SCIM hot paths, ``Database.loop_pool``) and 5 + 5 overflow for everything else (the sync
    # worker's threads, lists, groups, tokens).
    options = {"pool_size": 5, "max_overflow": 5, **kwargs}
    connect_args = {"options": f"-c lock_timeout={lock_ms}"}
    engine = create_engine(url, connect_args=connect_args, hide_parameters=True, **options)
    if not kwargs.get("pool_pre_ping"):
        event.listen(engine, "checkout", _postgres_checkout_check(engine))
    if engine.dialect.driver == "psycopg" and "poolclass" not in kwargs:
        _, params = engine.dialect.create_connect_args(engine.url)
        params.pop("context", None)  # SQLAlchemy's own adapters: the loop's calls use psycopg's
        size = int(options["pool_size"]) + max(0, int(options["max_overflow"]))
        timeout = float(options.get("pool_timeout", 30.0))
        _LOOP_CONNECT[engine] = ({**params, **connect_args}, size, timeout)
    return engine


def _postgres_checkout_check(engine: Engine) -> Any:
    """A pooled connection's check on checkout: a round trip only when the server spoke first.

    An idle connection that is fine has nothing to read. One whose backend was terminated (a
    restart, ``pg_terminate_backend``, an idle timeout) has the server's last word and the end
    of the stream waiting on its socket: only then is it pinged, and one that fails the ping is
    dropped with every other pooled connection, as ``pool_pre_ping`` does, so the request gets a
    fresh connection instead of an error. The ping costs a round trip, which ``pool_pre_ping``
    would pay on every checkout.
    """
    dialect = engine.dialect

    def check(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        if dbapi_conn.closed:
            raise InvalidatePoolError("the connection was closed")
        poller = select.poll()  # not select.select: a descriptor may be numbered past 1024
        try:
            poller.register(dbapi_conn.fileno(), select.POLLIN)
            spoke = bool(poller.poll(0))
        except (OSError, ValueError) as exc:
            raise InvalidatePoolError("the connection's socket is gone") from exc
        if not spoke:
            return
        try:
            dialect.do_ping(dbapi_conn)
        except dialect.loaded_dbapi.Error as exc:
            raise InvalidatePoolError("the server closed the connection") from exc

    return check


def create_inline_engine(engine: Engine) -> Engine | None:
    """An engine for store calls made on the event loop's own thread, or None where there is none.

    Only for a SQLite file: one connection per calling thread, and no busy wait, so a call that
    meets a lock held elsewhere fails at once (``SQLITE_BUSY``) instead of stalling the loop; and
    no automatic checkpoint on commit: a ``store.checkpoint.WalCheckpointer`` does it elsewhere.
    An in-memory database is private to its connection, so it gets none.
    """
    url = engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    if "memory" in str(url.query.get("mode", "")):
        return None
    rendered = url.render_as_string(hide_password=False)
    # Checkpoints happen off the loop (``store.checkpoint``): one writes and syncs the file.
    return _sqlite_engine(rendered, 0, autocheckpoint=False, poolclass=SingletonThreadPool)


def _sqlite_engine(url: str, busy_ms: int, *, autocheckpoint: bool = True, **kwargs: Any) -> Engine:
    create_private_sqlite_file(url)
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": busy_ms / 1000},
        hide_parameters=True,
        **kwargs,
    )

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
        # SQLAlchemy issues BEGIN itself (IMMEDIATE for writes, see store.transactions).
        configure_sqlite(dbapi_conn, busy_ms, autocheckpoint=autocheckpoint)

    @event.listens_for(engine, "begin")
    def _sqlite_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return cfg


# Any constant both processes agree on; it names the lock, it guards nothing else.
MIGRATION_LOCK_KEY = 0x5C1B_0001


def migrate(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` (default: the newest).

    Safe to start twice at once (two ``serve`` on a fresh file, a migration Job beside a pod):
    the upgrade runs in one transaction that first takes a lock only one migrator can hold
    (SQLite's write lock, PostgreSQL's advisory transaction lock), so the second waits, then
    finds the schema at ``revision`` and does nothing.
    """
    url = normalize_url(url)
    create_private_sqlite_file(url)
    sqlite = make_url(url).get_backend_name() == "sqlite"
    engine = create_engine(url, poolclass=NullPool, connect_args={"timeout": 120} if sqlite else {})
    if sqlite:
        event.listen(engine, "connect", _sqlite_driver_transactions_off)
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
    try:
        with engine.begin() as conn:
            if not sqlite:
                lock = text("SELECT pg_advisory_xact_lock(:key)")
                conn.execute(lock, {"key": MIGRATION_LOCK_KEY})
            cfg = alembic_config(url)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    finally:
        engine.dispose()


def _sqlite_driver_transactions_off(dbapi_conn: Any, _record: Any) -> None:
    # The BEGIN IMMEDIATE above must be the transaction, not one sqlite3 opens on its own.
    dbapi_conn.isolation_level = None


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def at_head(engine: Engine) -> bool:
    """Whether the schema is new enough for this code: at head, or at a revision it doesn't know.

    An unknown revision is a newer one (a later release migrated first), so the old pods of a
    rolling upgrade keep serving; only a database *behind* this code is refused.
    """
    current = current_revision(engine)
    if current is None:
        return False
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    try:
        script.get_revision(current)
    except Exception:  # alembic raises its own lookup errors for revisions it has no file for
        return True
    return current == script.get_current_head()
