"""Run a delivery engine for every registered sink while serving: one supervised task each,
cancelled at shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from unifyport.delivery.engine import DeliveryEngine
from unifyport.delivery.queue import DeliveryQueue
from unifyport.gateway import Gateway
from unifyport.outbound.policy import OutboundPolicy
from unifyport.webhooks.directory import EndpointDirectory, stored_endpoint_sink

log = logging.getLogger(__name__)
RESTART_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)


async def start_sinks(gw: Gateway) -> None:
    """Start each sink's engine as a task (restarted with backoff if it raises). Events
    committed from this call on reach the targets the sinks declare when they start."""
    outbound = OutboundPolicy.from_settings(gw.settings)
    stored = stored_endpoint_sink(gw.registry.sinks)
    for name, sink in gw.registry.sinks.items():
        queue = DeliveryQueue(gw.db, name)
        await queue.mark_start()
        directory = EndpointDirectory(gw.db, gw.box) if name == stored else None
        engine = DeliveryEngine(sink, queue, gw.settings, outbound, directory)
        gw.sink_engines[name] = engine
        gw.sink_tasks.append(asyncio.create_task(_supervise(engine), name=f"sink:{name}"))


async def stop_sinks(gw: Gateway) -> None:
    """Cancel the sink tasks and wait for them to finish."""
    tasks, gw.sink_tasks = gw.sink_tasks, []
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    gw.sink_engines.clear()


async def _supervise(engine: DeliveryEngine) -> None:
    failures = 0
    while True:
        try:
            await engine.run()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            delay = RESTART_DELAYS[min(failures, len(RESTART_DELAYS) - 1)]
            failures += 1
            log.exception("event sink %s failed; restarting in %.0f s", engine.queue.sink,
                          delay)
            await asyncio.sleep(delay)
