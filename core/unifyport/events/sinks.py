"""What an event-sink plugin implements."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from unifyport.delivery.context import SinkContext


@runtime_checkable
class EventSink(Protocol):
    """A consumer of the event stream, registered through ``register_event_sinks``.

    The core starts ``run`` as a task while serving (restarting it with backoff if it raises)
    and cancels it at shutdown. The sink reads events only through ``ctx.queue``, the durable
    delivery queue (see :class:`unifyport.delivery.context.SinkContext` and
    ``docs/webhooks.md``, "Writing another event sink")."""

    name: str

    async def run(self, ctx: SinkContext) -> None:
        """Consume events until cancelled."""
        ...
