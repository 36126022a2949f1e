"""The backend-neutral stored session: what carries over between Telethon and Pyrogram.

Stored (encrypted by the core) as JSON bytes; both backends build their own library session
from it, so converting between the libraries is free.
"""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass, replace
from typing import Any


@dataclass(frozen=True)
class UpdateState:
    """Where the account's update stream stopped (for ``updates.getDifference``)."""

    pts: int
    date: int
    qts: int = 0


@dataclass(frozen=True)
class SessionData:
    dc_id: int
    auth_key: bytes
    user_id: int | None = None
    is_bot: bool = False
    state: UpdateState | None = None

    def with_state(self, state: UpdateState | None) -> SessionData:
        return replace(self, state=state)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["auth_key"] = base64.b64encode(self.auth_key).decode()
        data["version"] = 1
        return data

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_json(), separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: Any) -> SessionData:
        if not isinstance(data, dict):
            raise ValueError("session data must be an object")
        key = base64.b64decode(data["auth_key"])
        if len(key) != 256:
            raise ValueError("auth key must be 256 bytes")
        state = data.get("state")
        return cls(
            dc_id=int(data["dc_id"]), auth_key=key,
            user_id=None if data.get("user_id") is None else int(data["user_id"]),
            is_bot=bool(data.get("is_bot", False)),
            state=None if not state else UpdateState(int(state["pts"]), int(state["date"]),
                                                     int(state.get("qts", 0))),
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> SessionData:
        return cls.from_json(json.loads(raw))
