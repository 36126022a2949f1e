"""``unifyport serve``: hypercorn, programmatically, with graceful shutdown on SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import signal
from typing import TYPE_CHECKING, Any

from unifyport.config import load_settings
from unifyport.errors import ConfigError

if TYPE_CHECKING:
    from quart import Quart

    from unifyport.settings import Settings

GRACEFUL_TIMEOUT = 10.0


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
    # The server stack is imported only here, so other commands start quickly.
    from unifyport.crypto.check import check_keys
    from unifyport.http.app import create_app, tune_garbage_collector

    asyncio.run(check_keys(settings))  # refuse before serving: one line, nothing changed
    app = create_app(settings)
    app.while_serving(tune_garbage_collector)  # after the app's own start-up
    if settings.server.loop_watchdog_ms:
        from unifyport.loopwatch import serving_watchdog

        app.while_serving(serving_watchdog(settings.server.loop_watchdog_ms))
    return asyncio.run(_serve(app, settings))


async def _serve(app: Quart, settings: Settings) -> int:
    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config

    from unifyport.http.app import STARTUP_ERROR

    config = Config()
    host = settings.server.host
    config.bind = [f"[{host}]:{settings.server.port}" if ":" in host
                   else f"{host}:{settings.server.port}"]
    config.graceful_timeout = GRACEFUL_TIMEOUT
    config.accesslog = None
    config.errorlog = "-"
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await hypercorn_serve(app, config, shutdown_trigger=stop.wait)
    except Exception:
        error = app.extensions.get(STARTUP_ERROR)
        if isinstance(error, ConfigError):
            raise error from None
        raise
    return 0
