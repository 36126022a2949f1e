"""How the webhook sink treats its leases: each endpoint times its claims by its own lease, and
shutdown hands back every claim it did not finish."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from tests.webhooks.receiver import Receiver, Reply
from tests.webhooks.support import config_toml, emit_events, endpoint_toml, new_secret, webhook_app
from unifyport.db.database import Database
from unifyport.db.types import utcnow
from unifyport.delivery.models import DeliveryAttempt
from unifyport.delivery.queue import DeliveryQueue


async def test_each_endpoint_times_its_claims_by_its_own_lease(tmp_path: Path) -> None:
    quick, patient = await Receiver().start(), await Receiver().start()
    try:
        for r in (quick, patient):
            r.default = Reply(200, delay=2.0)  # hold the single worker: claims stay buffered
        toml = config_toml(
            endpoint_toml("quick", quick.url, new_secret(), timeout="1s", max_concurrency=1),
            endpoint_toml("patient", patient.url, new_secret(), timeout=300, max_concurrency=1),
        )
        async with webhook_app(tmp_path / "data", toml) as (api, sink):
            await emit_events(api.gateway, 5)  # both endpoints claim in one cycle
            await quick.wait_for(1)
            await patient.wait_for(1)
            lanes = sink._lanes
            checked_at = time.monotonic()
            for name in ("quick", "patient"):
                lane = lanes[name]
                assert len(lane.expires) == 5
                lease = lane.lease.total_seconds()
                assert all(checked_at - 10 < at <= checked_at + lease
                           for at in lane.expires.values()), name
    finally:
        await quick.stop()
        await patient.stop()


async def test_shutdown_hands_back_every_claim_it_did_not_finish(
    tmp_path: Path, receiver: Receiver
) -> None:
    receiver.default = Reply(200, delay=30.0)  # the one worker stays busy until shutdown
    toml = config_toml(endpoint_toml("main", receiver.url, new_secret(), max_concurrency=1))
    async with webhook_app(tmp_path / "data", toml) as (api, sink):
        url = api.gateway.settings.storage.effective_database_url
        await emit_events(api.gateway, 5)
        await receiver.wait_for(1)
        assert len(sink._lanes["main"].held) == 5  # one in flight, four buffered
    db = Database(url)
    try:
        async with db.read() as s:
            assert await s.scalar(select(func.count()).select_from(DeliveryAttempt)) == 0
        # Nothing is left leased: a restarted server can claim all five at once, as first tries.
        claims = await DeliveryQueue(db, "webhook").claim("main", 10, utcnow(), timedelta(1))
    finally:
        await db.dispose()
    assert sorted(c.attempt for c in claims) == [1] * 5
