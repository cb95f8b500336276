"""The promises of ``store.tokens.Tokens``'s docstring, one test each, on both engines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from scimbridge.store.objects import Store
from scimbridge.store.tokens import TokenNameTaken


def test_create_returns_the_secret_once_and_a_taken_name_is_refused(store: Store) -> None:
    record, secret = store.tokens.create_token("entra")
    assert record.live and record.name == "entra" and record.created_at.tzinfo is not None
    assert store.tokens.find_live_token(secret) == "entra"
    with pytest.raises(TokenNameTaken):
        store.tokens.create_token("entra")
    assert [r.id for r in store.tokens.list_tokens()] == [record.id]
    assert secret not in repr(store.tokens.list_tokens())


def test_only_a_live_token_is_found(store: Store) -> None:
    _, kept = store.tokens.create_token("kept")
    _, revoked = store.tokens.create_token("revoked")
    _, expired = store.tokens.create_token(
        "expired", expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    assert store.tokens.revoke_token("revoked") is True
    assert store.tokens.revoke_token("revoked") is False
    assert store.tokens.find_live_token(kept) == "kept"
    assert store.tokens.find_live_token(revoked) is None
    assert store.tokens.find_live_token(expired) is None
    assert store.tokens.find_live_token("sb_never-issued") is None


def test_purge_and_trim_delete_only_expiring_tokens(store: Store) -> None:
    past, future = datetime.now(UTC) - timedelta(seconds=1), datetime.now(UTC) + timedelta(hours=1)
    store.tokens.create_token("entra")
    store.tokens.create_token("oauth:c:old", expires_at=past)
    for number in range(3):
        store.tokens.create_token(f"oauth:c:{number}", expires_at=future)
    assert store.tokens.purge_expired_tokens() == 1
    assert store.tokens.trim_expiring_tokens("oauth:c:", keep=1) == 2
    assert store.tokens.trim_expiring_tokens("entra", keep=0) == 0
    assert sorted(r.name for r in store.tokens.list_tokens()) == ["entra", "oauth:c:2"]
