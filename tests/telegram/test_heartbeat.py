"""The runtime's heartbeat: one request per online client a tick, the probe when due, else a
ping; the libraries' own pings off while it runs; a revocation still noticed between pings.
Both backends, against the sandbox."""

from __future__ import annotations

import itertools
import socket
from pathlib import Path
from typing import Any

import pytest
from pyrogram.session.session import Session

from tests.support.gateway import make_settings, running
from tests.support.waiting import wait_for
from unifyport_telegram.backend import TCP_KEEPALIVE
from unifyport_telegram.backends import pyrogram_backend, telethon_backend
from unifyport_telegram.sandbox.testing import RunningSandbox

from .conftest import telegram_toml
from .helpers import authorized, online, revoke_and_see_logout

PINGS = ("ping", "ping_delay_disconnect")


def heartbeat_app(tmp_path: Path, sb: RunningSandbox, backend: str, import_dir: Path,
                  probe_interval: float, ping_interval: float, heartbeat_rate: float = 20
                  ) -> Any:
    return running(make_settings(tmp_path / "data", telegram_toml(
        sb, backend, import_dir, probe_interval=probe_interval, ping_interval=ping_interval,
        heartbeat_rate=heartbeat_rate)))


async def until(sb: RunningSandbox, before: int, user_id: int, method: str
                ) -> list[dict[str, Any]]:
    """The user's requests logged by the sandbox after its first ``before`` entries, once
    three of them are ``method`` (bounded wait)."""
    async def three() -> list[dict[str, Any]] | None:
        log = [r for r in (await sb.control.requests())[before:] if r["user_id"] == user_id]
        return log if sum(r["method"] == method for r in log) >= 3 else None

    return list(await wait_for(three, f"three {method}", attempts=300))


async def test_heartbeat_pings_between_probes(tmp_path: Path, sb: RunningSandbox,
                                              backend: str, import_dir: Path) -> None:
    """``probe_interval = 3600``, ``ping_interval = 1``: a plain ping a second on the same
    connection, no probe (``updates.getState``) yet, no ``ping_delay_disconnect``."""
    async with heartbeat_app(tmp_path, sb, backend, import_dir, 3600, 1) as api:
        acc, me = await authorized(api, sb, "+15550008001")
        await online(api, acc)
        log = await until(sb, len(await sb.control.requests()), me["id"], "ping")
        assert {r["method"] for r in log} == {"ping"}
        assert len({r["connection"] for r in log}) == 1
        assert all(c._disconnect_timer is None for c in sb.sandbox.connections)


async def test_library_pings_are_off_while_the_heartbeat_runs(
        tmp_path: Path, sb: RunningSandbox, backend: str, import_dir: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """With the libraries' ping intervals cut to 0.1 s (Telethon's keep-alive loop,
    Kurigram's ping task, which would otherwise ping every 0.1 s from the start), an online
    client whose heartbeat is all probes (``ping_interval`` 600) sends no ping at all."""
    monkeypatch.setattr(telethon_backend, "KEEPALIVE_EVERY", 0.1)
    monkeypatch.setattr(Session, "PING_INTERVAL", 0.1)
    monkeypatch.setattr(pyrogram_backend, "keep_alive", lambda _session, _interval: None)
    async with heartbeat_app(tmp_path, sb, backend, import_dir, 0.3, 600) as api:
        acc, me = await authorized(api, sb, "+15550008011")
        await online(api, acc)
        log = await until(sb, len(await sb.control.requests()), me["id"], "updates.getState")
        assert [r for r in log if r["method"] in PINGS] == []


async def test_revocation_noticed_by_the_probe_between_pings(
        tmp_path: Path, sb: RunningSandbox, backend: str, import_dir: Path) -> None:
    """Pings do not prove a session (the sandbox answers them for a revoked key too): the
    probe, every second tick here, does."""
    async with heartbeat_app(tmp_path, sb, backend, import_dir, 2, 1) as api:
        acc, me = await authorized(api, sb, "+15550008021")
        await online(api, acc)
        await revoke_and_see_logout(api, sb, acc, me["id"], attempts=400)


async def test_heartbeat_rate_spaces_the_ticks(tmp_path: Path, sb: RunningSandbox,
                                               backend: str, import_dir: Path) -> None:
    """``ping_interval = 1`` but ``heartbeat_rate = 1``: with two clients online each one's
    tick stretches to 2 s, so that together they send one request a second."""
    async with heartbeat_app(tmp_path, sb, backend, import_dir, 3600, 1, 1) as api:
        users = []
        for phone in ("+15550008031", "+15550008032"):
            acc, me = await authorized(api, sb, phone)
            await online(api, acc)
            users.append(me["id"])
        before = len(await sb.control.requests())
        for user in users:
            log = await until(sb, before, user, "ping")
            times = [r["time"] for r in log if r["method"] == "ping"][1:]  # after a full tick
            assert all(b - a >= 1.8 for a, b in itertools.pairwise(times)), times


async def test_online_connections_have_tcp_keepalive(tmp_path: Path, sb: RunningSandbox,
                                                     backend: str, import_dir: Path) -> None:
    """The heartbeat may come minutes apart (``heartbeat_rate``): the kernel's keep-alive
    probes, after a minute of silence, keep a quiet connection known to NATs and load
    balancers and find a dead peer."""
    async with heartbeat_app(tmp_path, sb, backend, import_dir, 60, 60) as api:
        acc, _ = await authorized(api, sb, "+15550008041")
        await online(api, acc)
        assert api.gateway.runtime is not None
        sock = client_socket(api.gateway.runtime.clients[acc].client)
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        for name, value in TCP_KEEPALIVE.items():  # Kurigram's own idle time was 10 s
            assert sock.getsockopt(socket.IPPROTO_TCP, getattr(socket, name)) == value


def client_socket(client: Any) -> Any:
    """The socket of a backend client's main connection (each library's own attributes)."""
    if isinstance(client, telethon_backend.TelethonClient):
        writer = client._client._sender._connection._writer
    else:
        writer = client._client.session.connection.protocol.writer
    return writer.get_extra_info("socket")
