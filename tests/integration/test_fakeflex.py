"""The fake Flex server's TaskRouter side, driven by the real ``twilio`` client over real HTTP.

Covers the worker lifecycle, validation, list filters and pagination, ETag/If-Match, auth, the
option switches and the library quirks the fake must reproduce (list errors as plain
``TwilioException``, ``If-Match`` dropped on delete, ``Unable to … record:`` prefixes).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest.taskrouter.v1.workspace import WorkspaceContext

from scimbridge.testing.fakeflex.server import FakeFlexServer
from tests.support import free_port


def workers_url(fake: FakeFlexServer) -> str:
    return f"{fake.url}/v1/Workspaces/{fake.workspace_sid}/Workers"


class SteppingClock:
    """A clock that moves one minute per reading, so every write has a new timestamp."""

    def __init__(self) -> None:
        self.now = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


# -- worker lifecycle ---------------------------------------------------------------------------


def test_create_returns_201_and_the_documented_worker_json(
    fake: FakeFlexServer, http: requests.Session
) -> None:
    attributes = '{ "email": "ada@example.com",  "routing": {"skills": []} }'
    response = http.post(
        workers_url(fake),
        data={"FriendlyName": "ada@example.com", "Attributes": attributes, "Bogus": "ignored"},
    )
    assert response.status_code == 201
    body = response.json()
    sid = body["sid"]
    assert body == {
        "sid": sid,
        "friendly_name": "ada@example.com",
        "account_sid": fake.account_sid,
        "activity_sid": fake.offline_activity_sid,
        "activity_name": "Offline",
        "workspace_sid": fake.workspace_sid,
        "attributes": attributes,
        "available": False,
        "date_created": body["date_created"],
        "date_updated": body["date_created"],
        "date_status_changed": body["date_created"],
        "url": f"{workers_url(fake)}/{sid}",
        "links": body["links"],
    }
    assert len(sid) == 34 and sid.startswith("WK")
    datetime.strptime(body["date_created"], "%Y-%m-%dT%H:%M:%SZ")
    assert body["links"]["activity"].endswith(f"/Activities/{fake.offline_activity_sid}")
    assert all(link.startswith(fake.url + "/v1/") for link in body["links"].values())
    assert response.headers["ETag"] == '"0"'
    assert response.headers["X-Rate-Limit-Config"] == "Worker-Create"


def test_round_trip_with_the_real_client(ws: WorkspaceContext, fake: FakeFlexServer) -> None:
    available = fake.state.activity_sid("Available")
    created = ws.workers.create(friendly_name="grace", attributes='{"a":1}', activity_sid=available)
    assert (created.activity_name, created.available) == ("Available", True)

    fetched = ws.workers(created.sid).fetch_with_http_info()
    assert fetched.status_code == 200
    assert fetched.data.attributes == '{"a":1}'
    assert fetched.headers["ETag"] == '"0"'

    updated = ws.workers(created.sid).update_with_http_info(attributes='{"b":2}')
    assert updated.data.attributes == '{"b":2}'
    assert updated.data.friendly_name == "grace"
    assert updated.data.activity_sid == available
    assert updated.headers["ETag"] == '"1"'

    assert ws.workers(created.sid).delete() is True
    with pytest.raises(TwilioRestException) as gone:
        ws.workers(created.sid).fetch()
    assert (gone.value.status, gone.value.code) == (404, 20404)
    assert gone.value.msg.startswith("Unable to fetch record: The requested resource")
    with pytest.raises(TwilioRestException) as again:
        ws.workers(created.sid).delete()
    assert (again.value.status, again.value.code) == (404, 20404)


def test_delete_answers_204_with_an_empty_body(
    fake: FakeFlexServer, http: requests.Session
) -> None:
    sid = fake.state.create_worker("x").sid
    response = http.delete(f"{workers_url(fake)}/{sid}")
    assert (response.status_code, response.content) == (204, b"")


def test_update_dates_follow_the_documented_rules(
    ws: WorkspaceContext, fake: FakeFlexServer
) -> None:
    fake.state.clock = SteppingClock()
    created = ws.workers.create(friendly_name="dates")
    renamed = ws.workers(created.sid).update(friendly_name="dates2")
    assert renamed.date_updated > created.date_updated
    assert renamed.date_status_changed == created.date_status_changed
    moved = ws.workers(created.sid).update(activity_sid=fake.state.activity_sid("Unavailable"))
    assert moved.date_status_changed == moved.date_updated > renamed.date_updated
    assert moved.activity_name == "Unavailable"


def test_duplicate_friendly_name_is_400_20001_case_insensitively(ws: WorkspaceContext) -> None:
    ws.workers.create(friendly_name="Ada@Example.com")
    with pytest.raises(TwilioRestException) as dup:
        ws.workers.create(friendly_name="ada@example.COM")
    assert (dup.value.status, dup.value.code) == (400, 20001)
    assert dup.value.msg.startswith("Unable to create record: ")
    other = ws.workers.create(friendly_name="other")
    with pytest.raises(TwilioRestException) as rename:
        ws.workers(other.sid).update(friendly_name="ADA@example.com")
    assert (rename.value.status, rename.value.code) == (400, 20001)
    assert rename.value.msg.startswith("Unable to update record: ")


@pytest.mark.parametrize(
    "form",
    [
        {},
        {"FriendlyName": "x" * 65},
        {"FriendlyName": "a", "Attributes": "not json"},
        {"FriendlyName": "a", "Attributes": "[1, 2]"},
        {"FriendlyName": "a", "ActivitySid": "WA" + "0" * 32},
    ],
)
def test_invalid_create_is_400_20001_and_writes_nothing(
    fake: FakeFlexServer, http: requests.Session, form: dict[str, str]
) -> None:
    response = http.post(workers_url(fake), data=form)
    body = response.json()
    assert response.status_code == 400
    assert body == {
        "code": 20001,
        "message": body["message"],
        "more_info": "https://www.twilio.com/docs/errors/20001",
        "status": 400,
    }
    assert fake.state.workers() == []


def test_friendly_name_of_64_characters_is_accepted(ws: WorkspaceContext) -> None:
    assert len(ws.workers.create(friendly_name="n" * 64).friendly_name) == 64


def test_attributes_are_limited_to_4096_characters(ws: WorkspaceContext) -> None:
    def attributes_of_length(n: int) -> str:
        text = json.dumps({"pad": ""})
        return json.dumps({"pad": "p" * (n - len(text))})

    exact = attributes_of_length(4096)
    assert len(exact) == 4096
    worker = ws.workers.create(friendly_name="big", attributes=exact)
    assert worker.attributes == exact
    with pytest.raises(TwilioRestException) as too_big:
        ws.workers(worker.sid).update(attributes=attributes_of_length(4097))
    assert (too_big.value.status, too_big.value.code) == (400, 20001)
    assert ws.workers(worker.sid).fetch().attributes == exact


def test_update_replaces_attributes_whole_and_leaves_other_fields(ws: WorkspaceContext) -> None:
    worker = ws.workers.create(friendly_name="merge", attributes='{"keep":1,"drop":2}')
    updated = ws.workers(worker.sid).update(attributes='{"keep":3}')
    assert updated.attributes == '{"keep":3}'
    assert (updated.friendly_name, updated.activity_sid) == ("merge", worker.activity_sid)


def test_reject_pending_reservations_needs_an_unavailable_activity(
    ws: WorkspaceContext, fake: FakeFlexServer
) -> None:
    worker = ws.workers.create(friendly_name="rpr")
    with pytest.raises(TwilioRestException) as refused:
        ws.workers(worker.sid).update(
            activity_sid=fake.state.activity_sid("Available"), reject_pending_reservations=True
        )
    assert (refused.value.status, refused.value.code) == (400, 20001)
    offline = ws.workers(worker.sid).update(
        activity_sid=fake.offline_activity_sid, reject_pending_reservations=True
    )
    assert offline.activity_name == "Offline"


def test_malformed_or_unknown_sids_are_404_20404(
    fake: FakeFlexServer, http: requests.Session
) -> None:
    for url in (
        f"{workers_url(fake)}/WKnothex",
        f"{workers_url(fake)}/WK{'0' * 32}",
        f"{fake.url}/v1/Workspaces/WS{'0' * 32}/Workers",
        f"{fake.url}/v1/Workspaces/XX{'0' * 32}",
        f"{fake.url}/v1/Nothing",
    ):
        response = http.get(url)
        assert (response.status_code, response.json()["code"]) == (404, 20404), url


# -- auth -----------------------------------------------------------------------------------------


def test_bad_credentials_get_the_twilio_401_body(fake: FakeFlexServer) -> None:
    wrong = requests.get(workers_url(fake), auth=(fake.account_sid, "wrong"))
    missing = requests.get(workers_url(fake))
    for response in (wrong, missing):
        assert response.status_code == 401
        assert response.json() == {
            "code": 20003,
            "message": "Authenticate",
            "more_info": "https://www.twilio.com/docs/errors/20003",
            "status": 401,
        }
    assert fake.state.requests.all()[0].auth_username == fake.account_sid


def test_an_api_key_authenticates_and_the_secret_is_never_recorded(fake: FakeFlexServer) -> None:
    from twilio.rest import Client

    key_sid, secret = fake.state.add_api_key()
    client = Client(key_sid, secret, account_sid=fake.account_sid, environment={"X": "1"})
    client.taskrouter.base_url = fake.url
    assert client.taskrouter.v1.workspaces(fake.workspace_sid).fetch().sid == fake.workspace_sid
    recorded = fake.state.requests.all()[-1]
    assert recorded.auth_username == key_sid
    assert secret not in json.dumps([r.as_dict() for r in fake.state.requests.all()])


# -- list ----------------------------------------------------------------------------------------


def test_list_follows_pages_in_creation_order(ws: WorkspaceContext, fake: FakeFlexServer) -> None:
    names = [f"agent-{n}" for n in range(7)]
    for name in names:
        ws.workers.create(friendly_name=name)
    assert [w.friendly_name for w in ws.workers.list(page_size=3)] == names
    assert [r.route for r in fake.state.requests.all()].count("workers.list") == 3


def test_list_meta_urls_are_absolute_and_keep_the_filters(
    fake: FakeFlexServer, http: requests.Session
) -> None:
    for n in range(3):
        fake.state.create_worker(f"w{n}")
    first = http.get(workers_url(fake), params={"Available": "false", "PageSize": "2"}).json()
    meta = first["meta"]
    assert meta["key"] == "workers" and meta["page"] == 0 and meta["page_size"] == 2
    assert meta["previous_page_url"] is None
    assert meta["first_page_url"] == f"{workers_url(fake)}?Available=false&PageSize=2&Page=0"
    next_query = parse_qs(urlsplit(meta["next_page_url"]).query)
    assert next_query["Available"] == ["false"] and next_query["Page"] == ["1"]
    assert next_query["PageToken"][0].startswith("PT")

    second = http.get(meta["next_page_url"]).json()
    assert [w["friendly_name"] for w in second["workers"]] == ["w2"]
    assert second["meta"]["next_page_url"] is None
    back = http.get(second["meta"]["previous_page_url"]).json()
    assert [w["friendly_name"] for w in back["workers"]] == ["w0", "w1"]


def test_list_filters(ws: WorkspaceContext, fake: FakeFlexServer) -> None:
    available = fake.state.activity_sid("Available")
    ws.workers.create(friendly_name="On@Example.com", activity_sid=available)
    ws.workers.create(friendly_name="off@example.com")

    def names(**filters: str) -> list[str]:
        return sorted(w.friendly_name for w in ws.workers.list(**filters))

    assert names(friendly_name="on@EXAMPLE.com") == ["On@Example.com"]
    assert names(activity_sid=available) == ["On@Example.com"]
    assert names(activity_name="Offline") == ["off@example.com"]
    for truthy in ("true", "1", "yes"):
        assert names(available=truthy) == ["On@Example.com"]
    assert names(available="nope") == ["off@example.com"]
    assert names(task_queue_sid="WQ" + "0" * 32) == []


@pytest.mark.parametrize("page_size", ["0", "1001", "x"])
def test_list_refuses_page_sizes_outside_1_to_1000(
    fake: FakeFlexServer, http: requests.Session, page_size: str
) -> None:
    response = http.get(workers_url(fake), params={"PageSize": page_size})
    assert (response.status_code, response.json()["code"]) == (400, 20001)


def test_list_attributes_can_be_nulled(ws: WorkspaceContext, fake: FakeFlexServer) -> None:
    worker = ws.workers.create(friendly_name="n", attributes='{"x":1}')
    fake.state.set_options(null_list_attributes=True)
    assert [w.attributes for w in ws.workers.list()] == [None]
    assert ws.workers(worker.sid).fetch().attributes == '{"x":1}'


def test_target_workers_expression_subset_and_its_3_rps_limit(
    ws: WorkspaceContext, fake: FakeFlexServer
) -> None:
    fake.state.create_worker("a", attributes='{"team":"blue","skills":["fr"],"level":3}')
    fake.state.create_worker("b", attributes='{"team":"red","skills":["en"]}')

    def names(expression: str) -> list[str]:
        return [w.friendly_name for w in ws.workers.list(target_workers_expression=expression)]

    assert names('team == "blue"') == ["a"]
    assert names("skills HAS 'en' OR level == 3") == ["a", "b"]
    assert names('team IN ["red", "green"] AND friendly_name == "b"') == ["b"]
    with pytest.raises(TwilioException) as limited:
        names("1==1")
    response = limited.value.args[1]
    assert response.status_code == 429
    assert json.loads(response.text)["code"] == 20429


# -- ETag / If-Match ------------------------------------------------------------------------------


def test_if_match_is_ignored_unless_enforcement_is_on(
    ws: WorkspaceContext, fake: FakeFlexServer
) -> None:
    worker = ws.workers.create(friendly_name="etag")
    assert (
        ws.workers(worker.sid).update(attributes='{"v":1}', if_match='"7"').attributes == '{"v":1}'
    )
    fake.state.set_options(enforce_if_match=True)
    with pytest.raises(TwilioRestException) as stale:
        ws.workers(worker.sid).update(attributes='{"v":2}', if_match='"0"')
    assert stale.value.status == 412
    assert ws.workers(worker.sid).fetch().attributes == '{"v":1}'
    current = ws.workers(worker.sid).fetch_with_http_info().headers["ETag"]
    assert current == '"1"'
    assert ws.workers(worker.sid).update(attributes='{"v":3}', if_match=current).attributes
    assert ws.workers(worker.sid).update(attributes='{"v":4}', if_match="*").attributes
    assert fake.state.requests.all("worker.update")[-2].if_match == current


def test_the_library_drops_if_match_on_delete(ws: WorkspaceContext, fake: FakeFlexServer) -> None:
    fake.state.set_options(enforce_if_match=True)
    worker = ws.workers.create(friendly_name="doomed")
    assert ws.workers(worker.sid).delete(if_match='"99"') is True
    assert fake.state.requests.all("worker.delete")[-1].if_match is None

    kept = ws.workers.create(friendly_name="kept")
    client = fake.client()
    url = f"{workers_url(fake)}/{kept.sid}"
    refused = client.request("DELETE", url, headers={"If-Match": '"99"'})
    assert refused.status_code == 412
    assert fake.state.requests.all("worker.delete")[-1].if_match == '"99"'
    assert client.request("DELETE", url, headers={"If-Match": '"0"'}).status_code == 204


def test_deleting_an_available_worker_can_be_refused(
    ws: WorkspaceContext, fake: FakeFlexServer
) -> None:
    fake.state.set_options(refuse_delete_available=True)
    worker = ws.workers.create(
        friendly_name="busy", activity_sid=fake.state.activity_sid("Available")
    )
    with pytest.raises(TwilioRestException) as refused:
        ws.workers(worker.sid).delete()
    assert (refused.value.status, refused.value.code) == (400, 20001)
    ws.workers(worker.sid).update(activity_sid=fake.offline_activity_sid)
    assert ws.workers(worker.sid).delete() is True


# -- workspace, activities, configuration, async -------------------------------------------------


def test_workspace_activities_and_flex_configuration(fake: FakeFlexServer) -> None:
    client = fake.client()
    workspace = client.taskrouter.v1.workspaces(fake.workspace_sid).fetch()
    assert workspace.default_activity_name == "Offline"
    activities = client.taskrouter.v1.workspaces(fake.workspace_sid).activities
    assert sorted((a.friendly_name, a.available) for a in activities.list()) == [
        ("Available", True),
        ("Offline", False),
        ("Unavailable", False),
    ]
    [offline] = activities.list(friendly_name="Offline")
    assert offline.sid == workspace.default_activity_sid == fake.offline_activity_sid
    configuration = client.flex_api.v1.configuration().fetch()
    assert configuration.taskrouter_workspace_sid == fake.workspace_sid
    assert configuration.taskrouter_offline_activity_sid == fake.offline_activity_sid
    assert configuration.flex_instance_sid == fake.flex_instance_sid
    assert configuration.account_sid == fake.account_sid


def test_async_client_smoke(fake: FakeFlexServer) -> None:
    async def scenario() -> tuple[str, list[str], str | None]:
        http_client = AsyncTwilioHttpClient(timeout=10)
        try:
            ws = fake.client(http_client=http_client).taskrouter.v1.workspaces(fake.workspace_sid)
            created = await ws.workers.create_async(friendly_name="async", attributes='{"a":1}')
            listed = [w.sid for w in await ws.workers.list_async(page_size=1)]
            fetched = await ws.workers(created.sid).fetch_with_http_info_async()
            return created.sid, listed, fetched.headers.get("Etag")
        finally:
            await http_client.close()

    sid, listed, etag = asyncio.run(scenario())
    assert listed == [sid]
    assert etag == '"0"'


def test_serve_fake_flex_runs_in_another_process_driven_over_http() -> None:
    port = free_port()
    code = (
        "from scimbridge.testing.fakeflex.server import serve_fake_flex;"
        f"serve_fake_flex('127.0.0.1', {port}, account_sid=None, auth_token=None)"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert process.stdout is not None
        printed: dict[str, str] = {}
        while "SCIMBRIDGE_FLEX_INSTANCE_SID" not in printed:
            line = process.stdout.readline()
            assert line, "serve_fake_flex exited before printing its credentials"
            if line.startswith("export "):
                key, value = line.removeprefix("export ").strip().split("=", 1)
                printed[key] = value
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while True:
            try:
                requests.get(f"{base}/__fake__/health", timeout=1)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "serve_fake_flex did not start"
                time.sleep(0.05)
        auth = (printed["TWILIO_ACCOUNT_SID"], printed["TWILIO_AUTH_TOKEN"])
        url = f"{base}/v1/Workspaces/{printed['SCIMBRIDGE_TWILIO_WORKSPACE_SID']}/Workers"
        fault = {"kind": "unavailable", "route": "workers.*"}
        assert requests.post(f"{base}/__fake__/faults", json=fault).status_code == 201
        assert requests.get(url, auth=auth).status_code == 503
        assert requests.post(url, data={"FriendlyName": "x"}, auth=auth).status_code == 201
        dump = requests.get(f"{base}/__fake__/workers").json()["workers"]
        assert [w["friendly_name"] for w in dump] == ["x"]
    finally:
        process.terminate()
        process.wait(timeout=10)
