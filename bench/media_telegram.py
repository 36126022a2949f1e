"""Telegram media through the API (for the record, not a timed test): a ``--mb`` MB file (50
by default) sent by URL and by multipart upload, then downloaded back through the attachment
route, per backend, against the MTProto sandbox.

Prints upload and download throughput and the growth of the gateway's RSS (its peak during
the transfers over its size before them, sampled every 20 ms from ``/proc``). The gateway
(``unifyport serve``), the sandbox and a loopback file server each run in their own process,
so the RSS is the gateway's own; the bench process streams every body from and to disk.

    .venv/bin/python bench/media_telegram.py [--backend telethon|pyrogram|both] [--mb 50]

``bench/media.py`` calls :func:`bench_telegram` for its Telegram rows.
"""

from __future__ import annotations

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
from api import free_port, start_sandbox, stop, wait_up  # bench/api.py, beside this script

from unifyport_telegram.sandbox.testing import API_HASH, API_ID, ControlClient


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Peak:
    """The highest RSS of a process while the block runs (sampled from a thread)."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()

    def __enter__(self) -> Peak:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_mb(self.pid))

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def start_gateway(tmp: Path, backend: str, sb: dict[str, Any]
                  ) -> tuple[subprocess.Popen[bytes], int, str]:
    dcs = "\n".join(f'"{k}" = "{v}"' for k, v in sb["dcs"].items())
    cfg = tmp / f"{backend}.toml"
    cfg.write_text(f"""[storage]
data_dir = "{tmp / backend}"
[security]
outbound_allow_cidrs = ["127.0.0.1/32"]
[plugins.telegram]
backend = "{backend}"
timeout = 60
[plugins.telegram.server]
dc_id = {sb["dc_id"]}
address = "{sb["mtproto"]}"
public_key_file = "{sb["public_key_file"]}"
[plugins.telegram.server.dcs]
{dcs}
""", encoding="utf-8")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNIFYPORT_")}
    proc = subprocess.Popen([sys.executable, "-m", "unifyport.cli.main", "serve", "--config",
                             str(cfg), "--port", str(port)], cwd=tmp, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_up(port, proc, "/ready")
    return proc, port, (tmp / backend / "admin-api-key").read_text().strip()


def serve_file(path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``python -m http.server`` on loopback in its own process, serving ``path``'s folder."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind",
                             "127.0.0.1", "--directory", str(path.parent)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_up(port, proc, "/")
    return proc, f"http://127.0.0.1:{port}/{path.name}"


async def online_account(http: aiohttp.ClientSession, base: str, control: ControlClient,
                         phone: str) -> tuple[str, dict[str, Any]]:
    me = await control.create_user(phone, "Bench")
    async with http.post(f"{base}/v1/accounts", json={
            "provider": "telegram", "auth_mode": "code",
            "provider_data": {"api_id": API_ID, "api_hash": API_HASH, "phone": phone}}) as r:
        acc = (await r.json())["id"]
    async with http.post(f"{base}/v1/accounts/{acc}/auth/session/start", json={}) as r:
        assert r.status == 200, await r.text()
    code = await control.get_code(phone)
    async with http.post(f"{base}/v1/accounts/{acc}/auth/session/code",
                         json={"code": code}) as r:
        assert (await r.json())["status"] == "authorized"
    async with http.post(f"{base}/v1/accounts/{acc}/runtime/start") as r:
        assert r.status == 200, await r.text()
    for _ in range(600):
        async with http.get(f"{base}/v1/accounts/{acc}/runtime") as r:
            if (await r.json())["status"] == "running":
                return acc, me
        await asyncio.sleep(0.05)
    raise RuntimeError("the account never came online")


async def download(http: aiohttp.ClientSession, url: str) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    async with http.get(url) as r:
        assert r.status == 200, await r.text()
        async for chunk in r.content.iter_chunked(256 * 1024):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


async def bench_telegram(backend: str, root: Path, mb: int) -> list[str]:
    """Rows of figures for one backend."""
    tmp = root / backend
    tmp.mkdir()
    big = tmp / "files" / "big.bin"
    big.parent.mkdir()
    with big.open("wb") as f:
        for _ in range(mb):
            f.write(os.urandom(1024 * 1024))
    want = hashlib.sha256(big.read_bytes()).hexdigest()
    size = big.stat().st_size
    sb_proc, sb = start_sandbox(tmp)
    gw_proc, port, key = start_gateway(tmp, backend, sb)
    files_proc, url = serve_file(big)
    control = ControlClient(sb["control"])
    base = f"http://127.0.0.1:{port}"
    rows: list[str] = []
    try:
        headers = {"Authorization": f"Bearer {key}"}
        timeout = aiohttp.ClientTimeout(total=600)
        async with aiohttp.ClientSession(headers=headers, timeout=timeout) as http:
            acc, _me = await online_account(http, base, control, "+15558880001")
            friend = await control.create_user("+15558880002", "Friend")
            before = rss_mb(gw_proc.pid)
            with Peak(gw_proc.pid) as by_url_peak:
                t0 = time.perf_counter()
                async with http.post(f"{base}/v1/accounts/{acc}/messages", json={
                        "chat_id": str(friend["id"]), "attachments": [{"url": url}]}) as r:
                    sent = await r.json()
                    assert r.status == 201, sent
                by_url = time.perf_counter() - t0
            form = aiohttp.FormData()
            form.add_field("chat_id", str(friend["id"]))
            with big.open("rb") as f, Peak(gw_proc.pid) as upload_peak:
                form.add_field("file", f, filename="big.bin",
                               content_type="application/octet-stream")
                t0 = time.perf_counter()
                async with http.post(f"{base}/v1/accounts/{acc}/messages", data=form) as r:
                    assert r.status == 201, await r.text()
                by_upload = time.perf_counter() - t0
            with Peak(gw_proc.pid) as down_peak:
                t0 = time.perf_counter()
                digest, got = await download(http, base + sent["attachments"][0]["download_url"])
                down = time.perf_counter() - t0
            assert (digest, got) == (want, size), "the bytes downloaded differ"
        rate = size / 1024 / 1024
        peak = max(by_url_peak.peak, upload_peak.peak, down_peak.peak)
        rows += [
            f"[telegram/{backend}] send {mb} MB by URL: {by_url:.1f} s, {rate / by_url:.1f} MB/s"
            f" (RSS peak +{by_url_peak.peak - before:.1f} MB)",
            f"[telegram/{backend}] send {mb} MB by multipart upload: {by_upload:.1f} s, "
            f"{rate / by_upload:.1f} MB/s (RSS peak +{upload_peak.peak - before:.1f} MB)",
            f"[telegram/{backend}] download {mb} MB through the API: {down:.1f} s, "
            f"{rate / down:.1f} MB/s, bytes equal (RSS peak +{down_peak.peak - before:.1f} MB)",
            f"[telegram/{backend}] gateway RSS {before:.0f} MB before, peak {peak:.0f} MB: "
            f"growth {peak - before:.1f} MB (bound ~10 MB)",
        ]
    finally:
        await control.close()
        for proc in (files_proc, gw_proc, sb_proc):
            stop(proc)
    return rows


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=["telethon", "pyrogram", "both"], default="both")
    parser.add_argument("--mb", type=int, default=50)
    args = parser.parse_args()
    backends = ["telethon", "pyrogram"] if args.backend == "both" else [args.backend]
    with tempfile.TemporaryDirectory(prefix="bench-media-tg-") as tmp:
        for backend in backends:
            for row in await bench_telegram(backend, Path(tmp), args.mb):
                print(row, flush=True)


if __name__ == "__main__":
    asyncio.run(main())
