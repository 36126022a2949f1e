"""Per-account locks serialising concurrent requests on one account inside this process.

Across processes, the account row's ``version`` (optimistic locking) refuses stale writes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class AccountLocks:
    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    @asynccontextmanager
    async def hold(self, account_id: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(account_id, asyncio.Lock())
        self._users[account_id] = self._users.get(account_id, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[account_id] -= 1
            if not self._users[account_id]:
                del self._users[account_id], self._locks[account_id]
