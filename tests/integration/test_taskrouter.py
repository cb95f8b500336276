"""The TaskRouter client against the fake Flex server, over real HTTP, via the real twilio client.

Faults are injected in the fake; retry waits go to a recording sleep so no test waits on backoff.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from scimbridge.flex.twilio.errors import (
    FriendlyNameTaken,
    InvalidRequest,
    PreconditionFailed,
    RateLimited,
    TwilioNotFound,
    Unauthorized,
    Unavailable,
    UnexpectedResponse,
    WorkerNotFound,
)
from scimbridge.flex.twilio.ratelimit import RateLimiter
from scimbridge.flex.twilio.retry import RetryPolicy
from scimbridge.flex.twilio.taskrouter import TaskRouter
from scimbridge.flex.twilio.transport import TwilioCalls, real_http_client
from scimbridge.testing.fakeflex.faults import Fault, FaultKind
from scimbridge.testing.fakeflex.server import FakeFlexServer
from tests.integration.sync_harness import twilio_settings


class Sleeps:
    """A retry sleep that records the waits and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


Make = Callable[..., TaskRouter]


@pytest.fixture
def make(fake: FakeFlexServer, sleeps: Sleeps) -> Make:
    def build(
        *,
        limiter: RateLimiter | None = None,
        http_timeout: float = 5.0,
        on_request: Callable[[str, int], None] | None = None,
        max_attempts: int = 5,
        **overrides: Any,
    ) -> TaskRouter:
        calls = TwilioCalls(
            twilio_settings(fake, **overrides),
            limiter=limiter or RateLimiter(1000.0, burst=10),
            retry=RetryPolicy(
                max_attempts=max_attempts, base=0.01, cap=0.05, random=lambda: 1.0, sleep=sleeps
            ),
            http_client=real_http_client(timeout=http_timeout),
            on_request=on_request,
        )
        return TaskRouter(calls)

    return build


def named(fake: FakeFlexServer, friendly_name: str) -> list[str]:
    """SIDs of the fake's workers with this friendly_name (case-insensitive)."""
    key = friendly_name.casefold()
    return [w.sid for w in fake.state.workers() if w.friendly_name.casefold() == key]


def routes(fake: FakeFlexServer) -> list[str]:
    return [r.route for r in fake.state.requests.all()]


# -- the calls ----------------------------------------------------------------------------------


def test_create_fetch_update_delete_round_trip(fake: FakeFlexServer, make: Make) -> None:
    taskrouter = make()
    attributes = {"email": "ada@example.com", "routing": {"skills": ["en"]}, "name": "Ada Ł"}

    created = taskrouter.create("ada@example.com", attributes)
    fetched = taskrouter.fetch(created.sid)
    assert fetched is not None and fetched.etag
    updated = taskrouter.update(
        created.sid,
        attributes={**fetched.attributes, "email": "ada@new.example.com"},
        activity_sid=taskrouter.activity_sid("Available"),
        if_match=fetched.etag,
    )

    assert created.friendly_name == "ada@example.com"
    assert created.attributes == attributes
    assert created.activity_name == "Offline" and not created.available
    assert fetched.attributes == attributes
    assert updated.attributes["email"] == "ada@new.example.com"
    assert updated.attributes["routing"] == {"skills": ["en"]}
    assert updated.activity_name == "Available" and updated.available
    assert updated.etag and updated.etag != fetched.etag
    assert taskrouter.delete(created.sid) is True
    assert taskrouter.fetch(created.sid) is None
    assert taskrouter.delete(created.sid) is False
    assert named(fake, "ada@example.com") == []


def test_create_in_a_given_activity(make: Make) -> None:
    taskrouter = make()

    worker = taskrouter.create("grace", {}, taskrouter.activity_sid("unavailable"))

    assert worker.activity_name == "Unavailable"


def test_find_by_friendly_name_ignores_case_and_fetches_the_worker(
    fake: FakeFlexServer, make: Make
) -> None:
    taskrouter = make()
    sid = fake.state.create_worker("Alan@Example.com", attributes='{"team":"blue"}').sid
    fake.state.create_worker("alan@example.co", attributes="{}")
    fake.state.set_options(null_list_attributes=True)

    found = taskrouter.find_by_friendly_name("alan@EXAMPLE.com")

    assert found is not None
    assert found.sid == sid
    assert found.attributes == {"team": "blue"}
    assert found.etag and not found.listed
    lookups = fake.state.requests.all()
    assert [r.route for r in lookups] == ["workers.list", "worker.fetch"]
    assert lookups[0].query.get("FriendlyName") == "alan@EXAMPLE.com"
    assert all("TargetWorkersExpression" not in r.query for r in lookups)
    assert taskrouter.find_by_friendly_name("nobody@example.com") is None


def test_iter_workers_follows_every_page(fake: FakeFlexServer, make: Make) -> None:
    taskrouter = make()
    expected = {fake.state.create_worker(f"agent-{n:02d}").sid for n in range(23)}

    seen = [worker.sid for worker in taskrouter.iter_workers(page_size=5)]

    assert len(seen) == 23 and set(seen) == expected
    assert routes(fake).count("workers.list") == 5
    assert all(worker.listed and worker.etag is None for worker in taskrouter.iter_workers(50))


def test_iter_workers_moves_production_page_links_onto_the_base_url(
    fake: FakeFlexServer, make: Make
) -> None:
    taskrouter = make()
    for n in range(7):
        fake.state.create_worker(f"agent-{n}")
    fake.state.set_options(taskrouter_base_url="https://taskrouter.twilio.com")

    assert len(list(taskrouter.iter_workers(page_size=3))) == 7
    assert routes(fake).count("workers.list") == 3


def test_iter_workers_refuses_a_page_link_to_another_host(fake: FakeFlexServer, make: Make) -> None:
    taskrouter = make()
    for n in range(4):
        fake.state.create_worker(f"agent-{n}")
    fake.state.set_options(taskrouter_base_url="http://203.0.113.9:9")

    with pytest.raises(UnexpectedResponse):
        list(taskrouter.iter_workers(page_size=2))
    assert routes(fake).count("workers.list") == 1


def test_workspace_and_offline_activity_come_from_flex_configuration(
    fake: FakeFlexServer, make: Make
) -> None:
    taskrouter = make(workspace_sid=None)

    assert taskrouter.workspace_sid == fake.workspace_sid
    assert taskrouter.offline_activity_sid() == fake.state.activity_sid("Offline")
    assert taskrouter.activity_sid("AVAILABLE") == fake.state.activity_sid("Available")
    taskrouter.activity_sid("Available")
    assert routes(fake).count("configuration.fetch") == 1
    assert routes(fake).count("activities.list") == 1


def test_unknown_activity_is_not_found(make: Make) -> None:
    with pytest.raises(TwilioNotFound):
        make().activity_sid("Lunch")


def test_oversized_attributes_are_refused_before_any_request(
    fake: FakeFlexServer, make: Make
) -> None:
    with pytest.raises(InvalidRequest, match="4096"):
        make().create("big", {"notes": "x" * 5000})
    assert routes(fake) == []


def test_a_malformed_sid_is_refused_before_any_request(fake: FakeFlexServer, make: Make) -> None:
    with pytest.raises(InvalidRequest):
        make().fetch("WK../../Activities")
    assert routes(fake) == []


def test_update_of_a_missing_worker(make: Make) -> None:
    with pytest.raises(WorkerNotFound):
        make().update("WK" + "0" * 32, attributes={})


def test_rename_onto_a_taken_friendly_name(fake: FakeFlexServer, make: Make) -> None:
    taskrouter = make()
    first = taskrouter.create("first", {})
    other = fake.state.create_worker("Second").sid

    with pytest.raises(FriendlyNameTaken, match=other):
        taskrouter.update(first.sid, friendly_name="second")


# -- never a second worker --------------------------------------------------------------------


def test_create_adopts_the_worker_that_holds_the_name(fake: FakeFlexServer, make: Make) -> None:
    existing = fake.state.create_worker("Bob@Example.com", attributes='{"routing":{}}').sid

    adopted = make().create("bob@example.com", {"email": "bob@example.com"})

    assert adopted.sid == existing
    assert adopted.attributes == {"routing": {}}
    assert named(fake, "bob@example.com") == [existing]


def test_create_rejected_for_another_reason_raises(fake: FakeFlexServer, make: Make) -> None:
    with pytest.raises(InvalidRequest) as caught:
        make().create("carol", {}, activity_sid="WA" + "0" * 32)
    assert caught.value.status == 400
    assert named(fake, "carol") == []


@pytest.mark.parametrize(
    "kind", [FaultKind.SERVER_ERROR_AFTER_COMMIT, FaultKind.DROP_CONNECTION_AFTER_COMMIT]
)
def test_create_applied_but_unanswered_is_adopted_not_repeated(
    fake: FakeFlexServer, make: Make, kind: FaultKind
) -> None:
    fake.state.faults.add(Fault(kind, route="workers.create"))

    worker = make().create("dave", {"email": "dave@example.com"})

    assert named(fake, "dave") == [worker.sid]
    assert worker.attributes == {"email": "dave@example.com"}
    assert routes(fake).count("workers.create") == 1


def test_create_lost_before_commit_is_sent_again_after_a_lookup(
    fake: FakeFlexServer, make: Make
) -> None:
    fake.state.faults.add(Fault(FaultKind.DROP_CONNECTION, route="workers.create"))

    worker = make().create("erin", {})

    assert named(fake, "erin") == [worker.sid]
    assert routes(fake) == ["workers.create", "workers.list", "workers.create"]


def test_create_that_times_out_makes_one_worker(fake: FakeFlexServer, make: Make) -> None:
    fake.state.faults.add(Fault(FaultKind.DELAY, route="workers.create", delay=0.6))

    worker = make(http_timeout=0.2).create("frank", {})

    time.sleep(0.8)  # let the delayed first create reach the fake's store (where it must fail)
    assert named(fake, "frank") == [worker.sid]
    assert routes(fake) == ["workers.create", "workers.list", "workers.create"]


def test_racing_creates_of_one_name_end_with_one_worker(fake: FakeFlexServer, make: Make) -> None:
    taskrouter = make()
    with ThreadPoolExecutor(max_workers=4) as pool:
        workers = list(pool.map(lambda _: taskrouter.create("quinn", {"n": 1}), range(4)))

    assert named(fake, "quinn") == [workers[0].sid]
    assert {worker.sid for worker in workers} == {workers[0].sid}


def test_create_during_a_503_storm_gives_up_without_duplicates(
    fake: FakeFlexServer, make: Make, sleeps: Sleeps
) -> None:
    fake.state.faults.add(Fault(FaultKind.UNAVAILABLE, route="workers.create", times=None))

    with pytest.raises(Unavailable):
        make(max_attempts=3).create("gina", {})
    assert routes(fake).count("workers.create") == 3
    assert routes(fake).count("workers.list") == 3
    assert len(sleeps.waits) == 2
    assert named(fake, "gina") == []


# -- retries and rate limits --------------------------------------------------------------------


def test_429_storm_honours_retry_after(fake: FakeFlexServer, make: Make, sleeps: Sleeps) -> None:
    sid = fake.state.create_worker("hal").sid
    fake.state.faults.add(Fault(FaultKind.RATE_LIMIT, route="worker.fetch", times=3, retry_after=2))
    seen: list[tuple[str, int]] = []

    worker = make(on_request=lambda endpoint, status: seen.append((endpoint, status))).fetch(sid)

    assert worker is not None and worker.sid == sid
    assert len(sleeps.waits) == 3
    assert all(wait >= 2.0 for wait in sleeps.waits)
    assert seen == [("worker.fetch", 429)] * 3 + [("worker.fetch", 200)]


def test_429_without_retry_after_backs_off_exponentially(
    fake: FakeFlexServer, make: Make, sleeps: Sleeps
) -> None:
    sid = fake.state.create_worker("ivy").sid
    fake.state.faults.add(Fault(FaultKind.RATE_LIMIT, route="worker.update", times=3))

    make().update(sid, attributes={"a": 1})

    assert sleeps.waits == pytest.approx([0.01, 0.02, 0.04])


def test_429_that_never_ends_surfaces_as_rate_limited(
    fake: FakeFlexServer, make: Make, sleeps: Sleeps
) -> None:
    sid = fake.state.create_worker("jay").sid
    fake.state.faults.add(Fault(FaultKind.RATE_LIMIT, route="worker.fetch", times=None))

    with pytest.raises(RateLimited) as caught:
        make(max_attempts=4).fetch(sid)
    assert caught.value.code == 20429
    assert len(sleeps.waits) == 3


def test_503_and_500_are_retried_on_update_and_delete(fake: FakeFlexServer, make: Make) -> None:
    taskrouter = make()
    sid = fake.state.create_worker("kim").sid
    fake.state.faults.add(Fault(FaultKind.UNAVAILABLE, route="worker.update", retry_after=1))
    fake.state.faults.add(Fault(FaultKind.SERVER_ERROR, route="worker.delete"))

    assert taskrouter.update(sid, attributes={"x": 1}).attributes == {"x": 1}
    assert taskrouter.delete(sid) is True
    assert routes(fake).count("worker.update") == 2
    assert routes(fake).count("worker.delete") == 2


def test_list_pages_are_retried_after_429(fake: FakeFlexServer, make: Make) -> None:
    for n in range(9):
        fake.state.create_worker(f"agent-{n}")
    fake.state.faults.add(Fault(FaultKind.RATE_LIMIT, route="workers.list", after=1, times=2))

    assert len(list(make().iter_workers(page_size=4))) == 9
    assert routes(fake).count("workers.list") == 3 + 2


def test_rate_cap_spaces_requests_on_the_server(fake: FakeFlexServer, make: Make) -> None:
    taskrouter = make(limiter=RateLimiter(20.0, burst=1))

    for n in range(6):
        taskrouter.create(f"paced-{n}", {})

    # The fake stamps each worker with its own clock when the create arrives. Permits are 1/20 s
    # apart; a request's way from permit to server varies on a loaded machine (the first one also
    # opens the connection), so one interval of slack is allowed.
    stamps = sorted(w.date_created for w in fake.state.workers())
    assert len(stamps) == 6
    assert (stamps[-1] - stamps[0]).total_seconds() >= (6 - 2) / 20.0


# -- If-Match -------------------------------------------------------------------------------------


def test_stale_if_match_on_update_raises_precondition_failed(
    fake: FakeFlexServer, make: Make
) -> None:
    taskrouter = make()
    fake.state.set_options(enforce_if_match=True)
    worker = taskrouter.create("mia", {"v": 1})
    taskrouter.update(worker.sid, attributes={"v": 2}, if_match=worker.etag)

    with pytest.raises(PreconditionFailed) as caught:
        taskrouter.update(worker.sid, attributes={"v": 3}, if_match=worker.etag)

    assert caught.value.status == 412
    assert [r.if_match for r in fake.state.requests.all("worker.update")] == [worker.etag] * 2
    current = taskrouter.fetch(worker.sid)
    assert current is not None and current.attributes == {"v": 2}


def test_injected_412_is_not_retried(fake: FakeFlexServer, make: Make, sleeps: Sleeps) -> None:
    sid = fake.state.create_worker("ned").sid
    fake.state.faults.add(Fault(FaultKind.PRECONDITION_FAILED, route="worker.update"))

    with pytest.raises(PreconditionFailed):
        make().update(sid, attributes={}, if_match='"1"')
    assert sleeps.waits == []


def test_delete_sends_if_match(fake: FakeFlexServer, make: Make) -> None:
    taskrouter = make()
    fake.state.set_options(enforce_if_match=True)
    worker = taskrouter.create("olga", {})
    taskrouter.update(worker.sid, attributes={"v": 2})

    with pytest.raises(PreconditionFailed):
        taskrouter.delete(worker.sid, if_match=worker.etag)
    current = taskrouter.fetch(worker.sid)
    assert current is not None
    assert taskrouter.delete(worker.sid, if_match=current.etag) is True

    sent = [r.if_match for r in fake.state.requests.all("worker.delete")]
    assert sent == [worker.etag, current.etag]


# -- pinning and secrecy -----------------------------------------------------------------------


def test_region_and_edge_in_the_environment_do_not_move_requests(
    fake: FakeFlexServer, make: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWILIO_REGION", "ie1")
    monkeypatch.setenv("TWILIO_EDGE", "dublin")
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "not-the-token")

    make().verify_credentials()

    request = fake.state.requests.all("workspace.fetch")[0]
    assert "scimbridge/" in request.headers["user-agent"]
    assert request.auth_username == fake.account_sid


def test_api_key_credentials(fake: FakeFlexServer, make: Make) -> None:
    key, secret = fake.state.add_api_key()

    make(auth_token=None, api_key=key, api_secret=secret).verify_credentials()

    assert fake.state.requests.all("workspace.fetch")[0].auth_username == key


def test_wrong_credentials_never_show_the_secret(
    fake: FakeFlexServer, make: Make, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "wrong-" + fake.auth_token[::-1]
    taskrouter = make(auth_token=secret)
    caplog.set_level(logging.DEBUG)

    with pytest.raises(Unauthorized) as caught:
        taskrouter.verify_credentials()
    with pytest.raises(Unauthorized) as listed:
        list(taskrouter.iter_workers())

    for error in (caught.value, listed.value):
        assert error.status == 401 and error.code == 20003
        assert secret not in str(error) and secret not in repr(error)
        assert secret not in "".join(traceback.format_exception(error))
    assert secret not in repr(taskrouter)
    assert secret not in caplog.text
    assert secret not in json.dumps([r.as_dict() for r in fake.state.requests.all()])
