"""The services one running gateway shares: settings, database, secret box, plugins, locks."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from unifyport.crypto.box import SecretBox
from unifyport.db.database import Database
from unifyport.locks import AccountLocks
from unifyport.plugins.registry import Registry
from unifyport.settings import Settings

if TYPE_CHECKING:
    from unifyport.delivery.engine import DeliveryEngine
    from unifyport.runtime.supervisor import RuntimeSupervisor

# Purposes of sealed secrets (the ``secrets.purpose`` column).
FIELDS = "fields"
"""Secret provider fields and params of an account (``api_hash``, session strings)."""
SESSION = "session"
"""The provider credentials of an authorized account."""
AUTH_FLOW = "auth_flow"
"""In-progress auth state (temporary session keys, code hashes)."""


@dataclass
class Gateway:
    settings: Settings
    db: Database
    box: SecretBox
    registry: Registry
    locks: AccountLocks = field(default_factory=AccountLocks)
    runtime: RuntimeSupervisor | None = None
    sink_tasks: list[asyncio.Task[None]] = field(default_factory=list)
    """The running event sinks (see ``unifyport.delivery.runner``)."""
    sink_engines: dict[str, DeliveryEngine] = field(default_factory=dict)
    """Their delivery engines by sink name, while serving."""
