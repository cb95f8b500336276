"""``migrate``, ``check-config`` and ``status``: prepare a deployment and look at it.

Does: bring the schema to the newest revision; print the report of
:func:`scimbridge.config_check.check_configuration` (each problem on a line, exit 1 if any; the
explained worker of ``--user`` as a table); print the status report (or JSON; exit 1 unhealthy).
Does not: decide what is a problem (``config_check``, ``ops.status``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from scimbridge.cli import context
from scimbridge.cli.context import command_settings, command_store, fail
from scimbridge.store.location import DatabaseProblem

if TYPE_CHECKING:
    from scimbridge.config_check import WorkerExplanation


def migrate_command() -> None:
    """Create the database if needed and bring its schema to the newest revision."""
    from scimbridge.cli.database import migrate_database

    settings = command_settings()
    try:
        migrate_database(settings, context.err)
    except DatabaseProblem as exc:
        raise fail(str(exc)) from exc
    context.console.print("database schema is at the newest revision")


def check_config(
    user: Annotated[
        str | None, typer.Option("--user", help="Show the worker attributes USERNAME would get.")
    ] = None,
) -> None:
    """Validate the environment and the TOML file; optionally explain one user's worker."""
    from scimbridge.cli.database import announce, missing_database
    from scimbridge.config_check import check_configuration

    settings = command_settings()
    location = announce(settings, context.err)
    problems: list[str] = []
    try:
        location.check_directory()
        if not location.exists():
            raise missing_database(location, "check-config")
    except DatabaseProblem as exc:
        problems.append(str(exc))
    report = check_configuration(settings, None if problems else user)
    for note in report.notes:
        context.console.print(f"[yellow]{escape(note)}[/yellow]")
    if report.worker is not None:
        _print_worker(report.worker)
    problems.extend(report.problems)
    if problems:
        for problem in problems:
            context.err.print(f"[red]✗[/red] {escape(problem)}", highlight=False)
        raise typer.Exit(1)
    context.console.print("[green]configuration is valid[/green]")


def _print_worker(worker: WorkerExplanation) -> None:
    table = Table("worker key", "value", "from", title=f"worker of {escape(worker.user_name)}")
    for row in worker.rows:
        value = "" if row.value is None else escape(repr(row.value))
        table.add_row(escape(row.target), value, escape(row.origin))
    context.console.print(table)


def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Backlog, dead letters, last sync, live tokens; exits 1 when unhealthy."""
    import json

    from scimbridge.ops.status import print_status, status_report

    settings = command_settings()
    store = command_store(settings, "status", create=False, require_head=False)
    result = status_report(
        store,
        thresholds=settings.readiness,
        sync_expected=settings.twilio is not None,
        static_token=settings.bearer_token is not None,
    )
    if as_json:
        print(json.dumps(result, default=str, indent=2))
    else:
        print_status(result, context.console)
    raise typer.Exit(0 if result["healthy"] else 1)
