"""Two gateways on one database share the deliveries: every event once, none lost."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tests.support.gateway import make_settings, running
from tests.webhooks.receiver import Receiver
from tests.webhooks.support import config_toml, emit_events, endpoint_toml, new_secret, verify


async def test_two_gateways_share_one_database(
    tmp_path: Path, receiver: Receiver, database_url: str
) -> None:
    secret = new_secret()
    toml = config_toml(endpoint_toml("main", receiver.url, secret, max_concurrency=4))
    one = make_settings(tmp_path / "one", toml, database_url=database_url)
    async with running(one) as first:
        # The second process shares the database and the master key of the first.
        two = make_settings(tmp_path / "two", toml, database_url=database_url)
        (tmp_path / "two").mkdir()
        for name in ("master.key", "admin-api-key"):
            target = tmp_path / "two" / name
            target.write_bytes((tmp_path / "one" / name).read_bytes())
            target.chmod(0o600)
        async with running(two) as second:
            ids = await emit_events(first.gateway, 150) + await emit_events(second.gateway, 150)
            received = await receiver.wait_for(300)
    counts = Counter(r.id for r in received)
    assert set(counts) == set(ids)
    assert max(counts.values()) == 1
    for rec in received[::30]:
        verify(secret, rec)
