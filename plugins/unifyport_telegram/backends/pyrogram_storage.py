"""Kurigram's session storage kept in plain Python objects.

Kurigram's in-memory storage is an SQLite database per client: about 100 KB each (the
connection's caches and a page per table and index), most of what an idle online Kurigram
account cost (``bench/scale.py``). This storage keeps the same values in a dictionary: the
session's fields, the peers seen (as Kurigram's: never evicted), usernames and update states.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from pyrogram.storage import Storage
from pyrogram.storage.sqlite_storage import get_input_peer
from pyrogram.storage.storage import UpdateState

from ..session_data import SessionData

_UNSET: Any = object
"""Kurigram's sentinel for "read, do not write" (``None`` is a value that can be set)."""
USERNAME_TTL = 8 * 60 * 60
"""As Kurigram's SQLite storage: a username older than this is looked up again."""


class MemoryStorage(Storage):  # type: ignore[misc]  # Kurigram ships no type hints
    def __init__(self, name: str, session: SessionData | None, api_id: int) -> None:
        self.name = name
        self._values: dict[str, Any] = dict.fromkeys(
            ("dc_id", "api_id", "server_address", "port", "test_mode", "auth_key", "date",
             "user_id", "is_bot"))
        if session is not None:
            self._values.update(dc_id=session.dc_id, api_id=api_id, test_mode=False,
                                auth_key=session.auth_key, user_id=session.user_id or 0,
                                is_bot=session.is_bot, date=0, port=443,
                                server_address="127.0.0.1")  # the connection class maps DCs
        self._peers: dict[int, tuple[int, str, str | None]] = {}
        self._phones: dict[str, int] = {}
        self._usernames: dict[str, tuple[int, float]] = {}
        self._states: dict[int, UpdateState] = {}

    async def open(self) -> None:
        return None

    async def save(self) -> None:
        self._values["date"] = int(time.time())

    async def close(self) -> None:
        return None

    async def delete(self) -> None:
        return None

    async def update_peers(self, peers: Iterable[tuple[int, int, str, str | None]]) -> None:
        for peer_id, access_hash, kind, phone in peers:
            self._peers[peer_id] = (access_hash, kind, phone)
            if phone:
                self._phones[phone] = peer_id

    async def update_usernames(self, usernames: Iterable[tuple[int, list[str | None]]]) -> None:
        now = time.time()
        for peer_id, names in usernames:
            for name in names:
                if name is not None:
                    self._usernames[name] = (peer_id, now)

    async def get_update_states(self, ids: int | Iterable[int] | None = None
                                ) -> list[UpdateState]:
        if ids is None:
            found = list(self._states.values())
        else:
            wanted = (ids,) if isinstance(ids, int) else tuple(ids)
            found = [self._states[i] for i in wanted if i in self._states]
        return sorted(found, key=lambda s: s.date or 0)

    async def set_update_state(self, update_state: UpdateState | Iterable[UpdateState]
                               ) -> None:
        states = [update_state] if isinstance(update_state, UpdateState) else update_state
        for new in states:
            old = self._states.get(new.id)
            if old is not None:  # as the SQLite storage's COALESCE: None keeps the old value
                new = UpdateState(new.id, *(n if n is not None else o for n, o in zip(
                    (new.pts, new.qts, new.date, new.seq),
                    (old.pts, old.qts, old.date, old.seq), strict=True)))
            self._states[new.id] = new

    async def delete_update_state(self, state_id: int | Iterable[int]) -> None:
        for i in (state_id,) if isinstance(state_id, int) else tuple(state_id):
            self._states.pop(i, None)

    async def get_peer_by_id(self, peer_id: int) -> Any:
        if peer_id not in self._peers:
            raise KeyError(f"ID not found: {peer_id}")
        access_hash, kind, _phone = self._peers[peer_id]
        return get_input_peer(peer_id, access_hash, kind)

    async def get_peer_by_username(self, username: str) -> Any:
        found = self._usernames.get(username)
        if found is None or found[0] not in self._peers:
            raise KeyError(f"Username not found: {username}")
        if abs(time.time() - found[1]) > USERNAME_TTL:
            raise KeyError(f"Username expired: {username}")
        return await self.get_peer_by_id(found[0])

    async def get_peer_by_phone_number(self, phone_number: str) -> Any:
        if phone_number not in self._phones:
            raise KeyError(f"Phone number not found: {phone_number}")
        return await self.get_peer_by_id(self._phones[phone_number])

    def _accessor(self, name: str, value: Any) -> Any:
        if value is _UNSET:
            return self._values[name]
        self._values[name] = value
        return None

    async def dc_id(self, value: Any = _UNSET) -> Any:
        return self._accessor("dc_id", value)

    async def api_id(self, value: Any = _UNSET) -> Any:
        return self._accessor("api_id", value)

    async def server_address(self, value: Any = _UNSET) -> Any:
        return self._accessor("server_address", value)

    async def port(self, value: Any = _UNSET) -> Any:
        return self._accessor("port", value)

    async def test_mode(self, value: Any = _UNSET) -> Any:
        return self._accessor("test_mode", value)

    async def auth_key(self, value: Any = _UNSET) -> Any:
        return self._accessor("auth_key", value)

    async def date(self, value: Any = _UNSET) -> Any:
        return self._accessor("date", value)

    async def user_id(self, value: Any = _UNSET) -> Any:
        return self._accessor("user_id", value)

    async def is_bot(self, value: Any = _UNSET) -> Any:
        return self._accessor("is_bot", value)
