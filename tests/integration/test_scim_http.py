"""The SCIM protocol over real HTTP: auth, status codes, ETags, limits, discovery."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from scimbridge.app import create_app
from scimbridge.config.settings import load_settings
from scimbridge.runtime import build_runtime
from scimbridge.store.database import Database, create_db_engine
from scimbridge.store.tokens import Tokens
from tests.support import serving

TOKEN = "integration-static-token-42"
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"


@pytest.fixture
def server(migrated_url: str) -> Iterator[tuple[str, str]]:
    settings = load_settings(
        env={"SCIMBRIDGE_DATABASE_URL": migrated_url, "SCIMBRIDGE_BEARER_TOKEN": TOKEN},
        document={"scim": {"limits": {"max_body_bytes": 4096}}},
    )
    with serving(create_app(build_runtime(settings))) as base:
        yield base, migrated_url


@pytest.fixture
def client(server: tuple[str, str]) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server[0] + "/scim/v2",
        headers={"Authorization": f"Bearer {TOKEN}"},
        follow_redirects=False,
    ) as http:
        yield http


def create(client: httpx.Client, **extra: object) -> dict[str, object]:
    response = client.post(
        "/Users", json={"schemas": [CORE], "userName": f"u{uuid.uuid4().hex[:8]}", **extra}
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_health_answers_without_auth(server: tuple[str, str]) -> None:
    assert httpx.get(server[0] + "/healthz").status_code == 200
    ready = httpx.get(server[0] + "/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["migrations"]["ok"] is True


def test_missing_or_wrong_token_is_401_with_bearer_challenge(server: tuple[str, str]) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {TOKEN}"}):
        response = httpx.get(server[0] + "/scim/v2/Users", headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["status"] == "401"
        assert TOKEN not in response.text


def test_stored_tokens_rotate_and_revoke(server: tuple[str, str]) -> None:
    base, url = server
    engine = create_db_engine(url)
    tokens = Tokens(Database(engine))
    _, first = tokens.create_token("entra-2026")
    _, second = tokens.create_token("entra-2027")
    for token in (first, second):
        assert (
            httpx.get(
                base + "/scim/v2/Users", headers={"Authorization": f"Bearer {token}"}
            ).status_code
            == 200
        )
    assert tokens.revoke_token("entra-2026")
    # Revocation takes effect once the short cache entry expires; a fresh token is never cached.
    _, third = tokens.create_token("entra-2028")
    assert (
        httpx.get(base + "/scim/v2/Users", headers={"Authorization": f"Bearer {third}"}).status_code
        == 200
    )
    engine.dispose()


def test_trailing_slash_is_served_not_redirected(client: httpx.Client) -> None:
    user = create(client)
    for path in ("/Users/", f"/Users/{user['id']}/", "/Schemas/", "/ServiceProviderConfig/"):
        response = client.get(path)
        assert response.status_code == 200, path
    patched = client.patch(
        f"/Users/{user['id']}/",
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "displayName", "value": "X"}],
        },
    )
    assert patched.status_code == 200


def test_etags_give_304_and_412(client: httpx.Client) -> None:
    user = create(client)
    uid, version = user["id"], user["meta"]["version"]  # type: ignore[index]
    fetched = client.get(f"/Users/{uid}")
    assert fetched.headers["etag"] == version
    assert client.get(f"/Users/{uid}", headers={"If-None-Match": version}).status_code == 304
    patch = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "displayName", "value": "A"}],
    }
    ok = client.patch(f"/Users/{uid}", json=patch, headers={"If-Match": version})
    assert ok.status_code == 200
    assert ok.headers["etag"] != version
    stale = client.patch(f"/Users/{uid}", json=patch, headers={"If-Match": version})
    assert stale.status_code == 412
    assert client.get(f"/Users/{uid}").json()["displayName"] == "A"


def test_bad_bodies_get_scim_errors_and_change_nothing(client: httpx.Client) -> None:
    cases = [
        (b"{not json", "application/scim+json", 400, "invalidSyntax"),
        (b"\xff\xfe\x00", "application/json", 400, "invalidSyntax"),
        (b"[1,2]", "application/json", 400, "invalidSyntax"),
        (b'{"schemas":["' + CORE.encode() + b'"]}', "application/json", 400, "invalidValue"),
        (b"x" * 5000, "application/json", 413, None),
        (b"userName=a", "application/x-www-form-urlencoded", 415, None),
    ]
    for body, content_type, status, scim_type in cases:
        response = client.post("/Users", content=body, headers={"Content-Type": content_type})
        assert response.status_code == status, (body[:20], response.text)
        assert response.headers["content-type"].startswith("application/scim+json")
        error = response.json()
        assert error["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
        assert error["status"] == str(status)
        assert error.get("scimType") == scim_type
    assert client.get("/Users").json()["totalResults"] == 0


def test_unknown_paths_and_methods_are_scim_errors(client: httpx.Client) -> None:
    missing = client.get("/Widgets")
    assert missing.status_code == 404
    assert missing.json()["status"] == "404"
    not_allowed = client.put("/Users", json={})
    assert not_allowed.status_code == 405
    assert not_allowed.json()["status"] == "405"


def test_bad_filter_is_invalid_filter(client: httpx.Client) -> None:
    for expression in ("userName eq", 'nosuchattr eq "x"', "((((", 'userName xx "a"'):
        response = client.get("/Users", params={"filter": expression})
        assert response.status_code == 400, expression
        assert response.json()["scimType"] == "invalidFilter", expression


def test_discovery_endpoints(client: httpx.Client) -> None:
    spc = client.get("/ServiceProviderConfig").json()
    assert spc["patch"]["supported"] is True
    assert spc["filter"]["supported"] is True and spc["filter"]["maxResults"] > 0
    assert spc["etag"]["supported"] is True
    schemas = client.get("/Schemas").json()
    ids = {s["id"] for s in schemas["Resources"]}
    assert {
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:ietf:params:scim:schemas:core:2.0:Group",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
    } <= ids
    assert "User Account" in client.get("/Schemas").text
    types = client.get("/ResourceTypes").json()["Resources"]
    assert types[0]["endpoint"] == "/Users"
    assert client.get("/ResourceTypes/User").status_code == 200


def test_attributes_and_excluded_attributes(client: httpx.Client) -> None:
    user = create(client, emails=[{"type": "work", "value": "a@x.com"}], displayName="Ann")
    only = client.get(f"/Users/{user['id']}", params={"attributes": "userName,emails"}).json()
    assert set(only) >= {"id", "userName", "emails", "schemas"}
    assert "displayName" not in only
    without = client.get(f"/Users/{user['id']}", params={"excludedAttributes": "emails"}).json()
    assert "emails" not in without and without["displayName"] == "Ann"
