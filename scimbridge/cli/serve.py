"""``scimbridge serve`` and ``scimbridge worker``: the long-running processes.

Does: check the ports are free before anything is created, open the database (migrating SQLite),
build the runtime, hand out a first token, print the fake Flex's page and ``export`` lines for
``--fake-flex``, and run uvicorn (``serve``) or the drainer alone until a signal (``worker``).
Does not: build any part itself (``runtime``) or make the application (``app``).
"""

from __future__ import annotations

import enum
import logging
import os
import socket
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from scimbridge.cli import context
from scimbridge.cli.context import command_configuration, command_runtime, fail
from scimbridge.config.settings import LOOPBACK_PROXIES

log = logging.getLogger("scimbridge")
DEMO_FAKE_FLEX_PORT = 8089  # the README's quick start opens http://127.0.0.1:8089/


class EventLoop(enum.StrEnum):
    """The asyncio event loop ``serve`` runs on."""

    AUTO = "auto"
    ASYNCIO = "asyncio"
    UVLOOP = "uvloop"

    def for_database(self, postgres: bool) -> str:
        """The loop to run: ``auto`` is uvloop on PostgreSQL, asyncio on SQLite. On PostgreSQL
        every user call awaits the network, and uvloop's faster I/O gave it the better p99 and
        throughput; on SQLite the calls finish without waiting, and asyncio answers requests
        in arrival order under load where uvloop left some waiting a whole extra round
        (``bench/RESULTS.md``)."""
        if self is EventLoop.AUTO:
            return "uvloop" if postgres else "asyncio"
        return self.value


def _check_port_free(host: str, port: int) -> None:
    """Fail, before anything is created or printed, when the port is taken (another ``serve``):
    a probe bind, closed again at once for uvicorn to bind."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        socket.create_server((host, port), family=family).close()
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise fail(
            f"cannot listen on {host}:{port}: {reason} "
            "(another `scimbridge serve`? choose another --port)"
        ) from exc


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
            help="Event loop. auto: uvloop on PostgreSQL (the better p99 and throughput when "
            "every call awaits the network), asyncio on SQLite (requests answered in arrival "
            "order under load); see bench/RESULTS.md."
        ),
    ] = EventLoop.AUTO,
) -> None:
    """Serve SCIM on HOST:PORT (SQLite: creates the database and applies migrations)."""
    import dataclasses

    from scimbridge.app import create_app
    from scimbridge.cli.first_token import hand_out_first_token
    from scimbridge.server import is_loopback, run_server, server_config

    configuration = command_configuration()
    settings = configuration.settings
    if fake_flex:
        settings = dataclasses.replace(settings, fake_flex=True)
    settings = dataclasses.replace(settings, fake_flex_port=fake_flex_port)
    # The sections were typed once above; the flags change no section, only these settings.
    configuration = dataclasses.replace(configuration, settings=settings)
    threads = sync_threads if workers is None else workers
    _check_port_free(host, port)
    if metrics_port is not None:
        _check_port_free(host, metrics_port)
    runtime = command_runtime(configuration, "serve", create=True, sync_threads=max(0, threads))
    application = create_app(runtime, public_bind=not is_loopback(host), metrics_port=metrics_port)
    hand_out_first_token(
        runtime.store.tokens,
        has_static=bool(settings.bearer_token),
        token_file=token_file,
        demo=settings.fake_flex,
        console=context.console,
    )
    fake = runtime.fake_flex
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
        loop=loop.for_database(not settings.is_sqlite),
        # Also puts uvicorn's own loggers back at this level, which an in-process fake Flex
        # (started above with its own uvicorn) turned down to warnings.
        log_level=settings.log_level.lower(),
    )
    run_server(config, metrics_port)


def _print_fake_flex(page_url: str, port: int, environment: dict[str, str]) -> None:
    from scimbridge.testing.fakeflex.server import export_lines

    context.err.print(
        "[bold yellow]FAKE FLEX:[/bold yellow] workers go to an in-memory fake Flex in this "
        "process, not to Twilio; they vanish when it stops."
    )
    context.console.print(f"See the synced workers at {escape(page_url)}", highlight=False)
    context.console.print(
        "To run `scimbridge resync` or `check-config` against this fake from another shell: "
        f'eval "$(scimbridge fake-flex --print-env --port {port})", or paste:',
        highlight=False,
    )
    context.console.print(escape(export_lines(environment)), end="", highlight=False)


def worker_command(
    threads: Annotated[int, typer.Option(help="Drainer threads in this process.")] = 1,
) -> None:
    """Run the sync worker alone: drain the outbox into TaskRouter until interrupted."""
    import signal
    import threading

    configuration = command_configuration()
    settings = configuration.settings
    if not settings.twilio:
        raise fail("the sync worker needs Twilio settings (TWILIO_ACCOUNT_SID…)")
    runtime = command_runtime(configuration, "worker", create=False, sync_threads=max(1, threads))
    if runtime.drainer is None:
        raise fail("the sync is off (SCIMBRIDGE_SYNC=false); nothing to run")
    services = runtime.services
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
