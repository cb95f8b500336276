"""The ``scimbridge`` command: serve · migrate · token · check-config (and the sync commands).

Does: read settings, wire components, and give operators clear messages and exit codes: every
command that opens a database names it in one line (``cli_database``), every printed value that
came from a user or the configuration is escaped for rich markup, and a mistake is one sentence
and an exit code (the traceback only with ``--debug``).
Does not: implement SCIM or sync logic itself.
"""

from __future__ import annotations

import enum
import logging
import os
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from scimbridge import __version__
from scimbridge.cli_database import SchemaBehind, open_database
from scimbridge.config import LOOPBACK_PROXIES, ConfigError, Settings, load_settings
from scimbridge.ops.logging import configure_logging
from scimbridge.store import tokens
from scimbridge.store.location import DatabaseProblem, explain_failure

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from scimbridge.flex.sync.resync import Outcome, Plan

HELP = """SCIM 2.0 for Microsoft Entra ID that keeps Twilio Flex TaskRouter workers in sync.

Start with `scimbridge serve --fake-flex` (a local demo), then see `scimbridge COMMAND --help`.
Settings come from SCIMBRIDGE_* and TWILIO_* variables and the TOML file named by
SCIMBRIDGE_CONFIG (README: Configuration reference)."""

app = typer.Typer(
    no_args_is_help=True,
    add_completion=True,
    help=HELP,
    rich_markup_mode=None,  # help texts are plain: flags as flags, [brackets] kept
    pretty_exceptions_enable=False,
)
token_app = typer.Typer(no_args_is_help=True, help="Manage SCIM bearer tokens.")
app.add_typer(token_app, name="token")
# Soft wrap: a sentence stays one line for grep and logs; the terminal wraps it.
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
log = logging.getLogger("scimbridge")
EXIT_CONFIG = 2
EXIT_SCHEMA = 3
DEMO_FAKE_FLEX_PORT = 8089  # the README's quick start opens http://127.0.0.1:8089/


class _Run:
    debug = False


def _show_version(value: bool) -> None:
    if value:
        print(f"scimbridge {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show the traceback of an error.")] = False,
) -> None:
    _Run.debug = debug


def _fail(message: str, code: int = EXIT_CONFIG) -> typer.Exit:
    """Print one sentence (escaped) on stderr; return the exit to raise."""
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    return typer.Exit(code)


def _settings() -> Settings:
    try:
        settings = load_settings()
    except ConfigError as exc:
        err.print(f"[red]configuration error:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(EXIT_CONFIG) from exc
    configure_logging(settings.log_format, settings.log_level, settings.secrets())
    return settings


def _database(
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
        raise _fail(str(exc), EXIT_SCHEMA) from exc
    except DatabaseProblem as exc:
        if _Run.debug and exc.__cause__ is not None:
            raise
        raise _fail(str(exc)) from exc


class EventLoop(enum.StrEnum):
    """The asyncio event loop ``serve`` runs on."""

    ASYNCIO = "asyncio"
    UVLOOP = "uvloop"


def _check_port_free(host: str, port: int) -> None:
    """Fail, before anything is created or printed, when the port is taken (another ``serve``):
    a probe bind, closed again at once for uvicorn to bind."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        socket.create_server((host, port), family=family).close()
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise _fail(
            f"cannot listen on {host}:{port}: {reason} "
            "(another `scimbridge serve`? choose another --port)"
        ) from exc


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=0, max=65535)] = 8000,
    sync_threads: Annotated[
        int,
        typer.Option(
            "--sync-threads",
            help="Sync threads in this process (0: only queue changes, for a separate "
            "`scimbridge worker`).",
        ),
    ] = 1,
    workers: Annotated[
        int | None, typer.Option("--workers", hidden=True, help="Old name of --sync-threads.")
    ] = None,
    proxy_headers: Annotated[
        bool, typer.Option(help="Read X-Forwarded-* from the proxies --forwarded-allow-ips names.")
    ] = True,
    forwarded_allow_ips: Annotated[
        str,
        typer.Option(
            help="The reverse proxy's addresses or networks (comma-separated), the only peers "
            "whose X-Forwarded-For names the client. '*' lets any caller pick its address.",
        ),
    ] = LOOPBACK_PROXIES,
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Answer /metrics on this port (same host) instead.", min=1, max=65535),
    ] = None,
    token_file: Annotated[
        Path,
        typer.Option(help="Where a first-start token goes (0600) when stdout is no terminal."),
    ] = Path("scimbridge-token.txt"),
    fake_flex: Annotated[
        bool,
        typer.Option(
            "--fake-flex",
            help="Without Twilio settings: sync to an in-process, in-memory fake Flex and show "
            "its workers on a web page (demos). Same as SCIMBRIDGE_FAKE_FLEX=true.",
        ),
    ] = False,
    fake_flex_port: Annotated[
        int,
        typer.Option(
            "--fake-flex-port",
            envvar="SCIMBRIDGE_FAKE_FLEX_PORT",
            min=0,
            max=65535,
            help="Port of the fake Flex and of its page listing the workers (0: any free one).",
        ),
    ] = DEMO_FAKE_FLEX_PORT,
    loop: Annotated[
        EventLoop,
        typer.Option(
            help="Event loop. asyncio answers requests in arrival order under load (p99 at "
            "concurrency 16 about half uvloop's in bench/RESULTS.md) at the same throughput."
        ),
    ] = EventLoop.ASYNCIO,
) -> None:
    """Serve SCIM on HOST:PORT (SQLite: creates the database and applies migrations)."""
    import dataclasses

    from scimbridge.app import build_components, create_app
    from scimbridge.first_token import hand_out_first_token
    from scimbridge.server import is_loopback, run_server, server_config
    from scimbridge.wiring import FakeFlexService, sync_services

    settings = _settings()
    if fake_flex:
        settings = dataclasses.replace(settings, fake_flex=True)
    settings = dataclasses.replace(settings, fake_flex_port=fake_flex_port)
    threads = sync_threads if workers is None else workers
    _check_port_free(host, port)
    if metrics_port is not None:
        _check_port_free(host, metrics_port)
    engine = _database(settings, "serve", create=True, migrate_first=settings.is_sqlite)
    components = build_components(settings, engine)
    try:
        services = sync_services(
            settings, components, run_worker=threads > 0, threads=max(1, threads)
        )
    except ConfigError as exc:
        err.print(f"[red]configuration error:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(EXIT_CONFIG) from exc
    try:
        application = create_app(
            settings,
            components=components,
            services=services,
            public_bind=not is_loopback(host),
            metrics_port=metrics_port,
        )
    except ConfigError as exc:
        err.print(f"[red]configuration error:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(EXIT_CONFIG) from exc
    hand_out_first_token(
        components.engine,
        has_static=bool(settings.bearer_token),
        token_file=token_file,
        demo=settings.fake_flex,
        console=console,
    )
    fake = next((s.server for s in services if isinstance(s, FakeFlexService)), None)
    if fake is not None:
        _print_fake_flex(fake.page_url, fake.port, fake.environment())
    shown = f"[{host}]" if ":" in host else host
    log.info(
        "SCIM Tenant URL: http://%s:%d/scim/v2 (behind your TLS proxy: https://HOST/scim/v2)",
        shown,
        port,
    )
    trusted = forwarded_allow_ips if proxy_headers else None
    config = server_config(
        application,
        host,
        port,
        forwarded_allow_ips=trusted,
        loop=loop.value,
        # Also puts uvicorn's own loggers back at this level, which an in-process fake Flex
        # (started above with its own uvicorn) turned down to warnings.
        log_level=settings.log_level.lower(),
    )
    run_server(config, metrics_port)


def _print_fake_flex(page_url: str, port: int, environment: dict[str, str]) -> None:
    from scimbridge.testing.fakeflex.server import export_lines

    err.print(
        "[bold yellow]FAKE FLEX:[/bold yellow] workers go to an in-memory fake Flex in this "
        "process, not to Twilio; they vanish when it stops."
    )
    console.print(f"See the synced workers at {escape(page_url)}", highlight=False)
    console.print(
        "To run `scimbridge resync` or `check-config` against this fake from another shell: "
        f'eval "$(scimbridge fake-flex --print-env --port {port})", or paste:',
        highlight=False,
    )
    console.print(escape(export_lines(environment)), end="", highlight=False)


@app.command("worker")
def worker_command(
    threads: Annotated[int, typer.Option(help="Drainer threads in this process.")] = 1,
) -> None:
    """Run the sync worker alone: drain the outbox into TaskRouter until interrupted."""
    import signal
    import threading

    from scimbridge.app import build_components
    from scimbridge.wiring import sync_services

    settings = _settings()
    if not settings.twilio:
        raise _fail("the sync worker needs Twilio settings (TWILIO_ACCOUNT_SID…)")
    engine = _database(settings, "worker", create=False, migrate_first=settings.is_sqlite)
    components = build_components(settings, engine)
    try:
        services = sync_services(settings, components, run_worker=True, threads=max(1, threads))
    except ConfigError as exc:
        err.print(f"[red]configuration error:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(EXIT_CONFIG) from exc
    if not services:
        raise _fail("the sync is off (SCIMBRIDGE_SYNC=false); nothing to run")
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    for service in services:
        service.start()
    try:
        stopping.wait()
    finally:
        for service in reversed(services):
            service.stop()


@app.command("fake-flex")
def fake_flex_command(
    host: Annotated[str, typer.Option(help="Address to listen on (or of the fake to ask).")] = (
        "127.0.0.1"
    ),
    port: Annotated[
        int, typer.Option(help="Port to listen on (or of the fake to ask).", min=1, max=65535)
    ] = 8089,
    account_sid: Annotated[
        str | None, typer.Option(help="Fake account SID (random AC… if unset).")
    ] = None,
    auth_token: Annotated[
        str | None, typer.Option(help="Fake auth token (random if unset).")
    ] = None,
    print_env: Annotated[
        bool,
        typer.Option(
            "--print-env",
            help="Print the `export` lines for the fake already running on HOST:PORT (this "
            'command or `serve --fake-flex`) and exit: eval "$(scimbridge fake-flex '
            '--print-env)".',
        ),
    ] = False,
) -> None:
    """Serve a fake, in-memory Twilio TaskRouter + Flex API for demos and tests (not Twilio).

    It prints the `export` lines that point scimbridge at it, and a page listing its workers."""
    if print_env:
        _print_fake_env(host, port)
        return
    from scimbridge.testing.fakeflex.server import serve_fake_flex

    err.print(
        "[bold yellow]FAKE FLEX:[/bold yellow] an in-memory imitation of TaskRouter and Flex; "
        "nothing here reaches Twilio."
    )
    try:
        serve_fake_flex(host, port, account_sid=account_sid, auth_token=auth_token)
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise _fail(f"cannot listen on {host}:{port}: {reason}") from exc


def _print_fake_env(host: str, port: int) -> None:
    import json
    import urllib.request

    from scimbridge.testing.fakeflex.server import export_lines

    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/__fake__/env"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            environment = json.load(response)
    except (OSError, ValueError) as exc:
        raise _fail(
            f"no fake Flex answers at http://{shown}:{port}: start one with "
            f"`scimbridge fake-flex --port {port}` or `scimbridge serve --fake-flex "
            f"--fake-flex-port {port}`"
        ) from exc
    print(export_lines({str(k): str(v) for k, v in environment.items()}), end="")


@app.command("migrate")
def migrate_command() -> None:
    """Create the database if needed and bring its schema to the newest revision."""
    from scimbridge.cli_database import migrate_database

    settings = _settings()
    try:
        migrate_database(settings, err)
    except DatabaseProblem as exc:
        raise _fail(str(exc)) from exc
    console.print("database schema is at the newest revision")


@app.command("check-config")
def check_config(
    user: Annotated[
        str | None, typer.Option("--user", help="Show the worker attributes USERNAME would get.")
    ] = None,
) -> None:
    """Validate the environment and the TOML file; optionally explain one user's worker."""
    from scimbridge.cli_database import announce, missing_database
    from scimbridge.wiring import check_configuration

    settings = _settings()
    location = announce(settings, err)
    problems: list[str] = []
    try:
        location.check_directory()
        if not location.exists():
            raise missing_database(location, "check-config")
    except DatabaseProblem as exc:
        problems.append(str(exc))
    if not problems:
        problems = check_configuration(settings, user, console)
    else:
        problems.extend(check_configuration(settings, None, console))
    if problems:
        for problem in problems:
            err.print(f"[red]✗[/red] {escape(problem)}", highlight=False)
        raise typer.Exit(1)
    console.print("[green]configuration is valid[/green]")


@app.command("import-claims-policy")
def import_claims_policy(
    policy: Annotated[
        Path,
        typer.Argument(help="The policy: Graph's GET answer, or the ClaimsMappingPolicy JSON."),
    ],
    write: Annotated[
        Path | None,
        typer.Option("--write", help="Merge the [flex.attributes] rules into this TOML file."),
    ] = None,
) -> None:
    """Translate a Flex SSO claims-mapping policy into [flex.attributes] and Entra mappings."""
    from scimbridge import claims_import

    try:
        translation = claims_import.load_translation(policy)
        written = claims_import.write_rules(write, translation) if write else None
    except claims_import.ImportFailed as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True, highlight=False)
        raise typer.Exit(2) from exc
    config = write or (
        Path(os.environ["SCIMBRIDGE_CONFIG"]) if os.environ.get("SCIMBRIDGE_CONFIG") else None
    )
    claims_import.print_translation(
        translation, console, claims_import.friendly_name_source(config)
    )
    if write and written:
        claims_import.print_written(write, written, console)


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Backlog, dead letters, last sync, live tokens; exits 1 when unhealthy."""
    import json

    from scimbridge.ops.status import print_status, status_report

    settings = _settings()
    engine = _database(settings, "status", create=False, require_head=False)
    result = status_report(settings, engine)
    if as_json:
        print(json.dumps(result, default=str, indent=2))
    else:
        print_status(result, console)
    raise typer.Exit(0 if result["healthy"] else 1)


@app.command()
def resync(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report the drift; change nothing.")
    ] = False,
    user: Annotated[
        str | None, typer.Option("--user", help="Only the user with this userName.")
    ] = None,
    prune: Annotated[
        bool, typer.Option("--prune", help="Remove orphan workers (offline, then delete).")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Prune without asking.")] = False,
    remove_skill: Annotated[
        list[str] | None,
        typer.Option(
            "--remove-skill",
            help="Also take this skill, no longer in [flex.group_skills], off every user's "
            "worker (routing and disabled_skills). Repeatable.",
        ),
    ] = None,
) -> None:
    """List the workers, diff them against the store, converge the drift; 1 if a user failed."""
    from dataclasses import replace

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from scimbridge.app import build_components
    from scimbridge.flex.mapping.config import parse_mapping
    from scimbridge.flex.mapping.expressions import MappingError
    from scimbridge.flex.sync.resync import Resync
    from scimbridge.flex.twilio.errors import FlexApiError
    from scimbridge.wiring import build_sync_worker

    settings = _settings()
    if settings.twilio is None:
        raise _fail(
            "resync needs Twilio settings (TWILIO_ACCOUNT_SID…); for a fake Flex: "
            'eval "$(scimbridge fake-flex --print-env --port PORT)"'
        )
    engine = _database(settings, "resync", create=False, migrate_first=settings.is_sqlite)
    components = build_components(settings, engine)
    try:
        mapping = parse_mapping(settings.flex)
    except MappingError as exc:
        err.print(f"[red]configuration error:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(EXIT_CONFIG) from exc
    if remove_skill:
        try:
            mapping = replace(mapping, skills=mapping.skills.retiring(remove_skill))
        except ValueError as exc:
            raise _fail(str(exc)) from exc
    worker = build_sync_worker(settings, components, settings.twilio, mapping)
    resyncer = Resync(components.engine, components.repository, worker.reconciler)

    def progress() -> Progress:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        return Progress(*columns, console=err, transient=True, disable=not err.is_terminal)

    try:
        with progress() as bar:
            task = bar.add_task("listing workers", total=None)
            plan = resyncer.plan(
                user_name=user, on_listed=lambda count: bar.update(task, completed=count)
            )
    except LookupError as exc:
        err.print(f"[red]{escape(str(exc.args[0]))}[/red]", highlight=False)
        raise typer.Exit(1) from exc
    except FlexApiError as exc:
        err.print(f"[red]Twilio:[/red] {escape(exc.message)}", highlight=False)
        raise typer.Exit(1) from exc
    _print_resync_plan(plan, prune=prune)
    if dry_run:
        console.print("dry run: nothing was changed")
        return
    with progress() as bar:
        task = bar.add_task("converging", total=len(plan.drifted))
        outcome = resyncer.apply(plan, on_done=lambda _entry: bar.advance(task))
    if prune and plan.orphans:
        if not plan.complete:
            err.print(
                "[yellow]--prune needs a full resync (without --user); nothing pruned[/yellow]"
            )
        elif yes or typer.confirm(f"Delete {len(plan.orphans)} orphan worker(s)?", err=True):
            with progress() as bar:
                task = bar.add_task("pruning", total=len(plan.orphans))
                resyncer.prune(plan, outcome, on_done=lambda _worker: bar.advance(task))
    _print_resync_outcome(outcome)
    raise typer.Exit(0 if outcome.ok else 1)


RESYNC_ROWS = (
    ("create", "to create"),
    ("update", "to update"),
    ("make_unavailable", "to make unavailable"),
    ("delete", "to delete"),
    ("unchanged", "unchanged"),
)


def _print_resync_plan(plan: Plan, *, prune: bool) -> None:
    counts = plan.counts()
    source = f"{plan.listed} worker(s) listed" if plan.complete else "one user looked up"
    console.print(f"resync plan ({source})")
    table = Table("", "users")
    for key, label in RESYNC_ROWS:
        table.add_row(label, str(counts[key]))
    table.add_row("orphans", str(counts["orphans"]) if plan.complete else "-")
    console.print(table)
    if plan.fetched:  # counts only below: each user-derived cell is escaped
        console.print(f"{plan.fetched} worker(s) listed without attributes were fetched to diff")
    drifted = [entry for entry in plan.entries if entry.action != "unchanged"]
    if drifted:
        detail = Table("user", "action", "what differs", "skills")
        for entry in drifted[:50]:
            detail.add_row(
                escape(entry.label),
                entry.action.replace("_", " "),
                escape("; ".join(entry.differences)),
                escape(", ".join(entry.skills)),
            )
        console.print(detail)
        if len(drifted) > 50:
            console.print(f"… and {len(drifted) - 50} more")
    if plan.orphans:
        orphans = Table("orphan worker", "sid", "activity")
        for orphan in plan.orphans[:50]:
            orphans.add_row(
                escape(orphan.friendly_name), escape(orphan.sid), escape(orphan.activity_name)
            )
        console.print(orphans)
        if not prune:
            console.print("orphans are kept; `--prune` removes them")
    for failure in plan.failures:
        err.print(f"[red]✗[/red] {escape(f'{failure.label}: {failure.reason}')}", highlight=False)


def _print_resync_outcome(outcome: Outcome) -> None:
    by_outcome: dict[str, int] = {}
    for result in outcome.converged:
        by_outcome[result.outcome] = by_outcome.get(result.outcome, 0) + 1
    summary = ", ".join(f"{name} {count}" for name, count in sorted(by_outcome.items()))
    console.print(
        f"converged {len(outcome.converged)} user(s)" + (f": {summary}" if summary else "")
    )
    failed = {failure.user_id for failure in outcome.failures}
    for user_id in outcome.retried:
        verdict = "[red]failed again[/red]" if user_id in failed else "[green]ok[/green]"
        console.print(f"dead-lettered user {escape(user_id)} retried: {verdict}")
    if outcome.pruned:
        console.print(f"pruned {len(outcome.pruned)} orphan worker(s)")
    for worker, reason in outcome.prune_failures:
        text = f"orphan {worker.friendly_name} ({worker.sid}) not pruned: {reason}"
        err.print(f"[red]✗[/red] {escape(text)}", highlight=False)
    for failure in outcome.failures:
        text = f"{failure.label} ({failure.user_id}): {failure.reason}"
        err.print(f"[red]✗[/red] {escape(text)}", highlight=False)
    if outcome.failures:
        err.print(f"{len(outcome.failures)} user(s) failed; they are queued for the sync worker")


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Option("--name", help="A label for the token.")],
) -> None:
    """Create a token and print it once (only its hash is stored)."""
    settings = _settings()
    engine = _database(settings, "token create", create=True, migrate_first=settings.is_sqlite)
    try:
        _, secret = tokens.create_token(engine, name)
    except tokens.TokenNameTaken as exc:
        raise _fail(str(exc), 1) from exc
    err.print(f"token {escape(repr(name))} created; it is shown only this once:", highlight=False)
    print(secret)


@token_app.command("list")
def token_list() -> None:
    """List tokens (names and dates; never the tokens)."""
    settings = _settings()
    engine = _database(settings, "token list", create=False)
    table = Table("name", "id", "created", "last used", "revoked")
    for record in tokens.list_tokens(engine):
        table.add_row(
            escape(record.name),
            record.id,
            record.created_at.isoformat(timespec="seconds"),
            record.last_used_at.isoformat(timespec="minutes") if record.last_used_at else "never",
            record.revoked_at.isoformat(timespec="seconds") if record.revoked_at else "",
        )
    console.print(table)


@token_app.command("revoke")
def token_revoke(name: Annotated[str, typer.Argument(help="Token name or id.")]) -> None:
    """Revoke a token; requests using it are refused within seconds."""
    settings = _settings()
    engine = _database(settings, "token revoke", create=False)
    if not tokens.revoke_token(engine, name):
        raise _fail(f"no live token named {name!r}", 1)
    console.print(f"token {escape(repr(name))} revoked", highlight=False)


def main() -> None:
    """The console script: one sentence and an exit code for an error, unless ``--debug``."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        if _Run.debug or "--debug" in sys.argv[1:]:
            raise
        known = isinstance(exc, ConfigError | DatabaseProblem)
        message = str(exc) if known else explain_failure(None, exc)
        if message is None:
            message = (
                f"unexpected {type(exc).__name__}: {exc} (run again with --debug for the traceback)"
            )
        err.print(f"[red]error:[/red] {escape(message)}", highlight=False)
        sys.exit(EXIT_CONFIG if known else 1)
