"""The messaging routes of the core: 501 for capabilities a provider lacks, uploads spooled to
disk within the caps, URL attachments under the outbound policy, downloads streamed.

The provider here is the test-only stand-in (``tests.support.testprovider``) with files added:
no real peer exists for the generic core. Matrix and Telegram run the same routes for real."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.datastructures import FileStorage

from tests.core.test_runtime import authorized, runtime_is, until
from tests.support.gateway import CORE_ONLY, Api, make_settings, running
from tests.support.testprovider import TestPlugin, TestProvider
from unifyport.sdk import (
    AttachmentStream,
    Chat,
    Message,
    OutgoingMessage,
    SendContext,
    StepError,
)
from unifyport.testing.messaging import serving

CAPS = '[messaging]\nupload_max_bytes = 400000\ndownload_max_bytes = 500000\n' \
       'max_attachments = 2\n[security]\noutbound_allow_cidrs = ["127.0.0.1/32"]\n'
ROUTES = [  # (method, path under the account, body, capability)
    ("GET", "/chats", None, "chats"),
    ("GET", "/chats/c1/messages?limit=5", None, "history"),
    ("GET", "/chats/c1/messages/m1/attachments/0", None, "download"),
    ("PATCH", "/chats/c1/messages/m1", {"text": "new"}, "edit"),
    ("DELETE", "/chats/c1/messages/m1", None, "delete"),
    ("POST", "/chats/c1/messages/m1/reactions", {"emoji": "👍"}, "react"),
    ("DELETE", "/chats/c1/messages/m1/reactions", {"emoji": "👍"}, "react"),
    ("POST", "/chats/c1/read", {"message_id": "m1"}, "read"),
    ("POST", "/messages", {"chat_id": "c1", "attachments": [{"url": "http://x/y"}]}, "media"),
]


class FileProvider(TestProvider):
    """The test provider with ``media`` and ``download``: keeps what it was sent (as
    hashes, checking each file is readable in chunks) and serves files it is given."""

    __test__ = False
    capabilities = frozenset({"receive", "send", "media", "download"})

    def __init__(self) -> None:
        super().__init__()
        self.files: list[tuple[str, str, str, int, str, Path]] = []
        self.served: dict[str, tuple[bytes, bool]] = {}

    async def send(self, ctx: SendContext, message: OutgoingMessage) -> Message:
        for a in message.attachments:
            digest = hashlib.sha256(b"".join([c async for c in a.chunks(1000)])).hexdigest()
            self.files.append((a.kind, a.file_name, a.mime_type, a.size, digest, a.path))
        return Message(id="9", chat=Chat(id=message.chat_id, type="private", title=None),
                       text=message.text, date="2026-01-01T00:00:00Z")

    async def download(self, ctx: SendContext, chat_id: str, message_id: str,
                       index: int) -> AttachmentStream:
        if message_id not in self.served:
            raise StepError("attachment_not_found", "no such file")
        data, sized = self.served[message_id]

        async def chunks() -> AsyncIterator[bytes]:
            for i in range(0, len(data), 65536):
                yield data[i:i + 65536]
        return AttachmentStream("image/png", chunks(), "ph oto.png", len(data) if sized else None)


@pytest.fixture
def files() -> FileProvider:
    return FileProvider()


@pytest.fixture
async def fapi(data_dir: Path, files: FileProvider) -> AsyncIterator[Api]:
    async with running(make_settings(data_dir, CORE_ONLY + CAPS),
                       (("testprov", TestPlugin(files)),)) as client:
        yield client


async def online(api: Api) -> str:
    acc = await authorized(api)
    await api.post(f"/v1/accounts/{acc}/runtime/start")
    await until(runtime_is(api, acc, "running"))
    return acc


async def upload(api: Api, acc: str, parts: list[tuple[str, bytes, str]],
                 fields: dict[str, str] | None = None) -> tuple[int, Any]:
    response = await api.client.post(
        f"/v1/accounts/{acc}/messages", headers={"Authorization": f"Bearer {api.key}"},
        form={"chat_id": "c1", **(fields or {})},
        files={f"file{i}": FileStorage(io.BytesIO(data), filename=name, content_type=mime)
               for i, (name, data, mime) in enumerate(parts)})
    return response.status_code, await response.get_json()


async def test_a_capability_the_provider_lacks_is_501(api: Api) -> None:
    acc = await authorized(api)  # not even online: the capability is checked first
    for method, path, body, capability in ROUTES:
        status, answer = await api.call(method, f"/v1/accounts/{acc}{path}", body)
        assert status == 501, (method, path, answer)
        assert answer["error"] == {"code": "not_supported", "capability": capability,
                                   "message": f"this provider does not support {capability!r}"}
    status, answer = await api.get("/v1/accounts/acc_missing/chats")
    assert (status, answer["error"]["code"]) == (404, "not_found")


async def test_uploads_are_spooled_within_the_caps(fapi: Api, files: FileProvider,
                                                   data_dir: Path) -> None:
    acc = await online(fapi)
    png, doc = os.urandom(300_000), os.urandom(1000)
    status, sent = await upload(fapi, acc, [("../../etc/cat.png", png, "image/png"),
                                            ("notes", doc, "text/plain")],
                                {"text": "two files", "kind": "image,voice"})
    assert status == 201, sent
    assert [f[:4] for f in files.files] == [("image", "cat.png", "image/png", 300_000),
                                            ("voice", "notes", "text/plain", 1000)]
    assert [f[4] for f in files.files] == [hashlib.sha256(png).hexdigest(),
                                           hashlib.sha256(doc).hexdigest()]
    assert not any(f[5].exists() for f in files.files)  # the spool is removed after the send
    status, body = await upload(fapi, acc, [("big.bin", os.urandom(400_001), "a/b")])
    assert (status, body["error"]["code"]) == (413, "file_too_large"), body
    status, body = await upload(fapi, acc, [("f", b"1", "a/b")] * 3)
    assert (status, body["error"]["code"]) == (422, "validation_failed"), body
    status, body = await upload(fapi, acc, [("f", b"1", "a/b")], {"kind": "sticker"})
    assert (status, body["error"]["fields"]) == (422, {"kind": "one of image, video, audio, "
                                                               "voice, file"})
    status, body = await fapi.post(f"/v1/accounts/{acc}/messages", {"chat_id": "c1"})
    assert (status, body["error"]["fields"]) == (422, {"text": "text or an attachment is "
                                                               "required"})
    for raw in (b"--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end",
                b"garbage"):
        response = await fapi.client.post(
            f"/v1/accounts/{acc}/messages", data=raw, headers={
                "Authorization": f"Bearer {fapi.key}",
                "Content-Type": "multipart/form-data; boundary=x"})
        assert response.status_code == 400, await response.get_data()
    assert [p.name for p in data_dir.iterdir() if p.name.startswith("spool-")] == []


@pytest.fixture
async def file_server() -> AsyncIterator[str]:
    async with serving(b"", "application/pdf") as url:
        yield url.replace("/files/document", "/sized/")


async def test_url_attachments_go_through_the_outbound_policy(
        fapi: Api, files: FileProvider, file_server: str) -> None:
    acc = await online(fapi)
    status, sent = await fapi.post(f"/v1/accounts/{acc}/messages", {
        "chat_id": "c1", "text": "", "attachments": [
            {"url": file_server + "5000", "caption": "see this"}]})
    assert status == 201, sent
    assert files.files[0][:4] == ("file", "5000", "application/pdf", 5000)
    for url, code in (("http://10.0.0.1/x", "url_not_allowed"),
                      ("file:///etc/passwd", "url_not_allowed"),
                      (file_server + "400001", "download_failed")):
        status, body = await fapi.post(f"/v1/accounts/{acc}/messages", {
            "chat_id": "c1", "attachments": [{"url": url}]})
        assert 400 <= status < 600 and body["error"]["code"] == code, (url, body)
    await fapi.post(f"/v1/accounts/{acc}/runtime/stop")
    status, body = await fapi.post(f"/v1/accounts/{acc}/messages", {
        "chat_id": "c1", "attachments": [{"url": file_server + "10"}]})
    assert (status, body["error"]["code"]) == (409, "runtime_not_running")


async def test_downloads_stream_within_the_cap(fapi: Api, files: FileProvider) -> None:
    acc = await online(fapi)
    data = os.urandom(450_000)
    files.served = {"m1": (data, True), "big": (data + data, True), "open": (data + data, False)}
    headers = {"Authorization": f"Bearer {fapi.key}"}
    base = f"/v1/accounts/{acc}/chats/c1/messages"
    response = await fapi.client.get(f"{base}/m1/attachments/0", headers=headers)
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert response.headers["Content-Disposition"] == "attachment; filename*=UTF-8''ph%20oto.png"
    assert await response.get_data() == data
    status, body = await fapi.get(f"{base}/big/attachments/0")
    assert (status, body["error"]["code"]) == (413, "file_too_large")
    response = await fapi.client.get(f"{base}/open/attachments/0", headers=headers)
    assert len(await response.get_data()) <= 500_000  # cut at the cap: size unknown ahead
    status, body = await fapi.get(f"{base}/nope/attachments/0")
    assert (status, body["error"]["code"]) == (404, "attachment_not_found")
    status, body = await fapi.get(f"{base}/m1/attachments/-1")
    assert status == 404
