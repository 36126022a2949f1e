"""Two gateways on one PostgreSQL with the real client libraries: a QR login started on one
is polled through the other (each poll runs where the waiting client is: the sandbox never
sees the flow's auth key on two connections), then the account runs on one and a send made
through the other goes out through that client."""

from __future__ import annotations

from pathlib import Path

from tests.support.gateway import make_settings, running
from unifyport_telegram.sandbox.testing import RunningSandbox

from .conftest import telegram_toml
from .helpers import create, step, wait_for


async def test_qr_login_and_send_across_processes(tmp_path: Path, sb: RunningSandbox,
                                                  backend: str, import_dir: Path,
                                                  postgres_url: str) -> None:
    settings = make_settings(tmp_path / "data", telegram_toml(sb, backend, import_dir),
                             database_url=postgres_url)
    async with running(settings) as a, running(settings) as b:
        user = await sb.control.create_user("+15550007001", "Vera")
        friend = await sb.control.create_user("+15550007002", "Walt")
        acc = await create(a, "qrcode")
        status, body = await step(a, acc, "qr/start")
        assert status == 200 and body["status"] == "awaiting_qr_scan", body
        for _ in range(3):  # polls reaching b are answered by a's waiting client
            status, polled = await step(b, acc, "qr/check")
            assert (status, polled["status"]) == (200, "awaiting_qr_scan"), polled
            assert polled["qr"]["url"] == body["qr"]["url"]
        await sb.control.accept_qr(body["qr"]["url"], user["id"])

        async def authorized() -> bool:
            status, polled = await step(b, acc, "qr/check")
            assert status == 200, polled
            return polled["status"] == "authorized"

        await wait_for(authorized, "the scan, polled through b")
        assert await sb.control.key_overlaps() == []

        status, _ = await b.post(f"/v1/accounts/{acc}/runtime/start")
        assert status == 200

        async def running_now() -> bool:
            _, rt = await a.get(f"/v1/accounts/{acc}/runtime")
            return rt["status"] == "running"

        await wait_for(running_now, "the runtime")
        status, sent = await a.post(f"/v1/accounts/{acc}/messages",
                                    {"chat_id": friend["id"], "text": "through a"})
        assert status == 201, sent
        inbox = await sb.control.messages(int(friend["id"]))
        assert [m["text"] for m in inbox if not m["out"]] == ["through a"]
        assert await sb.control.key_overlaps() == []
