"""A running scimbridge (real HTTP, real database) whose sync drains into the fake Flex server.

The SCIM app is served by uvicorn; users are created with httpx as Entra would. The sync worker is
the real one, built by ``scimbridge.wiring``, with the real ``twilio`` client talking to the fake
over HTTP; tests drain it synchronously (``drain``/``settle``) so nothing depends on timing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import httpx

from scimbridge.app import Components, build_components, create_app
from scimbridge.config import Settings, load_settings
from scimbridge.flex.mapping import parse_mapping
from scimbridge.flex.retry import RetryPolicy
from scimbridge.flex.worker import SyncWorker
from scimbridge.store import outbox
from scimbridge.store.database import create_db_engine
from scimbridge.testing.fakeflex import FakeFlexServer
from scimbridge.testing.fakeflex_records import WorkerRecord
from scimbridge.wiring import build_sync_worker
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


def no_sleep(seconds: float) -> None:
    """Retry waits inside a Twilio call return at once: the tests do not wait on backoff."""


class Harness:
    """The SCIM API at ``scim`` (httpx), the sync worker at ``worker``, the fake at ``fake``."""

    def __init__(
        self, fake: FakeFlexServer, settings: Settings, components: Components, scim: httpx.Client
    ) -> None:
        self.fake = fake
        self.settings = settings
        self.components = components
        self.engine = components.engine
        self.repository = components.repository
        self.scim = scim
        self.outcomes: list[tuple[str, str]] = []
        self.worker = self.sync_worker()

    def sync_worker(self, **options: Any) -> SyncWorker:
        """Another drainer of the same outbox (its own Twilio client and owner)."""
        assert self.settings.twilio is not None
        return build_sync_worker(
            self.settings,
            self.components,
            self.settings.twilio,
            parse_mapping(self.settings.flex),
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
        outbox.enqueue_many(self.engine, [user_id], "test")
        self.drain()

    def settle(self, rounds: int = 200, before: Callable[[], None] | None = None) -> None:
        """Drain until nothing is pending (rescheduled rows included); fail if it never ends."""
        for _ in range(rounds):
            if before is not None:
                before()
            self.drain()
            if outbox.backlog(self.engine) == 0:
                return
            time.sleep(0.003)
        raise AssertionError(f"outbox never drained: {outbox.backlog(self.engine)} pending")

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
    env: dict[str, str] | None = None,
    services: Callable[[Settings, Components], list[Any]] | None = None,
) -> Iterator[Harness]:
    """Serve scimbridge on ``database_url`` with its sync pointed at ``fake``."""
    settings = load_settings(
        env=twilio_env(fake, database_url, **(env or {})),
        document={"flex": flex or {}, "scim": scim or {}, "sync": {**FAST_SYNC, **(sync or {})}},
    )
    engine = create_db_engine(settings.database_url)
    components = build_components(settings, engine)
    with ExitStack() as stack:
        stack.callback(engine.dispose)
        app = create_app(
            settings,
            components=components,
            services=services(settings, components) if services else (),
        )
        base = stack.enter_context(serving(app))
        http = stack.enter_context(
            httpx.Client(
                base_url=base + "/scim/v2", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
            )
        )
        yield Harness(fake, settings, components, http)
