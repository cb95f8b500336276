"""Bearer tokens at rest: only their SHA-256 is stored; several can be live for rotation.

Does: create a token (returning the secret once), list, revoke, and look a presented token up,
noting when it was last used (written at most once a minute per token, so an operator can tell
an abandoned token from one in use before revoking it, without a write per request); expire
the short-lived tokens the OAuth token endpoint issues and purge them once expired.
Does not: read HTTP headers or decide who may do what (``scim.auth`` does).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from scimbridge.store.clock import utcnow
from scimbridge.store.database import Database
from scimbridge.store.tables import api_tokens

TOKEN_PREFIX = "sb_"
LAST_USED_RESOLUTION = timedelta(minutes=1)
log = logging.getLogger("scimbridge.tokens")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class TokenRecord:
    id: str
    name: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    expires_at: datetime | None = None

    @property
    def live(self) -> bool:
        if self.revoked_at is not None:
            return False
        if self.expires_at is None:
            return True
        expires = self.expires_at
        return (expires if expires.tzinfo else expires.replace(tzinfo=UTC)) > utcnow()


class TokenNameTaken(ValueError):
    pass


def _unexpired(now: datetime) -> ColumnElement[bool]:
    return api_tokens.c.expires_at.is_(None) | (api_tokens.c.expires_at > now)


def _note_use(engine: Engine, token_id: str, now: datetime) -> None:
    stale = api_tokens.c.last_used_at.is_(None) | (
        api_tokens.c.last_used_at <= now - LAST_USED_RESOLUTION
    )
    try:
        with engine.begin() as conn:
            # The condition again: of processes racing here, one writes within the minute.
            conn.execute(
                update(api_tokens)
                .where(api_tokens.c.id == token_id, stale)
                .values(last_used_at=now)
            )
    except SQLAlchemyError as exc:
        log.warning("could not note the use of token %s: %s", token_id, type(exc).__name__)


class Tokens:
    """Bearer tokens of one database, kept as their SHA-256 only. Thread-safe.

    Contract:

    - :meth:`create_token` fills the id and creation time and returns the secret, once; a name
      already taken raises :class:`TokenNameTaken`, and nothing is written.
    - :meth:`find_live_token` returns the token's name when the presented secret matches a
      token neither revoked nor expired, else None; noting its use never refuses it.
    - :meth:`revoke_token` (by name or id) returns whether a live token was revoked.
    - :meth:`purge_expired_tokens` and :meth:`trim_expiring_tokens` only ever delete expiring
      tokens, and return how many went.
    - Database failures surface as SQLAlchemy errors (``store.errors.DATABASE_FAILURES``).
    """

    def __init__(self, database: Database) -> None:
        self.database = database
        self._engine = database.engine

    def create_token(
        self, name: str, *, expires_at: datetime | None = None
    ) -> tuple[TokenRecord, str]:
        """Store a new token named ``name``; return its record and the secret (shown once).

        ``expires_at`` (aware, UTC) makes a short-lived token; without it the token lives until
        revoked.
        """
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = utcnow()
        record = TokenRecord(str(uuid.uuid4()), name, now, None, None, expires_at)
        try:
            with self._engine.begin() as conn:
                conn.execute(
                    insert(api_tokens).values(
                        id=record.id,
                        name=name,
                        token_hash=token_hash(secret),
                        created_at=now,
                        expires_at=expires_at,
                    )
                )
        except IntegrityError as exc:
            raise TokenNameTaken(f"a token named {name!r} already exists") from exc
        return record, secret

    def list_tokens(self) -> list[TokenRecord]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(api_tokens).order_by(api_tokens.c.created_at)).mappings()
            return [
                TokenRecord(
                    r["id"],
                    r["name"],
                    r["created_at"],
                    r["revoked_at"],
                    r["last_used_at"],
                    r["expires_at"],
                )
                for r in rows
            ]

    def revoke_token(self, name_or_id: str) -> bool:
        with self._engine.begin() as conn:
            result = conn.execute(
                update(api_tokens)
                .where(
                    (api_tokens.c.name == name_or_id) | (api_tokens.c.id == name_or_id),
                    api_tokens.c.revoked_at.is_(None),
                )
                .values(revoked_at=utcnow())
            )
        return bool(result.rowcount)

    def find_live_token(self, presented: str) -> str | None:
        """The name of the live (unrevoked, unexpired) token matching ``presented``, else None.

        The lookup is by hash, so the comparison never touches the secret byte by byte. A found
        token's ``last_used_at`` is brought up to date when it is older than a minute; a failure to
        write it is logged and never refuses the token.
        """
        digest = token_hash(presented)
        now = utcnow()
        with self._engine.connect() as conn:
            row = conn.execute(
                select(api_tokens.c.id, api_tokens.c.name, api_tokens.c.last_used_at).where(
                    api_tokens.c.token_hash == digest,
                    api_tokens.c.revoked_at.is_(None),
                    _unexpired(now),
                )
            ).first()
        if row is None:
            return None
        last = row.last_used_at
        if (
            last is None
            or (last if last.tzinfo else last.replace(tzinfo=UTC)) <= now - LAST_USED_RESOLUTION
        ):
            _note_use(self._engine, row.id, now)
        return str(row.name)

    def purge_expired_tokens(self) -> int:
        """Delete tokens whose expiry has passed; return how many. Never touches tokens that
        do not expire."""
        with self._engine.begin() as conn:
            result = conn.execute(
                delete(api_tokens).where(
                    api_tokens.c.expires_at.is_not(None), api_tokens.c.expires_at <= utcnow()
                )
            )
        return int(result.rowcount or 0)

    def trim_expiring_tokens(self, name_prefix: str, keep: int) -> int:
        """Keep only the ``keep`` newest expiring tokens whose name starts with ``name_prefix``.

        Bounds how many access tokens one OAuth client can hold at once; returns how many went.
        """
        with self._engine.begin() as conn:
            newest = (
                select(api_tokens.c.id)
                .where(
                    api_tokens.c.expires_at.is_not(None),
                    api_tokens.c.name.startswith(name_prefix, autoescape=True),
                )
                .order_by(api_tokens.c.created_at.desc(), api_tokens.c.id)
                .limit(keep)
            )
            kept = [row[0] for row in conn.execute(newest)]
            result = conn.execute(
                delete(api_tokens).where(
                    api_tokens.c.expires_at.is_not(None),
                    api_tokens.c.name.startswith(name_prefix, autoescape=True),
                    api_tokens.c.id.not_in(kept),
                )
            )
        return int(result.rowcount or 0)
