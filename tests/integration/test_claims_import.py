"""``scimbridge import-claims-policy`` end to end: the guide's policy, imported with ``--write``
into an existing file, gives a user exactly the worker attributes Flex SSO writes with that policy,
through the real sync into the fake Flex; every bad input is one line and an exit code.

The test models the two other parties from what they document: Entra provisioning applies the
attribute mappings the command prints, and SSO turns each bare claim name of the policy into the
worker attribute of that name (namespaced ones are dropped, the NameID names the worker).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from scimbridge.cli.claims_import import load_translation
from scimbridge.flex.mapping.claims_policy import ProvisioningMapping
from scimbridge.testing.fakeflex.server import FakeFlexServer
from tests.integration.sync_harness import CORE, running

DATA = Path(__file__).parent.parent / "data" / "claims_policy"
POLICIES = [
    DATA / "claims-mapping-policy.graph-response.json",
    DATA / "claims-mapping-policy.json",
]
ANN = "ann.lee@contoso.com"
# Ann in the directory: Graph user properties by their lower-case policy ID / ExtensionID.
DIRECTORY_ANN: dict[str, Any] = {
    "userprincipalname": ANN,
    "displayname": "Ann Lee",
    "mail": "ann.lee@mail.contoso.com",
    "assignedroles": ["agent"],
    "extension_xxx_exampleproperty": "blue",
    "extension_1b2c3d4e5f6a47b8a9c0d1e2f3a4b5c6_language": "fr-CA",
    "extension_1b2c3d4e5f6a47b8a9c0d1e2f3a4b5c6_teamid": "T-042",
}
EXISTING = """\
# hand-kept settings
[scim.limits]
max_results = 200   # Entra pages at 100

[flex.role_map]
"Flex Agent" = "agent"

[sync]
max_attempts = 5
"""


def scimbridge(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "SCIMBRIDGE_"))}
    return subprocess.run(
        [sys.executable, "-m", "scimbridge", *args],
        env={**clean, "COLUMNS": "200", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def claim_schema(policy: Path) -> list[dict[str, str]]:
    document = json.loads(policy.read_text())
    if "definition" in document:
        document = json.loads(document["definition"][0])
    entries: list[dict[str, str]] = document["ClaimsMappingPolicy"]["ClaimsSchema"]
    return entries


def directory_value(entry: dict[str, str]) -> Any:
    return DIRECTORY_ANN[(entry.get("ID") or entry["ExtensionID"]).lower()]


def sso_login(policy: Path) -> tuple[str, dict[str, Any]]:
    """(NameID, claims) of Ann's SAML assertion under ``policy``, as Flex reads it."""
    name_id, claims = "", {}
    for entry in claim_schema(policy):
        claim = entry["SamlClaimType"]
        if claim.endswith("/nameidentifier"):
            name_id = directory_value(entry)
        elif "/" not in claim and ":" not in claim:
            claims[claim] = directory_value(entry)
    return name_id, claims


def entra_provisions(mappings: tuple[ProvisioningMapping, ...]) -> dict[str, Any]:
    """The SCIM user Entra POSTs for Ann once the admin has added ``mappings``."""
    body: dict[str, Any] = {"schemas": [CORE], "active": True}
    for mapping in mappings:
        prop = "assignedroles" if mapping.entra.startswith("AppRoleAssignments") else mapping.entra
        value = DIRECTORY_ANN[prop.lower()]
        if mapping.scim in ("userName", "displayName"):
            body[mapping.scim] = value
        elif mapping.scim == 'emails[type eq "work"].value':
            body["emails"] = [{"value": value, "type": "work", "primary": True}]
        elif mapping.scim == "roles":
            body["roles"] = [
                {"primary": False, "type": "WindowsAzureActiveDirectoryRole", "value": role}
                for role in value
            ]
        elif mapping.custom:
            urn, _, name = mapping.scim.rpartition(":")
            body.setdefault(urn, {})[name] = value
            if urn not in body["schemas"]:
                body["schemas"].append(urn)
        else:
            raise AssertionError(f"this test does not model Entra writing {mapping.scim}")
    return body


@pytest.mark.parametrize("policy", POLICIES, ids=["graph-answer", "unescaped"])
def test_the_imported_policy_gives_the_worker_sso_would_write(
    policy: Path, fake: FakeFlexServer, migrated_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "scimbridge.toml"
    config.write_text(EXISTING)
    imported = scimbridge("import-claims-policy", str(policy), "--write", str(config))
    assert imported.returncode == 0, imported.stderr
    assert "Edit attribute list for customappsso" in imported.stdout
    assert "[flex.attributes.full_name]" in imported.stdout, "TOML printed verbatim"
    written = tomllib.loads(config.read_text())
    assert written["scim"] == {"limits": {"max_results": 200}}
    assert written["sync"] == {"max_attempts": 5}
    assert written["flex"]["role_map"] == {"Flex Agent": "agent"}
    assert "# hand-kept settings" in config.read_text()

    translation = load_translation(policy)
    with running(fake, migrated_url, flex=written["flex"]) as sync:
        response = sync.scim.post("/Users", json=entra_provisions(translation.provisioning))
        assert response.status_code == 201, response.text
        sync.drain()
        by_sync = sync.attributes(ANN)

        name_id, claims = sso_login(policy)
        assert name_id == ANN
        assert set(by_sync) == {*claims, "contact_uri"}, "the sync owns what SSO writes"
        sync.fake.state.sso_login(name_id, claims)
        assert sync.attributes(ANN) == by_sync, "a login over the synced worker changes nothing"
        assert len(sync.workers()) == 1
        sync.fake.state.reset()
        by_sso = json.loads(sync.fake.state.sso_login(name_id, claims).attributes)
        assert by_sso == by_sync

    explained = scimbridge(
        "check-config",
        "--user",
        ANN,
        SCIMBRIDGE_CONFIG=str(config),
        SCIMBRIDGE_DATABASE_URL=migrated_url,
    )
    assert explained.returncode == 0, explained.stdout + explained.stderr
    assert "configuration is valid" in explained.stdout
    for key, value in by_sync.items():
        assert key in explained.stdout and repr(value) in explained.stdout
    assert 'source emails[type eq "work"].value' in explained.stdout, "brackets survive"


def graph_answer(*entries: dict[str, str]) -> str:
    entries = tuple({"Source": "user", **entry} for entry in entries)
    inner = {"ClaimsMappingPolicy": {"Version": 1, "ClaimsSchema": list(entries)}}
    return json.dumps({"id": "0", "definition": [json.dumps(inner)]})


MAIL = {"Source": "user", "ID": "mail", "SamlClaimType": "email"}
BAD_INPUTS = {
    "not-json": ("{'ClaimsMappingPolicy':", "not JSON"),
    "not-a-policy": ('{"displayName": "Example Claim Policy Name"}', "not a claims-mapping policy"),
    "unknown-id": (
        graph_answer(MAIL, {"Source": "user", "ID": "shoesize", "SamlClaimType": "shoes"}),
        "ClaimsSchema entry 2 (ID 'shoesize'): unknown user property",
    ),
    **{
        f"refused-{claim}": (
            graph_answer({"ExtensionID": "extension_x_s", "SamlClaimType": claim}),
            f"ClaimsSchema entry 1 (ExtensionID 'extension_x_s'): the claim '{claim}' is refused",
        )
        for claim in ("routing.skills", "disabled_skills", "team_sid", "routing")
    },
}  # fmt: skip


@pytest.mark.parametrize(("text", "message"), BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_every_bad_policy_is_one_line_and_exit_2_and_writes_nothing(
    text: str, message: str, tmp_path: Path
) -> None:
    policy, config = tmp_path / "policy.json", tmp_path / "scimbridge.toml"
    policy.write_text(text)
    config.write_text(EXISTING)
    result = scimbridge("import-claims-policy", str(policy), "--write", str(config))
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert config.read_text() == EXISTING
    assert sorted(p.name for p in tmp_path.iterdir()) == ["policy.json", "scimbridge.toml"]


def test_a_missing_policy_file_or_a_broken_target_file_is_one_line(tmp_path: Path) -> None:
    missing = scimbridge("import-claims-policy", str(tmp_path / "nope.json"))
    assert missing.returncode == 2 and len(missing.stderr.splitlines()) == 1
    assert "cannot read" in missing.stderr and "Traceback" not in missing.stderr
    broken = tmp_path / "broken.toml"
    broken.write_text("[flex\n")
    result = scimbridge("import-claims-policy", str(POLICIES[0]), "--write", str(broken))
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1
    assert "is not TOML" in result.stderr and broken.read_text() == "[flex\n"
    nowhere = tmp_path / "no" / "such" / "dir.toml"
    result = scimbridge("import-claims-policy", str(POLICIES[0]), "--write", str(nowhere))
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1
    assert "cannot write" in result.stderr and "Traceback" not in result.stderr


def test_check_config_shows_each_oidc_claim_and_the_scim_path_it_resolved_to(
    fake: FakeFlexServer, migrated_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "scimbridge.toml"
    config.write_text(
        '[flex.attributes.given]\nsource = "given_name"\n\n'
        '[flex.attributes.phone]\nsource = "phone_number"\n\n'
        '[flex.attributes.verified]\nsource = "email_verified"\n'
    )
    flex = tomllib.loads(config.read_text())["flex"]
    with running(fake, migrated_url, flex=flex) as sync:
        sync.post_user(
            ANN,
            name={"givenName": "Ann", "familyName": "Lee"},
            phoneNumbers=[{"value": "+1 555 0100", "type": "mobile", "primary": True}],
        )
    explained = scimbridge(
        "check-config", "--user", ANN, SCIMBRIDGE_CONFIG=str(config),
        SCIMBRIDGE_DATABASE_URL=migrated_url,
    )  # fmt: skip
    assert explained.returncode == 0, explained.stdout + explained.stderr
    lines = explained.stdout.splitlines()

    def row(key: str) -> str:
        return next(line for line in lines if line.replace("│", " ").split()[:1] == [key])

    assert "'Ann'" in row("given") and "given_name (OIDC claim) → name.givenName" in row("given")
    assert "'+1 555 0100'" in row("phone")
    assert "phone_number (OIDC claim) → phoneNumbers[primary eq true].value" in row("phone")
    assert "True" in row("verified")
    assert 'email_verified (OIDC claim) → emails[type eq "work"].value is present' in row(
        "verified"
    )
