"""Fixtures: an in-process sandbox and a gateway whose Telegram plugin points at it, for
each backend (Telethon and Kurigram)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest

from tests.support.gateway import Api, make_settings, running
from unifyport.settings import Settings
from unifyport_telegram.sandbox.testing import API_HASH, API_ID, RunningSandbox, running_sandbox

QR_TTL = 3.0


@pytest.fixture(autouse=True)
def _cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Kurigram appends unknown RPC errors to ./unknown_errors.txt: keep it out of the repo.
    monkeypatch.chdir(tmp_path)


@pytest.fixture
async def sb(tmp_path: Path) -> AsyncIterator[RunningSandbox]:
    async with running_sandbox(tmp_path / "sandbox", qr_ttl=QR_TTL) as running_sb:
        yield running_sb


@pytest.fixture(params=["telethon", "pyrogram"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def import_dir(tmp_path: Path) -> Path:
    path = tmp_path / "imports"
    path.mkdir()
    return path


def telegram_toml(sb: RunningSandbox, backend: str, import_dir: Path,
                  probe_interval: float = 0.3, ping_interval: float = 60,
                  heartbeat_rate: float = 20) -> str:
    dcs = "\n".join(f'"{i}" = "{h}:{p}"' for i, (h, p) in sb.dc_addresses.items())
    host, port = sb.dc_address()
    return f"""
[security]
outbound_allow_cidrs = ["127.0.0.1/32"]
[plugins.telegram]
backend = "{backend}"
import_dir = "{import_dir}"
timeout = 10
probe_interval = {probe_interval}
ping_interval = {ping_interval}
heartbeat_rate = {heartbeat_rate}
[plugins.telegram.server]
dc_id = {sb.main_dc}
address = "{host}:{port}"
public_key_file = "{sb.public_key_file}"
[plugins.telegram.server.dcs]
{dcs}
"""


@pytest.fixture
def settings(tmp_path: Path, sb: RunningSandbox, backend: str, import_dir: Path) -> Settings:
    return make_settings(tmp_path / "data", telegram_toml(sb, backend, import_dir))


@pytest.fixture
def gateway(settings: Settings) -> Callable[[], AbstractAsyncContextManager[Api]]:
    """Start a gateway (again and again over the same data directory: a restart)."""
    return lambda: running(settings)


@pytest.fixture
async def api(gateway: Callable[[], AbstractAsyncContextManager[Api]]) -> AsyncIterator[Api]:
    async with gateway() as client:
        yield client


CREDS = {"api_id": API_ID, "api_hash": API_HASH}
