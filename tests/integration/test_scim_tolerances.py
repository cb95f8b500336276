"""What Microsoft's and Okta's SCIM test suites send and expect, over real HTTP, on each engine.

Microsoft's SCIM validator fills every attribute with a random word, reference-typed ones
included; its Postman collection asks for ``GET /users``; its Playwright tests look for
``"members": []`` on a group without members.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from scimbridge.app import create_app
from scimbridge.config.settings import load_settings
from scimbridge.runtime import build_runtime
from tests.support import serving

TOKEN = "tolerance-static-token-7"
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
AGENT = "urn:ietf:params:scim:schemas:extension:FlexAgent:2.0:User"


@pytest.fixture
def base(migrated_url: str) -> Iterator[str]:
    settings = load_settings(
        env={"SCIMBRIDGE_DATABASE_URL": migrated_url, "SCIMBRIDGE_BEARER_TOKEN": TOKEN},
        document={
            "scim": {
                "extensions": [
                    {"urn": AGENT, "attributes": {"homepage": "reference", "site": "string"}}
                ]
            }
        },
    )
    with serving(create_app(build_runtime(settings))) as url:
        yield url


@pytest.fixture
def client(base: str) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=base + "/scim/v2", headers={"Authorization": f"Bearer {TOKEN}"}
    ) as http:
        yield http


def _name() -> str:
    return f"u{uuid.uuid4().hex[:10]}"


def test_reference_attributes_keep_any_string_entra_sends(client: httpx.Client) -> None:
    # The fast path's shape (strings, emails) plus profileUrl, as the validator sends it.
    created = client.post(
        "/Users",
        json={
            "schemas": [CORE],
            "userName": _name(),
            "displayName": "Validator",
            "emails": [{"value": "v@example.com", "type": "work", "primary": True}],
            "profileUrl": "BAPNQLJSRQGD",
        },
    )
    assert created.status_code == 201, created.text
    user = created.json()
    assert user["profileUrl"] == "BAPNQLJSRQGD"
    path = f"/Users/{user['id']}"
    assert client.get(path).json()["profileUrl"] == "BAPNQLJSRQGD"

    replaced = client.put(
        path,
        json={
            "schemas": [CORE, AGENT],
            "userName": user["userName"],
            "profileUrl": "not a url either",
            "photos": [{"value": "QWERTYPHOTO", "type": "photo", "primary": True}],
            AGENT: {"homepage": "KJHGFDSA", "site": "Leeds"},
        },
    )
    assert replaced.status_code == 200, replaced.text
    stored = client.get(path).json()
    assert stored["profileUrl"] == "not a url either"
    assert stored["photos"] == [{"value": "QWERTYPHOTO", "type": "photo", "primary": True}]
    assert stored[AGENT] == {"homepage": "KJHGFDSA", "site": "Leeds"}

    patched = client.patch(
        path,
        json={
            "schemas": [PATCH],
            "Operations": [
                {"op": "replace", "path": "profileUrl", "value": "ZXCVBNM"},
                {"op": "replace", "path": 'photos[type eq "photo"].value', "value": "POIUYT"},
            ],
        },
    )
    assert patched.status_code == 200, patched.text
    stored = client.get(path).json()
    assert stored["profileUrl"] == "ZXCVBNM"
    assert stored["photos"][0]["value"] == "POIUYT"
    # An absolute URL is kept as sent too: nothing normalizes it.
    client.patch(
        path,
        json={
            "schemas": [PATCH],
            "Operations": [{"op": "replace", "path": "profileUrl", "value": "HTTPS://Ex.COM/a"}],
        },
    )
    assert client.get(path).json()["profileUrl"] == "HTTPS://Ex.COM/a"


def test_reference_attributes_are_still_published_as_references(client: httpx.Client) -> None:
    schemas = {s["id"]: s for s in client.get("/Schemas").json()["Resources"]}
    core = {a["name"]: a for a in schemas[CORE]["attributes"]}
    assert core["profileUrl"]["type"] == "reference"
    assert core["profileUrl"]["referenceTypes"] == ["external"]
    photo_value = {a["name"]: a for a in core["photos"]["subAttributes"]}["value"]
    assert photo_value["type"] == "reference"
    declared = {a["name"]: a for a in schemas[AGENT]["attributes"]}
    assert declared["homepage"]["type"] == "reference"
    assert declared["site"]["type"] == "string"


def test_a_reference_that_is_not_a_string_is_still_refused(client: httpx.Client) -> None:
    response = client.post("/Users", json={"schemas": [CORE], "userName": _name(), "profileUrl": 7})
    assert response.status_code == 400
    assert response.json()["scimType"] == "invalidValue"
    assert client.get("/Users").json()["totalResults"] == 0


def test_endpoint_names_match_in_any_case(base: str, client: httpx.Client) -> None:
    assert client.get("/users").status_code == 200
    created = client.post("/USERS", json={"schemas": [CORE], "userName": _name()})
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]
    # The canonical spelling is what the server hands out.
    assert created.headers["location"].endswith(f"/scim/v2/Users/{user_id}")
    assert client.get(f"/uSeRs/{user_id}").json()["id"] == user_id
    assert client.get(f"/users/{user_id}/").status_code == 200
    group = client.post("/groups", json={"schemas": [GROUP], "displayName": _name()})
    assert group.status_code == 201, group.text
    assert client.get("/GROUPS").json()["totalResults"] == 1
    assert client.get("/serviceproviderconfig").json()["patch"]["supported"] is True
    assert client.get("/schemas").status_code == 200
    assert client.get("/resourcetypes/user").json()["name"] == "User"
    searched = client.post("/users/.SEARCH", json={"schemas": [], "filter": "userName pr"})
    assert searched.status_code == 200 and searched.json()["totalResults"] == 1
    # Ids are matched as sent, and so is the /scim/v2 prefix.
    assert client.get(f"/Users/{user_id.upper()}").status_code == 404
    unprefixed = httpx.get(base + "/SCIM/V2/Users", headers={"Authorization": f"Bearer {TOKEN}"})
    assert unprefixed.status_code == 404
    # Metrics label the resource as RFC 7644 spells it, whatever case the request used.
    metrics = httpx.get(base + "/metrics").text
    assert 'scimbridge_scim_requests_total{method="GET",resource="Users",status="200"}' in metrics
    assert 'resource="users"' not in metrics and 'resource="GROUPS"' not in metrics


def test_a_group_without_members_answers_an_empty_list(client: httpx.Client) -> None:
    created = client.post("/Groups", json={"schemas": [GROUP], "displayName": _name()})
    assert created.status_code == 201, created.text
    assert created.json()["members"] == []
    path = f"/Groups/{created.json()['id']}"
    assert client.get(path).json()["members"] == []
    listed = client.get("/Groups").json()["Resources"]
    assert listed[0]["members"] == []
    # Entra's excludedAttributes=members (and any selection without it) still leaves it out.
    assert "members" not in client.get(path, params={"excludedAttributes": "members"}).json()
    assert "members" not in client.get(path, params={"attributes": "displayName"}).json()
    user = client.post("/Users", json={"schemas": [CORE], "userName": _name()}).json()
    added = client.patch(
        path,
        json={
            "schemas": [PATCH],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": user["id"]}]}],
        },
    )
    assert added.status_code == 204, added.text
    assert [m["value"] for m in client.get(path).json()["members"]] == [user["id"]]
    client.patch(
        path,
        json={"schemas": [PATCH], "Operations": [{"op": "remove", "path": "members"}]},
    )
    assert client.get(path).json()["members"] == []
