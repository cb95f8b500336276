"""``scimbridge import-claims-policy``: a Flex SSO claims-mapping policy, carried over in one go.

Does: read the policy file, have :mod:`scimbridge.flex.mapping.claims_policy` translate it, and
print the
three things an admin needs (the ``[flex.attributes]`` TOML, the Entra provisioning mappings to add,
what cannot be carried over and why); with a target file, merge the TOML into it
(:mod:`scimbridge.config_merge`). Every user string printed is escaped for rich markup.
Does not: validate the resulting mapping beyond what the translation checks (``check-config``
explains it afterwards, as for any configuration).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from scimbridge.cli import context
from scimbridge.config_merge import MergeError, MergeResult, merge_into_file, render_attributes
from scimbridge.flex.mapping.claims_policy import (
    PolicyError,
    Translation,
    read_policy,
    translate,
)

DEFAULT_FRIENDLY_NAME = "userName"


class ImportFailed(ValueError):
    """One sentence for the operator; the command exits 2 with it."""


def load_translation(policy_file: Path) -> Translation:
    """The translation of the policy in ``policy_file``; raises :class:`ImportFailed`."""
    try:
        text = policy_file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportFailed(f"cannot read {policy_file}: {exc}") from None
    try:
        return translate(read_policy(text))
    except PolicyError as exc:
        raise ImportFailed(f"{policy_file}: {exc}") from None


def write_rules(target: Path, translation: Translation) -> MergeResult:
    """Merge the translation's rules into ``target``; raises :class:`ImportFailed`."""
    try:
        return merge_into_file(target, translation.attributes)
    except MergeError as exc:
        raise ImportFailed(str(exc)) from None


def friendly_name_source(config_file: Path | None) -> str:
    """``[flex] friendly_name`` of ``config_file``; ``userName`` if absent or unreadable."""
    if config_file is None or not config_file.is_file():
        return DEFAULT_FRIENDLY_NAME
    try:
        document: dict[str, Any] = tomllib.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return DEFAULT_FRIENDLY_NAME
    flex = document.get("flex")
    value = flex.get("friendly_name") if isinstance(flex, dict) else None
    return value if isinstance(value, str) and value else DEFAULT_FRIENDLY_NAME


def name_id_note(translation: Translation, friendly_name: str) -> str:
    """How the policy's NameID relates to scimbridge's ``friendly_name`` source."""
    source = translation.name_id_source
    if source is None:
        return (
            "the policy sets no NameID, so Flex names the SSO worker after the app's Unique User "
            f"Identifier (user.userprincipalname by default, which arrives as userName); "
            f"[flex] friendly_name reads {friendly_name}: they must be the same attribute"
        )
    if source.casefold() == friendly_name.casefold():
        return (
            f"the NameID (the SSO worker's friendly_name) arrives as {source}, which [flex] "
            "friendly_name reads too: SSO and scimbridge name the worker alike"
        )
    return (
        f"the NameID (the SSO worker's friendly_name) arrives as {source}, but [flex] "
        f"friendly_name reads {friendly_name}: set friendly_name = {source!r}, or an SSO login "
        "makes a second worker"
    )


def print_translation(translation: Translation, console: Console, friendly_name: str) -> None:
    """The three parts of the report: TOML, Entra mappings, what is not carried over."""
    console.print("[bold]1. Worker attributes[/bold] (TOML for the SCIMBRIDGE_CONFIG file):\n")
    console.print(
        render_attributes(translation.attributes), markup=False, highlight=False, soft_wrap=True
    )
    custom = [m for m in translation.provisioning if m.custom]
    console.print(
        "[bold]2. Entra provisioning[/bold] (Provisioning → Mappings → Provision "
        "Microsoft Entra ID Users):"
    )
    if custom:
        console.print(
            "   first add these attributes: Show advanced options → Edit attribute list for "
            "customappsso (type String):"
        )
        for mapping in custom:
            console.print(Text(f"   - {mapping.scim}"), highlight=False)
    table = Table()
    for header in ("Entra attribute", "SCIM attribute (target)", "for the claim"):
        table.add_column(header, overflow="fold")  # every character stays, to be copied
    for mapping in translation.provisioning:
        table.add_row(Text(mapping.entra), Text(mapping.scim), Text(mapping.claim))
    console.print(table)
    console.print(
        "   Entra's default mappings already include userPrincipalName → userName and mail → "
        'emails[type eq "work"].value; keep those and add the others.',
        markup=False,
        highlight=False,
    )
    console.print("\n[bold]3. Not carried over, and the worker's name[/bold]:")
    for note in (*translation.not_carried, name_id_note(translation, friendly_name)):
        console.print(f"   - {escape(note)}", highlight=False)


def print_written(target: Path, result: MergeResult, console: Console) -> None:
    """What ``--write`` changed, and how to check it."""
    shown = escape(str(target))
    console.print(
        f"wrote {len(result.added) + len(result.replaced)} rule(s) to {shown}"
        + (
            f"; replaced the existing rule of {escape(', '.join(result.replaced))}"
            if result.replaced
            else ""
        ),
        highlight=False,
    )
    console.print(
        f"check it: SCIMBRIDGE_CONFIG={shown} scimbridge check-config --user <userName>",
        highlight=False,
    )


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
    try:
        translation = load_translation(policy)
        written = write_rules(write, translation) if write else None
    except ImportFailed as exc:
        context.err.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True, highlight=False)
        raise typer.Exit(2) from exc
    config = write or (
        Path(os.environ["SCIMBRIDGE_CONFIG"]) if os.environ.get("SCIMBRIDGE_CONFIG") else None
    )
    print_translation(translation, context.console, friendly_name_source(config))
    if write and written:
        print_written(write, written, context.console)
