"""The promises of ``store.service_state.ServiceState``'s docstring, one test each, on both
engines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from scimbridge.store.database import Database
from scimbridge.store.errors import DATABASE_FAILURES
from scimbridge.store.objects import Store
from scimbridge.store.service_state import ServiceState


def test_a_fact_never_written_is_none_and_a_written_one_comes_back_aware(store: Store) -> None:
    assert store.state.read("anything") is None
    at = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    store.state.write("anything", "value", at)
    assert store.state.read("anything") == ("value", at)


def test_heartbeats_by_owner_forgotten_and_pruned(store: Store) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    store.state.heartbeat("alive", now)
    store.state.heartbeat("stopped", now)
    store.state.heartbeat("long-gone", now - timedelta(hours=2))
    store.state.forget_heartbeat("stopped")
    assert store.state.heartbeats() == {"alive": now, "long-gone": now - timedelta(hours=2)}
    assert store.state.prune_heartbeats(now - timedelta(hours=1)) == 1
    assert store.state.heartbeats() == {"alive": now}


def test_the_last_success_and_the_credential_verdict_are_kept(store: Store) -> None:
    assert store.state.last_success() is None and store.state.credential_check() is None
    now = datetime.now(UTC).replace(microsecond=0)
    store.state.record_success(now)
    store.state.record_credential_check("Twilio refused the credentials (401)", now)
    assert store.state.last_success() == (now.isoformat(), now)
    assert store.state.credential_check() == ("Twilio refused the credentials (401)", now)
    assert store.state.heartbeats() == {}, "neither is a heartbeat"


def test_ping_answers_and_raises_when_the_database_cannot_be_reached(
    store: Store, database: Database, tmp_path: object
) -> None:
    store.state.ping()
    url = (
        f"sqlite:///{tmp_path}/missing-directory/x.db"
        if database.dialect_name == "sqlite"
        else database.engine.url.set(port=1).render_as_string(hide_password=False)
    )
    gone = Database.open(url)
    try:
        with pytest.raises(DATABASE_FAILURES):
            ServiceState(gone).ping()
    finally:
        gone.dispose()
