"""``unifyport serve`` as a real process: first start, an account over HTTP, clean SIGTERM."""

from __future__ import annotations

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
