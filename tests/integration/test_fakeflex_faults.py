"""Fault injection of the fake Flex server, in-process and over ``/__fake__``.

Each kind of fault is checked from the real client's side (what it raises, which headers it gets)
and from the state's side (whether the write happened).
"""

from __future__ import annotations

import threading
import time

import pytest
import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest.taskrouter.v1.workspace import WorkspaceContext

from scimbridge.testing.fakeflex.faults import Fault, FaultKind
from scimbridge.testing.fakeflex.server import FakeFlexServer


def control(fake: FakeFlexServer, method: str, path: str, **kwargs: object) -> requests.Response:
    response = requests.request(method, f"{fake.url}/__fake__/{path}", timeout=5, **kwargs)  # type: ignore[arg-type]
    assert response.ok, response.text
    return response


def test_list_429_is_a_plain_twilio_exception_with_retry_after(
    ws: WorkspaceContext, fake: FakeFlexServer
) -> None:
    fake.faults.add(Fault(FaultKind.RATE_LIMIT, route="workers.list", retry_after=2))
    with pytest.raises(TwilioException) as limited:
        ws.workers.list()
    assert not isinstance(limited.value, TwilioRestException)
    response = limited.value.args[1]
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"
    assert response.headers["Twilio-Concurrent-Requests"] == "101"
    assert response.text.startswith('{"code":20429,')
    assert ws.workers.list() == []


def test_429_without_retry_after_on_a_write(ws: WorkspaceContext, fake: FakeFlexServer) -> None:
    fake.faults.add(Fault(FaultKind.RATE_LIMIT, route="workers.create", concurrent_requests=7))
    fake.faults.add(Fault(FaultKind.RATE_LIMIT, route="workers.create", code=45780, after=1))
    with pytest.raises(TwilioRestException) as limited:
        ws.workers.create(friendly_name="w")
    assert (limited.value.status, limited.value.code) == (429, 20429)
    raw = requests.post(
        f"{fake.url}/v1/Workspaces/{fake.workspace_sid}/Workers",
        data={"FriendlyName": "w"},
        auth=(fake.account_sid, fake.auth_token),
    )
    assert (raw.status_code, raw.json()["code"]) == (429, 45780)
    assert "Retry-After" not in raw.headers
    assert fake.state.workers() == []


def test_503_and_500_are_never_processed(ws: WorkspaceContext, fake: FakeFlexServer) -> None:
    fake.faults.add(Fault(FaultKind.UNAVAILABLE, route="workers.create", retry_after=1.5))
    fake.faults.add(Fault(FaultKind.SERVER_ERROR, route="workers.create", after=1))
    with pytest.raises(TwilioRestException) as unavailable:
        ws.workers.create(friendly_name="a")
    assert (unavailable.value.status, unavailable.value.code) == (503, 20503)
    with pytest.raises(TwilioRestException) as broken:
        ws.workers.create(friendly_name="a")
    assert (broken.value.status, broken.value.code) == (500, 20500)
    assert fake.state.workers() == []
    assert ws.workers.create(friendly_name="a").friendly_name == "a"


def test_500_after_commit_applies_the_write(ws: WorkspaceContext, fake: FakeFlexServer) -> None:
    fake.faults.add(Fault(FaultKind.SERVER_ERROR_AFTER_COMMIT, route="workers.create"))
    with pytest.raises(TwilioRestException) as broken:
        ws.workers.create(friendly_name="committed")
    assert broken.value.status == 500
    [worker] = fake.state.workers()
    assert worker.friendly_name == "committed"
    with pytest.raises(TwilioRestException) as retried:
        ws.workers.create(friendly_name="committed")
    assert (retried.value.status, retried.value.code) == (400, 20001)


def test_dropped_connection_reaches_the_client_as_a_connection_error(
    ws: WorkspaceContext, fake: FakeFlexServer
) -> None:
    worker = ws.workers.create(friendly_name="d")
    fake.faults.add(Fault(FaultKind.DROP_CONNECTION, route="worker.update"))
    with pytest.raises(requests.ConnectionError):
        ws.workers(worker.sid).update(attributes='{"v":1}')
    assert fake.state.get_worker(worker.sid).attributes == "{}"
    assert ws.workers(worker.sid).update(attributes='{"v":2}').attributes == '{"v":2}'


def test_dropped_connection_after_commit_applies_the_write(
    ws: WorkspaceContext, fake: FakeFlexServer
) -> None:
    fake.faults.add(Fault(FaultKind.DROP_CONNECTION_AFTER_COMMIT, route="workers.create"))
    with pytest.raises(requests.ConnectionError):
        ws.workers.create(friendly_name="ghost")
    assert [w.friendly_name for w in fake.state.workers()] == ["ghost"]


def test_412_fault(ws: WorkspaceContext, fake: FakeFlexServer) -> None:
    worker = ws.workers.create(friendly_name="p")
    fake.faults.add(Fault(FaultKind.PRECONDITION_FAILED, route="worker.update", method="POST"))
    with pytest.raises(TwilioRestException) as stale:
        ws.workers(worker.sid).update(attributes='{"v":1}')
    assert stale.value.status == 412
    assert fake.state.get_worker(worker.sid).revision == 0


def test_after_and_times_count_matching_calls(ws: WorkspaceContext, fake: FakeFlexServer) -> None:
    worker = ws.workers.create(friendly_name="c")
    fake.faults.add(Fault(FaultKind.UNAVAILABLE, route="worker.*", method="GET", after=1, times=2))
    outcomes = []
    for _ in range(4):
        try:
            ws.workers(worker.sid).fetch()
            outcomes.append(200)
        except TwilioRestException as exc:
            outcomes.append(exc.status)
    assert outcomes == [200, 503, 503, 200]
    [rule] = fake.faults.rules()
    assert (rule["seen"], rule["fired"]) == (4, 2)


def test_delay_fault_makes_a_client_time_out(fake: FakeFlexServer) -> None:
    client = fake.client(http_client=TwilioHttpClient(timeout=0.2))
    ws = client.taskrouter.v1.workspaces(fake.workspace_sid)
    fake.faults.add(Fault(FaultKind.DELAY, route="workers.list", delay=1.0))
    with pytest.raises(requests.Timeout):
        ws.workers.list()
    assert ws.workers.list() == []
    deadline = time.monotonic() + 5
    while fake.faults.in_flight and time.monotonic() < deadline:
        time.sleep(0.02)  # the abandoned request is still being served; let it finish
    assert fake.faults.in_flight == 0


def test_latency_global_and_per_route(ws: WorkspaceContext, fake: FakeFlexServer) -> None:
    fake.faults.set_latency(0.05)
    fake.faults.set_latency(0.2, route="workers.list")
    started = time.monotonic()
    ws.fetch()
    fetch_took = time.monotonic() - started
    started = time.monotonic()
    ws.workers.list()
    list_took = time.monotonic() - started
    assert 0.05 <= fetch_took < 0.2 <= list_took
    fake.faults.set_latency(0)
    assert fake.faults.latency() == {"workers.list": 0.2}


def test_rate_limit_headers_and_optional_enforcement(
    fake: FakeFlexServer, http: requests.Session
) -> None:
    url = f"{fake.url}/v1/Workspaces/{fake.workspace_sid}/Workers"
    first = http.get(url)
    assert first.headers["X-Rate-Limit-Limit"] == "100"
    assert int(first.headers["X-Rate-Limit-Remaining"]) < 100
    assert first.headers["X-Rate-Limit-Config"] == "Worker-List"
    fake.state.set_options(enforce_rate_limit=True, rate_limit_per_second=2)
    responses = [http.get(url) for _ in range(6)]  # 6 calls span at most two 1 s windows
    limited = [r for r in responses if r.status_code == 429]
    assert limited and limited[0].json()["code"] == 20429
    assert limited[0].headers["X-Rate-Limit-Remaining"] == "0"


def test_concurrency_cap_rejects_the_extra_request(fake: FakeFlexServer) -> None:
    fake.state.set_options(max_concurrent_requests=1)
    fake.faults.set_latency(0.3)
    url = f"{fake.url}/v1/Workspaces/{fake.workspace_sid}"
    statuses: list[int] = []

    def call() -> None:
        response = requests.get(url, auth=(fake.account_sid, fake.auth_token), timeout=5)
        statuses.append(response.status_code)

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
        time.sleep(0.05)
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 429]


def test_faults_options_and_state_over_the_control_api(
    ws: WorkspaceContext, fake: FakeFlexServer
) -> None:
    rule = control(
        fake, "POST", "faults", json={"kind": "rate_limit", "route": "workers.create", "times": 1}
    ).json()
    with pytest.raises(TwilioRestException) as limited:
        ws.workers.create(friendly_name="remote")
    assert (limited.value.status, limited.value.code) == (429, 20429)
    listed = control(fake, "GET", "faults").json()["faults"]
    assert [(r["id"], r["fired"]) for r in listed] == [(rule["id"], 1)]

    worker = ws.workers.create(friendly_name="remote", attributes='{"x":1}')
    dump = control(fake, "GET", "workers").json()["workers"]
    assert [(w["sid"], w["attributes"], w["revision"]) for w in dump] == [
        (worker.sid, '{"x":1}', 0)
    ]

    recorded = control(fake, "GET", "requests", params={"route": "workers.create"}).json()
    [refused, second] = recorded["requests"]
    assert refused["form"] == {"FriendlyName": "remote"}
    assert second["form"] == {"FriendlyName": "remote", "Attributes": '{"x":1}'}
    assert second["auth_username"] == fake.account_sid
    assert "authorization" not in second["headers"]
    assert fake.auth_token not in str(recorded)

    control(fake, "PATCH", "options", json={"enforce_if_match": True})
    with pytest.raises(TwilioRestException) as stale:
        ws.workers(worker.sid).update(attributes="{}", if_match='"5"')
    assert stale.value.status == 412

    control(fake, "PUT", "latency", json={"seconds": 0.01, "route": "worker.*"})
    assert control(fake, "GET", "latency").json() == {"latency": {"worker.*": 0.01}}

    control(fake, "POST", "reset")
    assert control(fake, "GET", "workers").json() == {"workers": []}
    assert control(fake, "GET", "faults").json() == {"faults": [], "latency": {}}
    assert control(fake, "GET", "options").json()["enforce_if_match"] is False
    info = control(fake, "GET", "info").json()
    assert info["workspace_sid"] == fake.workspace_sid
    assert "auth_token" not in info


def test_the_control_api_refuses_bad_input(fake: FakeFlexServer) -> None:
    base = f"{fake.url}/__fake__"
    assert requests.post(f"{base}/faults", json={"kind": "nope"}).status_code == 400
    assert requests.post(f"{base}/faults", json={"kind": "delay", "after": -1}).status_code == 400
    assert requests.patch(f"{base}/options", json={"no_such": 1}).status_code == 400
    assert requests.patch(f"{base}/options", json={"enforce_if_match": "yes"}).status_code == 400


def test_a_hook_changes_the_state_just_before_the_matching_request_is_served(
    ws: WorkspaceContext, fake: FakeFlexServer
) -> None:
    worker = ws.workers.create(friendly_name="w", attributes='{"a": 1}')
    seen: list[str] = []

    def supervisor_edit() -> None:
        seen.append(fake.state.get_worker(worker.sid).attributes)
        fake.state.update_worker(worker.sid, attributes='{"a": 2}')

    fake.faults.add_hook("worker.update", supervisor_edit, method="POST", after=1)
    fake.state.set_options(enforce_if_match=True)
    ws.workers(worker.sid).update(attributes='{"a": 3}')  # after=1: let through, no hook yet
    assert seen == []
    fresh = requests.get(  # the read: the twilio client does not expose the ETag header
        f"{fake.url}/v1/Workspaces/{fake.workspace_sid}/Workers/{worker.sid}",
        auth=(fake.account_sid, fake.auth_token),
        timeout=5,
    )
    with pytest.raises(TwilioRestException) as conflict:
        ws.workers(worker.sid).update(attributes='{"a": 4}', if_match=fresh.headers["ETag"])
    assert conflict.value.status == 412, "the hook's edit came between the read and the write"
    assert seen == ['{"a": 3}']
    assert fake.state.get_worker(worker.sid).attributes == '{"a": 2}'
    ws.workers(worker.sid).update(attributes='{"a": 5}')  # times=1: the hook is spent
    assert seen == ['{"a": 3}']
