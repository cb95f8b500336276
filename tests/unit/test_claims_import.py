"""What ``import-claims-policy`` prints: user strings survive rich markup, and the NameID is
checked against the ``friendly_name`` source of the file it will be merged into."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from scimbridge.cli.claims_import import friendly_name_source, load_translation, print_translation

NAME_ID = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier"


def write_policy(path: Path, *entries: dict[str, str]) -> Path:
    schema = [{"Source": "user", **entry} for entry in entries]
    path.write_text(json.dumps({"ClaimsMappingPolicy": {"Version": 1, "ClaimsSchema": schema}}))
    return path


def printed(translation_file: Path, friendly_name: str) -> str:
    console = Console(record=True, width=240)
    print_translation(load_translation(translation_file), console, friendly_name)
    return console.export_text()


def test_bracketed_names_survive_every_part_of_the_report(tmp_path: Path) -> None:
    policy = write_policy(
        tmp_path / "p.json",
        {"ID": "department", "SamlClaimType": "tier[bold]"},
        {"ExtensionID": "extension_abc_site", "SamlClaimType": "site[red]x"},
    )
    text = printed(policy, "userName")
    assert '[flex.attributes."tier[bold]"]' in text
    assert '[flex.attributes."site[red]x"]' in text
    assert "| site[red]x" in text.replace("│", "|")
    assert "the worker key 'site[red]x' cannot be a SCIM attribute name" in text
    assert "[flex] friendly_name" in text


def test_a_name_id_from_another_attribute_than_friendly_name_is_pointed_out(
    tmp_path: Path,
) -> None:
    policy = write_policy(
        tmp_path / "p.json",
        {"ID": "mail", "SamlClaimType": NAME_ID},
        {"ID": "displayname", "SamlClaimType": "full_name"},
    )
    config = tmp_path / "scimbridge.toml"
    assert friendly_name_source(config) == "userName"
    config.write_text('[flex]\nfriendly_name = "userName"\n')
    text = printed(policy, friendly_name_source(config))
    assert (
        'the NameID (the SSO worker\'s friendly_name) arrives as emails[type eq "work"].value'
        in text
    )
    assert "but [flex] friendly_name reads userName" in text
    config.write_text("[flex]\nfriendly_name = 'emails[type eq \"work\"].value'\n")
    text = printed(policy, friendly_name_source(config))
    assert "SSO and scimbridge name the worker alike" in text
