"""What every ``scimbridge`` command shares: consoles, settings, its store, its runtime.

Does: give each command its configuration (``command_configuration``, every problem at once) or
just its settings (``command_settings``), the store objects of its database after its one
``database:`` line on stderr (``command_store``), its runtime built on that database
(``command_runtime``), and say a mistake as one escaped sentence and an exit code (``fail``,
``config_failure``); the traceback only with ``--debug`` (``Run.debug``).
Does not: define commands (``cli.main`` registers them from their modules), or hold an engine:
a command gets store objects, or the runtime, built from one ``Database``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape

from scimbridge.cli.database import SchemaBehind, open_database
from scimbridge.config.errors import ConfigError
from scimbridge.config.settings import Settings
from scimbridge.ops.logging import configure_logging
from scimbridge.store.database import Database
from scimbridge.store.location import DatabaseProblem
from scimbridge.store.objects import Store

if TYPE_CHECKING:
    from scimbridge.configuration import Configuration
    from scimbridge.flex.mapping.config import FlexMapping
    from scimbridge.runtime import Runtime

# Soft wrap: a sentence stays one line for grep and logs; the terminal wraps it.
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
EXIT_CONFIG = 2
EXIT_SCHEMA = 3


class Run:
    """Global options of this invocation (``--debug``)."""

    debug = False


def fail(message: str, code: int = EXIT_CONFIG) -> typer.Exit:
    """Print one sentence (escaped) on stderr; return the exit to raise."""
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    return typer.Exit(code)


def config_failure(exc: ConfigError) -> typer.Exit:
    """Print a configuration error (one sentence) on stderr; return the exit to raise."""
    err.print(f"[red]configuration error:[/red] {escape(str(exc))}", highlight=False)
    return typer.Exit(EXIT_CONFIG)


def command_configuration() -> Configuration:
    """The configuration, read once, with logging configured from it; exit 2 naming every
    problem of the environment and the file when it is unusable."""
    from scimbridge.configuration import load_configuration

    try:
        configuration = load_configuration()
    except ConfigError as exc:
        raise config_failure(exc) from exc
    settings = configuration.settings
    configure_logging(settings.log_format, settings.log_level, settings.secrets())
    return configuration


def command_settings() -> Settings:
    """The settings of :func:`command_configuration` (every table checked), for commands that
    need no typed section."""
    return command_configuration().settings


def _command_database(
    settings: Settings,
    command: str,
    *,
    create: bool,
    migrate_first: bool = False,
    require_head: bool = True,
    inline: bool = False,
) -> Database:
    """The command's database, after its one ``database:`` line on stderr; exit 3 when its
    schema is behind, 2 when it cannot be opened."""
    try:
        return open_database(
            settings,
            err,
            command=command,
            create=create,
            migrate_first=migrate_first,
            require_head=require_head,
            inline=inline,
        )
    except SchemaBehind as exc:
        raise fail(str(exc), EXIT_SCHEMA) from exc
    except DatabaseProblem as exc:
        if Run.debug and exc.__cause__ is not None:
            raise
        raise fail(str(exc)) from exc


def command_store(
    settings: Settings,
    command: str,
    *,
    create: bool,
    migrate_first: bool = False,
    require_head: bool = True,
) -> Store:
    """The store objects of the command's database, after its one ``database:`` line on stderr
    (the options: :func:`~scimbridge.cli.database.open_database`)."""
    database = _command_database(
        settings,
        command,
        create=create,
        migrate_first=migrate_first,
        require_head=require_head,
    )
    return Store.of(database)


def command_runtime(
    configuration: Configuration,
    command: str,
    *,
    create: bool,
    sync_threads: int = 1,
    mapping: FlexMapping | None = None,
    reconcile_only: bool = False,
) -> Runtime:
    """The command's runtime on its database (opened as :func:`command_store` does, migrated
    first on SQLite), or the exit that prevents it."""
    from scimbridge.runtime import build_runtime

    settings = configuration.settings
    database = _command_database(
        settings, command, create=create, migrate_first=settings.is_sqlite, inline=True
    )
    try:
        return build_runtime(
            configuration,
            database=database,
            mapping=mapping,
            sync_threads=sync_threads,
            reconcile_only=reconcile_only,
        )
    except ConfigError as exc:
        database.dispose()
        raise config_failure(exc) from exc
