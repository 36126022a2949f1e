"""Deliveries: one index fewer, and room on PostgreSQL pages for in-place lease updates.

Every delivery row is written three times (fan-out, claim, outcome); each write that cannot
stay on its page inserts into every index. The event's deliveries are now found through the
unique key, reordered to lead with ``event_seq``, so ``ix_deliveries_event`` goes. On
PostgreSQL ``fillfactor = 50`` leaves room on each page, so a claim (which changes no indexed
column) updates the row in place (a HOT update) instead of inserting into every index; it
applies to pages written from now on.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_deliveries_event", table_name="deliveries")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_constraint("uq_deliveries_target_event", type_="unique")
        batch.create_unique_constraint(
            "uq_deliveries_event_target", ["event_seq", "sink", "target"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE deliveries SET (fillfactor = 50)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE deliveries RESET (fillfactor)")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_constraint("uq_deliveries_event_target", type_="unique")
        batch.create_unique_constraint(
            "uq_deliveries_target_event", ["sink", "target", "event_seq"])
    op.create_index("ix_deliveries_event", "deliveries", ["event_id"])
