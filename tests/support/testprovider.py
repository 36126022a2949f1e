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
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from unifyport import hookimpl
from unifyport.auth.states import AuthStatus, AuthStep
from unifyport.providers import (
    AuthModeSpec,
    EventDraft,
    FieldSpec,
    Identity,
    Provider,
    RuntimeContext,
    RuntimeStatus,
    SessionRevoked,
    StepContext,
    StepError,
    StepResult,
)

E164 = r"\+[1-9][0-9]{6,14}"
API = (
    FieldSpec("api_id", "integer", description="application id"),
    FieldSpec("api_hash", secret=True, description="application secret"),
)


class TestProvider:
    __test__ = False
    name = "testprov"
    description = "test-only provider"
    auth_modes = (
        AuthModeSpec("code", "code flow",
                     (*API, FieldSpec("phone", pattern=E164, description="E.164 phone")),
                     frozenset({AuthStep.START, AuthStep.CODE, AuthStep.PASSWORD})),
        AuthModeSpec("qrcode", "qr flow", API,
                     frozenset({AuthStep.QR_START, AuthStep.QR_CHECK, AuthStep.PASSWORD})),
        AuthModeSpec("session", "import flow",
                     (FieldSpec("session_url", secret=True, location="params",
                                description="session reference"),),
                     frozenset({AuthStep.IMPORT})),
    )

    def __init__(self) -> None:
        self.qr_script: dict[str, AuthStatus] = {}
        self.calls: list[tuple[str, AuthStep, dict[str, Any]]] = []
        self.logged_out: list[str] = []
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

    async def run_step(self, step: AuthStep, ctx: StepContext) -> StepResult:
        self.calls.append((ctx.account_id, step, dict(ctx.flow)))
        if self.step_delay:
            await asyncio.sleep(self.step_delay)
        handler: Callable[[StepContext], StepResult] = getattr(self, "_" + step.name.lower())
        return handler(ctx)

    def _start(self, ctx: StepContext) -> StepResult:
        assert ctx.provider_data["api_hash"], "secret fields reach the provider"
        return StepResult(
            AuthStatus.AWAITING_CODE,
            flow={"phone_code_hash": f"hash-{ctx.provider_data['phone']}"},
            events=(EventDraft("account.auth.code_sent", {"code_type": "app", "timeout": 60}),),
        )

    def _code(self, ctx: StepContext) -> StepResult:
        if "phone_code_hash" not in ctx.flow:
            raise StepError("internal_flow_lost", "flow data missing", http_status=500)
        code = ctx.input["code"]
        if code == "12345":
            return self._authorized(ctx)
        if code == "22222":
            return StepResult(AuthStatus.AWAITING_PASSWORD, flow={**ctx.flow, "srp": "x"})
        if code == "99999":
            raise StepError("code_expired", "the code expired", fail=True)
        if code == "42000":
            raise StepError("flood_wait", "too many attempts", http_status=429, retry_after=42)
        raise StepError("invalid_code", "the code is wrong")

    def _password(self, ctx: StepContext) -> StepResult:
        if ctx.input["password"] == "hunter2":
            return self._authorized(ctx)
        raise StepError("invalid_password", "wrong password", fail=True)

    def _qr_start(self, ctx: StepContext) -> StepResult:
        n = int(ctx.flow.get("n", 0)) + 1
        qr = {"url": f"tg://login?token=t{n}", "expires_at": "2030-01-01T00:00:00Z",
              "svg": "<svg/>"}
        return StepResult(AuthStatus.AWAITING_QR_SCAN, flow={"n": n}, response={"qr": qr},
                          events=(EventDraft("account.auth.qr_updated",
                                             {"url": qr["url"], "expires_at": qr["expires_at"]}),))

    def _qr_check(self, ctx: StepContext) -> StepResult:
        target = self.qr_script.get(ctx.account_id, AuthStatus.AWAITING_QR_SCAN)
        if target is AuthStatus.AUTHORIZED:
            return self._authorized(ctx)
        return StepResult(target, flow=ctx.flow)

    def _import(self, ctx: StepContext) -> StepResult:
        url = str(ctx.params.get("session_url", ""))
        if not url.startswith("good:"):
            raise StepError("invalid_session", "not a session", http_status=422)
        return self._authorized(ctx)

    def _cancel(self, ctx: StepContext) -> StepResult:
        return StepResult(AuthStatus.PENDING)

    def _authorized(self, ctx: StepContext) -> StepResult:
        return StepResult(AuthStatus.AUTHORIZED, session=f"session-{ctx.account_id}".encode(),
                          identity=Identity("777", "tester", "Test User", "+15550001111"))

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
        await ctx.set_status(RuntimeStatus.RUNNING)
        while True:
            command = await queue.get()
            if command == "revoke":
                raise SessionRevoked("session_revoked")
            if command == "drop":
                raise ConnectionError("link dropped")
            await ctx.emit("message.received", {"provider": self.name,
                                                "message": {"id": command, "text": command}})

    def control(self, account_id: str, command: str) -> None:
        self.runtime_events.setdefault(account_id, asyncio.Queue()).put_nowait(command)

    async def send_message(
        self, account_id: str, chat_id: str, text: str, reply_to_id: str | None
    ) -> Mapping[str, Any]:
        if text == "fail":
            raise StepError("flood_wait", "slow down", http_status=429, retry_after=3)
        self.sent.append((account_id, chat_id, text))
        return {"id": str(len(self.sent)), "chat": {"id": chat_id, "type": "private",
                                                    "title": None},
                "text": text, "reply_to_id": reply_to_id}

    async def logout(
        self, account_id: str, provider_data: Mapping[str, Any], session: bytes | None
    ) -> None:
        self.logged_out.append(account_id)

    async def aclose(self) -> None:
        return None


class TestPlugin:
    """Registers one :class:`TestProvider` instance (so tests can reach into it)."""

    __test__ = False

    def __init__(self, provider: TestProvider | None = None) -> None:
        self.provider = provider or TestProvider()

    @hookimpl
    def register_providers(self, register: Callable[[Provider], None]) -> None:
        register(self.provider)
