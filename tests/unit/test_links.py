"""Worker links, the sync's service_state facts, and the outbox transitions the drainer uses."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import Engine, inspect

from scimbridge.config.settings import load_settings
from scimbridge.flex.sync.drainer import SyncWorker
from scimbridge.flex.sync.failures import classify, is_transient
from scimbridge.flex.sync.outcome import PermanentSyncError
from scimbridge.flex.twilio.errors import (
    InvalidRequest,
    PreconditionFailed,
    RateLimited,
    Unauthorized,
    Unavailable,
    WorkerBusy,
    WorkerNotFound,
)
from scimbridge.store import links, outbox
from scimbridge.store.database import (
    Database,
    alembic_config,
    create_db_engine,
    current_revision,
    head_revision,
    migrate,
)
from scimbridge.store.directory import Directory
from scimbridge.store.enqueue import enqueue
from scimbridge.store.errors import StoreUnavailable
from scimbridge.store.links import WorkerLink, WorkerLinkConflict, WorkerLinks
from scimbridge.store.objects import Store
from scimbridge.store.outbox import Outbox
from scimbridge.store.service_state import LAST_SUCCESSFUL_SYNC, ServiceState

SID_A = "WK" + "a" * 32
SID_B = "WK" + "b" * 32
USER = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ann@contoso.com"}


@pytest.fixture
def engine(migrated_url: str) -> Iterator[Engine]:
    engine = create_db_engine(migrated_url)
    yield engine
    engine.dispose()


def test_upsert_get_list_delete_round_trip(engine: Engine) -> None:
    now = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    link = WorkerLink(
        "u1",
        friendly_name="ann@contoso.com",
        worker_sid=SID_A,
        attributes_hash="h" * 64,
        activity_state=links.ENABLED,
        etag='"3"',
        attributes={"email": "ann@contoso.com"},
        owned_keys=("roles", "email"),
        last_synced_at=now,
    )
    WorkerLinks(Database(engine)).upsert(link)
    stored = WorkerLinks(Database(engine)).get("u1")
    assert stored == link.replace(owned_keys=("email", "roles"))
    WorkerLinks(Database(engine)).upsert(link.replace(etag='"4"', last_error="boom"))
    assert [
        (lk.user_id, lk.etag, lk.last_error) for lk in WorkerLinks(Database(engine)).list_links()
    ] == [("u1", '"4"', "boom")]
    assert WorkerLinks(Database(engine)).get_by_worker(SID_A) is not None
    assert WorkerLinks(Database(engine)).delete_link("u1") is True
    assert WorkerLinks(Database(engine)).get("u1") is None
    assert WorkerLinks(Database(engine)).delete_link("u1") is False


def test_a_worker_passes_from_a_deleted_users_link_but_not_from_a_live_one(engine: Engine) -> None:
    repository = Directory(Database(engine))
    live = repository.create_user(dict(USER), actor="test").id
    WorkerLinks(Database(engine)).upsert(WorkerLink("gone-user", worker_sid=SID_A))
    WorkerLinks(Database(engine)).upsert(WorkerLink("new-user", worker_sid=SID_A))
    assert WorkerLinks(Database(engine)).get("gone-user") is None
    assert WorkerLinks(Database(engine)).get_by_worker(SID_A) == WorkerLink(
        "new-user", worker_sid=SID_A
    )
    WorkerLinks(Database(engine)).upsert(WorkerLink(live, worker_sid=SID_B))
    with pytest.raises(WorkerLinkConflict):
        WorkerLinks(Database(engine)).upsert(WorkerLink("other", worker_sid=SID_B))
    assert WorkerLinks(Database(engine)).get_by_worker(SID_B) == WorkerLink(live, worker_sid=SID_B)


def test_record_error_keeps_the_link_or_starts_one(engine: Engine) -> None:
    WorkerLinks(Database(engine)).upsert(WorkerLink("u1", worker_sid=SID_A))
    WorkerLinks(Database(engine)).record_error("u1", "HTTP 503")
    WorkerLinks(Database(engine)).record_error("u2", "friendly_name too long")
    assert WorkerLinks(Database(engine)).get("u1") == WorkerLink(
        "u1", worker_sid=SID_A, last_error="HTTP 503"
    )
    assert WorkerLinks(Database(engine)).get("u2") == WorkerLink(
        "u2", last_error="friendly_name too long"
    )


def test_heartbeats_and_last_successful_sync(engine: Engine) -> None:
    first = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    ServiceState(Database(engine)).heartbeat("host:1:abc", first)
    ServiceState(Database(engine)).heartbeat("host:1:abc", first + timedelta(seconds=5))
    ServiceState(Database(engine)).heartbeat("host:2:def", first)
    ServiceState(Database(engine)).record_success(first)
    assert ServiceState(Database(engine)).heartbeats() == {
        "host:1:abc": first + timedelta(seconds=5),
        "host:2:def": first,
    }
    assert ServiceState(Database(engine)).read(LAST_SUCCESSFUL_SYNC) == (first.isoformat(), first)
    assert ServiceState(Database(engine)).read("nothing") is None


def _claim(engine: Engine, user_id: str) -> outbox.Claim:
    with engine.begin() as conn:
        enqueue(conn, user_id, "created")
    (claim,) = Outbox(Database(engine)).claim("owner/0", limit=5, lease_seconds=60)
    return claim


def test_dead_letter_parks_the_row_with_its_reason(engine: Engine) -> None:
    claim = _claim(engine, "u1")
    assert Outbox(Database(engine)).dead_letter(claim, "friendly_name too long") is True
    dead = Outbox(Database(engine)).dead_letters()
    assert [(d.user_id, d.last_error, d.attempts) for d in dead] == [
        ("u1", "friendly_name too long", 1)
    ]
    assert Outbox(Database(engine)).backlog() == 0
    assert Outbox(Database(engine)).revive_dead() == 1
    assert Outbox(Database(engine)).backlog() == 1


def test_dead_letter_after_a_newer_change_keeps_the_row_due(engine: Engine) -> None:
    claim = _claim(engine, "u1")
    with engine.begin() as conn:
        enqueue(conn, "u1", "updated")  # e.g. Entra fixed the userName meanwhile
    assert Outbox(Database(engine)).dead_letter(claim, "friendly_name too long") is False
    assert Outbox(Database(engine)).dead_letters() == []
    (again,) = Outbox(Database(engine)).claim("owner/1", limit=5, lease_seconds=60)
    assert again.user_id == "u1" and again.generation == claim.generation + 1


def test_release_gives_the_claim_back_without_counting_the_attempt(engine: Engine) -> None:
    claim = _claim(engine, "u1")
    Outbox(Database(engine)).release(claim)
    (again,) = Outbox(Database(engine)).claim("owner/1", limit=5, lease_seconds=60)
    assert (again.user_id, again.attempts) == ("u1", 1)


def test_a_leased_row_is_not_claimed_twice(engine: Engine) -> None:
    _claim(engine, "u1")
    assert Outbox(Database(engine)).claim("owner/2", limit=5, lease_seconds=60) == []


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (RateLimited("HTTP 429", endpoint="workers.list", status=429), True),
        (Unavailable("HTTP 503", endpoint="worker.fetch", status=503), True),
        (Unavailable("no response in time", endpoint="worker.fetch"), True),
        (StoreUnavailable("OperationalError"), True),
        (WorkerBusy("HTTP 400", endpoint="worker.delete", status=400), False),
        (PreconditionFailed("HTTP 412", endpoint="workers.update", status=412), False),
        (RuntimeError("a bug"), False),
    ],
)
def test_only_transient_failures_retry_without_limit(error: Exception, transient: bool) -> None:
    """Transient ones are never dead-lettered; the others here only after max_attempts."""
    assert is_transient(error) is transient
    assert classify(error)[0] is False


@pytest.mark.parametrize(
    ("error", "permanent"),
    [
        (PermanentSyncError("friendly_name is 70 characters"), True),
        (Unauthorized("HTTP 401", endpoint="workers.list", status=401), True),
        (InvalidRequest("HTTP 400", endpoint="workers.create", status=400), True),
        (WorkerBusy("HTTP 400", endpoint="worker.delete", status=400), False),
        (RateLimited("HTTP 429", endpoint="workers.list", status=429), False),
        (PreconditionFailed("HTTP 412", endpoint="workers.update", status=412), False),
        (WorkerNotFound("HTTP 404", endpoint="workers.update", status=404), False),
        (StoreUnavailable("OperationalError"), False),
        (RuntimeError("a bug"), False),
    ],
)
def test_classify_failures(error: Exception, permanent: bool) -> None:
    assert classify(error)[0] is permanent
    assert classify(error)[1]


def test_backoff_is_full_jitter_capped_and_respects_retry_after(sqlite_url: str) -> None:
    settings = load_settings(
        env={"SCIMBRIDGE_DATABASE_URL": sqlite_url},
        document={"sync": {"backoff_base": 2, "backoff_cap": 60}},
    )
    engine = create_db_engine(sqlite_url)
    store = Store.of(Database(engine))
    rolls = iter([1.0, 1.0, 1.0, 0.0, 0.5])
    worker = SyncWorker(
        settings.sync,
        store,
        None,  # type: ignore[arg-type]  # backoff needs no reconciler
        heartbeat_retention_seconds=settings.readiness.heartbeat_retention_seconds,
        jitter=lambda: next(rolls),
    )
    assert worker.retries.backoff(1) == 2.0
    assert worker.retries.backoff(3) == 8.0
    assert worker.retries.backoff(10) == 60.0
    assert worker.retries.backoff(4, retry_after=7.5) == 7.5
    assert worker.retries.backoff(2) == 2.0
    engine.dispose()


def test_migration_0002_adds_and_removes_the_snapshot_columns(database_url: str) -> None:
    snapshot = {"etag", "attributes", "owned_keys"}
    engine = create_db_engine(database_url)
    try:
        migrate(database_url, "0002")
        assert snapshot <= {c["name"] for c in inspect(engine).get_columns("worker_links")}
        command.downgrade(alembic_config(database_url), "0001")
        assert not snapshot & {c["name"] for c in inspect(engine).get_columns("worker_links")}
        migrate(database_url)
        assert snapshot <= {c["name"] for c in inspect(engine).get_columns("worker_links")}
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()
