"""The ``[auth]`` table: defaults, derived issuers and key URLs, and what an operator is told."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from scimbridge.config.errors import ConfigError
from scimbridge.config.settings import load_settings
from scimbridge.scim.auth_config import NON_GALLERY_AUDIENCE, parse_auth_config

TENANT = "72F988BF-86F1-41AF-91AB-2D7CD011DB47"
WIF = {
    "tenant_id": TENANT,
    "client_id": "entra-provisioning",
    "audience": "api://0b5e6f2a-3c4d-4e5f-8a9b-0c1d2e3f4a5b",
    "subject": "9c0d1e2f-3a4b-4c5d-8e6f-7a8b9c0d1e2f",
}
APP = "1b730954-1685-4b74-9bfd-dac224a7b894"
SECRET_HASH = hashlib.sha256(b"s3cret").hexdigest()


def test_no_auth_table_turns_on_only_the_throttle() -> None:
    config = parse_auth_config(load_settings(env={}).auth)
    assert config.entra_jwt is None
    assert not config.token_endpoint_enabled
    assert config.throttle.enabled and config.throttle.max_failures == 20


def test_entra_jwt_defaults_derive_from_the_tenant() -> None:
    config = parse_auth_config({"entra_jwt": {"tenant_id": TENANT, "app_ids": [APP]}}).entra_jwt
    assert config is not None
    tenant = TENANT.lower()
    assert config.tenant_id == tenant
    assert config.audiences == (NON_GALLERY_AUDIENCE,)
    assert config.issuers == (f"https://sts.windows.net/{tenant}/",)
    assert config.jwks.url == f"https://login.microsoftonline.com/{tenant}/discovery/v2.0/keys"
    assert config.leeway_seconds == 60


def test_workload_identity_uses_the_exact_v2_issuer_and_a_default_lifetime() -> None:
    config = parse_auth_config({"workload_identity": WIF}).workload_identity
    assert config is not None
    assert config.issuer == f"https://login.microsoftonline.com/{TENANT.lower()}/v2.0"
    assert config.token_lifetime_minutes == 60


def test_client_secret_digests_allow_rotation_and_stay_out_of_repr() -> None:
    other = hashlib.sha256(b"next").hexdigest().upper()
    config = parse_auth_config(
        {"client_credentials": {"client_id": "c1", "client_secret_sha256": [SECRET_HASH, other]}}
    ).client_credentials
    assert config is not None
    assert config.secret_sha256 == (SECRET_HASH, other.lower())
    assert SECRET_HASH not in repr(config)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"entra_jwt": {}}, "auth.entra_jwt.tenant_id must be a non-empty string"),
        ({"entra_jwt": {"tenant_id": "contoso.com"}}, "tenant_id must be the directory"),
        ({"entra_jwt": {"tenant_id": TENANT, "audience": "x"}}, "unknown [auth.entra_jwt] keys"),
        ({"entra_jwt": {"tenant_id": TENANT, "audiences": []}}, "at least one audience"),
        ({"entra_jwt": {"tenant_id": TENANT}}, "app_ids must list the application id"),
        ({"entra_jwt": {"tenant_id": TENANT, "app_ids": []}}, "any app in the tenant"),
        (
            {"entra_jwt": {"tenant_id": TENANT, "jwks_url": "http://example.com/keys"}},
            "must be an https URL",
        ),
        (
            {"entra_jwt": {"tenant_id": TENANT, "jwks_url": "https://a/k", "jwks_file": "k"}},
            "not both",
        ),
        ({"workload_identity": {**WIF, "token_lifetime_minutes": 59}}, "between 60 and 360"),
        ({"workload_identity": {**WIF, "token_lifetime_minutes": 361}}, "between 60 and 360"),
        ({"workload_identity": {**WIF, "client_id": "a:b"}}, "without ':'"),
        ({"workload_identity": {k: v for k, v in WIF.items() if k != "subject"}}, "subject"),
        (
            {"client_credentials": {"client_id": "c", "client_secret_sha256": "s3cret"}},
            "SHA-256 hex",
        ),
        ({"throttle": {"max_failures": 0}}, "auth.throttle.max_failures must be at least 1"),
        ({"throttle": {"enabled": "yes"}}, "true or false"),
        ({"tokens": {}}, "unknown [auth] keys: tokens"),
    ],
)
def test_mistakes_are_refused_with_the_key_named(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_auth_config(raw)
    assert message in str(caught.value)


def test_every_sub_table_with_a_mistake_is_named_at_once() -> None:
    raw = {
        "tokens": {},
        "entra_jwt": {"tenant_id": "contoso.com"},
        "throttle": {"max_failures": 0},
    }
    with pytest.raises(ConfigError) as caught:
        parse_auth_config(raw)
    problems = caught.value.problems
    assert len(problems) == 3, problems
    assert problems[0] == "unknown [auth] keys: tokens"
    assert problems[1].startswith("auth.entra_jwt.tenant_id must be the directory")
    assert problems[2] == "auth.throttle.max_failures must be at least 1, got 0"


def test_a_loopback_http_key_url_is_allowed_for_local_testing() -> None:
    raw = {
        "entra_jwt": {
            "tenant_id": TENANT,
            "app_ids": [APP],
            "jwks_url": "http://127.0.0.1:8080/keys",
        }
    }
    config = parse_auth_config(raw).entra_jwt
    assert config is not None and config.jwks.url == "http://127.0.0.1:8080/keys"
