"""A test-only provider plugin that drives every path of the generic auth state machine.

No real peer exists for the generic core, so this provider stands in for a channel. It is a
plugin like any other (registered through the hookspecs); the Telegram plugin is tested
against the real libraries and the sandbox elsewhere.

Behaviour is keyed on input values:
- code step: ``12345`` authorizes, ``22222`` asks for 2FA, ``00000`` is ``invalid_code``,
  ``99999`` is ``code_expired`` (fails the flow), ``42000`` is ``flood_wait`` (42 s).
- password step: ``hunter2`` authorizes; anything else is ``invalid_password`` (fails).
- qr/check answers what ``qr_script[account_id]`` says (default: still waiting).
- import: a ``session_url`` starting ``good:`` authorizes, anything else is ``invalid_session``.
- the runtime turns each queued command into a received message (``revoke`` and ``drop``
  end it); ``send`` of the text ``fail`` is a ``flood_wait``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel

from unifyport.sdk import (
    AUTHORIZED,
    RESTARTABLE,
    AuthMode,
    Chat,
    Done,
    EventDraft,
    FieldSpec,
    Identity,
    Message,
    Next,
    Outbound,
    OutgoingMessage,
    Provider,
    RuntimeContext,
    RuntimeStatus,
    SendContext,
    SessionRevoked,
    Step,
    StepContext,
    StepError,
    StepResult,
    hookimpl,
)

E164 = r"\+[1-9][0-9]{6,14}"
API = (
    FieldSpec("api_id", "integer", description="application id"),
    FieldSpec("api_hash", secret=True, description="application secret"),
)
AWAITING_CODE, AWAITING_PASSWORD = "awaiting_code", "awaiting_password"
AWAITING_QR_SCAN, QR_EXPIRED = "awaiting_qr_scan", "qr_expired"


class QrOut(BaseModel):
    qr: dict[str, str] | None = None


PASSWORD = Step("password", frozenset({AWAITING_PASSWORD}), frozenset({AUTHORIZED}),
                fields=(FieldSpec("password", secret=True, strip=True, max_length=1024),))


class TestProvider(Provider):
    __test__ = False
    name = "testprov"
    description = "test-only provider"
    auth_modes = (
        AuthMode("code", "code flow",
                 (*API, FieldSpec("phone", pattern=E164, description="E.164 phone")),
                 (Step("start", RESTARTABLE, frozenset({AWAITING_CODE})),
                  Step("code", frozenset({AWAITING_CODE}),
                       frozenset({AUTHORIZED, AWAITING_PASSWORD}),
                       fields=(FieldSpec("code", strip=True, max_length=32),)),
                  PASSWORD),
                 statuses=(AWAITING_CODE, AWAITING_PASSWORD)),
        AuthMode("qrcode", "qr flow", API,
                 (Step("qr/start", RESTARTABLE | {AWAITING_QR_SCAN, QR_EXPIRED},
                       frozenset({AWAITING_QR_SCAN}), exposes=QrOut),
                  Step("qr/check", frozenset({AWAITING_QR_SCAN, QR_EXPIRED}),
                       frozenset({AWAITING_QR_SCAN, QR_EXPIRED, AWAITING_PASSWORD, AUTHORIZED}),
                       exposes=QrOut),
                  PASSWORD),
                 statuses=(AWAITING_QR_SCAN, QR_EXPIRED, AWAITING_PASSWORD)),
        AuthMode("session", "import flow",
                 (FieldSpec("session_url", secret=True, location="params",
                            description="session reference"),),
                 (Step("import", RESTARTABLE, frozenset({AUTHORIZED}), params=True),)),
    )

    def __init__(self) -> None:
        self.qr_script: dict[str, str] = {}
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.logged_out: list[str] = []
        self.discarded: list[str] = []
        self.runtime_events: dict[str, asyncio.Queue[str]] = {}
        self.sent: list[tuple[str, str, str]] = []
        self.step_delay = 0.0
        self.connect_delay = 0.0
        """Seconds ``run_runtime`` takes to come online (a connection being set up)."""
        self.disconnect_delay = 0.0
        """Seconds a cancelled client takes to disconnect (it finishes even if cancelled)."""
        self.clients: dict[str, set[asyncio.Task[Any] | None]] = {}
        """The tasks of the clients running now, per account."""
        self.most_clients = 0
        """The most clients one account ever had at once."""

    async def run_step(self, step: str, ctx: StepContext) -> StepResult:
        self.calls.append((ctx.account_id, step, dict(ctx.flow)))
        if self.step_delay:
            await asyncio.sleep(self.step_delay)
        handler: Callable[[StepContext], StepResult] = getattr(self, "_" + step.replace("/", "_"))
        return handler(ctx)

    async def discard(self, account_id: str) -> None:
        self.discarded.append(account_id)

    def _start(self, ctx: StepContext) -> StepResult:
        assert ctx.provider_data["api_hash"], "secret fields reach the provider"
        return Next(
            AWAITING_CODE,
            flow={"phone_code_hash": f"hash-{ctx.provider_data['phone']}"},
            events=(EventDraft("account.auth.code_sent", {"code_type": "app", "timeout": 60}),),
        )

    def _code(self, ctx: StepContext) -> StepResult:
        if "phone_code_hash" not in ctx.flow:
            raise StepError("internal_flow_lost", "flow data missing")
        code = ctx.input["code"]
        if code == "12345":
            return self._authorized(ctx)
        if code == "22222":
            return Next(AWAITING_PASSWORD, flow={**ctx.flow, "srp": "x"})
        if code == "99999":
            raise StepError("code_expired", "the code expired", fail=True)
        if code == "42000":
            raise StepError("flood_wait", "too many attempts", retry_after=42)
        raise StepError("invalid_code", "the code is wrong")

    def _password(self, ctx: StepContext) -> StepResult:
        if ctx.input["password"] == "hunter2":
            return self._authorized(ctx)
        raise StepError("invalid_password", "wrong password", fail=True)

    def _qr_start(self, ctx: StepContext) -> StepResult:
        n = int(ctx.flow.get("n", 0)) + 1
        qr = {"url": f"tg://login?token=t{n}", "expires_at": "2030-01-01T00:00:00Z",
              "svg": "<svg/>"}
        return Next(AWAITING_QR_SCAN, flow={"n": n}, expose={"qr": qr},
                    events=(EventDraft("account.auth.qr_updated",
                                       {"url": qr["url"], "expires_at": qr["expires_at"]}),))

    def _qr_check(self, ctx: StepContext) -> StepResult:
        target = self.qr_script.get(ctx.account_id, AWAITING_QR_SCAN)
        if target == AUTHORIZED:
            return self._authorized(ctx)
        return Next(target, flow=ctx.flow)

    def _import(self, ctx: StepContext) -> StepResult:
        url = str(ctx.params.get("session_url", ""))
        if not url.startswith("good:"):
            raise StepError("invalid_session", "not a session")
        return self._authorized(ctx)

    def _authorized(self, ctx: StepContext) -> StepResult:
        return Done(session=f"session-{ctx.account_id}".encode(),
                    identity=Identity("777", "tester", "Test User", {"phone": "+15550001111"}))

    async def run_runtime(self, ctx: RuntimeContext) -> None:
        assert ctx.session == f"session-{ctx.account_id}".encode()
        acc, me = ctx.account_id, asyncio.current_task()
        clients = self.clients.setdefault(acc, set())
        clients.add(me)
        self.most_clients = max(self.most_clients, len(clients))
        try:
            await asyncio.sleep(self.connect_delay)
            await self._serve(ctx)
        finally:
            try:
                if self.disconnect_delay:
                    await asyncio.shield(asyncio.sleep(self.disconnect_delay))
            finally:
                clients.discard(me)

    async def _serve(self, ctx: RuntimeContext) -> None:
        queue = self.runtime_events.setdefault(ctx.account_id, asyncio.Queue())
        ctx.attach(queue)
        await ctx.set_status(RuntimeStatus.RUNNING)
        while True:
            command = await queue.get()
            if command == "revoke":
                raise SessionRevoked("session_revoked")
            if command == "drop":
                raise ConnectionError("link dropped")
            await ctx.received([Message(id=command, chat=Chat(id="1", type="private", title=None),
                                        text=command, date="2026-01-01T00:00:00Z")])

    def control(self, account_id: str, command: str) -> None:
        self.runtime_events.setdefault(account_id, asyncio.Queue()).put_nowait(command)

    async def send(self, ctx: SendContext, message: OutgoingMessage) -> Message:
        assert ctx.client is self.runtime_events[ctx.account_id], "the attached client"
        if message.text == "fail":
            raise StepError("flood_wait", "slow down", retry_after=3)
        self.sent.append((ctx.account_id, message.chat_id, message.text))
        return Message(id=str(len(self.sent)), chat=Chat(id=message.chat_id, type="private",
                                                         title=None),
                       text=message.text, date="2026-01-01T00:00:00Z",
                       reply_to_id=message.reply_to_id)

    async def logout(
        self, account_id: str, provider_data: Mapping[str, Any], session: bytes | None,
        *, outbound: Outbound | None = None,
    ) -> None:
        self.logged_out.append(account_id)


class TestPlugin:
    """Registers one :class:`TestProvider` instance (so tests can reach into it)."""

    __test__ = False

    def __init__(self, provider: TestProvider | None = None) -> None:
        self.provider = provider or TestProvider()

    @hookimpl
    def register_providers(self, register: Callable[[Provider], None]) -> None:
        register(self.provider)
