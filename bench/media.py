"""Media through the gateway (for the record, not a timed test): a file of ``--mb`` MB
(default 50) sent through ``POST /v1/accounts/{id}/messages`` as a multipart upload, then
downloaded back through its attachment route; upload and download throughput, and how much
the gateway's resident memory grew over its baseline while doing it (it must stay within
~10 MB: files are streamed, never held whole).

The gateway runs as its own process (``unifyport serve``) so its RSS is its own; the channel's
far side (a local Synapse, the MTProto sandbox: ``telegram`` is the Telethon backend,
``telegram-pyrogram`` Kurigram) runs beside it. Channels plug in as a :class:`Channel` in
``CHANNELS``; ``--provider`` picks one (default: all).

    .venv/bin/python bench/media.py [--mb 50] [--provider matrix]
"""

from __future__ import annotations

import abc
import argparse
import asyncio
import hashlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repo's tests package

from api import call, free_port, start_sandbox, stop, wait_up  # bench/api.py, beside this

from tests.matrix.synapse import Synapse

LIMIT_MB = 10.0
port_pid: dict[int, int] = {}
"""The gateway process of each port."""


class Channel(abc.ABC):
    """A channel's far side for the bench."""

    name: str

    @abc.abstractmethod
    def start(self, tmp: Path) -> str:
        """Start the far side; the gateway's extra TOML for it."""

    @abc.abstractmethod
    def online_account(self, port: int, key: str) -> tuple[str, str]:
        """An account logged in and running on the gateway, and a chat it may send to."""

    def stop(self) -> None:
        return None


class MatrixChannel(Channel):
    name = "matrix"

    def start(self, tmp: Path) -> str:
        self.hs = Synapse(tmp / "synapse")
        self.hs.start()
        return "[plugins.matrix]\nsync_timeout = 5\n"

    def online_account(self, port: int, key: str) -> tuple[str, str]:
        me, friend = self.hs.new_user(), self.hs.new_user("friend")
        room = self.hs.direct_room(friend, me)
        status, body = call(port, key, "POST", "/v1/accounts", {
            "provider": "matrix", "auth_mode": "token",
            "provider_data": {"homeserver": self.hs.url}})
        assert status == 201, body
        acc = str(body["id"])
        status, body = call(port, key, "POST", f"/v1/accounts/{acc}/auth/session/import",
                            {"params": {"access_token": me["access_token"]}})
        assert status == 200 and body["status"] == "authorized", body
        return acc, room

    def stop(self) -> None:
        self.hs.stop()


class TelegramChannel(Channel):
    """The MTProto sandbox in its own process; the account logs in with a code."""

    name = "telegram"
    backend = "telethon"

    def start(self, tmp: Path) -> str:
        self.proc, self.sb = start_sandbox(tmp)
        dcs = "\n".join(f'"{k}" = "{v}"' for k, v in self.sb["dcs"].items())
        return (f'[plugins.telegram]\nbackend = "{self.backend}"\ntimeout = 60\n'
                f'[plugins.telegram.server]\ndc_id = {self.sb["dc_id"]}\n'
                f'address = "{self.sb["mtproto"]}"\n'
                f'public_key_file = "{self.sb["public_key_file"]}"\n'
                f"[plugins.telegram.server.dcs]\n{dcs}\n")

    def _control(self, method: str, path: str, body: Any = None) -> Any:
        import json
        import urllib.request
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.sb["control"] + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def online_account(self, port: int, key: str) -> tuple[str, str]:
        phone = "+15558880001"
        self._control("POST", "/users", {"phone": phone, "first_name": "Bench"})
        friend = self._control("POST", "/users", {"phone": "+15558880002",
                                                  "first_name": "Friend"})
        status, body = call(port, key, "POST", "/v1/accounts", {
            "provider": "telegram", "auth_mode": "code", "provider_data": {
                "api_id": 12345, "api_hash": "0123456789abcdef0123456789abcdef",
                "phone": phone}})
        assert status == 201, body
        acc = str(body["id"])
        status, body = call(port, key, "POST", f"/v1/accounts/{acc}/auth/session/start")
        assert status == 200, body
        code = self._control("GET", f"/codes/{phone}")["code"]
        status, body = call(port, key, "POST", f"/v1/accounts/{acc}/auth/session/code",
                            {"code": code})
        assert status == 200 and body["status"] == "authorized", body
        return acc, str(friend["id"])

    def stop(self) -> None:
        stop(self.proc)


class KurigramChannel(TelegramChannel):
    name = "telegram-pyrogram"
    backend = "pyrogram"


CHANNELS: dict[str, type[Channel]] = {"matrix": MatrixChannel, "telegram": TelegramChannel,
                                      "telegram-pyrogram": KurigramChannel}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class PeakRss:
    """Samples a process's RSS every 10 ms in a thread; ``peak`` is the highest seen."""

    def __init__(self, pid: int, record: list[float] | None = None) -> None:
        self.pid, self.peak, self._stop, self.record = pid, 0.0, threading.Event(), record
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mb(self.pid))
            time.sleep(0.01)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb(self.pid))
        if self.record is not None:
            self.record.append(self.peak)


def make_file(path: Path, mb: int) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as f:
        for _ in range(mb):
            chunk = os.urandom(1 << 20)
            digest.update(chunk)
            f.write(chunk)
    return digest.hexdigest()


async def round_trip(port: int, key: str, acc: str, chat: str, path: Path,
                     peaks: list[float] | None = None) -> tuple[float, float, str]:
    """(upload seconds, download seconds, sha256 of what came back); with ``peaks``, the
    gateway's peak RSS of each phase is appended to it."""
    base, headers = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {key}"}
    timeout = aiohttp.ClientTimeout(total=1800)
    async with aiohttp.ClientSession(headers=headers, timeout=timeout) as http:
        with path.open("rb") as f:
            form = aiohttp.FormData()
            form.add_field("chat_id", chat)
            form.add_field("file", f, filename=path.name, content_type="application/octet-stream")
            start = time.perf_counter()
            with PeakRss(port_pid[port], peaks):
                async with http.post(f"{base}/v1/accounts/{acc}/messages", data=form) as resp:
                    sent: dict[str, Any] = await resp.json()
                    assert resp.status == 201, sent
            up = time.perf_counter() - start
        digest = hashlib.sha256()
        start = time.perf_counter()
        with PeakRss(port_pid[port], peaks):
            async with http.get(base + sent["attachments"][0]["download_url"]) as resp:
                assert resp.status == 200, await resp.text()
                async for chunk in resp.content.iter_chunked(1 << 20):
                    digest.update(chunk)
        return up, time.perf_counter() - start, digest.hexdigest()


def bench(channel: Channel, mb: int, tmp: Path) -> None:
    extra = channel.start(tmp)
    cfg, port = tmp / "gateway.toml", free_port()
    cfg.write_text(f'[storage]\ndata_dir = "{tmp / "data"}"\n[security]\n'
                   f'outbound_allow_cidrs = ["127.0.0.1/32"]\n[messaging]\n'
                   f'upload_max_bytes = {(mb + 1) << 20}\n{extra}', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNIFYPORT_")}
    proc = subprocess.Popen([sys.executable, "-m", "unifyport.cli.main", "serve", "--config",
                             str(cfg), "--port", str(port)], cwd=tmp, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    port_pid[port] = proc.pid
    try:
        wait_up(port, proc, "/ready")
        key = (tmp / "data" / "admin-api-key").read_text().strip()
        acc, chat = channel.online_account(port, key)
        call(port, key, "POST", f"/v1/accounts/{acc}/runtime/start")
        deadline = time.monotonic() + 60
        while call(port, key, "GET", f"/v1/accounts/{acc}/runtime")[1]["status"] != "running":
            assert time.monotonic() < deadline, "the runtime did not come online"
            time.sleep(0.2)
        warm, big = tmp / "warm.bin", tmp / "big.bin"
        make_file(warm, 1)
        asyncio.run(round_trip(port, key, acc, chat, warm))  # code paths and pools warmed
        expected = make_file(big, mb)
        time.sleep(1)
        baseline, peaks = rss_mb(proc.pid), []
        up, down, got = asyncio.run(round_trip(port, key, acc, chat, big, peaks))
        assert got == expected, "the file came back different"
        growth = max(peaks) - baseline
        print(f"{channel.name}: {mb} MB up {mb / up:.1f} MB/s ({up:.2f} s), down "
              f"{mb / down:.1f} MB/s ({down:.2f} s); bytes identical")
        print(f"{channel.name}: gateway RSS baseline {baseline:.1f} MB, peak while uploading "
              f"{peaks[0]:.1f} MB, while downloading {peaks[1]:.1f} MB; growth {growth:.1f} MB "
              f"= {growth / LIMIT_MB:.2f} x the {LIMIT_MB:.0f} MB budget "
              f"({'within' if growth <= LIMIT_MB else 'OVER'})")
    finally:
        stop(proc)
        channel.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=50)
    parser.add_argument("--provider", choices=sorted(CHANNELS), action="append")
    args = parser.parse_args()
    for name in args.provider or sorted(CHANNELS):
        with tempfile.TemporaryDirectory() as tmp:
            bench(CHANNELS[name](), args.mb, Path(tmp))


if __name__ == "__main__":
    main()
