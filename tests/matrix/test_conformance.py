"""The Matrix plugin through the shipped channel conformance kit, against a real Synapse."""

from __future__ import annotations

from typing import Any

import pytest

from unifyport.testing.channels import ChannelConformance, ChannelPeer, StepCall
from unifyport_matrix import plugin as matrix_plugin

from .conftest import account_body
from .synapse import Synapse


class MatrixPeer(ChannelPeer):
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

    async def revoke(self, account: dict[str, Any]) -> None:
        self.synapse.logout_all(self.user)

    async def session_ended(self, account: dict[str, Any]) -> bool:
        device = account["identity"]["device_id"]
        return device not in self.synapse.devices(self.user)


class TestMatrixConformance(ChannelConformance):
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
