"""The ``scimbridge`` command: serve · migrate · token · check-config (and the sync commands).

Does: make the Typer application, its global options (``--version``, ``--debug``), register every
command from its module, in the order ``--help`` lists them, and run it as the console script: a
mistake is one sentence and an exit code (the traceback only with ``--debug``).
Does not: implement a command (``cli.serve``, ``cli.checks``, …) or any SCIM or sync logic.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.markup import escape

from scimbridge import __version__
from scimbridge.cli import checks, claims_import, fake_flex, resync, serve, tokens
from scimbridge.cli.context import EXIT_CONFIG, Run, err
from scimbridge.config.errors import ConfigError
from scimbridge.store.location import DatabaseProblem, explain_failure

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
    Run.debug = debug


app.command()(serve.serve)
app.command("worker")(serve.worker_command)
app.command("fake-flex")(fake_flex.fake_flex_command)
app.command("migrate")(checks.migrate_command)
app.command("check-config")(checks.check_config)
app.command("import-claims-policy")(claims_import.import_claims_policy)
app.command()(checks.status)
app.command()(resync.resync)
token_app.command("create")(tokens.token_create)
token_app.command("list")(tokens.token_list)
token_app.command("revoke")(tokens.token_revoke)


def main() -> None:
    """The console script: one sentence and an exit code for an error, unless ``--debug``."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        if Run.debug or "--debug" in sys.argv[1:]:
            raise
        known = isinstance(exc, ConfigError | DatabaseProblem)
        message = str(exc) if known else explain_failure(None, exc)
        if message is None:
            message = (
                f"unexpected {type(exc).__name__}: {exc} (run again with --debug for the traceback)"
            )
        err.print(f"[red]error:[/red] {escape(message)}", highlight=False)
        sys.exit(EXIT_CONFIG if known else 1)
