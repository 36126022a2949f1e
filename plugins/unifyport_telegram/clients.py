"""Which backend a client is made of: the one place that imports the backends."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .backend import TelegramClient
from .config import TelegramConfig
from .session_data import SessionData


def make_client(cfg: TelegramConfig, provider_data: Mapping[str, Any],
                session: SessionData | None) -> TelegramClient:
    """A client for the account with ``provider_data``, of its own ``backend`` or else the
    configured one (the library is imported here, on first use)."""
    api_id, api_hash = int(provider_data["api_id"]), str(provider_data["api_hash"])
    if (provider_data.get("backend") or cfg.backend) == "pyrogram":
        from .backends.pyrogram_backend import PyrogramClient

        return PyrogramClient(cfg, api_id, api_hash, session)
    from .backends.telethon_backend import TelethonClient

    return TelethonClient(cfg, api_id, api_hash, session)
