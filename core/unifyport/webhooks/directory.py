"""The endpoints stored through the API as the delivery engine and the sink see them: their
targets and, per delivery, the URL, the signing keys and the headers (unsealed once per
change, re-read by the engine every second, so a change made by any process reaches every
process within that bound; the process that answered the change re-reads before answering,
and a deletion here takes effect at once)."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from unifyport.crypto.box import SecretBox, SecretError
from unifyport.db.database import Database
from unifyport.events.sinks import EventSink, HttpEndpoint, Target
from unifyport.webhooks.models import WebhookEndpoint
from unifyport.webhooks.sealing import EndpointSecrets

log = logging.getLogger(__name__)
TIMEOUT = 15.0
"""Seconds one delivery to a stored endpoint may take."""
MAX_CONCURRENCY = 20
"""Deliveries in flight to one stored endpoint at once (per process)."""

_T = WebhookEndpoint.__table__.c
_ROWS = select(_T.id, _T.url, _T.events, _T.account_ids, _T.sealed, _T.updated_at)


@dataclass(frozen=True)
class _Entry:
    updated_at: datetime
    target: Target
    secrets: EndpointSecrets
    endpoint: HttpEndpoint
    """What :meth:`EndpointDirectory.get` hands out until ``until``."""
    until: float | None
    """When a key of ``endpoint`` ends its grace period (``None``: none will)."""

    @classmethod
    def build(cls, updated_at: datetime, target: Target, secrets: EndpointSecrets) -> _Entry:
        now = time.time()
        ends = [e for _t, e in secrets.secrets if e is not None and e > now]
        endpoint = HttpEndpoint(target.name, target.url or "", secrets.keys(now),
                                secrets.headers)
        return cls(updated_at, target, secrets, endpoint, min(ends) if ends else None)


class EndpointDirectory:
    """Implements :class:`~unifyport.events.sinks.EndpointLookup` for the sink."""

    def __init__(self, db: Database, box: SecretBox) -> None:
        self.db = db
        self.box = box
        self._entries: dict[str, _Entry] = {}
        self._started = 0
        self._installed = 0

    async def refresh(self) -> None:
        """Read the stored endpoints (one statement); unseal the ones that changed. Refreshes
        may overlap (the engine's cycles, an API change): one that began before the last
        installed one does not replace it, so a stale read never undoes a fresher one."""
        self._started += 1
        ticket = self._started
        rows = await self.db.query(lambda conn: _rows(conn))
        if ticket < self._installed:
            return
        entries: dict[str, _Entry] = {}
        for r in rows:
            known = self._entries.get(r.id)
            if known is not None and known.updated_at == r.updated_at:
                entries[r.id] = known
                continue
            try:
                sealed = EndpointSecrets.open(self.box, r.id, r.sealed)
            except (SecretError, ValueError, KeyError) as exc:
                log.error("webhook endpoint %s: its secrets do not open: %s", r.id, exc)
                continue
            accounts = None if r.account_ids is None else tuple(r.account_ids)
            target = Target(r.id, tuple(r.events), MAX_CONCURRENCY, TIMEOUT,
                            account_ids=accounts, url=r.url)
            entries[r.id] = _Entry.build(r.updated_at, target, sealed)
        self._entries, self._installed = entries, ticket

    def targets(self) -> list[Target]:
        return [e.target for e in self._entries.values()]

    def forget(self, endpoint_id: str) -> None:
        """Stop handing out ``endpoint_id`` (deleted) before the next refresh."""
        self._entries.pop(endpoint_id, None)

    def get(self, target: str) -> HttpEndpoint | None:
        entry = self._entries.get(target)
        if entry is None:
            return None
        if entry.until is not None and time.time() >= entry.until:
            entry = self._entries[target] = _Entry.build(entry.updated_at, entry.target,
                                                        entry.secrets)
        return entry.endpoint


def stored_endpoint_sink(sinks: Mapping[str, EventSink]) -> str | None:
    """The name of the sink that delivers stored endpoints (the first that declares
    ``stored_endpoints = True``), or ``None``."""
    return next((name for name, sink in sinks.items()
                 if getattr(sink, "stored_endpoints", False) is True), None)


def _rows(conn: Connection) -> list[Any]:
    return list(conn.execute(_ROWS).all())
