"""worker link snapshot: the worker as the sync last saw it

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

``etag`` and ``attributes`` remember the worker as of the sync's last read or write, so a later
change can be written with ``If-Match: <etag>`` without fetching first (a 412 means someone else
changed the worker: fetch, merge, write). ``owned_keys`` are the attribute keys the sync wrote,
so a key the mapping stops producing is removed rather than left behind.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _document() -> sa.types.TypeEngine[object]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("worker_links", schema=None) as batch_op:
        batch_op.add_column(sa.Column("etag", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("attributes", _document(), nullable=True))
        batch_op.add_column(sa.Column("owned_keys", _document(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("worker_links", schema=None) as batch_op:
        batch_op.drop_column("owned_keys")
        batch_op.drop_column("attributes")
        batch_op.drop_column("etag")
