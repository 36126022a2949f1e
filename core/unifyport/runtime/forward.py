"""Forwarding runtime calls to the process that runs an account's client (PostgreSQL only).

A call is an operation name with JSON arguments, answered with a JSON result or an API error.
The calling process writes a ``runtime_calls`` row (arguments sealed like every secret)
addressed to the owner and sends ``NOTIFY`` on the owner's channel in the same transaction;
the owner, which ``LISTEN``s on its channel over one dedicated connection, claims the row,
runs the operation's handler, stores the sealed result and notifies the caller's channel.
Notifications only wake the other side: both also poll (``POLL_EVERY``), so a lost one (a
listener reconnecting) costs a delay, never a call.

A call nobody claims within ``CLAIM_TIMEOUT`` (its owner died or hangs) is withdrawn and
answered 503 ``runtime_unavailable`` with ``Retry-After``: it never runs, so a retry is
safe; for the next ``CLAIM_TIMEOUT`` seconds further calls to that process are answered so
at once (while a dead process's leases run out, callers do not wait 5 s each). A claimed
call that is not answered within its timeout is answered the same way; it may have run (as
a send whose answer is lost may have been delivered).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from unifyport.accounts.service import get_account
from unifyport.db.models import Account
from unifyport.db.types import utcnow
from unifyport.errors import ApiError
from unifyport.gateway import Gateway
from unifyport.ids import new_id
from unifyport.runtime.models import RuntimeCall

log = logging.getLogger(__name__)
Handler = Callable[[Account, Mapping[str, Any]], Awaitable[Mapping[str, Any]]]
"""``handler(account, args) -> result``; raises :class:`ApiError` to answer an error."""
CLAIM_TIMEOUT = 5.0
"""Seconds a live owner has to claim a call (it is notified at once)."""
POLL_EVERY = 1.0
"""Seconds between looks at the table when no notification came."""
RETRY_AFTER = 5
PURPOSE = "runtime_call"
_STALE = timedelta(minutes=10)


def unavailable(message: str, retry_after: int = RETRY_AFTER) -> ApiError:
    return ApiError(503, "runtime_unavailable", message, retry_after=retry_after)


def _channel(worker: str) -> str:
    return f"unifyport_{worker}"


class Forwarder:
    """This process's end of forwarding: answers calls addressed to it, makes calls."""

    def __init__(self, gw: Gateway, worker: str) -> None:
        self.gw = gw
        self.worker = worker
        self.enabled = not gw.db.is_sqlite
        """SQLite serves one process (``serve`` holds its lock): nothing to forward to."""
        self.handlers: dict[str, Handler] = {}
        self._done: dict[str, asyncio.Event] = {}
        self._incoming = asyncio.Event()
        self._listener: AsyncConnection | None = None
        self._engine = create_async_engine(gw.db.url, poolclass=NullPool) \
            if self.enabled else None
        self._task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._silent: dict[str, float] = {}
        """Owners that let a call go unclaimed -> until when calls to them fail at once."""

    def register(self, operation: str, handler: Handler) -> None:
        """Let other processes run ``operation`` here (each process registers the same)."""
        self.handlers[operation] = handler

    async def open(self) -> None:
        if self.enabled:
            await self._listen()
            self._task = asyncio.create_task(self._serve(), name="runtime-calls")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close()
        if self._engine is not None:
            await self._engine.dispose()

    # -- listening ---------------------------------------------------------------------
    async def _listen(self) -> None:
        assert self._engine is not None
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close()
        self._listener = None
        conn = await self._engine.connect()
        raw: Any = (await conn.get_raw_connection()).driver_connection
        await raw.add_listener(_channel(self.worker), self._notified)
        self._listener = conn

    def _listening(self) -> bool:
        if self._listener is None:
            return False
        raw: Any = self._listener.sync_connection.connection.driver_connection  # type: ignore[union-attr]
        return raw is not None and not raw.is_closed()

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        kind, _, call_id = payload.partition(":")
        if kind == "call":
            self._incoming.set()
        elif (done := self._done.get(call_id)) is not None:
            done.set()

    async def _serve(self) -> None:
        """Claim and run the calls addressed here; keep the listener connected."""
        last_sweep = 0.0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._incoming.wait(), POLL_EVERY)
            self._incoming.clear()
            try:
                if not self._listening():
                    await self._listen()
                for call in await self._claim():
                    task = asyncio.create_task(self._run(*call), name=f"runtime-call:{call[0]}")
                    self._running.add(task)
                    task.add_done_callback(self._running.discard)
                if time.monotonic() - last_sweep > 60:
                    last_sweep = time.monotonic()
                    async with self.gw.db.write() as s:  # left by callers that died waiting
                        await s.execute(delete(RuntimeCall).where(
                            RuntimeCall.created_at < utcnow() - _STALE))
            except Exception:
                log.exception("runtime calls: claiming failed")

    async def _claim(self) -> list[tuple[str, str, str, str, bytes]]:
        c = RuntimeCall
        async with self.gw.db.write() as s:
            rows = (await s.execute(
                update(c).where(c.owner == self.worker, c.claimed_at.is_(None))
                .values(claimed_at=utcnow())
                .returning(c.id, c.caller, c.account_id, c.operation, c.args))).all()
        return [tuple(row) for row in rows]  # type: ignore[misc]

    async def _run(self, call_id: str, caller: str, account_id: str, operation: str,
                   sealed: bytes) -> None:
        handler = self.handlers.get(operation)
        try:
            if handler is None:
                raise unavailable(f"this process does not know the operation {operation!r}")
            args = json.loads(self.gw.box.open(PURPOSE, call_id, sealed))
            account = await get_account(self.gw, account_id)
            answer: dict[str, Any] = {"ok": dict(await handler(account, args))}
        except ApiError as err:
            answer = {"error": {"status": err.status, "code": err.code,
                                "message": err.message, "extra": err.extra}}
        except Exception:
            log.exception("runtime call %s (%s) failed", call_id, operation)
            answer = {"error": {"status": 503, "code": "runtime_unavailable",
                                "message": "the call failed in the process running the "
                                           "account", "extra": {"retry_after": RETRY_AFTER}}}
        result = self.gw.box.seal(PURPOSE, call_id, json.dumps(answer).encode())
        async with self.gw.db.write() as s:
            await s.execute(update(RuntimeCall).where(RuntimeCall.id == call_id)
                            .values(result=result, done_at=utcnow()))
            await s.execute(select(func.pg_notify(_channel(caller), f"done:{call_id}")))

    # -- calling -----------------------------------------------------------------------
    async def call(self, owner: str, account_id: str, operation: str,
                   args: Mapping[str, Any], *, within: float) -> Mapping[str, Any]:
        """Run ``operation`` in process ``owner`` and return its result (or raise its
        :class:`ApiError`); 503 ``runtime_unavailable`` when it cannot be had in time."""
        if not self.enabled:
            raise unavailable("the account's client runs in another process")
        if self._silent.get(owner, 0.0) > time.monotonic():
            raise unavailable("the process running the account's client does not answer (it "
                              "may have stopped); retry shortly")
        self._silent.pop(owner, None)
        call_id = new_id("call")
        done = self._done[call_id] = asyncio.Event()
        started = time.monotonic()
        try:
            async with self.gw.db.write() as s:
                s.add(RuntimeCall(id=call_id, owner=owner, caller=self.worker,
                                  account_id=account_id, operation=operation,
                                  args=self.gw.box.seal(PURPOSE, call_id,
                                                        json.dumps(dict(args)).encode())))
                await s.flush()
                await s.execute(text("SELECT pg_notify(:c, 'call:')"),
                                {"c": _channel(owner)})
            return await self._answer(owner, call_id, done, started, within)
        finally:
            del self._done[call_id]
            with contextlib.suppress(Exception):
                async with self.gw.db.write() as s:
                    await s.execute(delete(RuntimeCall).where(RuntimeCall.id == call_id))

    async def _answer(self, owner: str, call_id: str, done: asyncio.Event, started: float,
                      within: float) -> Mapping[str, Any]:
        c = RuntimeCall
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), POLL_EVERY)
            async with self.gw.db.read() as s:
                row = (await s.execute(select(c.claimed_at, c.result)
                                       .where(c.id == call_id))).first()
            if row is not None and row.result is not None:
                answer = json.loads(self.gw.box.open(PURPOSE, call_id, row.result))
                if "ok" in answer:
                    return dict(answer["ok"])
                err = answer["error"]
                raise ApiError(err["status"], err["code"], err["message"], **err["extra"])
            waited = time.monotonic() - started
            if row is not None and row.claimed_at is None and waited >= CLAIM_TIMEOUT:
                async with self.gw.db.write() as s:  # withdraw it, unless claimed meanwhile
                    gone = await s.execute(delete(c).where(c.id == call_id,
                                                           c.claimed_at.is_(None)))
                if gone.rowcount:  # type: ignore[attr-defined]
                    self._silent[owner] = time.monotonic() + CLAIM_TIMEOUT
                    raise unavailable("the process running the account's client does not "
                                      "answer (it may have stopped); retry shortly")
            if waited >= within:
                raise unavailable("the process running the account's client did not answer "
                                  "in time")
