"""The Matrix plugin through the shipped channel conformance kit, against a real Synapse."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import pytest

from unifyport.testing.channels import ChannelPeer, StepCall
from unifyport.testing.messaging import MessagingConformance, MessagingPeer, Seen
from unifyport_matrix import plugin as matrix_plugin

from .conftest import account_body
from .synapse import Synapse


class MatrixPeer(MessagingPeer):
    """The far side is Synapse: users, rooms, messages, logout everywhere."""

    def __init__(self, synapse: Synapse) -> None:
        self.synapse = synapse
        self.user: dict[str, Any] = {}
        self.friend: dict[str, Any] | None = None
        self.room = ""

    async def account_body(self, mode: str) -> dict[str, Any]:
        self.user = self.synapse.new_user()
        return account_body(self.synapse, self.user, mode)

    async def login(self, mode: str, account: dict[str, Any], step: StepCall) -> None:
        if mode == "password":
            await step("password", {"password": self.user["password"]})
        else:
            await step("import", {"params": {"access_token": self.user["access_token"]}})

    def wrong_input(self, mode: str) -> list[tuple[str, dict[str, Any]]]:
        if mode == "password":
            return [("password", {"password": "wrong"})]
        return [("import", {"params": {"access_token": "syt_not_a_token"}})]

    def _room(self) -> str:
        if self.friend is None:
            self.friend = self.synapse.new_user("friend")
            self.room = self.synapse.direct_room(self.friend, self.user)
        return self.room

    async def send_inbound(self, account: dict[str, Any], text: str) -> None:
        room = self._room()
        assert self.friend is not None
        self.synapse.say(self.friend, room, text)

    async def chat_for_send(self, account: dict[str, Any]) -> str:
        return self._room()

    async def saw_sent(self, account: dict[str, Any], chat_id: str, text: str) -> bool:
        assert self.friend is not None
        return any(e["content"].get("body") == text
                   for e in self.synapse.messages(self.friend, chat_id))

    # -- messaging -------------------------------------------------------------------
    def _friend(self) -> dict[str, Any]:
        self._room()
        assert self.friend is not None
        return self.friend

    async def fill_chat(self, account: dict[str, Any], texts: list[str]) -> str:
        room, friend = self.synapse.direct_room(self._friend(), self.user), self._friend()
        await asyncio.to_thread(lambda: [self.synapse.say(friend, room, t) for t in texts])
        return room

    async def send_photo_inbound(self, account: dict[str, Any], chat_id: str, data: bytes,
                                 mime_type: str) -> None:
        mxc = self.synapse.upload(self._friend(), data, mime_type)
        self.synapse.send(self._friend(), chat_id, "m.room.message", {
            "msgtype": "m.image", "body": "photo", "url": mxc,
            "info": {"mimetype": mime_type, "size": len(data)}})

    def _event(self, room: str, event_id: str) -> dict[str, Any]:
        return dict(self.synapse.call("GET", f"/_matrix/client/v3/rooms/{room}/event/{event_id}",
                                      token=self._friend()["access_token"]))

    async def file_seen(self, account: dict[str, Any], chat_id: str,
                        message_id: str) -> bytes | None:
        url = self._event(chat_id, message_id)["content"].get("url")
        return self.synapse.download(self._friend(), url) if url else None

    async def seen(self, account: dict[str, Any], chat_id: str, message_id: str) -> Seen:
        event = self._event(chat_id, message_id)
        edit = event.get("unsigned", {}).get("m.relations", {}).get("m.replace")
        text = (edit or event)["content"].get("m.new_content" if edit else "body", "")
        relations = self.synapse.call(
            "GET", f"/_matrix/client/v1/rooms/{chat_id}/relations/{message_id}/m.annotation"
            "/m.reaction", token=self._friend()["access_token"])["chunk"]
        return Seen(text=text["body"] if isinstance(text, dict) else text,
                    deleted=not event["content"],
                    reactions={r["content"]["m.relates_to"]["key"] for r in relations
                               if r["sender"] == self.user["user_id"] and r["content"]})

    async def read_seen(self, account: dict[str, Any], chat_id: str, message_id: str) -> bool:
        receipts = self.synapse.receipts(self._friend(), chat_id)
        return self.user["user_id"] in receipts.get(message_id, {}).get("m.read", {})

    async def act(self, account: dict[str, Any], chat_id: str, message_id: str, action: str,
                  value: str = "") -> None:
        friend, room = self._friend(), f"/_matrix/client/v3/rooms/{chat_id}"
        if action == "edit":
            self.synapse.send(friend, chat_id, "m.room.message", {
                "msgtype": "m.text", "body": f"* {value}",
                "m.new_content": {"msgtype": "m.text", "body": value},
                "m.relates_to": {"rel_type": "m.replace", "event_id": message_id}})
        elif action == "delete":
            self.synapse.call("PUT", f"{room}/redact/{message_id}/{secrets.token_hex(6)}", {},
                              token=friend["access_token"])
        elif action == "react":
            self.synapse.send(friend, chat_id, "m.reaction", {"m.relates_to": {
                "rel_type": "m.annotation", "event_id": message_id, "key": value}})
        else:
            self.synapse.call("POST", f"{room}/receipt/m.read/{message_id}", {},
                              token=friend["access_token"])

    async def revoke(self, account: dict[str, Any]) -> None:
        self.synapse.logout_all(self.user)

    async def session_ended(self, account: dict[str, Any]) -> bool:
        device = account["identity"]["device_id"]
        return device not in self.synapse.devices(self.user)


class TestMatrixConformance(MessagingConformance):
    provider = "matrix"
    toml = ('[security]\noutbound_allow_cidrs = ["127.0.0.1/32"]\n'
            "[plugins.matrix]\nsync_timeout = 1\n")

    @pytest.fixture
    def unifyport_setup(self, synapse: Synapse) -> None:
        self.synapse = synapse

    def plugin(self) -> object:
        return matrix_plugin

    def peer(self) -> ChannelPeer:
        return MatrixPeer(self.synapse)


def test_documented_keys_are_the_declared_ones() -> None:
    """docs/matrix.md's key table comes from the typed model, key by key and default."""
    import re
    from pathlib import Path

    from unifyport_matrix.config import MatrixConfig

    doc = (Path(__file__).resolve().parents[2] / "docs" / "matrix.md").read_text()
    table = doc.split("## Configuration (`[plugins.matrix]`)")[1].split("##")[0]
    rows = dict(re.findall(r"^\| `([a-z_]+)` \| `([^`]+)` \|", table, re.M))
    declared = {name: str(f.default).lower() for name, f in MatrixConfig.model_fields.items()}
    assert rows == declared
