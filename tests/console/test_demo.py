"""``unifyport demo`` as a user runs it: one command brings up the sandbox (with its users),
a gateway and the console; Ctrl-C (SIGINT) stops it all and leaves nothing behind."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

START = 120.0


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_demo_runs_everything_and_ctrl_c_leaves_nothing(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "unifyport.cli.main", "demo", "--port", "0"], cwd=tmp_path,
        env={**os.environ, "TMPDIR": str(tmp_path)}, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout or ()],
                     daemon=True).start()
    out = ""
    try:
        deadline = time.monotonic() + START
        while "Webhook deliveries are printed below" not in out:
            out += lines.get(timeout=max(0.1, deadline - time.monotonic()))
        console = re.search(r"Console\s+(http://127\.0\.0\.1:(\d+))/console", out)
        key = re.search(r"API key\s+(upk_\S+)", out)
        control = re.search(r"curl -s (http://127\.0\.0\.1:\d+)/codes/", out)
        assert console and key and control, out
        base = console.group(1)
        with urllib.request.urlopen(base + "/console/sign-in", timeout=10) as page:
            assert page.status == 200 and b'data-testid="login-api-key"' in page.read()
        request = urllib.request.Request(base + "/v1/providers",
                                         headers={"Authorization": f"Bearer {key.group(1)}"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert "telegram" in [p["name"] for p in json.load(answer)["data"]]
        with urllib.request.urlopen(control.group(1) + "/users", timeout=10) as users:
            listed = json.load(users)
        assert len(listed) == 3 and sum(u["has_password"] for u in listed) == 1
        spawned = children(proc.pid)
        assert spawned, "the sandbox runs as a child process"
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(60)
    assert code == 0, out
    assert all(not Path(f"/proc/{pid}").exists() for pid in spawned)
    assert list(tmp_path.glob("unifyport-demo-*")) == []  # the temporary data dir is gone
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", int(console.group(2)))) != 0
