"""Runtime workers get ``leases``: ``process`` for a process whose liveness alone keeps the
accounts it owns (its row's ``seen_at``); NULL for older processes, whose accounts are held
by each account's own ``runtime_lease_until``. Only adds a column: old and new processes can
share the database during a rolling upgrade.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("runtime_workers", sa.Column("leases", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runtime_workers") as batch:
        batch.drop_column("leases")
