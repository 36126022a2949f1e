"""A real aiohttp webhook receiver on 127.0.0.1 that records what it gets and answers as told."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]


class Receiver:
    """``script`` replies are used in order, then ``default`` (or ``decide(request)``)."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.script: list[Reply] = []
        self.default = Reply()
        self.decide: Callable[[Received], Reply] | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._changed = asyncio.Event()
        self._stopping = asyncio.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        """Answer delayed requests at once, then shut down (cleanup waits for handlers)."""
        self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        rec = Received(request.path, {k.lower(): v for k, v in request.headers.items()},
                       await request.read(), time.time())
        self.received.append(rec)
        self._changed.set()
        if self.script:
            reply = self.script.pop(0)
        elif self.decide is not None:
            reply = self.decide(rec)
        else:
            reply = self.default
        if reply.delay:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), reply.delay)
        return web.Response(status=reply.status, headers=reply.headers)

    async def wait_for(self, count: int, within: float = 15.0) -> list[Received]:
        """Wait until ``count`` requests arrived (bounded); return them all."""
        deadline = time.monotonic() + within
        while len(self.received) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"receiver got {len(self.received)} of {count} requests")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(left, 0.5))
            except TimeoutError:
                pass
        return list(self.received)
