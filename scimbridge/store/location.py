"""Where a database URL points, whether it is there, and what to tell an operator when it is not.

Does: parse a URL into one scimbridge can use (``parse_database_url``), describe it in one line
(a SQLite file by its absolute path, a server by ``user@host/db`` with no password), tell whether
a SQLite file exists and whether its directory does, and turn the ways opening a database fails
(missing directory, missing driver, unreachable server, a file that is not a database) into one
sentence that names the variable or the file.
Does not: create engines (``store.database``) or decide which commands may create a database
(the CLI does).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from scimbridge.config.errors import ConfigError
from scimbridge.config.settings import URL_VARIABLE

POSTGRES_EXTRA = "pip install 'scimbridge[postgres]'"
URL_SHAPES = "sqlite:///path.db or postgresql://user:password@host/db"


def parse_database_url(url: str) -> URL:
    """The parsed URL, or :class:`ConfigError` for one scimbridge cannot use.

    The message never repeats the URL itself: it may carry a password.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"{URL_VARIABLE} is not a URL; it must look like {URL_SHAPES}") from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql", "postgres"):
        raise ConfigError(
            f"{URL_VARIABLE} starts with {parsed.drivername!r}, which scimbridge does not know; "
            f"it must look like {URL_SHAPES}"
        )
    return parsed


class DatabaseProblem(Exception):
    """A database cannot be used as configured; ``str()`` is one sentence for an operator."""


@dataclass(frozen=True)
class DatabaseLocation:
    """What a database URL names, for the one line every command prints."""

    url: URL

    @classmethod
    def of(cls, url: str) -> DatabaseLocation:
        """Where ``url`` points; :class:`~scimbridge.config.errors.ConfigError` if it is no URL."""
        return cls(parse_database_url(url))

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    @property
    def file(self) -> Path | None:
        """The SQLite file (absolute), or None for a server or an in-memory database."""
        database = self.url.database
        if not self.is_sqlite or database in (None, "", ":memory:"):
            return None
        if database.startswith("file:") or "memory" in str(self.url.query.get("mode", "")):
            return None
        return Path(database).expanduser().absolute()

    def describe(self) -> str:
        """``SQLite file /srv/scimbridge.db`` or ``PostgreSQL scim@db.internal:5432/scim``."""
        if self.is_sqlite:
            file = self.file
            return f"SQLite file {file}" if file else "an in-memory SQLite database"
        url = self.url
        user = f"{url.username}@" if url.username else ""
        port = f":{url.port}" if url.port else ""
        return f"PostgreSQL {user}{url.host or 'localhost'}{port}/{url.database or ''}"

    def exists(self) -> bool:
        """Whether there is something to open: the SQLite file is there (a server always is;
        whether it answers is for the connection to tell)."""
        file = self.file
        return file is None or file.exists()

    def check_directory(self) -> None:
        """:class:`DatabaseProblem` when a SQLite file could not be created where it is named."""
        file = self.file
        if file is not None and not file.parent.is_dir():
            raise DatabaseProblem(
                f"the directory {file.parent} of {URL_VARIABLE} ({file.name}) does not exist; "
                "create it or point the URL elsewhere"
            )


def explain_failure(location: DatabaseLocation | None, exc: BaseException) -> str | None:
    """One sentence for an error raised while opening or reading the database, or None when
    it is not one of the ways a database is commonly misconfigured."""
    if isinstance(exc, ModuleNotFoundError) and exc.name in ("psycopg", "psycopg2"):
        return f"PostgreSQL needs its driver, which is not installed: {POSTGRES_EXTRA}"
    if isinstance(exc, NoSuchModuleError):
        return f"{URL_VARIABLE} names a database driver that is not installed ({exc})"
    where = f" ({location.describe()})" if location is not None else ""
    if isinstance(exc, DBAPIError):
        lines = str(exc.orig).strip().splitlines() if exc.orig is not None else []
        return f"cannot use the database{where}: {lines[0] if lines else type(exc).__name__}"
    if isinstance(exc, SQLAlchemyError):
        return f"cannot use the database{where}: {type(exc).__name__}"
    return None
