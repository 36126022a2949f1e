"""``serve`` binds first: a port in use is one line naming the address, exit 2, nothing made."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path


def test_port_in_use_is_one_line_before_anything(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("UNIFYPORT_")}
        result = subprocess.run([sys.executable, "-m", "unifyport.cli.main", "serve",
                                 "--port", str(port)], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"127.0.0.1:{port}" in lines[0] and "in use" in lines[0]
    assert result.stdout == "", "no admin key (nor anything else) printed"
    assert not (tmp_path / "data").exists(), "no database or master key created"


def test_second_serve_on_one_sqlite_database_names_the_holder(tmp_path: Path) -> None:
    from tests.core.test_serve import free_port, wait_ready

    env = {k: v for k, v in os.environ.items() if not k.startswith("UNIFYPORT_")}
    serve = [sys.executable, "-m", "unifyport.cli.main", "serve", "--port"]
    first = subprocess.Popen([*serve, str(free_port())], cwd=tmp_path, env=env, text=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_ready(int(first.args[-1]), first)  # type: ignore[index]
        result = subprocess.run([*serve, str(free_port())], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=60, check=False)
    finally:
        first.terminate()
        first.communicate(timeout=30)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"pid {first.pid} on {socket.gethostname()}" in lines[0], lines[0]
    assert "unifyport.db" in lines[0] and "in use by another server" in lines[0]
    # once the holder is gone (however it ended) the lock is free again
    again = subprocess.Popen([*serve, str(free_port())], cwd=tmp_path, env=env, text=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_ready(int(again.args[-1]), again)  # type: ignore[index]
    finally:
        again.kill()
        again.communicate(timeout=30)
