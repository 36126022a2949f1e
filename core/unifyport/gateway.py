"""The services one running gateway shares: settings, database, secret box, plugins, locks."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from unifyport.auth.results import Outbound
from unifyport.crypto.box import SecretBox
from unifyport.db.database import Database
from unifyport.locks import AccountLocks
from unifyport.outbound.fetch import outbound_for
from unifyport.plugins.registry import Registry
from unifyport.settings import Settings

if TYPE_CHECKING:
    from unifyport.delivery.engine import DeliveryEngine

# Purposes of sealed secrets (the ``secrets.purpose`` column).
FIELDS = "fields"
"""Secret provider fields and params of an account (``api_hash``, session strings)."""
SESSION = "session"
"""The provider credentials of an authorized account."""
AUTH_FLOW = "auth_flow"
"""In-progress auth state (temporary session keys, code hashes)."""


class Runtime(Protocol):
    """The runtime supervisor as the services see it (``unifyport.runtime.supervisor``, which
    depends on them, so they know it only by this shape)."""

    @property
    def tasks(self) -> Mapping[str, object]:
        """The accounts whose client runs in this process."""
        ...

    async def start(self, account_id: str) -> object: ...

    async def stop(self, account_id: str, *, persist: bool = True) -> None: ...

    async def aclose(self) -> None: ...


@dataclass
class Gateway:
    settings: Settings
    db: Database
    box: SecretBox
    registry: Registry
    locks: AccountLocks = field(default_factory=AccountLocks)
    runtime: Runtime | None = None
    sink_tasks: list[asyncio.Task[None]] = field(default_factory=list)
    """The running event sinks (see ``unifyport.delivery.runner``)."""
    housekeeping: list[asyncio.Task[None]] = field(default_factory=list)
    """Background upkeep while serving: retention (``unifyport.retention``)."""
    sink_engines: dict[str, DeliveryEngine] = field(default_factory=dict)
    """Their delivery engines by sink name, while serving."""
    outbound: Outbound = field(init=False)
    """The outbound-URL policy's services handed to providers (steps, runtimes, sends,
    logouts); built once from the settings."""

    def __post_init__(self) -> None:
        self.outbound = outbound_for(self.settings)
