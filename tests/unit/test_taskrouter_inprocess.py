"""TaskRouter through the real ``twilio`` client over the fake's in-process transport: no server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from scimbridge.config.settings import TwilioSettings
from scimbridge.flex.mapping.config import parse_mapping
from scimbridge.flex.sync.reconciler import Reconciler
from scimbridge.flex.twilio.errors import FriendlyNameTaken, PreconditionFailed, RateLimited
from scimbridge.flex.twilio.ratelimit import RateLimiter
from scimbridge.flex.twilio.retry import RetryPolicy
from scimbridge.flex.twilio.taskrouter import TaskRouter
from scimbridge.flex.twilio.transport import TwilioCalls
from scimbridge.store.database import Database, create_db_engine
from scimbridge.store.objects import Store
from scimbridge.testing.fakeflex.account import FakeFlexState
from scimbridge.testing.fakeflex.faults import Fault, FaultKind
from scimbridge.testing.fakeflex.inprocess import InProcessTransport
from scimbridge.testing.fakeflex.options import FakeFlexOptions

USER = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    "userName": "gil@contoso.com",
    "active": True,
}


@pytest.fixture
def transport() -> Iterator[InProcessTransport]:
    with InProcessTransport(options=FakeFlexOptions(enforce_if_match=True)) as transport:
        yield transport


def taskrouter_for(transport: InProcessTransport, *, max_attempts: int = 5) -> TaskRouter:
    state = transport.state
    settings = TwilioSettings(
        account_sid=state.account_sid,
        auth_token=state.auth_token,
        workspace_sid=state.workspace_sid,
        base_url=transport.url,
        max_rps=1000.0,
    )
    retry = RetryPolicy(max_attempts=max_attempts, base=0.001, cap=0.002, sleep=lambda _: None)
    calls = TwilioCalls(
        settings, limiter=RateLimiter(1000.0, burst=10), retry=retry, http_client=transport
    )
    return TaskRouter(calls)


def stored(state: FakeFlexState, friendly_name: str) -> list[dict[str, object]]:
    """The attributes of every worker the fake holds under ``friendly_name``."""
    return [
        json.loads(record.attributes)
        for record in state.workers()
        if record.friendly_name.casefold() == friendly_name.casefold()
    ]


def test_create_reaches_the_fake_with_the_accounts_credentials(
    transport: InProcessTransport,
) -> None:
    worker = taskrouter_for(transport).create("ann@contoso.com", {"email": "ann@contoso.com"})

    assert stored(transport.state, "ann@contoso.com") == [{"email": "ann@contoso.com"}]
    assert worker.etag is not None
    (create,) = transport.state.requests.all("workers.create")
    assert create.auth_username == transport.state.account_sid
    assert json.loads(create.form["Attributes"]) == {"email": "ann@contoso.com"}


def test_a_create_whose_answer_is_lost_adopts_the_worker_instead_of_creating_another(
    transport: InProcessTransport,
) -> None:
    transport.state.faults.add(Fault(FaultKind.SERVER_ERROR_AFTER_COMMIT, route="workers.create"))

    worker = taskrouter_for(transport).create("bob@contoso.com", {"email": "bob@contoso.com"})

    assert [record.sid for record in transport.state.workers()] == [worker.sid]
    assert len(transport.state.requests.all("workers.create")) == 1


def test_a_taken_name_is_adopted_on_create_and_refused_on_rename(
    transport: InProcessTransport,
) -> None:
    taskrouter = taskrouter_for(transport)
    held = taskrouter.create("cy@contoso.com", {"email": "cy@contoso.com"})
    other = taskrouter.create("dee@contoso.com", {})

    assert taskrouter.create("CY@contoso.com", {"email": "x"}).sid == held.sid
    with pytest.raises(FriendlyNameTaken):
        taskrouter.update(other.sid, friendly_name="cy@contoso.com")
    assert stored(transport.state, "cy@contoso.com") == [{"email": "cy@contoso.com"}]


def test_update_with_if_match_lands_once_and_a_stale_etag_is_refused(
    transport: InProcessTransport,
) -> None:
    taskrouter = taskrouter_for(transport)
    created = taskrouter.create("eve@contoso.com", {"team": "a"})

    updated = taskrouter.update(created.sid, attributes={"team": "b"}, if_match=created.etag)
    assert updated.etag != created.etag
    with pytest.raises(PreconditionFailed):
        taskrouter.update(created.sid, attributes={"team": "c"}, if_match=created.etag)

    assert stored(transport.state, "eve@contoso.com") == [{"team": "b"}]
    sent = [request.if_match for request in transport.state.requests.all("worker.update")]
    assert sent == [created.etag, created.etag]


def test_delete_sends_if_match_and_a_second_delete_finds_it_gone(
    transport: InProcessTransport,
) -> None:
    taskrouter = taskrouter_for(transport)
    created = taskrouter.create("fay@contoso.com", {})
    current = taskrouter.update(created.sid, attributes={"team": "b"})

    with pytest.raises(PreconditionFailed):
        taskrouter.delete(created.sid, if_match=created.etag)
    assert taskrouter.delete(created.sid, if_match=current.etag) is True
    assert taskrouter.delete(created.sid) is False
    assert transport.state.workers() == []


def test_a_429_is_sent_again_and_gives_up_when_the_policy_says_so(
    transport: InProcessTransport,
) -> None:
    transport.state.faults.add(Fault(FaultKind.RATE_LIMIT, route="workers.list", times=2))
    assert list(taskrouter_for(transport).iter_workers()) == []

    transport.state.faults.add(Fault(FaultKind.RATE_LIMIT, route="workers.list", times=None))
    with pytest.raises(RateLimited):
        list(taskrouter_for(transport, max_attempts=2).iter_workers())


def test_pages_are_followed_on_the_address_the_client_used(transport: InProcessTransport) -> None:
    for n in range(7):
        transport.state.create_worker(f"agent-{n}")

    names = [worker.friendly_name for worker in taskrouter_for(transport).iter_workers(3)]

    assert names == [f"agent-{n}" for n in range(7)]
    assert len(transport.state.requests.all("workers.list")) == 3


@pytest.fixture
def reconciler(transport: InProcessTransport, sqlite_url: str) -> Iterator[Reconciler]:
    engine = create_db_engine(sqlite_url)
    store = Store.of(Database(engine))
    yield Reconciler(
        store.directory, store.links, store.outbox, taskrouter_for(transport), parse_mapping({})
    )
    engine.dispose()


def test_the_reconciler_creates_updates_and_deletes_a_users_worker_in_process(
    transport: InProcessTransport, reconciler: Reconciler
) -> None:
    repository = reconciler.directory
    user = repository.create_user(dict(USER), actor="test").id

    reconciler.converge(user)
    (created,) = transport.state.workers()
    assert created.friendly_name == "gil@contoso.com"

    def rename(document: dict[str, Any]) -> dict[str, Any]:
        return {**document, "displayName": "Gil Lead"}

    repository.update_user(user, rename, actor="test", action="replace")
    reconciler.converge(user)
    (updated,) = transport.state.workers()
    assert updated.sid == created.sid
    assert json.loads(updated.attributes)["full_name"] == "Gil Lead"
    assert transport.state.requests.all("worker.update")[-1].if_match is not None

    repository.delete_user(user, actor="test")
    reconciler.converge(user)
    assert transport.state.workers() == []
