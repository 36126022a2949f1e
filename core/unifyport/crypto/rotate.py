"""Re-seal every stored secret under the newest master key, in committed batches.

Each batch is one transaction that locks its rows (``FOR UPDATE`` on PostgreSQL; SQLite's
``BEGIN IMMEDIATE`` serialises writers), so a secret written concurrently by a running server
is never overwritten with stale content. An interrupted run leaves every secret sealed under
either the old or the new key, and a re-run continues where it stopped."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import and_, or_, select

from unifyport.crypto.box import SecretBox, SecretError, key_id_of
from unifyport.crypto.check import secret_counts
from unifyport.db.database import Database
from unifyport.db.models import StoredSecret
from unifyport.db.types import utcnow
from unifyport.webhooks.models import WebhookEndpoint
from unifyport.webhooks.sealing import PURPOSE as ENDPOINT_PURPOSE

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RotationReport:
    rotated: int
    """Secrets re-sealed by this run."""
    already_current: int
    """Secrets that were already sealed with the newest key."""
    failed: int
    """Secrets that did not open (corrupt or tampered); they keep their old blob."""
    remaining: int
    """Secrets not under the newest key after this run (0 once rotation is complete)."""
    key_id: str
    """The newest key id."""
    by_key: dict[str, int] = field(default_factory=dict)
    """Stored secrets per key id after this run."""
    endpoints_rotated: int = 0
    """Webhook endpoints (their signing secrets and headers) re-sealed by this run; they are
    not counted above."""


async def count_by_key_id(db: Database) -> dict[str, int]:
    """Stored secrets per key id (empty when the table does not exist yet)."""
    async with db.engine.connect() as conn:
        return await secret_counts(conn)


async def rotate_secrets(db: Database, box: SecretBox, batch_size: int = 200,
                         max_batches: int | None = None) -> RotationReport:
    """Re-seal secrets not sealed by the newest key. ``max_batches`` stops early (tests use it
    to simulate an interruption)."""
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    newest = box.sealing_key_id
    rotated = failed = batches = 0
    finished = False
    after: tuple[str, str] | None = None
    while max_batches is None or batches < max_batches:
        async with db.write() as s:
            q = select(StoredSecret).where(StoredSecret.key_id != newest)
            if after is not None:
                q = q.where(or_(StoredSecret.account_id > after[0],
                                and_(StoredSecret.account_id == after[0],
                                     StoredSecret.purpose > after[1])))
            rows = (await s.scalars(
                q.order_by(StoredSecret.account_id, StoredSecret.purpose)
                .limit(batch_size).with_for_update()
            )).all()
            for row in rows:
                try:
                    plain = box.open(row.purpose, row.account_id, row.blob)
                except SecretError as exc:
                    failed += 1
                    log.error("rotation skipped a secret: %s", exc)
                    continue
                row.blob = box.seal(row.purpose, row.account_id, plain)
                row.key_id, row.updated_at = key_id_of(row.blob), utcnow()
                rotated += 1
            if rows:
                after = (rows[-1].account_id, rows[-1].purpose)
        if not rows:
            finished = True
            break
        batches += 1
    endpoints = await reseal_endpoints(db, box) if finished else 0
    counts = await count_by_key_id(db)
    current = counts.get(newest, 0)
    return RotationReport(
        rotated=rotated, already_current=current - rotated, failed=failed,
        remaining=sum(counts.values()) - current, key_id=newest, by_key=counts,
        endpoints_rotated=endpoints,
    )


async def reseal_endpoints(db: Database, box: SecretBox) -> int:
    """Re-seal the webhook endpoints not sealed by the newest key (one transaction: there are
    few); returns how many. One that does not open keeps its blob and is logged."""
    newest, count = box.sealing_key_id, 0
    async with db.write() as s:
        for row in await s.scalars(select(WebhookEndpoint).where(
                WebhookEndpoint.key_id != newest).with_for_update()):
            try:
                plain = box.open(ENDPOINT_PURPOSE, row.id, row.sealed)
            except SecretError as exc:
                log.error("rotation skipped a webhook endpoint: %s", exc)
                continue
            row.sealed = box.seal(ENDPOINT_PURPOSE, row.id, plain)
            row.key_id = key_id_of(row.sealed)
            count += 1
    return count
