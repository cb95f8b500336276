"""Fixtures of the integration suite: the fake Flex server, clients of it, a running scimbridge.

Does: start one fake Flex server per test module and hand each test an empty one (``fake``);
give the real ``twilio`` client's workspace (``ws``), an authenticated HTTP session (``http``)
and a scimbridge served on each engine whose sync drains into the fake (``sync``).
Does not: make databases (``tests/conftest.py`` does), or start fakes that a test stops, starts
with other state or leaves requests in flight on (those tests start their own).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from twilio.rest.taskrouter.v1.workspace import WorkspaceContext

from scimbridge.testing.fakeflex.records import utc_now
from scimbridge.testing.fakeflex.server import FakeFlexServer
from tests.integration.sync_harness import Harness, running


@pytest.fixture(scope="module")
def server() -> Iterator[FakeFlexServer]:
    """One fake per module: tests get it through ``fake``, which empties it first."""
    with FakeFlexServer() as fake:
        yield fake


@pytest.fixture
def fake(server: FakeFlexServer) -> Iterator[FakeFlexServer]:
    """The module's fake with no workers, Flex users, faults, latency or recorded requests, and
    its initial options; a clock the test swapped is put back afterwards."""
    server.state.reset()
    yield server
    server.state.clock = utc_now


@pytest.fixture
def ws(fake: FakeFlexServer) -> WorkspaceContext:
    """The fake's seeded workspace through the real ``twilio`` client."""
    return fake.client().taskrouter.v1.workspaces(fake.workspace_sid)


@pytest.fixture
def http(fake: FakeFlexServer) -> requests.Session:
    """A plain HTTP session that authenticates to the fake with its account SID and token."""
    session = requests.Session()
    session.auth = (fake.account_sid, fake.auth_token)
    return session


@pytest.fixture
def sync(fake: FakeFlexServer, migrated_url: str) -> Iterator[Harness]:
    """scimbridge with default settings on each engine, syncing into the empty fake."""
    with running(fake, migrated_url) as harness:
        yield harness
