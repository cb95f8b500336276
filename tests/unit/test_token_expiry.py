"""Expiring tokens at rest (migration 0003): lookup, listing, purge and the per-client cap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alembic import command
from sqlalchemy import inspect

from scimbridge.store.database import (
    Database,
    alembic_config,
    create_db_engine,
    current_revision,
    head_revision,
    migrate,
)
from scimbridge.store.tokens import Tokens


def test_an_expired_token_is_not_live_and_is_purged_while_others_stay(sqlite_url: str) -> None:
    engine = create_db_engine(sqlite_url)
    tokens = Tokens(Database(engine))
    now = datetime.now(UTC)
    _, forever = tokens.create_token("entra")
    _, fresh = tokens.create_token("oauth:c:fresh", expires_at=now + timedelta(hours=1))
    _, stale = tokens.create_token("oauth:c:stale", expires_at=now - timedelta(seconds=1))
    assert tokens.find_live_token(forever) == "entra"
    assert tokens.find_live_token(fresh) == "oauth:c:fresh"
    assert tokens.find_live_token(stale) is None
    live = {record.name: record.live for record in tokens.list_tokens()}
    assert live == {"entra": True, "oauth:c:fresh": True, "oauth:c:stale": False}
    assert tokens.purge_expired_tokens() == 1
    assert {record.name for record in tokens.list_tokens()} == {"entra", "oauth:c:fresh"}
    engine.dispose()


def test_one_client_keeps_only_its_newest_tokens(migrated_url: str) -> None:
    engine = create_db_engine(migrated_url)
    tokens = Tokens(Database(engine))
    later = datetime.now(UTC) + timedelta(hours=1)
    tokens.create_token("entra")
    tokens.create_token("oauth:other:1", expires_at=later)
    secrets = [tokens.create_token(f"oauth:c:{i}", expires_at=later)[1] for i in range(5)]
    assert tokens.trim_expiring_tokens("oauth:c:", keep=2) == 3
    assert [tokens.find_live_token(s) is not None for s in secrets] == [False] * 3 + [True] * 2
    names = {record.name for record in tokens.list_tokens()}
    assert {"entra", "oauth:other:1"} <= names
    engine.dispose()


def test_migration_0003_adds_and_removes_the_expiry(database_url: str) -> None:
    engine = create_db_engine(database_url)
    try:
        migrate(database_url, "0003")
        assert "expires_at" in {c["name"] for c in inspect(engine).get_columns("api_tokens")}
        Tokens(Database(engine)).create_token("entra")
        Tokens(Database(engine)).create_token(
            "oauth:c:1", expires_at=datetime.now(UTC) + timedelta(hours=1)
        )
        command.downgrade(alembic_config(database_url), "0002")
        assert "expires_at" not in {c["name"] for c in inspect(engine).get_columns("api_tokens")}
        migrate(database_url)
        # Issued tokens went with the column; tokens made by hand survive the round trip.
        assert [record.name for record in Tokens(Database(engine)).list_tokens()] == ["entra"]
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()
