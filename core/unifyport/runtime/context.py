"""The runtime context of one account's running client (what ``Provider.run_runtime``
receives): status, events, messages and session writes, fenced by the supervisor."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from unifyport.accounts.service import emit
from unifyport.db.database import to_the_end
from unifyport.db.group import GroupCommit
from unifyport.db.repositories import SecretRepository
from unifyport.gateway import SESSION, Gateway
from unifyport.messages import Message, linked
from unifyport.providers import RuntimeStatus


class Supervising(Protocol):
    """What a context needs of the supervisor (``RuntimeSupervisor``) that made it."""

    gw: Gateway
    writes: GroupCommit
    clients: dict[str, object]
    attempts: dict[str, int]

    async def may_write(self, s: AsyncSession, account_id: str, task: asyncio.Task[Any] | None,
                        *, winding_down: bool = False) -> bool: ...

    async def set_status(self, account_id: str, status: RuntimeStatus, error: str | None,
                         *, fence: asyncio.Task[Any] | None = None) -> None: ...


class AccountContext:
    """The :class:`unifyport.providers.RuntimeContext` the core hands a running client.

    Its writes are fenced: a client this process no longer should run (stopped or deleted
    here or elsewhere, taken over by another process, replaced by a newer client) stores
    nothing and wakes the lease loop, which stops it. A client being stopped here may still
    flush what it received and save its session while no other process owns the account."""

    def __init__(self, sup: Supervising, provider: str, account_id: str,
                 provider_data: Mapping[str, Any], session: bytes) -> None:
        self._sup = sup
        self._provider = provider
        self._task = asyncio.current_task()
        self.account_id = account_id
        self.provider_data = provider_data
        self.session = session
        self.outbound = sup.gw.outbound

    def attach(self, client: object) -> None:
        self._sup.clients[self.account_id] = client

    async def set_status(self, status: RuntimeStatus, error: str | None = None) -> None:
        if status is RuntimeStatus.RUNNING:
            self._sup.attempts[self.account_id] = 0
        # A client's writes run to their end even when it is cancelled meanwhile (the
        # cancellation reaches it after): cut off half-way, a write could keep SQLite's lock.
        await to_the_end(self._sup.set_status(self.account_id, status, error,
                                              fence=self._task))

    async def emit(self, type: str, data: Mapping[str, Any]) -> None:
        await self.emit_many([(type, data)])

    async def received(self, messages: Sequence[Message]) -> None:
        await self.emit_many([("message.received", {"provider": self._provider,
                                                     "message": m.as_json()})
                              for m in messages])

    async def emit_many(self, events: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        if events:
            await to_the_end(self._emit_many(events))

    async def _emit_many(self, events: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        async def write(s: AsyncSession) -> None:
            if await self._sup.may_write(s, self.account_id, self._task, winding_down=True):
                for type, data in events:
                    if isinstance(data.get("message"), dict):  # attachments' download routes
                        data = {**data, "message": linked(self.account_id, dict(data["message"]))}
                    emit(s, type, self.account_id, data)

        await self._sup.writes.run(write, self.account_id)  # with other clients' writes: one commit

    async def save_session(self, session: bytes) -> None:
        await to_the_end(self._save_session(session))
        self.session = session

    async def _save_session(self, session: bytes) -> None:
        async def write(s: AsyncSession) -> None:
            if await self._sup.may_write(s, self.account_id, self._task, winding_down=True):
                await SecretRepository(s, self._sup.gw.box).put(self.account_id, SESSION,
                                                                session)

        await self._sup.writes.run(write, self.account_id)
