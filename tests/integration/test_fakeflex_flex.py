"""The fake Flex server's Flex side: SSO login, Users API v4 Provision/Deprovision, v2 FlexUser."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from twilio.base.exceptions import TwilioRestException

from scimbridge.testing.fakeflex.records import FakeApiError
from scimbridge.testing.fakeflex.server import FakeFlexServer
from scimbridge.testing.fakeflex.users import escape_identity

CLAIMS = {"full_name": "Ada Lovelace", "email": "ada@example.com", "roles": "agent"}


def attributes_of(fake: FakeFlexServer, username: str) -> dict[str, object]:
    worker = fake.state.worker_named(username)
    assert worker is not None
    parsed: dict[str, object] = json.loads(worker.attributes)
    return parsed


@pytest.mark.parametrize(
    ("name", "escaped"),
    [
        ("ada@example.com", "ada_40example_2Ecom"),
        ("first_last", "first_5Flast"),
        ("a-b+c", "a_2Db_2Bc"),
        ("Plain9", "Plain9"),
        ("é", "_E9"),
    ],
)
def test_identity_escaping(name: str, escaped: str) -> None:
    assert escape_identity(name) == escaped


def test_sso_login_creates_the_worker_like_flex(fake: FakeFlexServer) -> None:
    response = requests.post(
        f"{fake.url}/__fake__/sso-login",
        json={"username": "ada@example.com", "claims": {**CLAIMS, "roles": "agent, supervisor"}},
    )
    assert response.status_code == 200
    worker = response.json()
    assert worker["friendly_name"] == "ada@example.com"
    assert worker["activity_name"] == "Offline"
    assert json.loads(worker["attributes"]) == {
        "contact_uri": "client:ada_40example_2Ecom",
        "full_name": "Ada Lovelace",
        "email": "ada@example.com",
        "roles": ["agent", "supervisor"],
    }
    user = fake.state.users.by_username("ADA@example.com")
    assert user is not None and user.worker_sid == worker["sid"]
    assert user.roles == ["agent", "supervisor"]


def test_sso_login_merges_claims_into_existing_attributes(fake: FakeFlexServer) -> None:
    existing = {
        "routing": {"skills": ["fr"], "levels": {"fr": 3}},
        "department": "Sales",
        "location": "London",
        "full_name": "Old Name",
        "contact_uri": "client:custom",
    }
    sid = fake.state.create_worker("ada@example.com", attributes=json.dumps(existing)).sid
    claims = {
        **CLAIMS,
        "department": "",
        "channel.chat.capacity.int": "3",
        "vip.boolean": "TRUE",
        "languages.stringarray": "en,fr",
        "image_url": "https://example.com/a.png",
    }
    worker = fake.state.sso_login("Ada@Example.com", claims)
    assert worker.sid == sid
    assert json.loads(worker.attributes) == {
        "routing": {"skills": ["fr"], "levels": {"fr": 3}},
        "location": "London",
        "full_name": "Ada Lovelace",
        "contact_uri": "client:custom",
        "email": "ada@example.com",
        "roles": ["agent"],
        "channel.chat.capacity": 3,
        "vip": True,
        "languages": ["en", "fr"],
        "image_url": "https://example.com/a.png",
    }
    assert worker.revision == 1


def test_sso_login_refuses_missing_claims_and_bad_casts_without_writing(
    fake: FakeFlexServer,
) -> None:
    fake.state.create_worker("bob", attributes='{"keep":1}')
    with pytest.raises(FakeApiError) as missing:
        fake.state.sso_login("bob", {"email": "b@example.com", "roles": "agent"})
    assert missing.value.code == 45050
    with pytest.raises(FakeApiError) as bad_cast:
        fake.state.sso_login("bob", {**CLAIMS, "skill.int": "three"})
    assert (bad_cast.value.status, bad_cast.value.message) == (
        400,
        "Error invalid attribute format",
    )
    assert attributes_of(fake, "bob") == {"keep": 1}
    over_http = requests.post(
        f"{fake.url}/__fake__/sso-login", json={"username": "bob", "claims": {"roles": "agent"}}
    )
    assert (over_http.status_code, over_http.json()["code"]) == (400, 45050)


def provision(fake: FakeFlexServer, body: dict[str, Any]) -> requests.Response:
    return requests.post(
        f"{fake.url}/v4/Instances/{fake.flex_instance_sid}/Users/Provision",
        json=body,
        auth=(fake.account_sid, fake.auth_token),
    )


def test_provision_is_idempotent_on_username(fake: FakeFlexServer) -> None:
    client = fake.client()
    url = f"{fake.url}/v4/Instances/{fake.flex_instance_sid}/Users/Provision"
    body = {
        "username": "ada@example.com",
        "email": "ada@example.com",
        "full_name": "Ada",
        "roles": ["agent"],
        "worker": {"attributes": {"channel.voice.capacity": 10}},
    }
    first = client.request("POST", url, data=body, headers={"Content-Type": "application/json"})
    assert first.status_code == 201
    created = json.loads(first.text)
    assert created["flex_user_sid"].startswith("FU")
    assert created["worker"] == {
        "worker_sid": created["worker_sid"],
        "workspace_sid": fake.workspace_sid,
    }
    again = provision(fake, {**body, "full_name": "Ada L", "worker": {}})
    assert again.status_code == 200
    updated = again.json()
    assert (updated["flex_user_sid"], updated["worker_sid"]) == (
        created["flex_user_sid"],
        created["worker_sid"],
    )
    assert [w.friendly_name for w in fake.state.workers()] == ["ada@example.com"]
    assert attributes_of(fake, "ada@example.com") == {
        "contact_uri": "client:ada_40example_2Ecom",
        "channel.voice.capacity": 10,
        "full_name": "Ada L",
        "email": "ada@example.com",
        "roles": ["agent"],
    }
    recorded = fake.state.requests.all("users.provision")[0]
    assert recorded.json_body == body


def test_provision_validates_its_body(fake: FakeFlexServer) -> None:
    bodies: list[dict[str, Any]] = [
        {"worker": {}},
        {"username": "x"},
        {"username": "", "worker": {}},
        {"username": "x", "worker": {}, "roles": "agent"},
        {"username": "u" * 65, "worker": {}},  # the worker's friendly_name cannot hold it
    ]
    for body in bodies:
        response = provision(fake, body)
        assert (response.status_code, response.json()["code"]) == (400, 20001), body
    assert fake.state.workers() == []
    assert fake.state.users.all() == []


def test_deprovision_deletes_the_worker_and_deactivates_the_user(fake: FakeFlexServer) -> None:
    user = provision(fake, {"username": "gone@example.com", "worker": {}}).json()
    client = fake.client()
    base = f"{fake.url}/v4/Instances/{fake.flex_instance_sid}/Users"
    response = client.request(
        "POST",
        f"{base}/Deprovision",
        data={"flex_user_sid": user["flex_user_sid"]},
        headers={"Content-Type": "application/json"},
    )
    assert (response.status_code, response.text) == (204, "")
    assert fake.state.workers() == []
    with pytest.raises(TwilioRestException) as gone:
        client.taskrouter.v1.workspaces(fake.workspace_sid).workers(user["worker_sid"]).fetch()
    assert gone.value.status == 404

    listed = json.loads(client.request("GET", base, params={"Username": "gone@example.com"}).text)
    [entry] = listed["users"]
    assert (entry["deactivated"], entry["worker_sid"]) == (True, None)
    assert entry["deactivated_date"] is not None
    assert listed["meta"]["list_key"] == "users" and listed["meta"]["next_token"] is None
    fetched = json.loads(client.request("GET", f"{base}/{user['flex_user_sid']}").text)
    assert fetched == entry
    nobody = json.loads(client.request("GET", base, params={"Username": "nobody"}).text)
    assert nobody["users"] == []
    unknown = client.request(
        "POST",
        f"{base}/Deprovision",
        data={"flex_user_sid": "FU" + "0" * 32},
        headers={"Content-Type": "application/json"},
    )
    assert unknown.status_code == 404

    again = provision(fake, {"username": "gone@example.com", "worker": {}}).json()
    assert again["flex_user_sid"] == user["flex_user_sid"]
    assert again["deactivated"] is False and again["worker_sid"] not in (None, user["worker_sid"])


def test_v2_flex_user_fetch_and_update_with_the_real_client(fake: FakeFlexServer) -> None:
    user = provision(fake, {"username": "v2@example.com", "email": "a@x.org", "worker": {}}).json()
    context = fake.client().flex_api.v2.flex_user(fake.flex_instance_sid, user["flex_user_sid"])
    fetched = context.fetch()
    assert (fetched.username, fetched.email, fetched.worker_sid) == (
        "v2@example.com",
        "a@x.org",
        user["worker_sid"],
    )
    assert fetched.instance_sid == fake.flex_instance_sid
    updated = context.update(email="b@x.org", locale="fr-FR")
    assert (updated.email, updated.locale) == ("b@x.org", "fr-FR")
    assert updated.version > fetched.version
    with pytest.raises(TwilioRestException) as unknown:
        fake.client().flex_api.v2.flex_user(fake.flex_instance_sid, "FU" + "0" * 32).fetch()
    assert (unknown.value.status, unknown.value.code) == (404, 20404)
