"""Deliveries: fewer writes per delivered event.

- A delivery's success is stored on its row (``succeeded_*``) instead of as an attempt row.
- The event's deliveries are found through the unique key, reordered to lead with
  ``event_seq``, so ``ix_deliveries_event`` goes (each row write that leaves its page
  inserts into every index).
- On PostgreSQL ``fillfactor = 50`` leaves room on each page, so a claim (which changes no
  indexed column) updates the row in place (a HOT update); it applies to pages written from
  now on.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from unifyport.db.types import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_deliveries_event", table_name="deliveries")
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("succeeded_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("succeeded_status_code", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("succeeded_duration_ms", sa.Integer(), nullable=True))
        batch.drop_constraint("uq_deliveries_target_event", type_="unique")
        batch.create_unique_constraint(
            "uq_deliveries_event_target", ["event_seq", "sink", "target"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE deliveries SET (fillfactor = 50)")


def downgrade() -> None:
    op.execute(
        "INSERT INTO delivery_attempts (delivery_id, event_id, attempt, succeeded, status_code,"
        " error, duration_ms, at) SELECT id, event_id, attempts, true, succeeded_status_code,"
        " NULL, succeeded_duration_ms, succeeded_at FROM deliveries"
        " WHERE succeeded_at IS NOT NULL")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE deliveries RESET (fillfactor)")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_constraint("uq_deliveries_event_target", type_="unique")
        batch.create_unique_constraint(
            "uq_deliveries_target_event", ["sink", "target", "event_seq"])
        batch.drop_column("succeeded_duration_ms")
        batch.drop_column("succeeded_status_code")
        batch.drop_column("succeeded_at")
    op.create_index("ix_deliveries_event", "deliveries", ["event_id"])
