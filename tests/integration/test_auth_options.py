"""Authentication beyond the static token, over real HTTP: Entra JWTs, the OAuth token endpoint
(workload identity federation and client secrets), and the failed-authentication throttle."""

from __future__ import annotations

import base64
import hashlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from scimbridge.app import create_app
from scimbridge.config.settings import load_settings
from scimbridge.runtime import build_runtime
from scimbridge.store.database import Database, create_db_engine
from scimbridge.store.tables import api_tokens
from scimbridge.store.tokens import Tokens
from tests.support import serving
from tests.unit.entra_keys import (
    OTHER_TENANT,
    PROVISIONING_APP,
    TENANT,
    WIF_AUDIENCE,
    WIF_SUBJECT,
    assertion_claims,
    entra_claims,
    forge,
    key,
    write_jwks,
)

STATIC = "integration-static-token-42"
CLIENT_ID = "entra-provisioning"
SECRETS = ("first-secret-2026", "second-secret-2027")
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
Serve = Callable[..., str]


@pytest.fixture
def serve(sqlite_url: str, tmp_path: Path) -> Iterator[Serve]:
    """Start an app with every auth option on; ``serve(**auth_overrides)`` returns its base URL."""
    jwks_file = write_jwks(tmp_path / "jwks.json", key("tenant"))
    with ExitStack() as stack:

        def start(url: str = sqlite_url, **overrides: Any) -> str:
            auth: dict[str, Any] = {
                "entra_jwt": {
                    "tenant_id": TENANT,
                    "jwks_file": jwks_file,
                    "app_ids": [PROVISIONING_APP],
                },
                "workload_identity": {
                    "tenant_id": TENANT,
                    "client_id": CLIENT_ID,
                    "audience": WIF_AUDIENCE,
                    "subject": WIF_SUBJECT,
                    "jwks_file": jwks_file,
                },
                "client_credentials": {
                    "client_id": "secret-client",
                    "client_secret_sha256": [
                        hashlib.sha256(s.encode()).hexdigest() for s in SECRETS
                    ],
                    "token_lifetime_minutes": 120,
                },
                "throttle": {"max_failures": 100},
                **overrides,
            }
            settings = load_settings(
                env={"SCIMBRIDGE_DATABASE_URL": url, "SCIMBRIDGE_BEARER_TOKEN": STATIC},
                document={"auth": {k: v for k, v in auth.items() if v is not None}},
            )
            return stack.enter_context(serving(create_app(build_runtime(settings))))

        yield start


def scim_get(base: str, token: str, client: httpx.Client | None = None) -> httpx.Response:
    http = client or httpx
    return http.get(base + "/scim/v2/Users", headers={"Authorization": f"Bearer {token}"})


def request_token(
    base: str, fields: Mapping[str, str], via: httpx.Client | None = None
) -> httpx.Response:
    """POST the client-credentials grant with ``fields`` (``grant_type`` may be overridden)."""
    form = {"grant_type": "client_credentials", **fields}
    return (via or httpx).post(base + "/oauth2/token", data=form)


def assertion_form(assertion: str, client_id: str = CLIENT_ID) -> dict[str, str]:
    return {
        "client_id": client_id,
        "client_assertion_type": JWT_BEARER,
        "client_assertion": assertion,
        "scope": f"{WIF_AUDIENCE}/.default",
    }


def oauth_error(response: httpx.Response) -> str:
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"error", "error_description"}
    return str(body["error"])


# -- Entra-issued JWT as the bearer token --------------------------------------------------------


def test_an_entra_jwt_reads_scim_and_the_static_token_still_works(serve: Serve) -> None:
    base = serve()
    assert scim_get(base, key("tenant").sign(entra_claims())).status_code == 200
    assert scim_get(base, STATIC).status_code == 200


def test_every_bad_entra_jwt_is_a_401(serve: Serve, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="scimbridge")
    base = serve()
    now = time.time()
    bad = {
        "expired": key("tenant").sign(entra_claims(issued=now - 7200)),
        "not yet valid": key("tenant").sign(entra_claims(nbf=int(now) + 900)),
        "wrong issuer": key("tenant").sign(
            entra_claims(iss=f"https://login.microsoftonline.com/{TENANT}/v2.0")
        ),
        "wrong tenant": key("tenant").sign(entra_claims(tid=OTHER_TENANT)),
        "wrong audience": key("tenant").sign(entra_claims(aud="https://graph.microsoft.com")),
        "other key": key("attacker").sign(entra_claims(), kid=key("tenant").kid),
        "alg none": forge({"alg": "none", "kid": key("tenant").kid}, entra_claims()),
        "hs256 with the public key": forge(
            {"alg": "HS256", "kid": key("tenant").kid},
            entra_claims(),
            secret=key("tenant").public_pem(),
        ),
    }
    for case, token in bad.items():
        response = scim_get(base, token)
        assert response.status_code == 401, case
        assert response.headers["www-authenticate"].startswith("Bearer"), case
        assert token not in response.text
    assert "Entra JWT refused: wrong tenant" in caplog.text
    assert not any(token in caplog.text for token in bad.values())


# -- workload identity federation: POST /oauth2/token with a client assertion --------------------


def test_an_assertion_buys_a_short_lived_token_that_works_on_scim(
    serve: Serve, migrated_url: str
) -> None:
    base = serve(migrated_url)
    before = datetime.now(UTC)
    response = request_token(base, assertion_form(key("tenant").sign(assertion_claims())))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert 3600 <= body["expires_in"] <= 6 * 3600
    assert scim_get(base, body["access_token"]).status_code == 200
    db = create_db_engine(migrated_url)
    with db.connect() as conn:
        row = conn.execute(select(api_tokens).where(api_tokens.c.name.like("oauth:%"))).one()
    db.dispose()
    assert row.name.startswith(f"oauth:{CLIENT_ID}:")
    assert body["access_token"] not in (row.token_hash, row.name)
    expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=UTC)
    assert timedelta(minutes=59) < expires - before < timedelta(minutes=61)


def test_the_configured_lifetime_is_what_the_client_is_told(serve: Serve, tmp_path: Path) -> None:
    base = serve(
        workload_identity={
            "tenant_id": TENANT,
            "client_id": CLIENT_ID,
            "audience": WIF_AUDIENCE,
            "subject": WIF_SUBJECT,
            "jwks_file": str(tmp_path / "jwks.json"),
            "token_lifetime_minutes": 360,
        }
    )
    response = request_token(base, assertion_form(key("tenant").sign(assertion_claims())))
    assert response.json()["expires_in"] == 360 * 60


def test_a_replayed_valid_assertion_gets_a_second_working_token(serve: Serve) -> None:
    # Documented behaviour: assertions are not remembered; each still-valid one buys a token.
    base = serve()
    form = assertion_form(key("tenant").sign(assertion_claims()))
    first, second = request_token(base, form).json(), request_token(base, form).json()
    assert first["access_token"] != second["access_token"]
    for body in (first, second):
        assert scim_get(base, body["access_token"]).status_code == 200


def test_bad_assertions_are_invalid_client(serve: Serve, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="scimbridge")
    base = serve()
    now = time.time()
    bad = {
        "expired": assertion_claims(issued=now - 3600),
        "not yet valid": assertion_claims(nbf=int(now) + 900),
        "v1 issuer": assertion_claims(iss=f"https://sts.windows.net/{TENANT}/"),
        "issuer with slash": assertion_claims(
            iss=f"https://login.microsoftonline.com/{TENANT}/v2.0/"
        ),
        "other tenant": assertion_claims(tid=OTHER_TENANT),
        "wrong audience": assertion_claims(aud="api://someone-else"),
        "wrong subject": assertion_claims(sub="00000000-0000-0000-0000-000000000000"),
    }
    sent = []
    for case, claims in bad.items():
        assertion = key("tenant").sign(claims)
        sent.append(assertion)
        response = request_token(base, assertion_form(assertion))
        assert response.status_code == 401, case
        assert oauth_error(response) == "invalid_client", case
        assert assertion not in response.text
    forged = key("attacker").sign(assertion_claims(), kid=key("tenant").kid)
    assert oauth_error(request_token(base, assertion_form(forged))) == "invalid_client"
    valid = key("tenant").sign(assertion_claims())
    wrong_client = request_token(base, assertion_form(valid, client_id="someone"))
    assert (wrong_client.status_code, oauth_error(wrong_client)) == (401, "invalid_client")
    # The operator's log says which check failed and with what value, never the assertion.
    assert "client assertion refused: wrong audience: 'api://someone-else'" in caplog.text
    assert not any(assertion in caplog.text for assertion in [*sent, forged, valid])


def test_malformed_token_requests_get_the_rfc_6749_error(serve: Serve) -> None:
    base = serve()
    assertion = key("tenant").sign(assertion_claims())
    form = assertion_form(assertion)
    cases: list[tuple[httpx.Response, int, str]] = [
        (request_token(base, {**form, "grant_type": "password"}), 400, "unsupported_grant_type"),
        (
            request_token(
                base, {**form, "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer"}
            ),
            400,
            "unsupported_grant_type",
        ),
        (httpx.post(base + "/oauth2/token", data=form), 400, "invalid_request"),
        (
            request_token(base, {k: v for k, v in form.items() if k != "client_assertion_type"}),
            400,
            "invalid_request",
        ),
        (request_token(base, {**form, "client_assertion_type": "saml2"}), 401, "invalid_client"),
        (request_token(base, {"client_id": CLIENT_ID}), 401, "invalid_client"),
        (
            httpx.post(base + "/oauth2/token", json={"grant_type": "client_credentials", **form}),
            400,
            "invalid_request",
        ),
        (
            httpx.post(
                base + "/oauth2/token",
                content=f"grant_type=client_credentials&grant_type=client_credentials"
                f"&client_assertion_type={JWT_BEARER}&client_assertion={assertion}",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            ),
            400,
            "invalid_request",
        ),
        (
            request_token(base, {**form, "client_secret": SECRETS[0]}),
            400,
            "invalid_request",
        ),
    ]
    for response, status, error in cases:
        assert (response.status_code, oauth_error(response)) == (status, error), response.text
    assert httpx.get(base + "/oauth2/token").status_code == 405


# -- client credentials with a secret -------------------------------------------------------------


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def test_either_configured_secret_works_in_the_form_or_in_basic(serve: Serve) -> None:
    base = serve()
    issued = [
        request_token(base, {"client_id": "secret-client", "client_secret": SECRETS[0]}),
        httpx.post(
            base + "/oauth2/token",
            data={"grant_type": "client_credentials"},
            headers=basic("secret-client", SECRETS[1]),
        ),
    ]
    for response in issued:
        assert response.status_code == 200, response.text
        assert response.json()["expires_in"] == 120 * 60
        assert scim_get(base, response.json()["access_token"]).status_code == 200


def test_a_wrong_secret_is_invalid_client_with_a_basic_challenge(serve: Serve) -> None:
    base = serve()
    in_basic = httpx.post(
        base + "/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers=basic("secret-client", "guess"),
    )
    assert (in_basic.status_code, oauth_error(in_basic)) == (401, "invalid_client")
    assert in_basic.headers["www-authenticate"].startswith("Basic")
    for client_id, secret in (("secret-client", "guess"), ("nobody", SECRETS[0])):
        in_form = request_token(base, {"client_id": client_id, "client_secret": secret})
        assert (in_form.status_code, oauth_error(in_form)) == (401, "invalid_client")
        assert secret not in in_form.text


def test_an_expired_issued_token_is_refused_and_purged(serve: Serve, sqlite_url: str) -> None:
    base = serve()
    db = create_db_engine(sqlite_url)
    _, stale = Tokens(Database(db)).create_token(
        "oauth:secret-client:old", expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    assert scim_get(base, stale).status_code == 401
    request_token(base, {"client_id": "secret-client", "client_secret": SECRETS[0]})
    with db.connect() as conn:
        names = list(conn.scalars(select(api_tokens.c.name)))
    db.dispose()
    assert "oauth:secret-client:old" not in names
    assert len(names) == 1


def test_without_a_client_configured_there_is_no_token_endpoint(serve: Serve) -> None:
    base = serve(workload_identity=None, client_credentials=None)
    assert request_token(base, {"client_id": "x", "client_secret": "y"}).status_code == 404


# -- throttling of failed authentication ---------------------------------------------------------


def test_failures_from_one_address_throttle_its_failures_never_a_valid_token(serve: Serve) -> None:
    base = serve(throttle={"max_failures": 5, "cooldown_seconds": 120})
    here = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.1"))
    elsewhere = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"))
    with here, elsewhere:
        for _ in range(5):
            assert scim_get(base, "guessed-token", here).status_code == 401
        refused = scim_get(base, "guessed-token", here)
        assert refused.status_code == 429
        assert refused.json()["status"] == "429"
        assert 110 <= int(refused.headers["retry-after"]) <= 120
        # A valid credential is never refused for the failures: only further failures are.
        assert scim_get(base, STATIC, here).status_code == 200
        secret_form = {"client_id": "secret-client", "client_secret": SECRETS[0]}
        assert request_token(base, secret_form, via=here).status_code == 200
        wrong_form = {"client_id": "secret-client", "client_secret": "guess"}
        token_request = request_token(base, wrong_form, via=here)
        assert token_request.status_code == 429
        assert token_request.headers["retry-after"]
        assert scim_get(base, "guessed-token", elsewhere).status_code == 401
        assert scim_get(base, STATIC, elsewhere).status_code == 200


def test_successes_do_not_count_and_token_endpoint_failures_do(serve: Serve) -> None:
    base = serve(throttle={"max_failures": 3})
    for _ in range(10):
        assert scim_get(base, STATIC).status_code == 200
    for _ in range(3):
        wrong = request_token(base, {"client_id": "secret-client", "client_secret": "guess"})
        assert wrong.status_code == 401
    assert scim_get(base, "guessed-token").status_code == 429
    assert scim_get(base, STATIC).status_code == 200


def test_the_throttle_can_be_turned_off(serve: Serve) -> None:
    base = serve(throttle={"enabled": False})
    for _ in range(25):
        assert scim_get(base, "guessed-token").status_code == 401
    assert scim_get(base, STATIC).status_code == 200
