"""Re-seal every stored secret under the newest master key, in committed batches.

Each batch is one transaction, so an interrupted run leaves every secret sealed under either
the old or the new key, and a re-run continues where it stopped."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from unifyport.crypto.box import SecretBox
from unifyport.db.database import Database
from unifyport.db.models import StoredSecret
from unifyport.db.types import utcnow


@dataclass(frozen=True)
class RotationReport:
    rotated: int
    already_current: int
    key_id: str


async def rotate_secrets(db: Database, box: SecretBox, batch_size: int = 200,
                         max_batches: int | None = None) -> RotationReport:
    """Re-seal secrets not sealed by the newest key. ``max_batches`` stops early (tests use it
    to simulate an interruption)."""
    newest = box.keyring.newest.key_id
    rotated = batches = 0
    while max_batches is None or batches < max_batches:
        async with db.write() as s:
            rows = (await s.scalars(
                select(StoredSecret).where(StoredSecret.key_id != newest)
                .order_by(StoredSecret.account_id, StoredSecret.purpose).limit(batch_size)
            )).all()
            for row in rows:
                plain = box.open(row.purpose, row.account_id, row.blob)
                row.blob = box.seal(row.purpose, row.account_id, plain)
                row.key_id, row.updated_at = newest, utcnow()
        if not rows:
            break
        rotated += len(rows)
        batches += 1
    async with db.read() as s:
        current = await s.scalar(
            select(func.count()).select_from(StoredSecret).where(StoredSecret.key_id == newest)
        )
    return RotationReport(rotated, int(current or 0) - rotated, newest)
