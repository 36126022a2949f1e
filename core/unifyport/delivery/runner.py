"""Run every registered sink while serving: one supervised task each, cancelled at shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from unifyport.delivery.context import SinkContext
from unifyport.delivery.queue import DeliveryQueue
from unifyport.events.sinks import EventSink
from unifyport.gateway import Gateway
from unifyport.outbound.policy import OutboundPolicy

log = logging.getLogger(__name__)
RESTART_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)


async def start_sinks(gw: Gateway) -> None:
    """Start each sink's ``run`` as a task (restarted with backoff if it raises). Events
    committed from this call on reach the targets the sinks declare when they start."""
    for name, sink in gw.registry.sinks.items():
        queue = DeliveryQueue(gw.db, name)
        await queue.mark_start()
        ctx = SinkContext(sink=name, settings=gw.settings, queue=queue,
                          outbound=OutboundPolicy.from_settings(gw.settings))
        gw.sink_tasks.append(asyncio.create_task(_supervise(sink, ctx), name=f"sink:{name}"))


async def stop_sinks(gw: Gateway) -> None:
    """Cancel the sink tasks and wait for them to finish."""
    tasks, gw.sink_tasks = gw.sink_tasks, []
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _supervise(sink: EventSink, ctx: SinkContext) -> None:
    failures = 0
    while True:
        try:
            await sink.run(ctx)
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            delay = RESTART_DELAYS[min(failures, len(RESTART_DELAYS) - 1)]
            failures += 1
            log.exception("event sink %s failed; restarting in %.0f s", ctx.sink, delay)
            await asyncio.sleep(delay)
