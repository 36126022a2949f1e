"""The echo channel against UnifyPort's conformance kit: ``pytest -p unifyport.testing``."""

from __future__ import annotations

import secrets
from typing import Any

from unifyport_echo.network import NETWORK
from unifyport_echo.plugin import EchoProvider, register_providers

from unifyport.testing.channels import ChannelConformance, ChannelPeer, StepCall


class EchoPeer(ChannelPeer):
    """Plays the far side: makes users, opens login links, writes to inboxes."""

    def __init__(self) -> None:
        self.passwords: dict[str, str] = {}

    async def account_body(self, mode: str) -> dict[str, Any]:
        user, password = "u" + secrets.token_hex(4), secrets.token_hex(8)
        NETWORK.add_user(user, password)
        self.passwords[user] = password
        return {"provider": "echo", "auth_mode": mode, "provider_data": {"user": user}}

    async def login(self, mode: str, account: dict[str, Any], step: StepCall) -> None:
        user = account["provider_data"]["user"]
        if mode == "password":
            await step("login", {"password": self.passwords[user]})
            return
        sent = await step("link/send", None)
        assert sent["status"] == "awaiting_click"
        link = sent["external"]["url"].rsplit("/", 1)[1]
        assert (await step("link/check", None))["status"] == "awaiting_click"
        NETWORK.click(link)  # the user opens the link
        assert (await step("link/check", None))["status"] == "authorized"

    def wrong_input(self, mode: str) -> list[tuple[str, dict[str, Any]]]:
        return [("login", {"password": "wrong"})] if mode == "password" else []

    def _token(self, account: dict[str, Any]) -> str:
        user = account["identity"]["id"]
        return [t for t, u in NETWORK.sessions.items() if u == user][-1]

    async def send_inbound(self, account: dict[str, Any], text: str) -> None:
        NETWORK.users[account["identity"]["id"]].inbox.put_nowait(("friend", text))

    async def chat_for_send(self, account: dict[str, Any]) -> str:
        return "friend"

    async def saw_sent(self, account: dict[str, Any], chat_id: str, text: str) -> bool:
        return (chat_id, text) in NETWORK.users[account["identity"]["id"]].outbox

    async def revoke(self, account: dict[str, Any]) -> None:
        NETWORK.revoke(self._token(account))

    async def session_ended(self, account: dict[str, Any]) -> bool:
        return account["identity"]["id"] not in NETWORK.sessions.values()


class EchoPlugin:
    """A fresh plugin object per gateway start (the module itself is the installed one)."""

    register_providers = staticmethod(register_providers)


class TestEchoConformance(ChannelConformance):
    provider = "echo"

    def plugin(self) -> object:
        return EchoPlugin()

    def peer(self) -> ChannelPeer:
        return EchoPeer()


def test_provider_subclasses_the_sdk() -> None:
    assert isinstance(EchoProvider(), EchoProvider)
