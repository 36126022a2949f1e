"""Webhook endpoints stored through the API, account filters on delivery targets, and
scoped API keys.

``api_keys`` gains columns with ``ADD COLUMN`` (no batch rebuild), so SQLite keeps the
triggers of migration 0005.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from unifyport.db.types import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("description", sa.String(500), nullable=True),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("account_ids", sa.JSON(), nullable=True),
        sa.Column("owner_account_id", sa.String(40), nullable=True),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoints")),
    )
    op.create_index("ix_webhook_endpoints_owner", "webhook_endpoints", ["owner_account_id"])
    op.add_column("delivery_targets", sa.Column("account_ids", sa.JSON(), nullable=True))
    op.add_column("api_keys", sa.Column("scopes", sa.JSON(), nullable=True))
    op.add_column("api_keys", sa.Column("account_ids", sa.JSON(), nullable=True))


def downgrade() -> None:
    # SQLite >= 3.35 drops columns in place (api_keys keeps its triggers).
    op.drop_column("api_keys", "account_ids")
    op.drop_column("api_keys", "scopes")
    op.drop_column("delivery_targets", "account_ids")
    op.drop_index("ix_webhook_endpoints_owner", "webhook_endpoints")
    op.drop_table("webhook_endpoints")
