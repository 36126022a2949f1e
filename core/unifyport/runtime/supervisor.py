"""Run each online account's provider client as a task; reconnect with backoff; react to
revocation by logging the account out. Whether an account should be online is stored
(``runtime_desired``), so accounts come back by themselves after a restart."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from unifyport import collector
from unifyport.accounts.service import emit, get_account, load_fields
from unifyport.auth.declare import AUTHORIZED, LOGGED_OUT
from unifyport.auth.results import StepError
from unifyport.auth.states import transition
from unifyport.db.database import to_the_end
from unifyport.db.group import GroupCommit
from unifyport.db.models import Account
from unifyport.db.repositories import AccountRepository, SecretRepository, StaleAccount
from unifyport.db.types import utcnow
from unifyport.errors import ApiError
from unifyport.gateway import SESSION, Gateway
from unifyport.ids import new_id
from unifyport.messages import Message, OutgoingMessage
from unifyport.providers import Provider, RuntimeStatus, SendContext, SessionRevoked
from unifyport.runtime import balance, fences
from unifyport.runtime.context import AccountContext
from unifyport.runtime.forward import Forwarder
from unifyport.runtime.tasks import StartPacer, backoff_delay

log = logging.getLogger(__name__)
T = TypeVar("T")
LEASE_SECONDS = 15.0
"""How long a process holds an account's client without renewing."""
RENEW_EVERY = 5.0
STOP_WAIT = 3.0
"""Longest a stop waits for a client to end before answering."""
STATUS_BATCH = 500
"""Accounts whose ``starting`` one transaction records (after a restart)."""


class RuntimeSupervisor:
    """Runs the online clients of the accounts this process holds a lease on.

    An account's client runs in exactly one process: the one whose id is in the account's
    ``runtime_owner``, while that process is live (``runtime/balance.py``: one lease per
    process). Every ``renew_every`` seconds (or at once when a fenced write was refused)
    this process renews its lease, takes over accounts whose owner is no longer live (its
    process died) and stops clients whose account it lost (stopped or deleted elsewhere).

    ``start``, ``stop`` and lease maintenance run one at a time (``_lock``), so in one
    process the last request wins; each waits at most ``stop_wait`` seconds for a client
    to end, and a client that outlives that wait is fenced (it can no longer write)."""

    def __init__(self, gw: Gateway, *, lease_seconds: float = LEASE_SECONDS,
                 renew_every: float = RENEW_EVERY, stop_wait: float = STOP_WAIT) -> None:
        self.gw = gw
        self.owner = new_id("wrk")
        self.lease_seconds = lease_seconds
        self.renew_every = renew_every
        self.stop_wait = stop_wait
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.clients: dict[str, object] = {}
        """Account id -> the client its running runtime attached (what ``send`` uses)."""
        self.stopping: dict[str, asyncio.Task[None]] = {}
        """Clients cancelled here that have not ended yet (at most one per account)."""
        self.attempts: dict[str, int] = {}
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._maintainer: asyncio.Task[None] | None = None
        self.pacer = StartPacer(gw.settings.runtime.start_rate)  # every client start waits
        self._expiry: datetime | None = None  # the first lease of another process to run out
        self.calls = Forwarder(gw, self.owner)
        """Runtime calls between processes (``runtime/forward.py``)."""
        self.writes = GroupCommit(gw.db, prepare=fences.lock)
        """The clients' writes (statuses, events, sessions), many per transaction, keyed by
        account: one statement reads what ``may_write`` checks for the whole batch."""

    async def open(self) -> None:
        """Mark accounts nobody runs as stopped, claim this process's share of the accounts
        that should be online, then keep the leases in a loop."""
        await self.calls.open()
        await self._settle_stale_statuses()
        await self.maintain()
        self._maintainer = asyncio.create_task(self._maintain_loop(), name="runtime-leases")

    async def _maintain_loop(self) -> None:
        renewed = time.monotonic()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(),
                                       balance.next_look(self._expiry, self.renew_every))
            self._wake.clear()
            try:
                await self.maintain()
                renewed = time.monotonic()
            except Exception:
                log.exception("runtime lease maintenance failed")
                if self.tasks and time.monotonic() - renewed >= self.lease_seconds - \
                        self.renew_every:  # the leases run out before the next try: stop
                    log.warning("runtime leases not renewed for %.0f s: stopping the %d "
                                "client(s) here", time.monotonic() - renewed, len(self.tasks))
                    for account_id in list(self.tasks):
                        await self._cancel(account_id)

    def wake(self) -> None:
        """Run lease maintenance now rather than at the next renewal."""
        self._wake.set()

    async def maintain(self) -> None:
        """Renew own leases, claim orphaned accounts (up to this process's share), hand
        over the excess, start and stop clients accordingly (``runtime/balance.py``)."""
        async with self._lock:
            await self._maintain()

    async def _maintain(self) -> None:
        async with self.gw.db.write() as s:
            share, self._expiry = await balance.renew_and_claim(
                s, self.owner, utcnow(), self.lease_seconds, list(self.gw.registry.providers))
            # Three columns through the connection, no ORM row processing: this runs every
            # few seconds over every account the process holds (5,000 loaded entities were
            # the biggest part of its idle CPU).
            held = (await (await s.connection()).execute(select(
                Account.id, Account.provider, Account.runtime_desired).where(
                Account.runtime_owner == self.owner).order_by(Account.id))).all()
        for task in self.stopping.values():  # a client that swallowed its cancellation
            task.cancel()
        owned = [a for a in held if a.runtime_desired]
        for account in owned[share:]:
            await self._hand_over(account.id)
        owned = owned[:share]
        owned_ids = {a.id for a in owned}
        for account_id in [a for a in self.tasks if a not in owned_ids]:
            log.info("account %s: lease lost or runtime stopped elsewhere", account_id)
            await self._cancel(account_id)
        for account in held:
            if not account.runtime_desired:  # stopped elsewhere: ours to mark stopped
                await self._release(account.id)
        new = [a for a in owned if a.id not in self.tasks]
        for i in range(0, len(new), STATUS_BATCH):
            batch = new[i:i + STATUS_BATCH]
            await self._set_statuses([a.id for a in batch], RuntimeStatus.STARTING)
            for account in batch:
                if account.id not in self.stopping:  # else: spawned once the old one ended
                    self._spawn(account.id, account.provider)

    async def _settle_stale_statuses(self) -> None:
        """Accounts that should be offline, that no live process holds, but whose stored
        status says otherwise (a crash between a stop and its status write) are stopped."""
        async with self.gw.db.read() as s:
            stale = await balance.stale_statuses(s, utcnow(), self.lease_seconds)
        for account_id in stale:
            await self.set_status(account_id, RuntimeStatus.STOPPED, None)

    async def start(self, account_id: str) -> Account:
        """Bring the account online. Only ``_lock`` is taken (not the account's request
        lock, which would let an earlier start overtake a later stop); the status check and
        the change are one conditional UPDATE instead. One transaction touching this
        account alone: N starts cost N, however many clients the process runs (the other
        leases are the renewal loop's)."""
        async with self._lock:
            async with self.gw.db.write() as s:
                result = await s.execute(
                    update(Account).where(Account.id == account_id,
                                          Account.status == AUTHORIZED)
                    .values(runtime_desired=True).execution_options(synchronize_session=False))
                authorized = bool(cast(CursorResult[Any], result).rowcount)
                held = authorized and await balance.claim(
                    s, self.owner, account_id, utcnow(), self.lease_seconds,
                    list(self.gw.registry.providers))
                account = await s.get(Account, account_id) if held else None
                new = account is not None and account_id not in self.tasks
                if account is not None and new:
                    self._write_status(s, account, RuntimeStatus.STARTING, None)
            if not authorized:
                account = await get_account(self.gw, account_id)  # 404 when missing
                raise ApiError(409, "invalid_state",
                               "only an authorized account can be brought online",
                               status=account.status)
            if account is not None and new and account_id not in self.stopping:
                self._spawn(account_id, account.provider)  # else: once the old one ended
        return await get_account(self.gw, account_id)

    async def stop(self, account_id: str, *, persist: bool = True) -> None:
        """Take the account offline; it stays offline across restarts. A client running in
        another live process stops there (and that process records ``stopped``) at its next
        write or lease renewal. Without ``persist`` (the account is being deleted) no status
        change is recorded."""
        async with self._lock:
            async with self.gw.db.write() as s:
                await s.execute(update(Account).where(Account.id == account_id)
                                .values(runtime_desired=False))
                await s.execute(  # nobody, or a dead process, runs it: nothing to hand over
                    update(Account).where(Account.id == account_id,
                                          balance.unheld(utcnow(), self.lease_seconds))
                    .values(runtime_owner=None, runtime_lease_until=None))
            await self._cancel(account_id)
            if persist:
                await self._release(account_id)

    async def _release(self, account_id: str) -> None:
        """Record ``stopped`` and give up the lease of an account that should be offline,
        unless its client still runs (here, winding down, or in another process)."""
        if account_id in self.stopping:
            return  # released by the lease loop once that client has ended
        async with self.gw.db.write() as s:
            account = await s.get(Account, account_id, with_for_update=True)
            if account is None or account.runtime_desired or \
                    account.runtime_owner not in (None, self.owner):
                return
            account.runtime_owner = account.runtime_lease_until = None
            self._write_status(s, account, RuntimeStatus.STOPPED, None)

    async def _hand_over(self, account_id: str) -> None:
        """Stop a client this process runs beyond its share and free the account for a
        process below its share (once the client has ended)."""
        log.info("account %s: handed over to another process (rebalancing)", account_id)
        await self._cancel(account_id)
        if account_id in self.stopping:
            return
        async with self.gw.db.write() as s:
            account = await s.get(Account, account_id, with_for_update=True)
            if account is not None and account.runtime_owner == self.owner:
                account.runtime_owner = account.runtime_lease_until = None
                # stopped elsewhere meanwhile (that process left the release to this one)
                self._write_status(s, account, RuntimeStatus.STARTING if
                                   account.runtime_desired else RuntimeStatus.STOPPED, None)

    def is_running(self, account_id: str) -> bool:
        """Whether this process runs the account's client."""
        return account_id in self.tasks

    async def send(self, account: Account, message: OutgoingMessage) -> Message:
        """Send through the client the account's runtime attached in this process; raises
        :class:`StepError` ``runtime_not_running`` when there is none (yet)."""
        return await self.call(account, "send", lambda p, ctx: p.send(ctx, message))

    async def call(self, account: Account, operation: str,
                   fn: Callable[[Provider, SendContext], Awaitable[T]]) -> T:
        """Run ``fn(provider, ctx)`` — a provider operation named ``operation`` (``send``,
        ``list_chats``, ``history``, ``download``, ``edit``, ``delete``, ``react``,
        ``mark_read``) — with the client the account's runtime attached in this process;
        raises :class:`StepError` ``runtime_not_running`` when there is none (yet)."""
        client = self.clients.get(account.id)
        if client is None or account.id not in self.tasks:
            raise StepError("runtime_not_running",
                            "the account's client is not running in this process; "
                            "start its runtime")
        async with self.gw.db.read() as s:
            provider_data, _ = await load_fields(self.gw, s, account)
        provider = self.gw.registry.provider(account.provider)
        assert provider is not None, "a client runs only for a loaded provider (_spawn)"
        return await fn(provider, SendContext(account.id, provider_data, client,
                                              self.gw.outbound))

    async def aclose(self) -> None:
        """Shutdown: stop every client here and release the leases so another process can
        take over at once; the accounts stay desired-online for the next start."""
        if self._maintainer is not None:
            self._maintainer.cancel()
            await asyncio.gather(self._maintainer, return_exceptions=True)
        async with self._lock:
            held = list(self.tasks)  # every lease this process holds has a running task
            for account_id in held:
                await self._cancel(account_id)
            async with self.gw.db.write() as s:
                await balance.forget(s, self.owner)
                if held:
                    await s.execute(update(Account).where(Account.runtime_owner == self.owner)
                                    .values(runtime_owner=None, runtime_lease_until=None))
        await self.calls.aclose()

    async def _cancel(self, account_id: str) -> None:
        """Cancel the account's client and wait for it, at most ``stop_wait`` seconds; one
        still running after that is fenced and replaced only once it has ended."""
        self.clients.pop(account_id, None)
        task = self.tasks.pop(account_id, None)
        if task is None:
            return
        self.stopping[account_id] = task
        task.add_done_callback(lambda t: self._ended(account_id, t))
        await self._cancel_within(task, self.stop_wait)
        if task.done():
            self._ended(account_id, task)  # now, not when its done-callback gets to run
        else:
            log.warning("account %s: the client did not stop within %.0f s",
                        account_id, self.stop_wait)

    @staticmethod
    async def _cancel_within(task: asyncio.Task[None], seconds: float) -> None:
        """Cancel ``task`` and wait for it, at most ``seconds``; the cancellation is repeated
        every 100 ms, as a client library may swallow one (e.g. while connecting)."""
        deadline = time.monotonic() + seconds
        while not task.done() and (left := deadline - time.monotonic()) > 0:
            task.cancel()
            await asyncio.wait([task], timeout=min(0.1, left))

    def _ended(self, account_id: str, task: asyncio.Task[None]) -> None:
        if self.stopping.get(account_id) is task:
            del self.stopping[account_id]
            self.wake()  # a start may be waiting for this client to end

    async def may_write(self, s: AsyncSession, account_id: str, task: asyncio.Task[Any] | None,
                        *, winding_down: bool = False) -> bool:
        """In write transaction ``s``: may the client running as ``task`` write for the
        account? Yes while it is the account's current client here and this process holds
        the lease of a desired-online account; with ``winding_down`` also while it is being
        stopped here and no other process owns the account. A refusal wakes the lease loop."""
        row = await fences.row(s, account_id)
        current = task is not None and self.tasks.get(account_id) is task
        allowed = row is not None and (
            (current and row.runtime_owner == self.owner and row.runtime_desired)
            or (winding_down and self.stopping.get(account_id) is task
                and row.runtime_owner in (None, self.owner)))
        if not allowed and current:
            self.wake()
        return allowed

    def _spawn(self, account_id: str, provider_name: str) -> None:
        provider = self.gw.registry.provider(provider_name)
        if provider is None:
            log.error("account %s: provider %s is not loaded", account_id, provider_name)
            return
        self.tasks[account_id] = asyncio.create_task(
            self._supervise(provider, account_id), name=f"runtime:{account_id}"
        )

    async def _supervise(self, provider: Provider, account_id: str) -> None:
        try:
            while True:
                await self.pacer.wait()
                ctx = None
                try:  # a failed read (the database busy or away) is retried as a failed run
                    account = await get_account(self.gw, account_id)
                    async with self.gw.db.read() as s:
                        session = await SecretRepository(s, self.gw.box).get(account_id, SESSION)
                        provider_data, _ = await load_fields(self.gw, s, account)
                    if session is None:
                        await self._logged_out(account_id, "session_missing")
                        return
                    ctx = AccountContext(self, provider.name, account_id, provider_data, session)
                    collector.client_started()
                    try:
                        await provider.run_runtime(ctx)
                    finally:
                        collector.client_ended()  # its cycles are garbage from now on
                    error = "runtime ended"
                    self.clients.pop(account_id, None)
                except SessionRevoked as exc:
                    await to_the_end(self._logged_out(account_id, exc.reason))
                    return
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    if ctx is None and isinstance(exc, ApiError):
                        return  # the account was deleted
                    self.clients.pop(account_id, None)
                    error = f"{type(exc).__name__}: {exc}"[:500]
                    log.warning("account %s runtime error: %s", account_id, error)
                attempt = self.attempts[account_id] = self.attempts.get(account_id, 0) + 1
                with contextlib.suppress(Exception):  # the database away too: retry anyway
                    await to_the_end(self.set_status(account_id, RuntimeStatus.RECONNECTING,
                                                     error, fence=asyncio.current_task()))
                await asyncio.sleep(backoff_delay(attempt - 1))
        finally:
            if self.tasks.get(account_id) is asyncio.current_task():
                del self.tasks[account_id]
                self.clients.pop(account_id, None)

    async def set_status(self, account_id: str, status: RuntimeStatus, error: str | None,
                         *, fence: asyncio.Task[Any] | None = None) -> None:
        """Store the runtime status; emit ``account.runtime.state_changed`` when it changes.
        With ``fence`` (a client's task) only while that client may write (``may_write``).
        Statuses of many clients share transactions (``writes``)."""
        async def write(s: AsyncSession) -> None:
            if fence is not None and not await self.may_write(s, account_id, fence):
                return
            account = await s.get(Account, account_id, with_for_update=True)
            if account is not None:
                self._write_status(s, account, status, error)

        await self.writes.run(write, account_id)

    async def _set_statuses(self, account_ids: list[str], status: RuntimeStatus) -> None:
        """``set_status`` of many accounts in one transaction (unfenced)."""
        async with self.gw.db.write() as s:
            for account in (await s.scalars(select(Account).where(
                    Account.id.in_(account_ids)).with_for_update())).all():
                self._write_status(s, account, status, None)

    @staticmethod
    def _write_status(s: AsyncSession, account: Account, status: RuntimeStatus,
                      error: str | None) -> None:
        if account.runtime_status == status.value and account.runtime_error == error:
            return
        frm = account.runtime_status
        account.runtime_status, account.runtime_error = status.value, error
        if frm != status.value:
            account.runtime_since = utcnow()
            data: dict[str, Any] = {"from": frm, "to": status.value}
            if error:
                data["error"] = error
            emit(s, "account.runtime.state_changed", account.id, data)
        account.version += 1
        account.updated_at = utcnow()

    async def _logged_out(self, account_id: str, reason: str) -> None:
        error = {"code": "session_revoked", "message": reason}
        for _ in range(5):  # a concurrent write (a status report) makes the save stale: reread
            try:
                async with self.gw.db.write() as s:
                    account = await AccountRepository(s).get(account_id)
                    if account is None:
                        return
                    s.expunge(account)  # written once, by save() with its version check
                    expected = account.version
                    await SecretRepository(s, self.gw.box).delete(account_id, SESSION)
                    transition(s, account, LOGGED_OUT, error)
                    account.runtime_desired = False
                    account.runtime_owner = account.runtime_lease_until = None
                    account.last_error = error
                    emit(s, "account.logged_out", account_id, {"reason": reason})
                    self._write_status(s, account, RuntimeStatus.STOPPED, reason)  # at once
                    await AccountRepository(s).save(account, expected)
                return
            except StaleAccount:
                continue
        await self.set_status(account_id, RuntimeStatus.STOPPED, reason)
