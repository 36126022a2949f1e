"""The auth flows (code, QR, session import, bot) on top of the backend-neutral client.

Every step works from the stored flow data alone (the temporary auth key travels in it as a
:class:`SessionData`), so a flow survives a server restart. Between ``qr/start`` and
``qr/check`` the connected client is kept in memory so it can hear the scan; after a restart a
new one is connected from the flow data.
"""

from __future__ import annotations

import base64
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from unifyport.sdk import Done, ErrorKind, EventDraft, Next, StepContext, StepError, StepResult

from .backend import LoginToken, Me, TelegramClient
from .clients import make_client
from .config import TelegramConfig
from .declaration import AWAITING_CODE, AWAITING_PASSWORD, AWAITING_QR_SCAN, QR_EXPIRED
from .errors import TelegramError
from .qr_render import iso, qr_payload, token_url
from .session_data import SessionData
from .session_import import load_session

QR_LINGER = 60.0
"""Seconds a QR client stays connected after its token expired, waiting for a poll."""
#: Errors after which the flow cannot continue (the account moves to ``failed``).
_FATAL = {"code": {"code_expired"}, "password": {"invalid_password"}}
_QR_STEPS = ("qr/start", "qr/check")


class AuthFlows:
    def __init__(self, cfg: TelegramConfig) -> None:
        self.cfg = cfg
        self._qr: dict[str, tuple[TelegramClient, float]] = {}
        """Account id -> (QR client waiting for the scan, when to drop it unpolled)."""

    # -- plumbing -------------------------------------------------------------------
    def client(self, ctx: StepContext, session: SessionData | None) -> TelegramClient:
        return make_client(self.cfg, ctx.provider_data, session)

    @contextlib.asynccontextmanager
    async def connected(self, ctx: StepContext,
                        session: SessionData | None) -> AsyncIterator[TelegramClient]:
        client = self.client(ctx, session)
        try:
            await client.connect()
            yield client
        finally:
            await client.disconnect()

    @staticmethod
    def _flow(ctx: StepContext, client: TelegramClient, **extra: Any) -> dict[str, Any]:
        """The flow data to store: what it held, the client's session, and ``extra``."""
        return {**ctx.flow, "session": client.export_session().to_json(), **extra}

    @staticmethod
    def _flow_session(ctx: StepContext) -> SessionData:
        try:
            return SessionData.from_json(ctx.flow["session"])
        except (KeyError, ValueError, TypeError):
            raise StepError("invalid_state", "the flow data is missing; start again",
                            fail=True) from None

    @staticmethod
    async def _authorized(client: TelegramClient, me: Me) -> StepResult:
        """The stored session carries the update state at login, so messages that arrive
        before ``runtime/start`` are still delivered then."""
        session = client.export_session()
        with contextlib.suppress(TelegramError):
            session = session.with_state(await client.get_state())
        return Done(session=session.to_bytes(), identity=me.identity())

    async def run(self, step: str, ctx: StepContext) -> StepResult:
        handlers: dict[str, Callable[[StepContext], Awaitable[StepResult]]] = {
            "start": self.start, "code": self.code, "password": self.password,
            "qr/start": self.qr_start, "qr/check": self.qr_check, "import": self.import_,
        }
        await self._sweep_qr()
        if step not in _QR_STEPS:
            await self.drop_qr(ctx.account_id)
        try:
            return await handlers[step](ctx)
        except TelegramError as err:
            if step in _QR_STEPS:
                await self.drop_qr(ctx.account_id)
            raise err.to_step_error(fail=err.code in _FATAL.get(step, ())) from None

    def _keep_qr(self, account_id: str, client: TelegramClient, expires: float) -> None:
        self._qr[account_id] = (client, expires + QR_LINGER)

    async def _sweep_qr(self) -> None:
        """Disconnect QR clients nobody polled since their token expired."""
        now = time.time()
        for account_id, (_, until) in list(self._qr.items()):
            if until < now:
                await self.drop_qr(account_id)

    async def drop_qr(self, account_id: str) -> None:
        kept = self._qr.pop(account_id, None)
        if kept is not None:
            await kept[0].disconnect()

    async def aclose(self) -> None:
        for account_id in list(self._qr):
            await self.drop_qr(account_id)

    # -- code -------------------------------------------------------------------------
    async def start(self, ctx: StepContext) -> StepResult:
        phone = str(ctx.provider_data["phone"])
        async with self.connected(ctx, None) as client:
            sent = await client.send_code(phone)
            flow = self._flow(ctx, client, phone=phone, phone_code_hash=sent.phone_code_hash)
        data: dict[str, Any] = {"code_type": sent.code_type}
        if sent.timeout is not None:
            data["timeout"] = sent.timeout
        return Next(AWAITING_CODE, flow=flow,
                    events=(EventDraft("account.auth.code_sent", data),),
                    expose={"code_type": sent.code_type})

    async def code(self, ctx: StepContext) -> StepResult:
        session = self._flow_session(ctx)
        async with self.connected(ctx, session) as client:
            try:
                me = await client.sign_in(str(ctx.flow["phone"]),
                                          str(ctx.flow["phone_code_hash"]), ctx.input["code"])
            except TelegramError as err:
                if err.code != "password_needed":
                    raise
                return Next(AWAITING_PASSWORD, flow=self._flow(ctx, client))
            return await self._authorized(client, me)

    async def password(self, ctx: StepContext) -> StepResult:
        session = self._flow_session(ctx)
        async with self.connected(ctx, session) as client:
            me = await client.check_password(ctx.input["password"])
            return await self._authorized(client, me)

    # -- QR -----------------------------------------------------------------------------
    def _qr_result(self, ctx: StepContext, client: TelegramClient, tok: LoginToken,
                   events: bool) -> Next:
        assert tok.token is not None and tok.expires is not None
        expires = float(tok.expires)
        flow = self._flow(ctx, client, qr_token=base64.b64encode(tok.token).decode(),
                          qr_expires=expires)
        evs = (EventDraft("account.auth.qr_updated",
                          {"url": token_url(tok.token), "expires_at": iso(expires)}),)
        return Next(AWAITING_QR_SCAN, flow=flow, events=evs if events else (),
                    expose={"qr": qr_payload(tok.token, expires)})

    async def _finish_qr(self, ctx: StepContext, client: TelegramClient,
                         tok: LoginToken) -> StepResult | None:
        """Complete a scanned token (moving DC when told); ``None`` while not scanned."""
        try:
            if tok.migrate_dc is not None and tok.token is not None:
                tok = await client.import_login_token(tok.migrate_dc, tok.token)
        except TelegramError as err:
            if err.code == "password_needed":
                return Next(AWAITING_PASSWORD, flow=self._flow(ctx, client))
            raise
        if tok.me is not None:
            return await self._authorized(client, tok.me)
        return None

    async def _export(self, ctx: StepContext, client: TelegramClient) -> StepResult:
        try:
            tok = await client.export_login_token()
        except TelegramError as err:
            if err.code == "password_needed":
                return Next(AWAITING_PASSWORD, flow=self._flow(ctx, client))
            raise
        done = await self._finish_qr(ctx, client, tok)
        if done is not None:
            return done
        return self._qr_result(ctx, client, tok, events=True)

    async def qr_start(self, ctx: StepContext) -> StepResult:
        await self.drop_qr(ctx.account_id)
        session = SessionData.from_json(ctx.flow["session"]) if "session" in ctx.flow else None
        client = self.client(ctx, session)
        try:
            await client.connect()
            client.watch_login_token()
            result = await self._export(ctx, client)
        except BaseException:
            await client.disconnect()
            raise
        if isinstance(result, Next) and result.status == AWAITING_QR_SCAN:
            self._keep_qr(ctx.account_id, client, _expires(result))
            return result
        await client.disconnect()
        if isinstance(result, Done):
            raise StepError("invalid_state", "the QR code was already scanned; call qr/check",
                            kind=ErrorKind.CONFLICT)
        return result

    def _waiting(self, ctx: StepContext) -> StepResult:
        token = base64.b64decode(ctx.flow["qr_token"])
        return Next(AWAITING_QR_SCAN, flow=dict(ctx.flow),
                    expose={"qr": qr_payload(token, float(ctx.flow["qr_expires"]))})

    def _expired(self, ctx: StepContext) -> StepResult:
        if ctx.status == QR_EXPIRED:
            raise StepError("qr_expired", "the QR code expired; call qr/start for a new one")
        return Next(QR_EXPIRED, flow=dict(ctx.flow),
                    expose={"error": {"code": "qr_expired",
                                      "message": "call qr/start for a new QR code"}})

    async def qr_check(self, ctx: StepContext) -> StepResult:
        expired = time.time() >= float(ctx.flow.get("qr_expires", 0))
        live, until = self._qr.pop(ctx.account_id, (None, 0.0))
        if live is not None and not live.login_token_seen():
            if expired:
                await live.disconnect()
                return self._expired(ctx)
            self._qr[ctx.account_id] = (live, until)
            return self._waiting(ctx)
        client = live or self.client(ctx, self._flow_session(ctx))
        try:
            if live is None:
                await client.connect()
                client.watch_login_token()
            result = await self._export(ctx, client)
            waiting = isinstance(result, Next) and result.status == AWAITING_QR_SCAN
            if waiting and expired:
                await client.disconnect()
                return self._expired(ctx)
        except BaseException:
            await client.disconnect()
            raise
        if isinstance(result, Next) and result.status == AWAITING_QR_SCAN:
            self._keep_qr(ctx.account_id, client, _expires(result))
        else:
            await client.disconnect()
        return result

    # -- session import and bots ------------------------------------------------------------
    async def import_(self, ctx: StepContext) -> StepResult:
        if ctx.auth_mode == "bot":
            async with self.connected(ctx, None) as client:
                me = await client.sign_in_bot(str(ctx.provider_data["bot_token"]))
                return await self._authorized(client, me)
        session = await load_session(str(ctx.params.get("session_url", "")), self.cfg,
                                     ctx.outbound, int(ctx.provider_data["api_id"]))
        client = self.client(ctx, session)
        try:
            await client.connect()
            return await self._authorized(client, await client.get_me())
        except TelegramError as err:
            if err.code in ("flood_wait", "provider_unavailable"):
                raise
            raise StepError("invalid_session", f"the session is not valid: {err.code}") from None
        finally:
            await client.disconnect()


def _expires(result: Next) -> float:
    return float((result.flow or {})["qr_expires"])
