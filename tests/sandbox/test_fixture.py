"""The ready-made pytest fixture of ``unifyport_telegram.sandbox.testing``."""

from __future__ import annotations

from unifyport_telegram.sandbox.testing import telegram_sandbox  # noqa: F401 - the fixture

from .adapters import TelethonAdapter
from .conftest import login


async def test_ready_made_fixture(telegram_sandbox):  # noqa: F811
    user = await telegram_sandbox.control.create_user("+15550500", "Fix")
    client = TelethonAdapter(telegram_sandbox)
    try:
        assert await login(telegram_sandbox, client, "+15550500") == user["id"]
    finally:
        await client.disconnect()
    assert telegram_sandbox.public_key_file.read_bytes() == telegram_sandbox.public_key_pem
