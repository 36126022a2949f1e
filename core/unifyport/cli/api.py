"""How a plugin adds a sub-command to ``unifyport``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class CliCommand:
    """A sub-command: ``path`` is its words (``("sandbox", "telegram")``).

    ``configure`` adds arguments to the parser; ``run`` performs it and returns the exit code.
    """

    path: tuple[str, ...]
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
