"""Fixtures: an in-process sandbox, and client factories for both libraries."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from unifyport_telegram.sandbox.testing import RunningSandbox, running_sandbox

from .adapters import ADAPTERS, KurigramAdapter, TelethonAdapter

Adapter = TelethonAdapter | KurigramAdapter


@pytest.fixture(autouse=True)
def _cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Kurigram appends unknown RPC errors to ./unknown_errors.txt.
    monkeypatch.chdir(tmp_path)


@pytest.fixture
async def sb(tmp_path: Path) -> AsyncIterator[RunningSandbox]:
    async with running_sandbox(tmp_path / "state", qr_ttl=3) as running:
        yield running


@pytest.fixture(params=["telethon", "kurigram"])
def lib(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def make_client(sb: RunningSandbox, lib: str) -> AsyncIterator[Callable[..., Adapter]]:
    made: list[Adapter] = []

    def factory(session: Any = None, *, library: str | None = None, **kwargs: Any) -> Adapter:
        adapter = ADAPTERS[library or lib](sb, session, **kwargs)
        made.append(adapter)
        return adapter

    yield factory
    for adapter in reversed(made):
        try:
            await adapter.disconnect()
        except Exception:  # a test may leave a client broken on purpose
            pass


async def code_sent(sb: RunningSandbox, client: Adapter, phone: str) -> tuple[str, str]:
    """Connect and have a login code sent to ``phone``: (phone_code_hash, the code)."""
    await client.connect()
    code_hash = await client.send_code(phone)
    return code_hash, await sb.control.get_code(phone)


async def login(sb: RunningSandbox, client: Adapter, phone: str) -> int:
    """Code login of an existing sandbox user; returns the user id."""
    return await client.sign_in(phone, *await code_sent(sb, client, phone))
