"""Entra-signed JWTs: key sets (file, URL, refresh limits) and every check a token must pass."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine

from scimbridge.config.errors import ConfigError
from scimbridge.scim.auth import Authenticator
from scimbridge.scim.auth_config import JwksSource, parse_auth_config
from scimbridge.scim.jwt_auth import (
    ClaimRules,
    EntraJwtVerifier,
    JwksError,
    JwtRefused,
    SigningKeys,
    parse_jwks,
    signing_keys,
    verify_jwt,
)
from scimbridge.store.database import Database
from scimbridge.store.tokens import Tokens
from tests.unit.entra_keys import (
    NON_GALLERY_AUDIENCE,
    OTHER_TENANT,
    PROVISIONING_APP,
    TENANT,
    entra_claims,
    forge,
    jwks,
    key,
    write_jwks,
)

RULES = ClaimRules(
    issuers=(f"https://sts.windows.net/{TENANT}/",),
    audiences=(NON_GALLERY_AUDIENCE,),
    tenant_id=TENANT,
    leeway_seconds=60,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingLoader:
    """Hands out a key set that the test can swap, counting how often it is asked."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.calls = 0
        self.fail = False

    def __call__(self) -> Any:
        self.calls += 1
        if self.fail:
            raise OSError("connection refused")
        return self.document


def tenant_keys() -> SigningKeys:
    keys = SigningKeys(lambda: jwks(key("tenant")), describe="test keys")
    keys.load_now()
    return keys


def refusal(token: str, rules: ClaimRules = RULES) -> str:
    with pytest.raises(JwtRefused) as caught:
        verify_jwt(token, tenant_keys(), rules)
    return caught.value.reason


def test_a_token_entra_would_send_passes_and_yields_its_claims() -> None:
    claims = verify_jwt(key("tenant").sign(entra_claims()), tenant_keys(), RULES)
    assert claims["tid"] == TENANT
    assert claims["appid"] == PROVISIONING_APP


def test_an_audience_list_passes_when_one_member_is_accepted() -> None:
    token = key("tenant").sign(entra_claims(aud=["api://else", NON_GALLERY_AUDIENCE]))
    assert verify_jwt(token, tenant_keys(), RULES)["tid"] == TENANT


def _without(claim: str) -> dict[str, Any]:
    return {k: v for k, v in entra_claims().items() if k != claim}


# Claims are built when the test runs, not at collection: "600 s from now" must mean from now.
BAD_CLAIMS: dict[str, tuple[Callable[[], dict[str, Any]], str]] = {
    "expired": (lambda: entra_claims(issued=time.time() - 7200), "expired"),
    "nbf-future": (lambda: entra_claims(nbf=int(time.time()) + 600), "not yet valid"),
    "iat-future": (lambda: entra_claims(iat=int(time.time()) + 600), "not yet valid"),
    "v2-issuer-not-enabled": (
        lambda: entra_claims(iss=f"https://login.microsoftonline.com/{TENANT}/v2.0"),
        "wrong issuer",
    ),
    "issuer-without-slash": (
        lambda: entra_claims(iss=f"https://sts.windows.net/{TENANT}"),
        "wrong issuer",
    ),
    "other-tid": (lambda: entra_claims(tid=OTHER_TENANT), "wrong tenant"),
    "other-tenant-issuer": (lambda: entra_claims(tenant=OTHER_TENANT), "wrong issuer"),
    "graph-audience": (
        lambda: entra_claims(aud="00000003-0000-0000-c000-000000000000"),
        "wrong audience",
    ),
    "no-tid": (lambda: _without("tid"), "missing claim"),
    "no-nbf": (lambda: _without("nbf"), "missing claim"),
}


@pytest.mark.parametrize("case", list(BAD_CLAIMS))
def test_a_token_failing_a_claim_check_is_refused(case: str) -> None:
    make_claims, reason = BAD_CLAIMS[case]
    assert refusal(key("tenant").sign(make_claims())) == reason


def test_leeway_covers_a_small_clock_skew_and_no_more() -> None:
    just_expired = entra_claims(issued=time.time() - 3630)
    assert verify_jwt(key("tenant").sign(just_expired), tenant_keys(), RULES)
    long_expired = entra_claims(issued=time.time() - 3700)
    assert refusal(key("tenant").sign(long_expired)) == "expired"


def test_a_token_signed_by_another_key_under_our_key_id_is_refused() -> None:
    forged = key("attacker").sign(entra_claims(), kid=key("tenant").kid)
    assert refusal(forged) == "bad signature"


def test_a_token_naming_a_key_we_do_not_have_is_refused() -> None:
    assert refusal(key("attacker").sign(entra_claims())) == "unknown signing key"


def test_an_unsigned_token_is_refused() -> None:
    unsigned = forge({"alg": "none", "typ": "JWT", "kid": key("tenant").kid}, entra_claims())
    assert refusal(unsigned) == "algorithm not accepted"


def test_hs256_keyed_with_our_public_key_is_refused() -> None:
    # The classic confusion: the verifier's public key used as an HMAC secret.
    confused = forge(
        {"alg": "HS256", "typ": "JWT", "kid": key("tenant").kid},
        entra_claims(),
        secret=key("tenant").public_pem(),
    )
    assert refusal(confused) == "algorithm not accepted"


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "eyJ.eyJ.x", "x" * 20_000 + ".a.b"])
def test_garbage_is_refused_as_not_a_jwt(token: str) -> None:
    assert refusal(token) == "not a JWT"


def test_the_reason_never_quotes_the_token() -> None:
    token = key("tenant").sign(entra_claims(aud="api://wrong"))
    with pytest.raises(JwtRefused) as caught:
        verify_jwt(token, tenant_keys(), RULES)
    assert token not in caught.value.detail
    assert "api://wrong" in caught.value.detail


def test_the_subject_is_checked_when_one_is_expected() -> None:
    rules = ClaimRules(RULES.issuers, RULES.audiences, TENANT, 60, subject="expected-object-id")
    assert refusal(key("tenant").sign(entra_claims(sub="someone-else")), rules) == "wrong subject"
    assert verify_jwt(
        key("tenant").sign(entra_claims(sub="expected-object-id")), tenant_keys(), rules
    )


def test_parse_jwks_keeps_only_rsa_signing_keys_of_2048_bits_or_more() -> None:
    signing = key("tenant").jwk()
    encryption = {**key("other").jwk(), "use": "enc"}
    small = key("small", 1024).jwk()
    ec = {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"}
    no_kid = {k: v for k, v in key("third").jwk().items() if k != "kid"}
    keys = parse_jwks({"keys": [signing, encryption, small, ec, no_kid]})
    assert list(keys) == [key("tenant").kid]
    with pytest.raises(JwksError):
        parse_jwks({"keys": [small, ec]})
    with pytest.raises(JwksError):
        parse_jwks(["not", "a", "jwks"])


def test_an_unknown_key_id_reloads_the_keys_at_most_once_per_interval() -> None:
    clock = Clock()
    loader = CountingLoader(jwks(key("tenant")))
    keys = SigningKeys(loader, describe="test", min_refresh_seconds=60, clock=clock)
    assert keys.key_for(key("tenant").kid) is not None
    assert loader.calls == 1
    # Entra rotates: the new key appears in the JWKS and is found by one reload.
    loader.document = jwks(key("tenant"), key("rotated"))
    clock.now += 61
    assert keys.key_for(key("rotated").kid) is not None
    assert loader.calls == 2
    # Forged key ids in a burst cost no reload until the interval has passed.
    for i in range(50):
        assert keys.key_for(f"forged-{i}") is None
    assert loader.calls == 2
    clock.now += 61
    assert keys.key_for("forged-again") is None
    assert loader.calls == 3


def test_a_failed_reload_keeps_the_keys_already_held() -> None:
    clock = Clock()
    loader = CountingLoader(jwks(key("tenant")))
    keys = SigningKeys(
        loader, describe="test", min_refresh_seconds=1, max_age_seconds=10, clock=clock
    )
    keys.load_now()
    loader.fail = True
    clock.now += 11
    assert keys.key_for(key("tenant").kid) is not None
    assert loader.calls == 2


def test_old_keys_are_reloaded_after_their_maximum_age() -> None:
    clock = Clock()
    loader = CountingLoader(jwks(key("tenant")))
    keys = SigningKeys(loader, describe="test", max_age_seconds=3600, clock=clock)
    keys.load_now()
    loader.document = jwks(key("rotated"))
    clock.now += 3601
    assert keys.key_for(key("tenant").kid) is None
    assert keys.key_for(key("rotated").kid) is not None


def test_a_bad_jwks_file_is_a_configuration_error(tmp_path: Path) -> None:
    bad = tmp_path / "jwks.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="JWKS file"):
        signing_keys(JwksSource(file=str(bad)))
    with pytest.raises(ConfigError, match="JWKS file"):
        signing_keys(JwksSource(file=str(tmp_path / "missing.json")))


@pytest.fixture
def jwks_server() -> Iterator[tuple[str, list[str]]]:
    """A JWKS served over HTTP on 127.0.0.1; yields its URL and the paths it was asked for."""
    hits: list[str] = []
    body = json.dumps(jwks(key("tenant"))).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/{TENANT}/discovery/v2.0/keys", hits
    finally:
        server.shutdown()
        server.server_close()


def test_keys_at_a_url_are_fetched_on_first_use_and_cached(
    jwks_server: tuple[str, list[str]],
) -> None:
    url, hits = jwks_server
    keys = signing_keys(JwksSource(url=url))
    assert hits == []
    for _ in range(5):
        assert verify_jwt(key("tenant").sign(entra_claims()), keys, RULES)
    assert hits == [f"/{TENANT}/discovery/v2.0/keys"]


def test_an_unreachable_key_url_refuses_tokens_without_raising() -> None:
    keys = signing_keys(JwksSource(url="http://127.0.0.1:9/keys"))
    with pytest.raises(JwtRefused) as caught:
        verify_jwt(key("tenant").sign(entra_claims()), keys, RULES)
    assert caught.value.reason == "unknown signing key"


def entra_verifier(tmp_path: Path, **extra: Any) -> EntraJwtVerifier:
    path = write_jwks(tmp_path / "jwks.json", key("tenant"))
    table = {"tenant_id": TENANT, "jwks_file": path, "app_ids": [PROVISIONING_APP], **extra}
    config = parse_auth_config({"entra_jwt": table})
    assert config.entra_jwt is not None
    return EntraJwtVerifier(config.entra_jwt, signing_keys(config.entra_jwt.jwks))


def test_the_verifier_names_the_calling_app(tmp_path: Path) -> None:
    caller = entra_verifier(tmp_path).check(key("tenant").sign(entra_claims()))
    assert caller is not None
    assert caller.name == f"entra-jwt:{PROVISIONING_APP}"
    assert caller.expires_at > time.time() + 3000


def test_app_ids_restrict_which_app_may_call(tmp_path: Path) -> None:
    verifier = entra_verifier(tmp_path, app_ids=["some-other-app"])
    assert verifier.check(key("tenant").sign(entra_claims())) is None
    assert verifier.check(key("tenant").sign(entra_claims(appid="some-other-app"))) is not None


def test_the_v2_issuer_is_accepted_only_when_configured(tmp_path: Path) -> None:
    v2 = key("tenant").sign(entra_claims(iss=f"https://login.microsoftonline.com/{TENANT}/v2.0"))
    assert entra_verifier(tmp_path).check(v2) is None
    assert entra_verifier(tmp_path, accept_v2_issuer=True).check(v2) is not None


def test_the_authenticator_accepts_an_entra_jwt_and_remembers_it_briefly(tmp_path: Path) -> None:
    engine = create_engine("sqlite://")
    tokens = Tokens(Database(engine))
    authenticator = Authenticator(tokens, "static-secret", entra_jwt=entra_verifier(tmp_path))
    token = key("tenant").sign(entra_claims())
    assert authenticator.known(token) == (False, None)
    principal = authenticator.authenticate(token)
    assert principal is not None and principal.name.startswith("entra-jwt:")
    assert authenticator.known(token) == (True, principal)
    assert authenticator.authenticate(key("attacker").sign(entra_claims())) is None
    static = authenticator.authenticate("static-secret")
    assert static is not None and static.name == "static-token"
