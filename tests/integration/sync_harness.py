"""A running scimbridge (real HTTP, real database) whose sync drains into the fake Flex server.

The SCIM app is served by uvicorn; users are created with httpx as Entra would. The sync worker is
the real one, built by ``scimbridge.runtime``, with the real ``twilio`` client talking to the fake
over HTTP; tests drain it synchronously (``drain``/``settle``) so nothing depends on timing, or
run drainers ``in_background`` and wait for the outbox to empty (``wait_drained``).

Also the plain helpers the integration tests share: the environment and ``TwilioSettings`` that
point at a fake (``twilio_env``, ``twilio_settings``) and polling for a condition (``wait_for``).
Fixtures are in ``conftest.py``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import httpx

from scimbridge.app import create_app
from scimbridge.config.settings import TwilioSettings, load_settings
from scimbridge.flex.sync.drainer import SyncWorker
from scimbridge.flex.twilio.retry import RetryPolicy
from scimbridge.runtime import Runtime, build_drainer, build_runtime
from scimbridge.store.database import create_db_engine
from scimbridge.testing.fakeflex.records import WorkerRecord
from scimbridge.testing.fakeflex.server import FakeFlexServer
from tests.support import serving

TOKEN = "sync-test-token-0123456789"
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
FAST_SYNC = {"backoff_base": 0.001, "backoff_cap": 0.002, "max_attempts": 4, "poll_interval": 0.02}


def twilio_env(fake: FakeFlexServer, database_url: str, **extra: str) -> dict[str, str]:
    return {
        "SCIMBRIDGE_DATABASE_URL": database_url,
        "SCIMBRIDGE_BEARER_TOKEN": TOKEN,
        "TWILIO_ACCOUNT_SID": fake.account_sid,
        "TWILIO_AUTH_TOKEN": fake.auth_token,
        "SCIMBRIDGE_TWILIO_BASE_URL": fake.url,
        "SCIMBRIDGE_TWILIO_WORKSPACE_SID": fake.workspace_sid,
        "SCIMBRIDGE_TWILIO_MAX_RPS": "1000",
        **extra,
    }


def twilio_settings(fake: FakeFlexServer, **overrides: Any) -> TwilioSettings:
    """Credentials and addresses of ``fake`` (rate cap 1000/s), with ``overrides`` applied."""
    values: dict[str, Any] = {
        "account_sid": fake.account_sid,
        "auth_token": fake.auth_token,
        "workspace_sid": fake.workspace_sid,
        "flex_instance_sid": fake.flex_instance_sid,
        "base_url": fake.url,
        "max_rps": 1000.0,
    }
    values.update(overrides)
    return TwilioSettings(**values)


def wait_for(
    condition: Callable[[], object], seconds: float = 30.0, what: str = "the condition"
) -> None:
    """Poll ``condition`` until it is true; fail naming ``what`` once ``seconds`` have passed."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@contextmanager
def in_background(*workers: SyncWorker) -> Iterator[None]:
    """Run ``workers`` on their own threads for the block; each is stopped however it ends."""
    with ExitStack() as stack:
        for worker in workers:
            worker.start()
            stack.callback(worker.stop)
        yield


def no_sleep(seconds: float) -> None:
    """Retry waits inside a Twilio call return at once: the tests do not wait on backoff."""


class Harness:
    """The SCIM API at ``scim`` (httpx), the sync worker at ``worker``, the fake at ``fake``."""

    def __init__(self, fake: FakeFlexServer, runtime: Runtime, scim: httpx.Client) -> None:
        self.fake = fake
        self.settings = runtime.settings
        self.runtime = runtime
        self.engine = runtime.store.database.engine
        self.store = runtime.store
        self.directory = runtime.store.directory
        self.scim = scim
        self.base_url = str(scim.base_url).rstrip("/").removesuffix("/scim/v2")
        self.outcomes: list[tuple[str, str]] = []
        self.worker = self.sync_worker()

    def sync_worker(self, **options: Any) -> SyncWorker:
        """Another drainer of the same outbox (its own Twilio client and owner)."""
        return build_drainer(
            self.runtime,
            on_outcome=lambda outcome, user_id, _s: self.outcomes.append((outcome, user_id)),
            retry=RetryPolicy(max_attempts=3, base=0.001, cap=0.002, sleep=no_sleep),
            **options,
        )

    # -- SCIM, as Entra sends it -------------------------------------------------------------

    def post_user(
        self,
        user_name: str,
        display_name: str = "Ann Lee",
        extra: dict[str, Any] | None = None,
        **fields: Any,
    ) -> str:
        """POST a user; ``extra`` adds attributes whose names are not identifiers (URNs)."""
        body = {
            "schemas": [CORE],
            "userName": user_name,
            "displayName": display_name,
            "emails": [{"value": user_name, "type": "work", "primary": True}],
            "active": True,
            **fields,
            **(extra or {}),
        }
        response = self.scim.post("/Users", json=body)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def patch(self, user_id: str, *operations: dict[str, Any]) -> None:
        body = {"schemas": [PATCH], "Operations": list(operations)}
        response = self.scim.patch(f"/Users/{user_id}", json=body)
        assert response.status_code in (200, 204), response.text

    def replace(self, user_id: str, path: str, value: Any) -> None:
        self.patch(user_id, {"op": "Replace", "path": path, "value": value})

    def delete(self, user_id: str) -> None:
        assert self.scim.delete(f"/Users/{user_id}").status_code == 204

    # -- the sync ------------------------------------------------------------------------------

    def drain(self) -> int:
        return self.worker.drain_once()

    def resync(self, user_id: str) -> None:
        self.store.outbox.enqueue_many([user_id], "test")
        self.drain()

    def settle(self, rounds: int = 200, before: Callable[[], None] | None = None) -> None:
        """Drain until nothing is pending (rescheduled rows included); fail if it never ends."""
        for _ in range(rounds):
            if before is not None:
                before()
            self.drain()
            if self.store.outbox.backlog() == 0:
                return
            time.sleep(0.003)
        raise AssertionError(f"outbox never drained: {self.store.outbox.backlog()} pending")

    def wait_drained(self, seconds: float = 60.0) -> None:
        """Wait while drainers ``in_background`` empty the outbox; fail if it is still not empty."""
        wait_for(lambda: self.store.outbox.backlog() == 0, seconds, "the outbox to drain")

    # -- what Twilio holds ---------------------------------------------------------------------

    def workers(self) -> list[WorkerRecord]:
        return self.fake.state.workers()

    def worker_named(self, name: str) -> WorkerRecord:
        record = self.fake.state.worker_named(name)
        assert record is not None, f"no worker named {name}"
        return record

    def attributes(self, name: str) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.worker_named(name).attributes)
        return loaded

    def activity(self, name: str) -> str:
        record = self.worker_named(name)
        return self.fake.state.activity_of(record).friendly_name

    def set_worker(self, name: str, **changes: Any) -> None:
        """Someone else (Flex UI, a supervisor, a plugin) changes the worker."""
        record = self.worker_named(name)
        if "attributes" in changes and not isinstance(changes["attributes"], str):
            changes["attributes"] = json.dumps(changes["attributes"])
        if "activity" in changes:
            changes["activity_sid"] = self.fake.state.activity_sid(changes.pop("activity"))
        self.fake.state.update_worker(record.sid, **changes)

    def calls(self) -> list[tuple[str, str]]:
        """(route, If-Match) of every Twilio request since the last call; then forget them."""
        seen = [(r.route, r.if_match or "") for r in self.fake.state.requests.all()]
        self.fake.state.requests.clear()
        return seen


@contextmanager
def running(
    fake: FakeFlexServer,
    database_url: str,
    *,
    flex: dict[str, Any] | None = None,
    scim: dict[str, Any] | None = None,
    sync: dict[str, Any] | None = None,
    ops: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    serve_sync: bool = False,
) -> Iterator[Harness]:
    """Serve scimbridge on ``database_url`` with its sync pointed at ``fake``.

    With ``serve_sync`` the application runs its own drainer, as ``serve`` does; otherwise the
    test drains (``Harness.worker``).
    """
    document = {
        "flex": flex or {},
        "scim": scim or {},
        "sync": {**FAST_SYNC, **(sync or {})},
        "ops": ops or {},
    }
    settings = load_settings(env=twilio_env(fake, database_url, **(env or {})), document=document)
    engine = create_db_engine(settings.database_url)
    runtime = build_runtime(settings, engine=engine, sync_threads=1 if serve_sync else 0)
    with ExitStack() as stack:
        stack.callback(engine.dispose)
        app = create_app(runtime)
        base = stack.enter_context(serving(app))
        http = stack.enter_context(
            httpx.Client(
                base_url=base + "/scim/v2", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
            )
        )
        yield Harness(fake, runtime, http)
