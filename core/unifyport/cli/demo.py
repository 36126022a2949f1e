"""``unifyport demo``: everything a first look needs, in one command.

Starts the Telegram sandbox (``unifyport sandbox telegram``, as a child process: the core
never imports a plugin), a gateway configured against it in a temporary data directory,
three sandbox users (one with 2FA) and a webhook receiver that prints what it is sent; then
prints the console address, the admin key and how to play the phone's part. Ctrl-C stops
everything and deletes the directory.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import secrets
import signal
import socket
import sys
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

API_ID, API_HASH = 12345, "0123456789abcdef0123456789abcdef"
"""What the sandbox accepts as a Telegram app's credentials."""
PASSWORD_2FA = "demo-2fa"  # noqa: S105 - a sandbox user's published demo password
USERS = (("+15550000001", "Ada", None), ("+15550000002", "Bob", PASSWORD_2FA),
         ("+15550000003", "Carol", None))
START_TIMEOUT = 60.0


@dataclass
class Demo:
    url: str
    key: str
    control_url: str
    users: dict[str, dict[str, Any]]
    """By first name: the sandbox's view of each user (``id``, ``phone``...)."""
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    """What the webhook receiver got: ``headers`` and ``body`` of each delivery."""


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("demo", parents=[common],
                       help="run a gateway against a local Telegram sandbox, with a console")
    p.add_argument("--port", type=int, default=8300, help="the gateway's port (default 8300)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_main(args.port))
    except DemoError as exc:
        print(f"unifyport demo: {exc}", file=sys.stderr)
        return 1


class DemoError(Exception):
    pass


async def _main(port: int) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    with tempfile.TemporaryDirectory(prefix="unifyport-demo-") as tmp:
        async with running_demo(Path(tmp), port=port, echo=print) as demo:
            print(instructions(demo), flush=True)
            await stop.wait()
            print("\nStopping…", flush=True)
    return 0


def instructions(demo: Demo) -> str:
    ada, carol = demo.users["Ada"], demo.users["Carol"]
    ctl = demo.control_url
    json_header = "-H 'Content-Type: application/json'"
    return f"""
UnifyPort demo: a gateway on a local Telegram sandbox (no network needed). Ctrl-C stops it all.

  Console   {demo.url}/console
  API key   {demo.key}    (paste it into the console's sign-in form)
  API docs  {demo.url}/docs

Create a Telegram account in the console with App ID {API_ID} and App hash {API_HASH}.
Sandbox users: Ada {USERS[0][0]}, Bob {USERS[1][0]} (2FA password: {PASSWORD_2FA}),
Carol {USERS[2][0]}.

  The login code the sandbox "sent" (after the console's start step):
    curl -s {ctl}/codes/{ada['phone']}
  Scan the QR as Ada (the link is under the QR code in the console):
    curl -s -X POST {ctl}/qr/accept {json_header} -d '{{"user_id": {ada['id']}, "token": "tg://login?token=..."}}'
  Carol writes to Ada (start Ada's runtime first; watch the console's Events page):
    curl -s -X POST {ctl}/messages {json_header} \\
      -d '{{"to_user_id": {ada['id']}, "from_user_id": {carol['id']}, "text": "Hello"}}'

Webhook deliveries are printed below as they arrive.
"""


@asynccontextmanager
async def running_demo(workdir: Path, *, port: int = 0, qr_ttl: float = 30.0,
                       echo: Callable[[str], None] | None = None) -> AsyncIterator[Demo]:
    """The sandbox, the receiver and the gateway, until the block ends."""
    async with _sandbox(workdir / "sandbox", qr_ttl) as sandbox, \
            aiohttp.ClientSession() as http, _receiver(echo) as (hook_url, deliveries):
        users = {}
        for phone, name, password in USERS:
            async with http.post(sandbox["control"] + "/users", json={
                    "phone": phone, "first_name": name, "password": password}) as resp:
                if resp.status >= 400:
                    raise DemoError(f"the sandbox refused user {name}: {await resp.text()}")
                users[name] = await resp.json()
        config = workdir / "unifyport.toml"
        config.write_text(_toml(workdir / "data", sandbox, hook_url), encoding="utf-8")
        async with _gateway(config, port, http) as (url, key):
            yield Demo(url, key, sandbox["control"], users, deliveries)


def _toml(data_dir: Path, sandbox: dict[str, Any], hook_url: str) -> str:
    dcs = "\n".join(f'"{i}" = "{address}"' for i, address in sandbox["dcs"].items())
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    return f"""[storage]
data_dir = {json.dumps(str(data_dir))}
[security]
outbound_allow_cidrs = ["127.0.0.1/32"]
[plugins.telegram]
timeout = 10
[plugins.telegram.server]
dc_id = {sandbox["dc_id"]}
address = "{sandbox["mtproto"]}"
public_key_file = {json.dumps(sandbox["public_key_file"])}
[plugins.telegram.server.dcs]
{dcs}
[[plugins.webhook.endpoints]]
name = "demo"
url = "{hook_url}"
secret = "{secret}"
"""


@asynccontextmanager
async def _sandbox(state_dir: Path, qr_ttl: float) -> AsyncIterator[dict[str, Any]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "unifyport.cli.main", "sandbox", "telegram",
        "--state-dir", str(state_dir), "--qr-ttl", str(qr_ttl),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        start_new_session=True)  # Ctrl-C reaches the demo only: the gateway stops first,
    try:                         # then the sandbox (no reconnect errors from its clients)
        assert proc.stdout is not None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), START_TIMEOUT)
        except TimeoutError:
            line = b""
        if not line:
            raise DemoError("the Telegram sandbox did not start (is the telegram plugin "
                            "installed? pip install 'unifyport[telethon]')")
        yield json.loads(line)
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()


@asynccontextmanager
async def _receiver(echo: Callable[[str], None] | None
                    ) -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """A webhook receiver on 127.0.0.1: records (and prints) each delivery, answers 204."""
    deliveries: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        deliveries.append({"headers": {k.lower(): v for k, v in request.headers.items()},
                           "body": body})
        if echo is not None:
            kind = json.loads(body).get("type", "?") if body else "?"
            echo(f"webhook <- {kind} ({request.headers.get('webhook-id', '')})")
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/hook", deliveries
    finally:
        await runner.cleanup()


@asynccontextmanager
async def _gateway(config: Path, port: int, http: aiohttp.ClientSession
                   ) -> AsyncIterator[tuple[str, str]]:
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    from unifyport.config import load_settings
    from unifyport.http.app import create_app

    settings = load_settings(config)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as exc:
        sock.close()
        raise DemoError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror} "
                        "(choose another with --port)") from None
    sock.listen(128)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    hconfig = Config()
    hconfig.bind = [f"fd://{sock.detach()}"]
    hconfig.accesslog = None
    hconfig.graceful_timeout = 5
    stop = asyncio.Event()
    app = create_app(settings)
    server = asyncio.create_task(serve(app, hconfig, shutdown_trigger=stop.wait))
    try:
        await _ready(url, http, server)
        key = (settings.storage.data_dir / "admin-api-key").read_text().strip()
        yield url, key
    finally:
        stop.set()
        with suppress(Exception):
            await asyncio.wait_for(server, 15)


async def _ready(url: str, http: aiohttp.ClientSession, server: asyncio.Task[None]) -> None:
    for _ in range(int(START_TIMEOUT / 0.1)):
        if server.done():
            raise DemoError(f"the gateway stopped during start-up: {server.exception()!r}")
        with suppress(aiohttp.ClientError):
            async with http.get(url + "/ready") as resp:
                if resp.status == 200:
                    return
        await asyncio.sleep(0.1)
    raise DemoError("the gateway did not become ready")
