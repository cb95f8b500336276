"""token expiry: access tokens issued by the OAuth token endpoint expire

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

``api_tokens.expires_at`` is set on the short-lived access tokens that ``POST /oauth2/token``
issues (client credentials, workload identity federation); every process of a deployment checks
them in the shared database. Tokens made with ``scimbridge token create`` keep it NULL: they never
expire, as Entra's Secret Token must not.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # Issued tokens would outlive their expiry without the column, so they go with it.
    op.execute(sa.text("DELETE FROM api_tokens WHERE expires_at IS NOT NULL"))
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("expires_at")
