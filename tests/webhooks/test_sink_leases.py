"""How the webhook sink treats its leases: each endpoint times its claims by its own lease."""

from __future__ import annotations

import time
from pathlib import Path

from tests.webhooks.receiver import Receiver, Reply
from tests.webhooks.support import config_toml, emit_events, endpoint_toml, new_secret, webhook_app


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
