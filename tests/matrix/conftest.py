"""A real Synapse for the Matrix tests (started once per session) and gateways pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest

from tests.support.gateway import Api, make_settings, running
from unifyport.settings import Settings

from .synapse import Synapse

MATRIX_TOML = """
[security]
outbound_allow_cidrs = ["127.0.0.1/32"]
[plugins]
disabled = ["telegram", "webhook"]
[plugins.matrix]
sync_timeout = 1
request_timeout = 10
save_interval = 0.2
"""


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synapse]:
    server = Synapse(tmp_path_factory.mktemp("synapse"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data", MATRIX_TOML)


@pytest.fixture
def gateway(settings: Settings) -> Callable[[], AbstractAsyncContextManager[Api]]:
    return lambda: running(settings)


@pytest.fixture
async def api(gateway: Callable[[], AbstractAsyncContextManager[Api]]) -> AsyncIterator[Api]:
    async with gateway() as client:
        yield client


def account_body(synapse: Synapse, user: dict[str, Any], mode: str = "password") -> dict[str, Any]:
    data: dict[str, Any] = {"homeserver": synapse.url}
    if mode == "password":
        data["user"] = user["user_id"]
    return {"provider": "matrix", "auth_mode": mode, "provider_data": data}
