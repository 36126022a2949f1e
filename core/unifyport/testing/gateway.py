"""Run a gateway app in-process for tests: start-up and shutdown run (``app.test_app()``).

Shipped for plugin authors (the conformance kit uses it) and used by UnifyPort's own suite.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from quart import Quart
from quart.testing import TestApp
from quart.typing import TestClientProtocol

from unifyport.config import load_settings
from unifyport.gateway import Gateway
from unifyport.http.app import create_app
from unifyport.http.context import EXTENSION
from unifyport.settings import Settings

CORE_ONLY = '[plugins]\ndisabled = ["telegram", "webhook", "matrix"]\n'
"""Core tests run with the test-only provider alone, isolated from the built-in plugins."""


def make_settings(data_dir: Path, toml: str = "", env: dict[str, str] | None = None,
                  database_url: str | None = None) -> Settings:
    """Settings with ``data_dir`` and optional extra TOML (written next to it)."""
    cfg = data_dir.parent / f"{data_dir.name}.toml"
    url_line = f'database_url = "{database_url}"\n' if database_url else ""
    cfg.write_text(f'[storage]\ndata_dir = "{data_dir}"\n{url_line}{toml}', encoding="utf-8")
    return load_settings(cfg, environ=env or {})


@dataclass
class Api:
    """A test client that sends the admin API key on every request."""

    app: Quart
    client: TestClientProtocol
    key: str

    @property
    def gateway(self) -> Gateway:
        gw = self.app.extensions[EXTENSION]
        assert isinstance(gw, Gateway)
        return gw

    async def call(self, method: str, path: str, json: Any = None,
                   headers: dict[str, str] | None = None) -> tuple[int, Any]:
        hdrs = {"Authorization": f"Bearer {self.key}", **(headers or {})}
        kwargs: dict[str, Any] = {"headers": hdrs}
        if json is not None:
            kwargs["json"] = json
        response = await self.client.open(path, method=method, **kwargs)
        body = await response.get_json() if response.mimetype == "application/json" else None
        return response.status_code, body

    async def post(self, path: str, json: Any = None) -> tuple[int, Any]:
        return await self.call("POST", path, json)

    async def get(self, path: str) -> tuple[int, Any]:
        return await self.call("GET", path)

    async def delete(self, path: str) -> tuple[int, Any]:
        return await self.call("DELETE", path)


@asynccontextmanager
async def running(settings: Settings, plugins: tuple[tuple[str, object], ...] = (),
                  start_seconds: int = 60) -> AsyncIterator[Api]:
    """Start the app (migrations, admin key) and yield an authenticated client; its
    start-up and shutdown may each take ``start_seconds``."""
    app = create_app(settings, extra_plugins=plugins)
    async with TestApp(app, startup_timeout=start_seconds,
                       shutdown_timeout=start_seconds) as test_app:
        key = (settings.storage.data_dir / "admin-api-key").read_text().strip()
        yield Api(app, test_app.test_client(), key)
