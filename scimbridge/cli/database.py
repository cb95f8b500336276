"""Which database a command uses: say it in one line, refuse or create it, migrate it.

Does: print ``database: <where>`` for every command that opens one; refuse, with what to do, a
SQLite file that does not exist for the commands that only read; let the commands that write
create it and say so; apply migrations where the command does; turn the common ways opening a
database fails into a :class:`~scimbridge.store.location.DatabaseProblem` sentence.
Does not: parse settings (``config``), know what a command does with the database, or build
its engines (``store.database``).
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from scimbridge.config.settings import URL_VARIABLE, Settings
from scimbridge.store.database import Database, migrate
from scimbridge.store.location import DatabaseLocation, DatabaseProblem, explain_failure


class SchemaBehind(DatabaseProblem):
    """The database exists but its schema is older than this code."""


def announce(settings: Settings, console: Console) -> DatabaseLocation:
    """Print the one ``database:`` line and return where the URL points."""
    location = DatabaseLocation.of(settings.database_url)
    console.print(f"database: {escape(location.describe())}", highlight=False)
    return location


def missing_database(location: DatabaseLocation, command: str) -> DatabaseProblem:
    return DatabaseProblem(
        f"there is no database at {location.file}, and `scimbridge {command}` does not create "
        f"one: run it in the directory `scimbridge serve` runs in, or set {URL_VARIABLE} to the "
        "database it uses"
    )


def open_database(
    settings: Settings,
    console: Console,
    *,
    command: str,
    create: bool,
    migrate_first: bool = False,
    require_head: bool = True,
    inline: bool = False,
) -> Database:
    """The settings' database, after the ``database:`` line.

    ``create``: the command writes, so a missing SQLite file may be made (and is announced).
    ``migrate_first``: apply migrations first (``migrate``; the others on SQLite only).
    ``require_head``: refuse a schema older than this code, saying to run ``migrate``.
    ``inline``: also open the inline engine of a SQLite file, for a process that answers SCIM
    on an event loop (``Database.open``).
    Raises :class:`DatabaseProblem` with one sentence for the operator.
    """
    location = announce(settings, console)
    location.check_directory()
    existed = location.exists()
    if not existed and not create:
        raise missing_database(location, command)
    try:
        if migrate_first:
            migrate(settings.database_url)
        database = Database.open(settings.database_url, inline=inline)
        behind = require_head and not database.at_head()
    except Exception as exc:
        message = explain_failure(location, exc)
        if message is None:
            raise
        raise DatabaseProblem(message) from exc
    if not existed and location.file is not None:
        console.print(f"created a new database at {escape(str(location.file))}", highlight=False)
    if behind:
        database.dispose()
        raise SchemaBehind(
            "the database schema is not at the newest revision: run `scimbridge migrate` first"
        )
    return database


def migrate_database(settings: Settings, console: Console) -> None:
    """``scimbridge migrate``: create the database if needed and bring it to head."""
    open_database(
        settings, console, command="migrate", create=True, migrate_first=True, require_head=False
    ).dispose()
