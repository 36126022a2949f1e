"""Runtime leases: which process runs an account's online client, and until when.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from unifyport.db.types import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("runtime_owner", sa.String(40), nullable=True))
        batch.add_column(sa.Column("runtime_lease_until", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("runtime_lease_until")
        batch.drop_column("runtime_owner")
