"""A counter of changes to ``api_keys``, kept by triggers: processes that cache verified keys
compare it to their cached copy (``unifyport.apikeys``) and drop the cache when it moved.

Triggers rather than code, so that every change counts — a revocation through the CLI, a
deleted row, a future route or a hand-written ``UPDATE``. SQLite drops a table's triggers
with the table: a later migration that rebuilds ``api_keys`` (batch mode) must create them
again (``tests/core/test_key_cache.py`` fails otherwise).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_SQLITE_EVENTS = ("INSERT", "UPDATE", "DELETE")
_BUMP = "UPDATE api_key_version SET version = version + 1"


def upgrade() -> None:
    op.create_table(
        "api_key_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_key_version")),
    )
    op.execute("INSERT INTO api_key_version (id, version) VALUES (1, 1)")
    if op.get_bind().dialect.name == "sqlite":
        for ev in _SQLITE_EVENTS:
            op.execute(f"CREATE TRIGGER api_keys_changed_{ev.lower()} AFTER {ev} ON api_keys "
                       f"BEGIN {_BUMP}; END")
        return
    op.execute("CREATE FUNCTION unifyport_api_keys_changed() RETURNS trigger LANGUAGE plpgsql "
               f"AS $$ BEGIN {_BUMP}; RETURN NULL; END $$")
    op.execute("CREATE TRIGGER api_keys_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
               "ON api_keys FOR EACH STATEMENT EXECUTE FUNCTION unifyport_api_keys_changed()")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for ev in _SQLITE_EVENTS:
            op.execute(f"DROP TRIGGER api_keys_changed_{ev.lower()}")
    else:
        op.execute("DROP TRIGGER api_keys_changed ON api_keys")
        op.execute("DROP FUNCTION unifyport_api_keys_changed()")
    op.drop_table("api_key_version")
