"""What the core hands a running event sink."""

from __future__ import annotations

from dataclasses import dataclass

from unifyport.delivery.queue import DeliveryQueue
from unifyport.outbound.policy import OutboundPolicy
from unifyport.settings import Settings


@dataclass(frozen=True)
class SinkContext:
    """The services a sink's ``run(ctx)`` may use; a sink never touches the database.

    - ``sink``: the name the sink registered under.
    - ``settings``: the gateway settings (read ``settings.plugin_table(<plugin>)``).
    - ``queue``: the sink's :class:`DeliveryQueue` (targets, fan-out, claims, outcomes).
    - ``outbound``: the outbound-URL policy; make HTTP connections with
      ``outbound.connector()`` and check URLs with ``outbound.check_url()``.
    """

    sink: str
    settings: Settings
    queue: DeliveryQueue
    outbound: OutboundPolicy
