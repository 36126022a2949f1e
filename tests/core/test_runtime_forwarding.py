"""Two gateways on one PostgreSQL: a runtime call or an auth step that reaches the process
not running the account (or not holding its login flow) is carried out by the one that
does; an owner that does not answer is a 503 ``runtime_unavailable`` the caller may retry."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import func, select

from tests.core.test_runtime import authorized, events_of, runtime_is, until
from tests.core.test_runtime_leases import sup
from tests.support.gateway import CORE_ONLY, make_settings, running
from tests.support.messaging import png, upload
from tests.support.testprovider import TestPlugin, TestProvider
from unifyport.auth.declare import AUTHORIZED
from unifyport.runtime.forward import CLAIM_TIMEOUT
from unifyport.runtime.models import RuntimeCall
from unifyport.sdk import Chat, ChatSummary, Message, Page, SendContext, StepError


async def test_calls_and_flows_reach_their_process(tmp_path: Path, postgres_url: str) -> None:
    a_plugin, b_plugin = TestPlugin(), TestPlugin()
    settings = make_settings(tmp_path / "a", CORE_ONLY, database_url=postgres_url)
    async with running(settings, (("testprov", a_plugin),)) as a, \
            running(settings, (("testprov", b_plugin),)) as b:
        acc = await authorized(a)
        await a.post(f"/v1/accounts/{acc}/runtime/start")
        await until(lambda: _true(sup(a).is_running(acc)))
        await until(runtime_is(b, acc, "running"))  # stored: b sees who owns it
        assert not sup(b).is_running(acc)

        # a send that lands on b is made by a's client and answered by b
        status, sent = await b.post(f"/v1/accounts/{acc}/messages",
                                    {"chat_id": 42, "text": "via b", "reply_to_id": 7})
        assert status == 201, sent
        assert sent["text"] == "via b" and sent["reply_to_id"] == "7"
        assert a_plugin.provider.sent == [(acc, "42", "via b")] and not b_plugin.provider.sent
        assert [e["message"] for e in await events_of(b, acc, "message.sent")] == [sent]
        # the owner's refusal travels back as it is
        status, body = await b.post(f"/v1/accounts/{acc}/messages",
                                    {"chat_id": 42, "text": "x" * 5000})
        assert status == 422 and body["error"]["code"] == "validation_failed"

        # a QR login started on b continues on b, whichever process the polls reach
        _, account = await a.post("/v1/accounts", {"provider": "testprov", "auth_mode": "qrcode",
                                                 "provider_data": {"api_id": 1, "api_hash": "h"}})
        qr = account["id"]
        status, body = await b.post(f"/v1/accounts/{qr}/auth/session/qr/start")
        assert status == 200 and body["status"] == "awaiting_qr_scan", body
        status, body = await a.post(f"/v1/accounts/{qr}/auth/session/qr/check")
        assert status == 200 and body["status"] == "awaiting_qr_scan", body
        b_plugin.provider.qr_script[qr] = AUTHORIZED
        status, body = await a.post(f"/v1/accounts/{qr}/auth/session/qr/check")
        assert status == 200 and body["status"] == "authorized", body
        assert [c[1] for c in b_plugin.provider.calls if c[0] == qr] == \
            ["qr/start", "qr/check", "qr/check"]
        assert not [c for c in a_plugin.provider.calls if c[0] == qr]

        # an owner that stopped answering (hung, or died before its lease ran out)
        calls = sup(a).calls._task
        assert calls is not None
        calls.cancel()
        started = time.monotonic()
        status, body = await b.post(f"/v1/accounts/{acc}/messages", {"chat_id": 42,
                                                                     "text": "lost"})
        waited = time.monotonic() - started
        assert status == 503 and body["error"]["code"] == "runtime_unavailable", body
        assert body["error"]["retry_after"] == 5
        assert CLAIM_TIMEOUT <= waited < CLAIM_TIMEOUT + 3
        started = time.monotonic()  # the next call to that process is answered at once
        status, body = await b.post(f"/v1/accounts/{acc}/messages", {"chat_id": 42,
                                                                     "text": "lost too"})
        assert status == 503 and body["error"]["code"] == "runtime_unavailable", body
        assert time.monotonic() - started < 1.0
        assert len(a_plugin.provider.sent) == 1, "a withdrawn call never runs"
        async with b.gateway.db.read() as s:
            assert await s.scalar(select(func.count()).select_from(RuntimeCall)) == 0


async def _true(value: bool) -> bool:
    return value


class ChatProvider(TestProvider):
    """The test provider with the JSON messaging operations: one chat ``42`` whose messages
    are ``m1``/``m2``; it records each operation (no real peer exists for the core)."""

    __test__ = False
    capabilities = frozenset({"receive", "send", "media", "download", "chats", "history",
                              "edit", "delete", "react", "read"})

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[tuple[str, ...]] = []

    def _message(self, chat_id: str, message_id: str, text: str) -> Message:
        return Message(id=message_id, chat=Chat(id=chat_id, type="private", title=None),
                       text=text, date="2026-01-01T00:00:00Z")

    def _known(self, chat_id: str, message_id: str) -> None:
        if chat_id != "42" or message_id not in ("m1", "m2"):
            raise StepError("message_not_found", "no such message")

    async def list_chats(self, ctx: SendContext, limit: int,
                         cursor: str | None) -> Page[ChatSummary]:
        self.ops.append(("list_chats", str(limit), str(cursor)))
        last = self._message("42", "m2", "latest")
        return Page([ChatSummary(id="42", type="private", title="Ann", unread_count=1,
                                 last_message=last)], None if cursor else "older")

    async def history(self, ctx: SendContext, chat_id: str, limit: int,
                      cursor: str | None) -> Page[Message]:
        self.ops.append(("history", chat_id, str(limit), str(cursor)))
        return Page([self._message(chat_id, "m2", "latest"),
                     self._message(chat_id, "m1", "first")][:limit], "m1")

    async def edit(self, ctx: SendContext, chat_id: str, message_id: str,
                   text: str) -> Message:
        self._known(chat_id, message_id)
        self.ops.append(("edit", chat_id, message_id, text))
        return self._message(chat_id, message_id, text)

    async def delete(self, ctx: SendContext, chat_id: str, message_id: str) -> None:
        self._known(chat_id, message_id)
        self.ops.append(("delete", chat_id, message_id))

    async def react(self, ctx: SendContext, chat_id: str, message_id: str, emoji: str,
                    remove: bool = False) -> None:
        self._known(chat_id, message_id)
        self.ops.append(("react", chat_id, message_id, emoji, str(remove)))

    async def mark_read(self, ctx: SendContext, chat_id: str, message_id: str) -> None:
        self.ops.append(("read", chat_id, message_id))


async def test_messaging_calls_reach_the_owner(tmp_path: Path, postgres_url: str) -> None:
    """The JSON messaging routes answered by the process not running the account are the
    owner's answers (its errors too); byte streams stay with the owner: 503 + Retry-After."""
    a_prov, b_prov = ChatProvider(), ChatProvider()
    settings = make_settings(tmp_path / "a", CORE_ONLY, database_url=postgres_url)
    async with running(settings, (("testprov", TestPlugin(a_prov)),)) as a, \
            running(settings, (("testprov", TestPlugin(b_prov)),)) as b:
        acc = await authorized(a)
        await a.post(f"/v1/accounts/{acc}/runtime/start")
        await until(lambda: _true(sup(a).is_running(acc)))
        await until(runtime_is(b, acc, "running"))  # stored: b sees who owns it
        assert not sup(b).is_running(acc)
        base = f"/v1/accounts/{acc}/chats"
        reads = [f"{base}?limit=5", f"{base}?limit=5&cursor=c", f"{base}/42/messages?limit=1"]
        for path in reads:  # the same answer from either process
            assert await b.get(path) == await a.get(path), path
        status, chats = await b.get(reads[0])
        assert status == 200 and chats["next_cursor"] == "older"
        assert chats["data"][0]["last_message"]["text"] == "latest"
        status, page = await b.get(reads[2])
        assert status == 200 and [m["id"] for m in page["data"]] == ["m2"]

        msg = f"{base}/42/messages/m1"
        status, edited = await b.call("PATCH", msg, {"text": "changed"})
        assert status == 200 and edited["text"] == "changed" and edited["id"] == "m1", edited
        assert [e["message"] for e in await events_of(a, acc, "message.edited")] == [edited]
        assert (await b.post(f"{msg}/reactions", {"emoji": "👍"}))[0] == 204
        assert (await b.call("DELETE", f"{msg}/reactions", {"emoji": "👍"}))[0] == 204
        assert (await b.post(f"{base}/42/read", {"message_id": "m2"}))[0] == 204
        assert (await b.delete(msg))[0] == 204
        assert [e["message_ids"] for e in await events_of(b, acc, "message.deleted")] == [["m1"]]
        assert a_prov.ops[-6:] == [
            ("history", "42", "1", "None"), ("edit", "42", "m1", "changed"),
            ("react", "42", "m1", "👍", "False"), ("react", "42", "m1", "👍", "True"),
            ("read", "42", "m2"), ("delete", "42", "m1")]
        assert not b_prov.ops, "the process not running the account never runs them"

        # the owner's refusal comes back as it is; a capability check is answered at once
        gone = f"{base}/42/messages/nope"
        assert await b.call("PATCH", gone, {"text": "x"}) == \
            await a.call("PATCH", gone, {"text": "x"})
        status, body = await b.post(f"{gone}/reactions", {"emoji": "👍"})
        assert status == 404 and body["error"]["code"] == "message_not_found", body

        # files and downloads (byte streams) are the owner's alone: a retryable 503 elsewhere
        status, body = await upload(b, acc, "42", png(), "p.png", "image/png")
        assert status == 503 and body["error"]["code"] == "runtime_unavailable", body
        response = await b.client.get(f"{base}/42/messages/m1/attachments/0",
                                      headers={"Authorization": f"Bearer {b.key}"})
        assert response.status_code == 503 and response.headers["Retry-After"]
        assert (await response.get_json())["error"]["code"] == "runtime_unavailable"
        assert not a_prov.sent
