"""Bearer tokens at rest: only their SHA-256 is stored; several can be live for rotation.

Does: create a token (returning the secret once), list, revoke, and look a presented token up.
Does not: read HTTP headers or decide who may do what (``scim.auth`` does).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from scimbridge.store.outbox import utcnow
from scimbridge.store.tables import api_tokens

TOKEN_PREFIX = "sb_"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class TokenRecord:
    id: str
    name: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def live(self) -> bool:
        return self.revoked_at is None


class TokenNameTaken(ValueError):
    pass


def create_token(engine: Engine, name: str) -> tuple[TokenRecord, str]:
    """Store a new token named ``name``; return its record and the secret (shown once)."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    record = TokenRecord(str(uuid.uuid4()), name, now, None, None)
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(api_tokens).values(
                    id=record.id, name=name, token_hash=token_hash(secret), created_at=now
                )
            )
    except IntegrityError as exc:
        raise TokenNameTaken(f"a token named {name!r} already exists") from exc
    return record, secret


def list_tokens(engine: Engine) -> list[TokenRecord]:
    with engine.connect() as conn:
        rows = conn.execute(select(api_tokens).order_by(api_tokens.c.created_at)).mappings()
        return [
            TokenRecord(r["id"], r["name"], r["created_at"], r["revoked_at"], r["last_used_at"])
            for r in rows
        ]


def revoke_token(engine: Engine, name_or_id: str) -> bool:
    with engine.begin() as conn:
        result = conn.execute(
            update(api_tokens)
            .where(
                (api_tokens.c.name == name_or_id) | (api_tokens.c.id == name_or_id),
                api_tokens.c.revoked_at.is_(None),
            )
            .values(revoked_at=utcnow())
        )
    return bool(result.rowcount)


def find_live_token(engine: Engine, presented: str) -> str | None:
    """Return the name of the live token whose hash matches ``presented``, else None.

    The lookup is by hash, so the comparison never touches the secret byte by byte.
    """
    digest = token_hash(presented)
    with engine.connect() as conn:
        name = conn.scalar(
            select(api_tokens.c.name).where(
                api_tokens.c.token_hash == digest, api_tokens.c.revoked_at.is_(None)
            )
        )
    return str(name) if name is not None else None
