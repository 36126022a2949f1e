"""``unifyport serve``: hypercorn, programmatically, with graceful shutdown on SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import errno
import logging
import os
import signal
import sys
import time
from typing import TYPE_CHECKING, Any

from unifyport.config import load_settings
from unifyport.errors import ConfigError

if TYPE_CHECKING:
    from hypercorn.config import Config
    from quart import Quart

    from unifyport.settings import Settings

GRACEFUL_TIMEOUT = 10.0
log = logging.getLogger("unifyport")


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("serve", help="run the API server", parents=[common])
    p.add_argument("--host", default=None)
    p.add_argument("--port", type=int, default=None)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    server = settings.server
    if args.host is not None:
        server = dataclasses.replace(server, host=args.host)
    if args.port is not None:
        server = dataclasses.replace(server, port=args.port)
    settings = dataclasses.replace(settings, server=server)
    try:  # first: a port in use must stop us before anything is created or printed
        config = listen(settings)
    except ListenError as exc:
        print(f"unifyport: {exc}", file=sys.stderr)
        return 2
    from unifyport.cli.instance_lock import InstanceLocked, hold_instance_lock

    try:  # kept open (and locked) until the process ends
        lock = hold_instance_lock(settings)
    except InstanceLocked as exc:
        print(f"unifyport: {exc}", file=sys.stderr)
        return 2
    # The server stack is imported only here, so other commands start quickly.
    from unifyport.crypto.check import check_keys
    from unifyport.http.app import create_app, tune_garbage_collector

    asyncio.run(check_keys(settings))  # refuse before serving: one line, nothing changed
    app = create_app(settings)
    app.while_serving(tune_garbage_collector)  # after the app's own start-up
    if settings.server.loop_watchdog_ms:
        from unifyport.loopwatch import serving_watchdog

        app.while_serving(serving_watchdog(settings.server.loop_watchdog_ms))
    try:
        return asyncio.run(_serve(app, settings, config))
    finally:
        if lock is not None:
            os.close(lock)


class ListenError(Exception):
    """The configured address cannot be listened on (in use, not local, no permission)."""


def listen(settings: Settings) -> Config:
    """Bind the server's socket now and return the hypercorn configuration serving it.

    hypercorn binds only after the app's start-up (migrations, the admin key), so it is
    bound here and handed over as ``fd://`` (the socket stays open across)."""
    from hypercorn.config import Config

    config = Config()
    host, port = settings.server.host, settings.server.port
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    config.bind = [address]
    config.graceful_timeout = GRACEFUL_TIMEOUT
    config.accesslog = None
    # Through the root logger's one handler (a "-" stream would print every line twice).
    config.errorlog = logging.getLogger("hypercorn.error")
    try:
        sockets = config.create_sockets()
    except OSError as exc:
        reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
        if exc.errno == errno.EADDRINUSE:
            reason = "address already in use (another server is listening there)"
        raise ListenError(f"cannot listen on {address}: {reason}") from None
    config.bind = [f"fd://{sock.detach()}" for sock in sockets.insecure_sockets]
    return config


async def _serve(app: Quart, settings: Settings, config: Config | None = None) -> int:
    from hypercorn.asyncio import serve as hypercorn_serve

    from unifyport.http.app import STARTUP_ERROR

    config = config or listen(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    received: list[tuple[str, float]] = []

    def on_signal(sig: signal.Signals) -> None:
        received.append((sig.name, time.monotonic()))
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        await hypercorn_serve(app, config, shutdown_trigger=stop.wait)
    except Exception:
        error = app.extensions.get(STARTUP_ERROR)
        if isinstance(error, ConfigError):
            raise error from None
        raise
    name, at = received[0] if received else ("shutdown", time.monotonic())
    log.info("unifyport stopped (%s): graceful shutdown in %.1f s", name, time.monotonic() - at)
    return 0
