"""Several processes on one PostgreSQL: live workers (for rebalancing accounts between
them), forwarded runtime calls, and which process holds an auth flow's in-memory state.

Revision ID: 0007
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from unifyport.db.types import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runtime_workers",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("seen_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runtime_workers")),
    )
    op.create_table(
        "runtime_calls",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("owner", sa.String(40), nullable=False),
        sa.Column("caller", sa.String(40), nullable=False),
        sa.Column("account_id", sa.String(40), nullable=False),
        sa.Column("operation", sa.String(64), nullable=False),
        sa.Column("args", sa.LargeBinary(), nullable=False),
        sa.Column("result", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("claimed_at", UTCDateTime(), nullable=True),
        sa.Column("done_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runtime_calls")),
    )
    op.create_index("ix_runtime_calls_owner", "runtime_calls", ["owner", "claimed_at"])
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("flow_owner", sa.String(40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("flow_owner")
    op.drop_index("ix_runtime_calls_owner", table_name="runtime_calls")
    op.drop_table("runtime_calls")
    op.drop_table("runtime_workers")
