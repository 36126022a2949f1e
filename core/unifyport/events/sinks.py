"""What an event-sink plugin implements."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class EventSink(Protocol):
    """A consumer of the event stream, registered through ``register_event_sinks``."""

    name: str

    async def run(self, ctx: Any) -> None:
        """Consume events until cancelled (started while serving, cancelled at shutdown).

        ``ctx`` is the core's sink context (see ``docs/plugins.md``)."""
        ...
