"""worker link problems: mapped values the sync could not produce for a user

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03

``worker_links.problems`` lists, after each sync, the mapped worker keys whose value could not be
produced from the directory (for example a ``type = "int"`` source that reads ``"three"``); the
worker keeps its last good value for those keys. ``scimbridge status`` lists them by userName and
``scimbridge_sync_mapping_problems`` counts the users, until the source is fixed.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    document = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
    with op.batch_alter_table("worker_links", schema=None) as batch_op:
        batch_op.add_column(sa.Column("problems", document, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("worker_links", schema=None) as batch_op:
        batch_op.drop_column("problems")
