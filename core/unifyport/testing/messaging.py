"""The messaging conformance suite: chats, history, files both ways, edits, deletions,
reactions and read state, through the HTTP API, both from the account and from the far side.

Subclass :class:`MessagingConformance` (instead of ``ChannelConformance``) with a peer that
is a :class:`MessagingPeer`. Each test needs one capability (``chats``, ``history``,
``media``, ``download``, ``edit``, ``delete``, ``react``, ``read``) and skips without it;
the base kit checks that the undeclared ones answer 501. ``media`` fetches a document from
a loopback HTTP server the kit starts: allow ``127.0.0.1/32`` in ``security.
outbound_allow_cidrs`` of the class's ``toml``.
"""

from __future__ import annotations

import abc
import io
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from werkzeug.datastructures import FileStorage

from unifyport.testing.channels import ChannelConformance, ChannelPeer, requires
from unifyport.testing.gateway import Api

PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(200_000)
PDF = b"%PDF-1.4\n" + os.urandom(700_000)
"""Larger than one part of chunked transfers (Telegram's 512 KiB)."""


@dataclass
class Seen:
    """What the far side sees of one message."""

    text: str = ""
    deleted: bool = False
    reactions: set[str] = field(default_factory=set)
    """The emoji the account put on it."""


class MessagingPeer(ChannelPeer):
    """The far side, for the messaging tests; each method serves the capabilities named."""

    @abc.abstractmethod
    async def fill_chat(self, account: dict[str, Any], texts: list[str]) -> str:
        """A new chat between the account and the far side, in which the far side wrote
        ``texts`` in this order; its chat id (``chats``, ``history``)."""

    async def send_photo_inbound(self, account: dict[str, Any], chat_id: str, data: bytes,
                                 mime_type: str) -> None:
        """Make the far side send an image ``data`` into ``chat_id`` (``download``)."""
        raise NotImplementedError

    async def file_seen(self, account: dict[str, Any], chat_id: str,
                        message_id: str) -> bytes | None:
        """The bytes of the file the far side received as ``message_id`` (``media``)."""
        raise NotImplementedError

    async def seen(self, account: dict[str, Any], chat_id: str, message_id: str) -> Seen:
        """The message as the far side sees it now (``edit``, ``delete``, ``react``)."""
        raise NotImplementedError

    async def read_seen(self, account: dict[str, Any], chat_id: str, message_id: str) -> bool:
        """Whether the far side sees ``message_id`` read by the account (``read``)."""
        raise NotImplementedError

    async def act(self, account: dict[str, Any], chat_id: str, message_id: str, action: str,
                  value: str = "") -> None:
        """The far side's own action on a message: ``edit`` (its message, new text
        ``value``), ``delete`` (its message), ``react`` (emoji ``value`` on the account's
        message) or ``read`` (the account's message)."""
        raise NotImplementedError


class MessagingConformance(ChannelConformance):
    """The channel kit plus the messaging tests."""

    history_size = 200
    """How many messages ``test_history_in_pages`` reads back (in pages of 50)."""

    def _mpeer(self) -> MessagingPeer:
        assert isinstance(self._peer, MessagingPeer), "peer() must answer a MessagingPeer"
        return self._peer

    async def _ready(self, api: Api) -> tuple[dict[str, Any], str]:
        account = await self._authorized(api, self._provider.auth_modes[0].name)
        await self._online(api, account["id"])
        return account, await self._peer.chat_for_send(account)

    async def _inbound(self, api: Api, account: dict[str, Any], text: str) -> str:
        await self._peer.send_inbound(account, text)
        data = await self._event(api, account["id"], "message.received",
                                 lambda d: d["message"]["text"] == text)
        return str(data["message"]["id"])

    @requires("chats")
    @pytest.mark.asyncio
    async def test_chats_list_in_pages(self) -> None:
        async with self.gateway() as api:
            account = await self._authorized(api, self._provider.auth_modes[0].name)
            chat = await self._mpeer().fill_chat(account, ["first", "latest"])
            await self._online(api, account["id"])
            found, cursor = None, ""
            for _ in range(50):
                code, page = await api.get(f"/v1/accounts/{account['id']}/chats?limit=1{cursor}")
                assert code == 200 and len(page["data"]) <= 1, page
                found = next((c for c in page["data"] if c["id"] == chat), None)
                if found or not page["next_cursor"]:
                    break
                cursor = f"&cursor={page['next_cursor']}"
            assert found is not None, "the peer's chat is not in the list"
            assert found["last_message"]["text"] == "latest" and found["type"]

    @requires("history")
    @pytest.mark.asyncio
    async def test_history_in_pages(self) -> None:
        texts = [f"history {i}" for i in range(self.history_size)]
        async with self.gateway() as api:
            account = await self._authorized(api, self._provider.auth_modes[0].name)
            chat = await self._mpeer().fill_chat(account, texts)
            await self._online(api, account["id"])
            seen: list[str] = []
            cursor, path = "", f"/v1/accounts/{account['id']}/chats/{chat}/messages?limit=50"
            for _ in range(self.history_size // 10):
                code, page = await api.get(path + cursor)
                assert code == 200 and len(page["data"]) <= 50, page
                seen += [m["text"] for m in page["data"]]
                if len(seen) >= len(texts) or not page["next_cursor"]:
                    break
                cursor = f"&cursor={page['next_cursor']}"
            assert seen[:len(texts)] == texts[::-1]
            code, body = await api.get(path + "&cursor=" + "z" * 40)
            assert 400 <= code < 500 and body["error"]["code"], body

    @requires("media")
    @pytest.mark.asyncio
    async def test_files_by_upload_and_by_url_reach_the_far_side(self) -> None:
        async with self.gateway() as api, serving(PDF, "application/pdf") as url:
            account, chat = await self._ready(api)
            response = await api.client.post(
                f"/v1/accounts/{account['id']}/messages",
                headers={"Authorization": f"Bearer {api.key}"},
                form={"chat_id": str(chat), "text": "a picture"}, files={"file": _file(PNG)})
            image = await response.get_json()
            assert response.status_code == 201, image
            assert image["attachments"] and image["attachments"][0]["download_url"]
            code, doc = await api.post(f"/v1/accounts/{account['id']}/messages", {
                "chat_id": chat, "attachments": [{"url": url, "file_name": "report.pdf"}]})
            assert code == 201, doc
            assert doc["attachments"][0]["file_name"] == "report.pdf"
            peer = self._mpeer()
            assert await self._until(lambda: peer.file_seen(account, str(chat), image["id"]),
                                     "the image at the far side") == PNG
            assert await self._until(lambda: peer.file_seen(account, str(chat), doc["id"]),
                                     "the document at the far side") == PDF

    @requires("download")
    @pytest.mark.asyncio
    async def test_a_received_photo_downloads_through_the_api(self) -> None:
        async with self.gateway() as api:
            account, chat = await self._ready(api)
            await self._mpeer().send_photo_inbound(account, str(chat), PNG, "image/png")
            data = await self._event(api, account["id"], "message.received",
                                     lambda d: bool(d["message"].get("attachments")))
            url = data["message"]["attachments"][0]["download_url"]
            response = await api.client.get(url, headers={"Authorization": f"Bearer {api.key}"})
            assert response.status_code == 200 and await response.get_data() == PNG
            code, body = await api.get(url[: url.rindex("/")] + "/7")
            assert code == 404, body

    @requires("edit")
    @pytest.mark.asyncio
    async def test_edits_both_ways(self) -> None:
        async with self.gateway() as api:
            account, chat = await self._ready(api)
            acc, peer = account["id"], self._mpeer()
            _, sent = await api.post(f"/v1/accounts/{acc}/messages",
                                     {"chat_id": chat, "text": "befor"})
            code, edited = await api.call("PATCH", f"/v1/accounts/{acc}/chats/{chat}/messages/"
                                          f"{sent['id']}", {"text": "after"})
            assert code == 200 and edited["text"] == "after", edited
            await self._event(api, acc, "message.edited",
                              lambda d: d["message"]["id"] == sent["id"])
            assert await self._until(lambda: _has_text(peer, account, str(chat), sent["id"],
                                                       "after"), "the edit at the far side")
            theirs = await self._inbound(api, account, "their typo")
            await peer.act(account, str(chat), theirs, "edit", "their text")
            data = await self._event(api, acc, "message.edited",
                                     lambda d: d["message"]["id"] == theirs)
            assert data["message"]["text"] == "their text"

    @requires("delete")
    @pytest.mark.asyncio
    async def test_deletions_both_ways(self) -> None:
        async with self.gateway() as api:
            account, chat = await self._ready(api)
            acc, peer = account["id"], self._mpeer()
            _, sent = await api.post(f"/v1/accounts/{acc}/messages",
                                     {"chat_id": chat, "text": "regret"})
            code, _ = await api.delete(f"/v1/accounts/{acc}/chats/{chat}/messages/{sent['id']}")
            assert code == 204
            assert await self._until(lambda: _deleted(peer, account, str(chat), sent["id"]),
                                     "the deletion at the far side")
            theirs = await self._inbound(api, account, "to be deleted")
            await peer.act(account, str(chat), theirs, "delete")
            await self._event(api, acc, "message.deleted", lambda d: theirs in d["message_ids"])

    @requires("react")
    @pytest.mark.asyncio
    async def test_reactions_both_ways(self) -> None:
        async with self.gateway() as api:
            account, chat = await self._ready(api)
            acc, peer = account["id"], self._mpeer()
            theirs = await self._inbound(api, account, "react to me")
            path = f"/v1/accounts/{acc}/chats/{chat}/messages/{theirs}/reactions"
            assert (await api.post(path, {"emoji": "👍"}))[0] == 204
            assert await self._until(lambda: _reacted(peer, account, str(chat), theirs, True),
                                     "the reaction at the far side")
            assert (await api.call("DELETE", path, {"emoji": "👍"}))[0] == 204
            assert await self._until(lambda: _reacted(peer, account, str(chat), theirs, False),
                                     "the reaction taken back at the far side")
            _, sent = await api.post(f"/v1/accounts/{acc}/messages",
                                     {"chat_id": chat, "text": "react to this"})
            await peer.act(account, str(chat), sent["id"], "react", "🎉")
            data = await self._event(api, acc, "message.reaction",
                                     lambda d: d["message_id"] == sent["id"])
            assert data["emoji"] == "🎉" and not data["removed"]

    @requires("read")
    @pytest.mark.asyncio
    async def test_read_state_both_ways(self) -> None:
        async with self.gateway() as api:
            account, chat = await self._ready(api)
            acc, peer = account["id"], self._mpeer()
            theirs = await self._inbound(api, account, "read me")
            code, _ = await api.post(f"/v1/accounts/{acc}/chats/{chat}/read",
                                     {"message_id": theirs})
            assert code == 204
            assert await self._until(lambda: peer.read_seen(account, str(chat), theirs),
                                     "the read receipt at the far side")
            _, sent = await api.post(f"/v1/accounts/{acc}/messages",
                                     {"chat_id": chat, "text": "did you read this"})
            await peer.act(account, str(chat), sent["id"], "read")
            await self._event(api, acc, "message.read", lambda d: d["chat_id"] == str(chat))


async def _has_text(peer: MessagingPeer, account: dict[str, Any], chat: str, mid: str,
                    text: str) -> bool:
    return (await peer.seen(account, chat, mid)).text == text


async def _deleted(peer: MessagingPeer, account: dict[str, Any], chat: str, mid: str) -> bool:
    return (await peer.seen(account, chat, mid)).deleted


async def _reacted(peer: MessagingPeer, account: dict[str, Any], chat: str, mid: str,
                   present: bool) -> bool:
    return ("👍" in (await peer.seen(account, chat, mid)).reactions) is present


def _file(data: bytes) -> FileStorage:
    return FileStorage(io.BytesIO(data), filename="picture.png", content_type="image/png")


@asynccontextmanager
async def serving(body: bytes, content_type: str,
                  name: str = "document") -> AsyncIterator[str]:
    """``body`` served at every GET of ``/files/<name>`` from a loopback HTTP server; that
    URL. Paths under ``/sized/<n>`` answer ``n`` bytes."""
    async def serve(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type=content_type)

    async def sized(request: web.Request) -> web.Response:
        return web.Response(body=b"d" * int(request.match_info["size"]),
                            content_type=content_type)
    app = web.Application()
    app.router.add_get(f"/files/{name}", serve)
    app.router.add_get("/sized/{size}", sized)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/files/{name}"
    finally:
        await runner.cleanup()
