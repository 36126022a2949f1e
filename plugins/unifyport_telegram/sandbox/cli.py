"""Command line: ``unifyport sandbox telegram [--host] [--port] [--control-port] [--state-dir]``."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import tempfile
from pathlib import Path


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the sandbox's options to ``parser``."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback)")
    parser.add_argument("--port", type=int, default=0, help="MTProto port of the main DC (0: free)")
    parser.add_argument("--control-port", type=int, default=0, help="control API port (0: free)")
    parser.add_argument(
        "--state-dir", default=None, help="where keys and state live (default: temp)"
    )
    parser.add_argument("--qr-ttl", type=float, default=30.0, help=argparse.SUPPRESS)
    parser.add_argument("--code-ttl", type=float, default=300.0, help=argparse.SUPPRESS)


async def serve(args: argparse.Namespace) -> int:
    """Start the sandbox, print the JSON line, serve until SIGTERM/SIGINT."""
    # Imported here, not at module level: ``unifyport --help`` must not load Telethon.
    from .control import start_control
    from .server import Sandbox, SandboxOptions

    state_dir = Path(args.state_dir)
    options = SandboxOptions(code_ttl=args.code_ttl, qr_ttl=args.qr_ttl)
    sandbox = Sandbox(state_dir, host=args.host, options=options)
    await sandbox.start(args.port)
    runner, control_url = await start_control(sandbox, args.host, args.control_port)
    main = sandbox.dcs[sandbox.main_dc]
    line = {
        "mtproto": main.address,
        "dc_id": main.id,
        "public_key_file": str(sandbox.public_key_file),
        "control": control_url,
        "dcs": {str(dc.id): dc.address for dc in sandbox.dcs.values()},
        "state_dir": str(state_dir),
    }
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # Only now announce the addresses: a caller may send SIGTERM as soon as it reads them.
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        await sandbox.stop()
    return 0


def run(args: argparse.Namespace) -> int:
    """Entry point used by the ``unifyport`` CLI hook."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    args.state_dir = os.path.abspath(args.state_dir or tempfile.mkdtemp(prefix="tg-sandbox-"))
    try:
        return asyncio.run(serve(args))
    except OSError as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return 1
