"""Run each online account's provider client as a task; reconnect with backoff; react to
revocation by logging the account out. Whether an account should be online is stored
(``runtime_desired``), so accounts come back by themselves after a restart."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update

from unifyport.accounts.service import emit, get_account, load_fields
from unifyport.auth.declare import AUTHORIZED, LOGGED_OUT
from unifyport.auth.results import StepError
from unifyport.auth.states import transition
from unifyport.db.models import Account
from unifyport.db.repositories import AccountRepository, SecretRepository, StaleAccount
from unifyport.db.types import utcnow
from unifyport.errors import ApiError
from unifyport.gateway import SESSION, Gateway
from unifyport.ids import new_id
from unifyport.messages import Message, OutgoingMessage
from unifyport.outbound.fetch import outbound_for
from unifyport.providers import Provider, RuntimeStatus, SendContext, SessionRevoked

log = logging.getLogger(__name__)
BACKOFF_BASE = 1.0
BACKOFF_MAX = 60.0
LEASE_SECONDS = 30.0
"""How long a process holds an account's client without renewing."""
RENEW_EVERY = 10.0


def backoff_delay(attempt: int, base: float = BACKOFF_BASE, cap: float = BACKOFF_MAX) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
    return random.uniform(0, min(cap, base * 2 ** min(attempt, 20)))


class _Context:
    """The :class:`unifyport.providers.RuntimeContext` the core hands a running client."""

    def __init__(self, sup: RuntimeSupervisor, account_id: str,
                 provider_data: Mapping[str, Any], session: bytes) -> None:
        self._sup = sup
        self.account_id = account_id
        self.provider_data = provider_data
        self.session = session
        self.outbound = sup.outbound

    def attach(self, client: object) -> None:
        self._sup.clients[self.account_id] = client

    async def set_status(self, status: RuntimeStatus, error: str | None = None) -> None:
        if status is RuntimeStatus.RUNNING:
            self._sup.attempts[self.account_id] = 0
        await self._sup.set_status(self.account_id, status, error)

    async def emit(self, type: str, data: Mapping[str, Any]) -> None:
        await self.emit_many([(type, data)])

    async def received(self, messages: Sequence[Message]) -> None:
        provider = self._sup.provider_of.get(self.account_id, "")
        await self.emit_many([("message.received", {"provider": provider,
                                                     "message": m.as_json()})
                              for m in messages])

    async def emit_many(self, events: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        if not events:
            return
        async with self._sup.gw.db.write() as s:
            for type, data in events:
                emit(s, type, self.account_id, data)

    async def save_session(self, session: bytes) -> None:
        async with self._sup.gw.db.write() as s:
            await SecretRepository(s, self._sup.gw.box).put(self.account_id, SESSION, session)
        self.session = session


class RuntimeSupervisor:
    """Runs the online clients of the accounts this process holds a lease on.

    An account's client runs in exactly one process: the one whose id is in the account's
    ``runtime_owner`` with an unexpired ``runtime_lease_until``. Every ``renew_every``
    seconds this process renews its leases, takes over accounts whose lease ran out (their
    process died) and stops clients whose lease it lost (stopped or deleted elsewhere)."""

    def __init__(self, gw: Gateway, *, lease_seconds: float = LEASE_SECONDS,
                 renew_every: float = RENEW_EVERY) -> None:
        self.gw = gw
        self.owner = new_id("wrk")
        self.lease_seconds = lease_seconds
        self.renew_every = renew_every
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.clients: dict[str, object] = {}
        """Account id -> the client its running runtime attached (what ``send`` uses)."""
        self.provider_of: dict[str, str] = {}
        self.outbound = outbound_for(gw)
        self.attempts: dict[str, int] = {}
        self._maintainer: asyncio.Task[None] | None = None

    async def open(self) -> None:
        """Claim the accounts that should be online, then keep the leases in a loop."""
        await self.maintain()
        self._maintainer = asyncio.create_task(self._maintain_loop(), name="runtime-leases")

    async def _maintain_loop(self) -> None:
        while True:
            await asyncio.sleep(self.renew_every)
            try:
                await self.maintain()
            except Exception:
                log.exception("runtime lease maintenance failed")

    async def maintain(self) -> None:
        """Renew own leases, claim orphaned accounts, start and stop clients accordingly."""
        now = utcnow()
        providers = list(self.gw.registry.providers)
        async with self.gw.db.write() as s:
            await s.execute(
                update(Account)
                .where(Account.runtime_desired.is_(True),
                       Account.status == AUTHORIZED,
                       Account.provider.in_(providers),
                       or_(Account.runtime_owner.is_(None), Account.runtime_owner == self.owner,
                           Account.runtime_lease_until < now))
                .values(runtime_owner=self.owner,
                        runtime_lease_until=now + timedelta(seconds=self.lease_seconds))
                .execution_options(synchronize_session=False)
            )
            owned = (await s.scalars(select(Account).where(
                Account.runtime_owner == self.owner, Account.runtime_desired.is_(True)))).all()
        owned_ids = {a.id for a in owned}
        for account_id in [a for a in self.tasks if a not in owned_ids]:
            log.info("account %s: lease lost or runtime stopped elsewhere", account_id)
            await self._cancel(account_id)
        for account in owned:
            if account.id not in self.tasks:
                await self.set_status(account.id, RuntimeStatus.STARTING, None)
                self._spawn(account)

    async def start(self, account_id: str) -> Account:
        async with self.gw.locks.hold(account_id):
            account = await get_account(self.gw, account_id)
            if account.status != AUTHORIZED:
                raise ApiError(409, "invalid_state",
                               "only an authorized account can be brought online",
                               status=account.status)
            async with self.gw.db.write() as s:
                await s.execute(update(Account).where(Account.id == account_id)
                                .values(runtime_desired=True))
            await self.maintain()
        return await get_account(self.gw, account_id)

    async def stop(self, account_id: str, *, persist: bool = True) -> None:
        """Take the account offline; with ``persist`` it stays offline across restarts
        (and a client running in another process stops at that process's next renewal)."""
        if persist:
            async with self.gw.db.write() as s:
                await s.execute(update(Account).where(Account.id == account_id).values(
                    runtime_desired=False, runtime_owner=None, runtime_lease_until=None))
        await self._cancel(account_id)
        if persist:
            await self.set_status(account_id, RuntimeStatus.STOPPED, None)

    def is_running(self, account_id: str) -> bool:
        """Whether this process runs the account's client."""
        return account_id in self.tasks

    async def send(self, account_id: str, message: OutgoingMessage) -> Message:
        """Send through the client the account's runtime attached in this process; raises
        :class:`StepError` ``runtime_not_running`` when there is none (yet)."""
        client = self.clients.get(account_id)
        provider = self.gw.registry.provider(self.provider_of.get(account_id, ""))
        if client is None or provider is None or account_id not in self.tasks:
            raise StepError("runtime_not_running",
                            "the account's client is not running in this process; "
                            "start its runtime")
        async with self.gw.db.read() as s:
            account = await AccountRepository(s).get(account_id)
            if account is None:
                raise StepError("runtime_not_running", "the account is gone")
            provider_data, _ = await load_fields(self.gw, s, account)
        return await provider.send(
            SendContext(account_id, provider_data, client, self.outbound), message)

    async def aclose(self) -> None:
        """Shutdown: stop every client here and release the leases so another process can
        take over at once; the accounts stay desired-online for the next start."""
        if self._maintainer is not None:
            self._maintainer.cancel()
            await asyncio.gather(self._maintainer, return_exceptions=True)
        held = list(self.tasks)  # every lease this process holds has a running task
        for account_id in held:
            await self._cancel(account_id)
        if held:  # no write (nor wait for SQLite's write lock) when there is nothing to hand over
            async with self.gw.db.write() as s:
                await s.execute(update(Account).where(Account.runtime_owner == self.owner)
                                .values(runtime_owner=None, runtime_lease_until=None))

    async def _cancel(self, account_id: str) -> None:
        self.clients.pop(account_id, None)
        task = self.tasks.pop(account_id, None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def _spawn(self, account: Account) -> None:
        provider = self.gw.registry.provider(account.provider)
        if provider is None:
            log.error("account %s: provider %s is not loaded", account.id, account.provider)
            return
        self.provider_of[account.id] = provider.name
        self.tasks[account.id] = asyncio.create_task(
            self._supervise(provider, account.id), name=f"runtime:{account.id}"
        )

    async def _supervise(self, provider: Provider, account_id: str) -> None:
        try:
            while True:
                account = await get_account(self.gw, account_id)
                async with self.gw.db.read() as s:
                    session = await SecretRepository(s, self.gw.box).get(account_id, SESSION)
                    provider_data, _ = await load_fields(self.gw, s, account)
                if session is None:
                    await self._logged_out(account_id, "session_missing")
                    return
                ctx = _Context(self, account_id, provider_data, session)
                try:
                    await provider.run_runtime(ctx)
                    error = "runtime ended"
                    self.clients.pop(account_id, None)
                except SessionRevoked as exc:
                    await self._logged_out(account_id, exc.reason)
                    return
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self.clients.pop(account_id, None)
                    error = f"{type(exc).__name__}: {exc}"[:500]
                    log.warning("account %s runtime error: %s", account_id, error)
                attempt = self.attempts.get(account_id, 0)
                self.attempts[account_id] = attempt + 1
                await self.set_status(account_id, RuntimeStatus.RECONNECTING, error)
                await asyncio.sleep(backoff_delay(attempt))
        finally:
            if self.tasks.get(account_id) is asyncio.current_task():
                del self.tasks[account_id]
                self.clients.pop(account_id, None)

    async def set_status(self, account_id: str, status: RuntimeStatus, error: str | None) -> None:
        """Store the runtime status; emit ``account.runtime.state_changed`` when it changes."""
        async with self.gw.db.write() as s:
            account = await AccountRepository(s).get(account_id)
            if account is None or (account.runtime_status == status.value
                                   and account.runtime_error == error):
                return
            frm = account.runtime_status
            account.runtime_status, account.runtime_error = status.value, error
            if frm != status.value:
                account.runtime_since = utcnow()
                data: dict[str, Any] = {"from": frm, "to": status.value}
                if error:
                    data["error"] = error
                emit(s, "account.runtime.state_changed", account_id, data)
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
                    await AccountRepository(s).save(account, expected)
                break
            except StaleAccount:
                continue
        await self.set_status(account_id, RuntimeStatus.STOPPED, reason)
