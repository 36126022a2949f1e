"""The ``matrix`` provider: password and access-token logins, a /sync runtime, sending."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from mautrix.client import ClientAPI

from unifyport.sdk import (
    AUTHORIZED,
    RESTARTABLE,
    AuthMode,
    Chat,
    Done,
    FieldSpec,
    Identity,
    Message,
    Outbound,
    OutgoingMessage,
    Provider,
    RuntimeContext,
    RuntimeStatus,
    SendContext,
    Sender,
    SessionRevoked,
    Step,
    StepContext,
    StepError,
    StepResult,
)

from . import client as mx
from .config import MatrixConfig
from .media import MediaOps
from .normalise import from_sync, invited_rooms, joined_rooms, localpart
from .online import Online, in_room, now_iso, online_in
from .session import MatrixSession

log = logging.getLogger(__name__)
HOMESERVER = FieldSpec("homeserver", pattern=r"https?://[^\s/?#]+(/[^\s?#]*)?", max_length=256,
                       description="The homeserver's client-server API base URL.")
MXID = r"@?[a-z0-9._=\-/+]{1,255}(:[A-Za-z0-9.\-]+(:[0-9]{1,5})?)?"

AUTH_MODES = (
    AuthMode("password", "User and password; the password is never stored.", (
        HOMESERVER,
        FieldSpec("user", pattern=MXID, max_length=255,
                  description="Full MXID (`@name:server`) or the localpart."),
    ), (
        Step("password", RESTARTABLE, frozenset({AUTHORIZED}),
             fields=(FieldSpec("password", secret=True, max_length=1024,
                               description="The account's password."),),
             description="Log in with the password."),
    )),
    AuthMode("token", "An existing access token, checked with whoami.", (
        HOMESERVER,
        FieldSpec("access_token", secret=True, location="params", max_length=1024,
                  description="An access token of the account."),
        FieldSpec("device_id", required=False, location="params", max_length=255,
                  description="The token's device (default: what whoami says)."),
    ), (
        Step("import", RESTARTABLE, frozenset({AUTHORIZED}), params=True,
             description="Check the token and take it over."),
    )),
)


class MatrixProvider(MediaOps, Provider):
    name = "matrix"
    description = "Matrix accounts on any homeserver (unencrypted rooms), through mautrix."
    auth_modes = AUTH_MODES
    text_limit = 32_000
    capabilities = frozenset({"receive", "send", "logout", "revocation", "chats", "history",
                              "media", "download", "edit", "delete", "react", "read"})

    def __init__(self, cfg: MatrixConfig) -> None:
        self.cfg = cfg

    async def run_step(self, step: str, ctx: StepContext) -> StepResult:
        assert ctx.outbound is not None
        homeserver = str(ctx.provider_data["homeserver"]).rstrip("/")
        async with mx.connected(ctx.outbound, self.cfg, homeserver) as client:
            if step == "password":
                session = await mx.password_login(client, str(ctx.provider_data["user"]),
                                                  str(ctx.input["password"]))
                client.api.token = session.access_token
            else:
                token = str(ctx.params["access_token"])
                client.api.token = token
                device = ctx.params.get("device_id")
                session = await mx.whoami(client, homeserver, token,
                                          None if device is None else str(device))
            first = await mx.sync(client, None, 0, first=True)
        session = MatrixSession(homeserver, session.user_id, session.device_id,
                                session.access_token, str(first.get("next_batch") or "") or None,
                                tuple(sorted(invited_rooms(first))))
        return Done(session=session.to_bytes(), identity=Identity(
            id=session.user_id, username=localpart(session.user_id),
            extra={"device_id": session.device_id}))

    async def run_runtime(self, ctx: RuntimeContext) -> None:
        session = MatrixSession.from_bytes(ctx.session)
        try:
            async with mx.connected(ctx.outbound, self.cfg, session.homeserver,
                                    session.access_token, session.user_id,
                                    session.device_id) as client:
                await self._sync_loop(ctx, client, session)
        except mx.Revoked:
            raise SessionRevoked("session_revoked", "the homeserver refused the token") from None

    async def _sync_loop(self, ctx: RuntimeContext, client: ClientAPI,
                         session: MatrixSession) -> None:
        since, saved_at, first = session.next_batch, time.monotonic(), True
        invites = set(session.invites)
        reactions: dict[str, tuple[str, str, str]] = {}
        if self.cfg.auto_join_invites:  # invites from before this start (or before the option)
            for room in sorted(invites):
                await self._join(client, room)
            invites.clear()
        while True:
            data = await mx.sync(client, since, 0 if first else int(self.cfg.sync_timeout * 1000))
            batch = from_sync(data, session.user_id, reactions)
            received, sent, invited = batch.received, batch.sent, batch.invites
            if received:
                await ctx.received(received)
            if sent or batch.updates:
                await ctx.emit_many([*(("message.sent", {"provider": self.name,
                                                          "message": m.as_json()}) for m in sent),
                                     *(u.event(self.name) for u in batch.updates)])
            for room, inviter in invited:
                await ctx.emit("chat.invited", {"provider": self.name, "inviter": inviter,
                                                "chat": {"id": room, "type": "room"}})
                if self.cfg.auto_join_invites:
                    await self._join(client, room)
                else:
                    invites.add(room)
            invites -= joined_rooms(data)
            since = str(data.get("next_batch") or since or "") or None
            now = time.monotonic()
            changed = since != session.next_batch or tuple(sorted(invites)) != session.invites
            if since and changed and (received or sent or invited or batch.updates
                                      or now - saved_at >= self.cfg.save_interval):
                session = session.at(since, tuple(sorted(invites)))
                await ctx.save_session(session.to_bytes())
                saved_at = now
            if first:
                ctx.attach(Online(client, session.user_id))
                await ctx.set_status(RuntimeStatus.RUNNING)
                first = False

    @staticmethod
    async def _join(client: ClientAPI, room: str) -> None:
        """Join ``room``; an invite withdrawn or refused meanwhile is dropped, not retried."""
        try:
            await mx.join(client, room)
        except StepError as err:
            log.info("joining an invited room failed: %s", err.code)

    async def send(self, ctx: SendContext, message: OutgoingMessage) -> Message:
        online = online_in(ctx, message.chat_id)
        with in_room():
            if message.attachments:
                return await self.send_file(online, message)
            event_id = await mx.send_text(online.client, message.chat_id, message.text,
                                          message.reply_to_id)
        return Message(id=event_id, chat=Chat(id=message.chat_id, type="room", title=None),
                       sender=Sender(id=online.user_id, display_name=None,
                                     username=localpart(online.user_id)),
                       text=message.text, reply_to_id=message.reply_to_id, date=now_iso())

    async def logout(self, account_id: str, provider_data: Mapping[str, Any],
                     session: bytes | None, *, outbound: Outbound | None = None) -> None:
        """Best effort; deletion goes on whatever the homeserver says (the core bounds it)."""
        if session is None:
            return
        stored = MatrixSession.from_bytes(session)
        if outbound is None:
            return
        async with mx.connected(outbound, self.cfg, stored.homeserver,
                                stored.access_token) as client:
            try:
                await mx.logout(client)
            except (StepError, mx.Revoked) as err:
                log.info("account %s: logout at the homeserver failed: %s", account_id,
                         type(err).__name__)

