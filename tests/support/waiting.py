"""Bounded polling for the tests."""

from __future__ import annotations

import asyncio
from typing import Any


async def wait_for(predicate: Any, what: str, attempts: int = 200, delay: float = 0.05) -> Any:
    """Poll ``await predicate()`` until it returns something truthy (bounded)."""
    for _ in range(attempts):
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(delay)
    raise AssertionError(f"timed out waiting for {what}")
