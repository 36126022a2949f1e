"""The fuzz stage: Schemathesis, stateless, over every operation of ``/openapi.json`` of a
gateway served by hypercorn on 127.0.0.1 with the test-only provider and the Telegram
provider (pointed at an in-process sandbox). No call may answer a server error or take
longer than ``CALL_BOUND``; the event loop serving them is watched. Figures are printed."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.fixtures import figures
from tests.support.gateway import make_settings
from tests.support.testprovider import TestPlugin
from tests.telegram.conftest import telegram_toml
from unifyport.http.app import create_app
from unifyport.loopwatch import LoopWatchdog
from unifyport_telegram.sandbox.testing import running_sandbox

EXAMPLES = 25
"""Examples per operation (with ~30 operations: about a minute in all)."""
CALL_BOUND = 5.0
"""Longest a single call may take (seconds)."""
LOOP_BOUND = 0.1
"""Longest the server's event loop may be kept busy at a stretch (seconds)."""
KNOWN_DEFECTS: dict[str, str] = {}
"""Operations left out of the assertion, each naming the defect that keeps it out."""


@dataclass
class Served:
    url: str
    key: str
    watchdog: LoopWatchdog
    calls: int = 0
    longest: float = 0.0
    errors: list[str] = field(default_factory=list)
    schema_breaks: list[str] = field(default_factory=list)


SCHEMA_CHECKS = (status_code_conformance, content_type_conformance, response_schema_conformance)
"""Every answer is one the OpenAPI document lists, with the content type and body it says."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _in_thread(main: Callable[[threading.Event], Awaitable[None]], stop: threading.Event
               ) -> tuple[threading.Thread, dict[str, Any], threading.Event]:
    """Run ``main(ready)`` on its own event loop in a thread; ``stop`` ends it."""
    ready, out = threading.Event(), {}

    def run() -> None:
        try:
            asyncio.run(main(ready))
        except BaseException as exc:  # reported by the fixture
            out["error"] = exc
            ready.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out, ready


async def _until(stop: threading.Event) -> None:
    await asyncio.to_thread(stop.wait)


WEBHOOK_TOML = """
[[plugins.webhook.endpoints]]
name = "fuzz"
url = "http://127.0.0.1:{port}/hook"
secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The sandbox and the gateway, each on its own loop and thread (the sandbox's
    cryptography must not be counted against the gateway's loop)."""
    tmp = tmp_path_factory.mktemp("fuzz")
    (tmp / "imports").mkdir()
    port, stop, shared = _free_port(), threading.Event(), {}

    async def sandbox(ready: threading.Event) -> None:
        async with running_sandbox(tmp / "sandbox") as sb:
            shared["sb"] = sb
            ready.set()
            await _until(stop)

    async def gateway(ready: threading.Event) -> None:
        from hypercorn.asyncio import serve
        from hypercorn.config import Config

        toml = telegram_toml(shared["sb"], "telethon", tmp / "imports")
        app = create_app(make_settings(tmp / "data", toml + WEBHOOK_TOML.format(
            port=_free_port())), extra_plugins=(("testprov", TestPlugin()),))
        config = Config()
        config.bind = [f"127.0.0.1:{port}"]
        config.accesslog = config.errorlog = None
        shared["watchdog"] = dog = LoopWatchdog(LOOP_BOUND)
        done = asyncio.Event()

        @app.while_serving
        async def _watched() -> Any:
            ready.set()
            async with dog.watching():
                yield

        async def stopper() -> None:
            await _until(stop)
            done.set()

        waiter = asyncio.create_task(stopper())
        await serve(app, config, shutdown_trigger=done.wait)  # type: ignore[arg-type]
        await waiter

    threads = []
    try:
        for main in (sandbox, gateway):
            thread, out, ready = _in_thread(main, stop)
            threads.append(thread)
            assert ready.wait(60), "did not start"
            assert "error" not in out, out.get("error")
        key = (tmp / "data" / "admin-api-key").read_text().strip()
        yield Served(f"http://127.0.0.1:{port}", key, shared["watchdog"])
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)


def _openapi() -> dict[str, Any]:
    """The gateway's ``/openapi.json`` (with both providers), read at collection time."""
    async def read() -> dict[str, Any]:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            toml = '[plugins.telegram]\nbackend = "telethon"\n'
            app = create_app(make_settings(Path(tmp) / "data", toml),
                             extra_plugins=(("testprov", TestPlugin()),))
            response = await app.test_client().get("/openapi.json")
            spec = await response.get_json()
            await app.extensions["unifyport"].db.dispose()
            assert isinstance(spec, dict)
            return spec
    return asyncio.run(read())


schema = schemathesis.openapi.from_dict(_openapi())


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: Any, served: Served) -> None:
    started = time.monotonic()
    response = case.call(base_url=served.url, timeout=30,
                         headers={"Authorization": f"Bearer {served.key}"})
    took = time.monotonic() - started
    served.calls += 1
    served.longest = max(served.longest, took)
    label = f"{case.method} {case.path}"
    if response.status_code >= 500 and label not in KNOWN_DEFECTS:
        served.errors.append(f"{case.method} {case.formatted_path}: {response.status_code} "
                             f"{response.text[:200]}")
    try:
        case.validate_response(response, checks=SCHEMA_CHECKS)
    except BaseExceptionGroup as exc:  # schemathesis' failures: the answer breaks the schema
        served.schema_breaks.append(f"{label} {response.status_code}: {str(exc)[:300]}")
    assert response.status_code < 500 or label in KNOWN_DEFECTS, (
        response.status_code, response.text[:300], case.as_curl_command())
    assert took < CALL_BOUND, f"{label} took {took:.1f} s"


def test_figures(served: Served) -> None:
    """After the fuzz cases (file order): the figures, and the loop was never held."""
    figures.report(f"fuzz stage: {served.calls} cases, {len(served.errors)} server errors, "
          f"{len(served.schema_breaks)} answers breaking the schema, longest "
          f"call {served.longest * 1000:.0f} ms, longest loop stall "
          f"{served.watchdog.longest * 1000:.0f} ms wall / "
          f"{served.watchdog.longest_busy * 1000:.0f} ms busy "
          f"(+ {served.watchdog.longest_gc * 1000:.0f} ms garbage collection)")
    assert served.calls > 0 and not served.errors, served.errors
    assert not served.schema_breaks, served.schema_breaks[:20]
    assert served.watchdog.longest_busy < LOOP_BOUND, served.watchdog.culprit
