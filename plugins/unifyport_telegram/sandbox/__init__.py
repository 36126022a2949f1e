"""A local MTProto server that unmodified Telethon and Kurigram (Pyrogram) log into.

Run it with ``unifyport sandbox telegram`` or ``python -m unifyport_telegram.sandbox``;
use it from pytest through :mod:`unifyport_telegram.sandbox.testing`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Sandbox", "SandboxOptions"]


def __getattr__(name: str) -> Any:
    """Load the server lazily: importing the package (the CLI does) must not load Telethon."""
    if name in __all__:
        from . import server

        return getattr(server, name)
    raise AttributeError(name)
