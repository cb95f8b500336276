"""``scimbridge fake-flex``: serve the fake Flex alone, or print the ``export`` lines of one.

Does: run :mod:`scimbridge.testing.fakeflex` on HOST:PORT with a loud banner, or ask a running
fake (this command's or ``serve --fake-flex``'s) for its environment and print it for ``eval``.
Does not: talk to Twilio; nothing here does.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from scimbridge.cli import context
from scimbridge.cli.context import fail


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

    context.err.print(
        "[bold yellow]FAKE FLEX:[/bold yellow] an in-memory imitation of TaskRouter and Flex; "
        "nothing here reaches Twilio."
    )
    try:
        serve_fake_flex(host, port, account_sid=account_sid, auth_token=auth_token)
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise fail(f"cannot listen on {host}:{port}: {reason}") from exc


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
        raise fail(
            f"no fake Flex answers at http://{shown}:{port}: start one with "
            f"`scimbridge fake-flex --port {port}` or `scimbridge serve --fake-flex "
            f"--fake-flex-port {port}`"
        ) from exc
    print(export_lines({str(k): str(v) for k, v in environment.items()}), end="")
