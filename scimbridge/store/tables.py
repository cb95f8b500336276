"""The tables scimbridge keeps, as SQLAlchemy Core metadata.

Does: declare every table, column, index and constraint; the alembic revisions mirror this file.
Does not: read or write rows (``store.directory`` and the other store objects do), or know HTTP
or Twilio.

Uniqueness that SCIM promises (``userName``, group ``displayName``, case-insensitively) is enforced
here by unique indexes on comparison keys, so two concurrent POSTs cannot both win.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# JSONB on PostgreSQL (indexable, compact); JSON text on SQLite.
Document = JSON().with_variant(JSONB(), "postgresql")
Timestamp = DateTime(timezone=True)

users = Table(
    "users",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_name", String(512), nullable=False),
    # NFC + lowercase of userName: what uniqueness and filters compare.
    Column("user_name_key", String(512), nullable=False, unique=True),
    Column("external_id", String(512), nullable=True, index=True),
    Column("display_name", String(512), nullable=True),
    Column("display_name_key", String(512), nullable=True, index=True),
    # Lowercased value of the work (else primary, else first) email.
    Column("email_key", String(512), nullable=True, index=True),
    Column("active", Boolean, nullable=False, default=True),
    # The SCIM resource as stored, without id and meta (they live in columns).
    Column("resource", Document, nullable=False),
    Column("version", Integer, nullable=False, default=1),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
)

groups = Table(
    "groups",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("display_name", String(512), nullable=False),
    Column("display_name_key", String(512), nullable=False, unique=True),
    Column("external_id", String(512), nullable=True, index=True),
    # The SCIM resource without id, meta and members (members live in group_members).
    Column("resource", Document, nullable=False),
    Column("version", Integer, nullable=False, default=1),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
)

group_members = Table(
    "group_members",
    metadata,
    Column(
        "group_id",
        String(36),
        ForeignKey("groups.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column(
        "user_id",
        String(36),
        ForeignKey("users.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    ),
    # The member display the client sent, if any (else the user's userName is shown).
    Column("display", String(512), nullable=True),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    # SHA-256 hex of the token; the token itself is never stored.
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", Timestamp, nullable=False),
    Column("revoked_at", Timestamp, nullable=True),
    Column("last_used_at", Timestamp, nullable=True),
    # Set on access tokens issued by the OAuth token endpoint; NULL means it never expires.
    Column("expires_at", Timestamp, nullable=True),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Timestamp, nullable=False, index=True),
    Column("actor", String(200), nullable=False),
    Column("action", String(32), nullable=False),
    Column("resource_type", String(32), nullable=False),
    Column("resource_id", String(36), nullable=False, index=True),
    # What changed: attribute paths and operation kinds, never attribute values.
    Column("detail", Document, nullable=True),
)

worker_links = Table(
    "worker_links",
    metadata,
    # No foreign key: the link outlives a deleted user until the worker is deprovisioned.
    Column("user_id", String(36), primary_key=True),
    Column("friendly_name", String(512), nullable=True),
    Column("worker_sid", String(34), nullable=True, unique=True),
    Column("flex_user_sid", String(34), nullable=True),
    Column("attributes_hash", String(64), nullable=True),
    Column("activity_state", String(16), nullable=True),
    Column("last_synced_at", Timestamp, nullable=True),
    Column("last_error", Text, nullable=True),
    # The worker as last read or written: ETag, full attributes, and the keys the sync wrote.
    Column("etag", String(128), nullable=True),
    Column("attributes", Document, nullable=True),
    Column("owned_keys", Document, nullable=True),
    # Mapped keys whose value the last sync could not produce (the worker kept its value).
    Column("problems", Document, nullable=True),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # One row per user: later changes coalesce into it (level-triggered sync).
    Column("user_id", String(36), nullable=False, unique=True),
    Column("reason", String(64), nullable=False),
    # Bumped on every enqueue; a finished claim deletes the row only if it is unchanged.
    Column("generation", Integer, nullable=False, default=1),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Timestamp, nullable=False),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_expires_at", Timestamp, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("dead_at", Timestamp, nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Index("ix_outbox_due", "dead_at", "next_attempt_at"),
)

service_state = Table(
    "service_state",
    metadata,
    # Small facts shared by all processes: worker heartbeats, last successful sync, ...
    Column("name", String(128), primary_key=True),
    Column("value", Text, nullable=True),
    Column("updated_at", Timestamp, nullable=False),
)
