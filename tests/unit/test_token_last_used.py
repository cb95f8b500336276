"""A stored token's ``last_used_at``: written on use, at most once a minute per token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from scimbridge.store.database import Database, create_db_engine
from scimbridge.store.tables import api_tokens
from scimbridge.store.tokens import Tokens


def last_used(engine: object, name: str) -> datetime | None:
    (record,) = [r for r in Tokens(Database(engine)).list_tokens() if r.name == name]  # type: ignore[arg-type]
    value = record.last_used_at
    return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)


def test_a_token_in_use_shows_when_within_a_minute_and_is_not_rewritten_each_time(
    migrated_url: str,
) -> None:
    engine = create_db_engine(migrated_url)
    tokens = Tokens(Database(engine))
    _, secret = tokens.create_token("entra")
    tokens.create_token("idle")
    assert last_used(engine, "entra") is None
    before = datetime.now(UTC)
    assert tokens.find_live_token(secret) == "entra"
    first = last_used(engine, "entra")
    assert first is not None and first >= before - timedelta(seconds=1)
    assert tokens.find_live_token(secret) == "entra"
    assert last_used(engine, "entra") == first, "rewritten within the minute"
    # A minute later the next use is noted again.
    with engine.begin() as conn:
        conn.execute(
            update(api_tokens)
            .where(api_tokens.c.name == "entra")
            .values(last_used_at=first - timedelta(minutes=2))
        )
    assert tokens.find_live_token(secret) == "entra"
    again = last_used(engine, "entra")
    assert again is not None and again >= first
    assert last_used(engine, "idle") is None
    engine.dispose()
