"""The ``echo`` channel plugin: everything it needs comes from ``unifyport.sdk``."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from unifyport.sdk import (
    AUTHORIZED,
    RESTARTABLE,
    AuthMode,
    Chat,
    Done,
    ErrorKind,
    External,
    FieldSpec,
    Identity,
    Message,
    Outbound,
    OutgoingMessage,
    Provider,
    RuntimeContext,
    RuntimeStatus,
    SendContext,
    SessionRevoked,
    Settings,
    Step,
    StepContext,
    StepError,
    StepResult,
    hookimpl,
)

from .network import NETWORK, EchoNetwork, Refused

AWAITING_CLICK = "awaiting_click"
USER = FieldSpec("user", pattern=r"[a-z0-9_]{1,32}", max_length=32, description="Your user name.")


class EchoProvider(Provider):
    name = "echo"
    description = "The echo network: a template channel that runs in-process."
    capabilities = frozenset({"receive", "send", "logout", "revocation"})
    text_limit = 1000
    auth_modes = (
        AuthMode("password", "User name and password, in one step.", (USER,), (
            Step("login", RESTARTABLE, frozenset({AUTHORIZED}),
                 fields=(FieldSpec("password", secret=True, max_length=256),),
                 description="Log in with the password."),
        )),
        AuthMode("link", "A login link the user opens, then a check.", (USER,), (
            Step("link/send", RESTARTABLE, frozenset({AWAITING_CLICK}),
                 description="Send the login link; answers `external.url`."),
            Step("link/check", frozenset({AWAITING_CLICK}),
                 frozenset({AWAITING_CLICK, AUTHORIZED}),
                 description="Poll until the link was opened."),
        ), statuses=(AWAITING_CLICK,)),
    )

    def __init__(self, network: EchoNetwork = NETWORK) -> None:
        self.net = network

    async def run_step(self, step: str, ctx: StepContext) -> StepResult:
        user = str(ctx.provider_data["user"])
        try:
            if step == "login":
                return self._done(user, self.net.login(user, ctx.input["password"]))
            if step == "link/send":
                link = self.net.send_link(user)
                return External(AWAITING_CLICK, f"https://echo.invalid/login/{link}",
                                flow={"link": link})
            token = self.net.check_link(str(ctx.flow["link"]))
        except Refused as err:  # the network's answers become stable domain errors, here only
            kind = ErrorKind.UNAUTHENTICATED if err.code == "invalid_credentials" else None
            raise StepError(err.code, f"the echo network refused: {err.code}", kind=kind,
                            fail=err.code == "link_expired") from None
        if token is None:
            return External(AWAITING_CLICK, f"https://echo.invalid/login/{ctx.flow['link']}",
                            flow=ctx.flow)
        return self._done(user, token)

    @staticmethod
    def _done(user: str, token: str) -> Done:
        return Done(session=token.encode(), identity=Identity(id=user, username=user))

    async def run_runtime(self, ctx: RuntimeContext) -> None:
        token = ctx.session.decode()
        try:
            user = self.net.user_of(token)
        except Refused:
            raise SessionRevoked("session_revoked") from None
        ctx.attach(token)  # what `send` gets back as ctx.client
        await ctx.set_status(RuntimeStatus.RUNNING)
        while True:
            chat_id, text = await user.inbox.get()
            if token in self.net.revoked:
                raise SessionRevoked("session_revoked")
            await ctx.received([self._message(chat_id, chat_id, text)])

    async def send(self, ctx: SendContext, message: OutgoingMessage) -> Message:
        try:
            user = self.net.user_of(str(ctx.client))
        except Refused as err:
            raise StepError(err.code, "the session is no longer valid") from None
        user.outbox.append((message.chat_id, message.text))
        return self._message(message.chat_id, user.name, message.text, message.reply_to_id)

    def _message(self, chat_id: str, sender: str, text: str,
                 reply_to_id: str | None = None) -> Message:
        return Message(id=secrets.token_hex(6), chat=Chat(id=chat_id, type="private", title=None),
                       text=text, reply_to_id=reply_to_id,
                       date=dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"))

    async def logout(self, account_id: str, provider_data: Mapping[str, Any],
                     session: bytes | None, *, outbound: Outbound | None = None) -> None:
        if session is not None:
            self.net.logout(session.decode())


@hookimpl
def register_providers(register: Callable[[Provider], None], settings: Settings) -> None:
    register(EchoProvider())
