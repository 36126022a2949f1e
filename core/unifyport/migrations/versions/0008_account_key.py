"""Accounts get an optional ``key``: the stable, unique name of an account declared in the
configuration (``[[accounts]]``), which reconciliation finds it by.

Revision ID: 0008
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("accounts", sa.Column("key", sa.String(length=200), nullable=True))
    op.create_index("ix_accounts_key", "accounts", ["key"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_accounts_key", table_name="accounts")
    op.drop_column("accounts", "key")
