"""A local MTProto server that unmodified Telethon and Kurigram (Pyrogram) log into.

Run it with ``unifyport sandbox telegram`` or ``python -m unifyport_telegram.sandbox``;
use it from pytest through :mod:`unifyport_telegram.sandbox.testing`.
"""

from .server import Sandbox, SandboxOptions

__all__ = ["Sandbox", "SandboxOptions"]
