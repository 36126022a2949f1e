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
