"""What every ``scimbridge`` command shares: consoles, settings, its database, its runtime.

Does: give each command its configuration (``command_configuration``, every problem at once) or
just its settings (``command_settings``), its database after its one ``database:`` line on stderr
(``command_database``), its runtime (``open_runtime``), and say a mistake as one escaped sentence
and an exit code (``fail``, ``config_failure``); the traceback only with ``--debug``
(``Run.debug``).
Does not: define commands (``cli.main`` registers them from their modules).
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
from scimbridge.store.location import DatabaseProblem

if TYPE_CHECKING:
    from sqlalchemy import Engine

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


def command_database(
    settings: Settings,
    command: str,
    *,
    create: bool,
    migrate_first: bool = False,
    require_head: bool = True,
) -> Engine:
    """The command's database, after its one ``database:`` line on stderr."""
    try:
        return open_database(
            settings,
            err,
            command=command,
            create=create,
            migrate_first=migrate_first,
            require_head=require_head,
        )
    except SchemaBehind as exc:
        raise fail(str(exc), EXIT_SCHEMA) from exc
    except DatabaseProblem as exc:
        if Run.debug and exc.__cause__ is not None:
            raise
        raise fail(str(exc)) from exc


def open_runtime(
    settings: Settings | Configuration,
    engine: Engine,
    *,
    sync_threads: int = 1,
    mapping: FlexMapping | None = None,
    reconcile_only: bool = False,
) -> Runtime:
    """The command's runtime, or the configuration error that prevents it."""
    from scimbridge.runtime import build_runtime

    try:
        return build_runtime(
            settings,
            engine=engine,
            mapping=mapping,
            sync_threads=sync_threads,
            reconcile_only=reconcile_only,
        )
    except ConfigError as exc:
        raise config_failure(exc) from exc
