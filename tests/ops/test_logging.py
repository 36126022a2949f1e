"""Logging: levels and formats from the configuration, request ids, quiet and rate-limited
libraries, redacted values, one "Running on", one line at graceful shutdown."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.core.test_serve import free_port, wait_ready
from tests.support.gateway import CORE_ONLY, make_settings, running
from tests.support.logcapture import captured_log
from unifyport import hookimpl
from unifyport.logs import RateLimit, redact
from unifyport.plugins.routes import Route, RouteRequest
from unifyport.settings import LoggingSettings, Settings

own = logging.getLogger("unifyport.ops_test")
library = logging.getLogger("somelibrary.network")


class ChattyPlugin:
    """A plugin route that logs as a request handler and a client library would, and
    starts a long-lived task that logs after the request has ended."""

    def __init__(self) -> None:
        self.later = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []

    @hookimpl
    def register_routes(self, register: Callable[[Route], None], settings: Settings,
                        sinks: Any) -> None:
        async def chatty(req: RouteRequest) -> tuple[int, Any]:
            own.info("handling %s", req.path_params["n"])
            started = asyncio.Event()
            self.tasks.append(asyncio.create_task(self._background(req.path_params["n"],
                                                                   started)))
            await started.wait()
            own.debug("debug detail")
            for attempt in range(5):
                library.warning("Attempt %d at connecting failed: %s", attempt, "refused")
            library.info("Connecting to DC2 (Production)")
            library.error("Request caused struct.error: %s: %s", "int too large",
                          "SendMessageRequest(peer=InputPeerUser(user_id=5), "
                          "message='the body', reply_to=4294967296, random_id=b'\\x01')")
            return 200, {"ok": True}

        register(Route("GET", "/v1/chatty/<n>", chatty))

    async def _background(self, n: str, started: asyncio.Event) -> None:
        own.info("helper of %s", n)
        started.set()
        await self.later.wait()
        own.info("background of %s", n)


@pytest.mark.parametrize("fmt", ["text", "json"])
async def test_request_lines_carry_its_id_and_libraries_are_quiet(tmp_path: Path,
                                                                   fmt: str) -> None:
    settings = make_settings(tmp_path / "data", CORE_ONLY)
    plugin = ChattyPlugin()
    with captured_log(LoggingSettings(format=fmt)) as out:
        async with running(settings, (("chatty", plugin),)) as api:
            response = await api.client.get("/v1/chatty/7", headers={
                "Authorization": f"Bearer {api.key}", "X-Request-Id": "client-req-1"})
            assert response.headers["X-Request-Id"] == "client-req-1"
            response = await api.client.get("/v1/chatty/8", headers={
                "Authorization": f"Bearer {api.key}", "X-Request-Id": "bad id with spaces"})
            generated = response.headers["X-Request-Id"]
            assert generated.startswith("req_")
            plugin.later.set()
            await asyncio.gather(*plugin.tasks)
    text = out.getvalue()
    lines = text.splitlines()
    if fmt == "json":
        records = [json.loads(line) for line in lines]
        mine = [(r["message"], r.get("request_id")) for r in records
                if r["logger"] == own.name]
        assert sorted(mine) == sorted([
            ("handling 7", "client-req-1"), ("helper of 7", "client-req-1"),
            ("handling 8", generated), ("helper of 8", generated),
            ("background of 7", None), ("background of 8", None)])
        assert all(r["level"] in ("info", "warning", "error") for r in records)
    else:
        assert any("[client-req-1]: handling 7" in line for line in lines)
        assert any(f"[{generated}]: handling 8" in line for line in lines)
    assert "debug detail" not in text  # level info
    assert "Connecting to DC2" not in text  # a library's info: quiet
    assert "alembic" not in text  # migrations ran, silently
    attempts = [line for line in lines if "at connecting failed" in line]
    assert len(attempts) == 1, "a repeated library warning once per window (5 then 5 more)"
    assert "the body" not in text and "message='<redacted>'" in text
    assert "Request caused struct.error" in text


async def test_debug_level_and_environment_override(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", CORE_ONLY, env={
        "UNIFYPORT_LOGGING__LEVEL": "debug", "UNIFYPORT_LOGGING__FORMAT": "json",
        "UNIFYPORT_LOGGING__LIBRARIES": "info"})
    assert settings.logging == LoggingSettings(level="debug", format="json", libraries="info")
    with captured_log(settings.logging) as out:
        async with running(settings, (("chatty", ChattyPlugin()),)) as api:
            await api.client.get("/v1/chatty/1", headers={"Authorization": f"Bearer {api.key}"})
    text = out.getvalue()
    assert "debug detail" in text and "Connecting to DC2" in text


def test_rate_limit_says_how_many_were_suppressed() -> None:
    limit = RateLimit(window=0.0)
    record = logging.LogRecord("lib", logging.WARNING, __file__, 1, "retry %d", (1,), None)
    assert limit.filter(record) and getattr(record, "suppressed", 0) == 0
    limit.window = 3600.0
    for _ in range(3):
        assert not limit.filter(logging.LogRecord("lib", logging.WARNING, __file__, 1,
                                                  "retry %d", (2,), None))
    limit.window = 0.0
    again = logging.LogRecord("lib", logging.WARNING, __file__, 1, "retry %d", (3,), None)
    assert limit.filter(again) and again.suppressed == 3


@pytest.mark.parametrize(("raw", "shown"), [
    ("SendMessageRequest(message='hi there', silent=False)",
     "SendMessageRequest(message='<redacted>', silent=False)"),
    ('{"_": "types.Message", "message": "hi", "id": 5}',
     """{"_": '<redacted>', "message": '<redacted>', "id": 5}"""),
    ("InputCheckPasswordSRP(A=b'\\x01\\x02', M1=b\"\\x03\")",
     "InputCheckPasswordSRP(A='<redacted>', M1='<redacted>')"),
    ("signIn(phone_number='+15550001', phone_code='12345')",
     "signIn(phone_number='<redacted>', phone_code='<redacted>')"),
    ("account acc_1 runtime error: ConnectionError: refused", None),
])
def test_redaction(raw: str, shown: str | None) -> None:
    assert redact(raw) == (raw if shown is None else shown)


def test_serve_json_lines_running_on_once_and_one_line_at_shutdown(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNIFYPORT_")}
    env["UNIFYPORT_LOGGING__FORMAT"] = "json"
    proc = subprocess.Popen([sys.executable, "-m", "unifyport.cli.main", "serve", "--port",
                             str(port)], cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_ready(port, proc)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
            assert r.status == 200
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    records = [json.loads(line) for line in err.splitlines()]
    messages = [r["message"] for r in records]
    assert sum("Running on" in m for m in messages) == 1, messages
    assert not any(r["logger"].startswith("alembic") for r in records), messages
    running_at = next(i for i, m in enumerate(messages) if "Running on" in m)
    after = messages[running_at + 1:]
    assert len(after) == 1 and after[0].startswith("unifyport stopped (SIGTERM)"), after
