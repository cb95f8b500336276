"""``scimbridge token create|list|revoke``: the stored SCIM bearer tokens.

Does: create a token and print it once (stdout; only its hash is stored), list tokens (never the
tokens themselves), revoke one by name or id.
Does not: authenticate anyone (``scim.auth``).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from scimbridge.cli import context
from scimbridge.cli.context import command_settings, command_store, fail
from scimbridge.store.tokens import TokenNameTaken


def token_create(
    name: Annotated[str, typer.Option("--name", help="A label for the token.")],
) -> None:
    """Create a token and print it once (only its hash is stored)."""
    settings = command_settings()
    tokens = command_store(
        settings, "token create", create=True, migrate_first=settings.is_sqlite
    ).tokens
    try:
        _, secret = tokens.create_token(name)
    except TokenNameTaken as exc:
        raise fail(str(exc), 1) from exc
    context.err.print(
        f"token {escape(repr(name))} created; it is shown only this once:", highlight=False
    )
    print(secret)


def token_list() -> None:
    """List tokens (names and dates; never the tokens)."""
    settings = command_settings()
    tokens = command_store(settings, "token list", create=False).tokens
    table = Table("name", "id", "created", "last used", "revoked")
    for record in tokens.list_tokens():
        table.add_row(
            escape(record.name),
            record.id,
            record.created_at.isoformat(timespec="seconds"),
            record.last_used_at.isoformat(timespec="minutes") if record.last_used_at else "never",
            record.revoked_at.isoformat(timespec="seconds") if record.revoked_at else "",
        )
    context.console.print(table)


def token_revoke(name: Annotated[str, typer.Argument(help="Token name or id.")]) -> None:
    """Revoke a token; requests using it are refused within seconds."""
    settings = command_settings()
    tokens = command_store(settings, "token revoke", create=False).tokens
    if not tokens.revoke_token(name):
        raise fail(f"no live token named {name!r}", 1)
    context.console.print(f"token {escape(repr(name))} revoked", highlight=False)
