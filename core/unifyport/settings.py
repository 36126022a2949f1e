"""Typed, frozen settings produced by :mod:`unifyport.config`."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Secret:
    """A secret configuration value; never shown by ``repr``/``str``."""

    value: str = field(repr=False)
    source: str = "literal"

    def reveal(self) -> str:
        """The secret itself. Call only where it is used."""
        return self.value

    def __str__(self) -> str:
        return "***"

    def masked(self) -> str:
        """What ``config check`` prints: where the secret comes from, not what it is."""
        return f"*** ({self.source})"


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8300
    loop_watchdog_ms: int = 0
    """Debug: log every event-loop stall longer than this (0: off)."""


@dataclass(frozen=True)
class StorageSettings:
    data_dir: Path = Path("./data")
    database_url: str = ""

    @property
    def effective_database_url(self) -> str:
        """``database_url`` or the embedded SQLite file inside ``data_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir.resolve() / 'unifyport.db'}"


@dataclass(frozen=True)
class SecuritySettings:
    master_key_file: str = ""
    outbound_allow_cidrs: tuple[IPNetwork, ...] = ()
    master_key: Secret | None = None
    """From ``UNIFYPORT_MASTER_KEY``; overrides the key file."""

    def key_file_path(self, data_dir: Path) -> Path:
        """The master key file: configured, or ``<data_dir>/master.key``."""
        return Path(self.master_key_file) if self.master_key_file else data_dir / "master.key"


@dataclass(frozen=True)
class LoggingSettings:
    level: str = "info"
    """UnifyPort's own log level: ``debug``, ``info``, ``warning`` or ``error``."""
    format: str = "text"
    """``text`` (one human-readable line per record) or ``json`` (one JSON object per line)."""
    libraries: str = "warning"
    """The level of third-party libraries (Telethon, Pyrogram, aiohttp, alembic, hypercorn…)."""


@dataclass(frozen=True)
class RetentionSettings:
    """How long delivery history is kept; ``None`` keeps it for ever."""

    events: timedelta | None = timedelta(days=30)
    """Events, once no delivery of theirs is pending (their deliveries and attempts go too)."""
    delivered: timedelta | None = timedelta(days=7)
    """Succeeded deliveries (and their attempts), counted from the success."""
    failed: timedelta | None = timedelta(days=30)
    """Failed deliveries (and their attempts), counted from the failure."""
    attempts: timedelta | None = timedelta(days=7)
    """Attempt rows of any delivery (the delivery itself stays)."""
    interval: timedelta = timedelta(minutes=10)
    """How often each server prunes in the background."""
    batch_size: int = 500
    """Rows deleted per transaction."""


@dataclass(frozen=True)
class WebhookSettings:
    """Webhook endpoints stored through the API (``/v1/webhooks``)."""

    rotation_grace: timedelta = timedelta(hours=24)
    """How long a rotated-out signing secret keeps signing alongside the new one, unless
    ``rotate-secret`` names a ``grace_period``."""


@dataclass(frozen=True)
class MessagingSettings:
    """Size caps of the messaging routes (bytes); files are streamed, never held whole."""

    upload_max_bytes: int = 100 * 1024 * 1024
    """Largest file accepted by the send route, per attachment (upload or URL)."""
    download_max_bytes: int = 2 * 1024 * 1024 * 1024
    """Largest attachment the download route streams; a larger one is 413."""
    max_attachments: int = 10
    """Most attachments one send may carry."""


@dataclass(frozen=True)
class RuntimeSettings:
    start_rate: float = 100.0
    """Most client starts (connections) per second in one process, first starts and
    reconnects alike: a restart with thousands of online accounts opens them at this pace."""


@dataclass(frozen=True)
class DeclaredAccount:
    """One ``[[accounts]]`` table: an account the configuration declares, with the API's own
    field names; values given by reference (``{env = …}``, ``{file = …}``) are
    :class:`Secret` objects until used."""

    key: str
    """Stable and unique: the account is found again by it."""
    provider: str
    auth_mode: str
    name: str | None = None
    provider_data: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    online: bool = False
    """Whether its runtime should run (``runtime/start``) or not (``runtime/stop``)."""


@dataclass(frozen=True)
class DeclaredAccountsSettings:
    prune: bool = False
    """Delete accounts with a ``key`` that the file no longer declares (else left alone)."""


@dataclass(frozen=True)
class PluginsSettings:
    disabled: tuple[str, ...] = ()
    tables: Mapping[str, Mapping[str, Any]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    """Each plugin's own ``[plugins.<name>]`` table, secrets resolved, not yet validated."""


@dataclass(frozen=True)
class Settings:
    """Everything the core needs to run; built by :func:`unifyport.config.load_settings`."""

    server: ServerSettings = field(default_factory=ServerSettings)
    storage: StorageSettings = field(default_factory=StorageSettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)
    messaging: MessagingSettings = field(default_factory=MessagingSettings)
    plugins: PluginsSettings = field(default_factory=PluginsSettings)
    runtime: RuntimeSettings = field(default_factory=RuntimeSettings)
    accounts: tuple[DeclaredAccount, ...] = ()
    """The ``[[accounts]]`` tables, in file order."""
    declared_accounts: DeclaredAccountsSettings = field(
        default_factory=DeclaredAccountsSettings)
    config_path: Path | None = None

    def plugin_table(self, name: str) -> Mapping[str, Any]:
        """The ``[plugins.<name>]`` table (empty when absent)."""
        return self.plugins.tables.get(name, MappingProxyType({}))
