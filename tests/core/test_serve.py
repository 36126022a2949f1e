"""``unifyport serve`` as a real process: first start, an account over HTTP, clean SIGTERM."""

from __future__ import annotations

import contextlib
import gc
import io
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.support.gateway import CORE_ONLY, make_settings
from unifyport.collector import YOUNG_THRESHOLD
from unifyport.http.app import create_app, tune_garbage_collector


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(port: int, proc: subprocess.Popen[str], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("server did not become ready")


def request(port: int, method: str, path: str, key: str, body: object = None
            ) -> tuple[int, dict[str, object]]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                 headers={"Authorization": f"Bearer {key}",
                                          "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_serve_first_start_account_and_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNIFYPORT_")}
    proc = subprocess.Popen([sys.executable, "-m", "unifyport.cli.main", "serve", "--port",
                             str(port)], cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_ready(port, proc)
        data = tmp_path / "data"
        key_file = data / "admin-api-key"
        key = key_file.read_text().strip()
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert stat.S_IMODE((data / "master.key").stat().st_mode) == 0o600
        status, body = request(port, "POST", "/v1/accounts", key, {
            "provider": "telegram", "auth_mode": "nope"})
        assert status == 422 and body["error"]["code"] in ("unsupported_auth_mode",
                                                           "unknown_provider")
        status, body = request(port, "GET", "/v1/accounts", key)
        assert status == 200 and body == {"data": [], "next_cursor": None}
        status, body = request(port, "GET", "/v1/accounts", "upk_wrong")
        assert status == 401
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert out.count(key) == 1, "the admin key is printed exactly once"
    assert key not in err


def test_serve_refuses_bad_config_with_exit_2(tmp_path: Path) -> None:
    (tmp_path / "unifyport.toml").write_text("[server]\nport = -1\n")
    result = subprocess.run([sys.executable, "-m", "unifyport.cli.main", "serve"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 2
    assert "server.port" in result.stderr.strip().splitlines()[-1]


async def test_sigterm_lets_in_flight_requests_finish(tmp_path: Path) -> None:
    """In-process hypercorn: a step that takes a while still answers 200 after SIGTERM."""
    import asyncio
    import dataclasses

    import aiohttp

    from tests.support.gateway import CORE_ONLY, make_settings
    from tests.support.testprovider import TestPlugin
    from unifyport.cli.serve import _serve
    from unifyport.http.app import create_app

    port = free_port()
    settings = make_settings(tmp_path / "data", CORE_ONLY)
    settings = dataclasses.replace(settings, server=dataclasses.replace(settings.server,
                                                                          port=port))
    plugin = TestPlugin()
    app = create_app(settings, extra_plugins=(("testprov", plugin),))
    server = asyncio.create_task(_serve(app, settings))
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as http:
        for _ in range(500):
            try:
                async with http.get(f"{base}/ready") as r:
                    if r.status == 200:
                        break
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.02)
        key = (settings.storage.data_dir / "admin-api-key").read_text().strip()
        auth = {"Authorization": f"Bearer {key}"}
        async with http.post(f"{base}/v1/accounts", headers=auth, json={
                "provider": "testprov", "auth_mode": "code",
                "provider_data": {"api_id": 1, "api_hash": "h", "phone": "+15551234567"}}) as r:
            acc = (await r.json())["id"]
        plugin.provider.step_delay = 0.5
        slow = asyncio.create_task(http.post(f"{base}/v1/accounts/{acc}/auth/session/start",
                                             headers=auth))
        await asyncio.sleep(0.2)
        os.kill(os.getpid(), signal.SIGTERM)
        response = await slow
        assert response.status == 200
        assert (await response.json())["status"] == "awaiting_code"
    assert await asyncio.wait_for(server, 15) == 0


async def test_serving_tunes_the_garbage_collector_and_restores_it(tmp_path: Path) -> None:
    """What `serve` registers: start-up objects frozen, young collections less often while
    serving, Python's thresholds back afterwards."""
    before = gc.get_threshold()
    app = create_app(make_settings(tmp_path / "data", CORE_ONLY))
    app.while_serving(tune_garbage_collector)
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the first-start admin key notice
            async with app.test_app():
                assert gc.get_threshold()[0] == YOUNG_THRESHOLD != before[0]
                assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == before
    finally:
        gc.unfreeze()
