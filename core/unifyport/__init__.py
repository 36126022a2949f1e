"""UnifyPort: a self-hosted messaging gateway — one port, every channel."""

import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("unifyport")
"""Decorator marking a plugin's hook implementations."""

__all__ = ["__version__", "hookimpl"]
